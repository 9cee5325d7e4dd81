"""OGC API - Coverages for the twin's coverages (the terrain): our pygeoapi provider.

pygeoapi 0.24's rasterio provider names the CRS ``.../def/crs/OGC/1.3/25833``, fails (500) on a
``bbox-crs`` URI, carries a lon/lat bbox over by two corners and keeps degree axes, ignores
``scale-factor`` and ``width`` and answers ``f=GTiff`` with the whole file. This provider
reads the Cloud-Optimised GeoTIFF of `twin load terrain` (through its overviews when scaling
down) and answers

- in EPSG:25833 (``http://www.opengis.net/def/crs/EPSG/0/25833``), axes ``E`` and ``N``;
- a ``bbox`` in CRS84, EPSG:4326 (latitude first), EPSG:25833 or EPSG:3857 (``bbox-crs``),
  carried into EPSG:25833 with densified edges, or a ``subset=E(lo:hi),N(lo:hi)``;
- scaled by ``scale-factor``, ``scale-axes``, ``scale-size`` or ``width``/``height``;
- as CoverageJSON (``f=json``, heights to the millimetre, nodata as null) or as a GeoTIFF of
  exactly the requested cells (``f=GTiff``, written in memory);
- refusing in its own words an answer of more than ``max_coverage_cells`` cells.

pygeoapi passes a provider only bbox, subset, properties and format; the WSGI layer checks the
other parameters with :func:`check_request` and hands the scaling over in :data:`SCALING`.
"""

from __future__ import annotations

import math
import re
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)

from twin.pygeoapi.context import CRS84
from twin.registry import COVERAGES, Coverage, get_coverage
from twin.settings import STORAGE_CRS_URI, STORAGE_SRID, get_settings
from twin.terrain import terrain_extent

PROVIDER = "twin.coverage.CoverageProvider"
#: Axis labels of EPSG:25833 (its abbreviations), in the order of the CRS.
AXES = ("E", "N")
#: CRS a bbox may be given in (axis order as each CRS defines it: EPSG:4326 latitude first).
BBOX_CRS = (CRS84, "http://www.opengis.net/def/crs/EPSG/0/4326", STORAGE_CRS_URI,
            "http://www.opengis.net/def/crs/EPSG/0/3857")
#: Query parameters of /collections/{coverage}/coverage.
PARAMS = frozenset({"f", "lang", "bbox", "bbox-crs", "subset", "properties", "datetime",
                    "scale-factor", "scale-axes", "scale-size", "width", "height"})
FORMATS = ("json", "html", "GTiff")
COVERAGE_PATH = re.compile(r"^/collections/(?P<cid>[^/]+)/coverage/?$")
COVERAGE_IDS = frozenset(c.id for c in COVERAGES)
_AXIS_VALUE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\(([^()]*)\)\s*$")


class CoverageQueryError(ProviderInvalidQueryError):
    """A request the coverage cannot answer as asked (400), said in our words."""

    ogc_exception_code = "InvalidParameterValue"


@dataclass(frozen=True)
class Scaling:
    """How a request scales the cells: by a factor or to a count, per axis (E, N)."""

    factors: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)

    def shape(self, width: int, height: int) -> tuple[int, int]:
        """Output width and height for ``width`` × ``height`` cells."""
        def axis(name: str, n: int) -> int:
            if name in self.sizes:
                return self.sizes[name]
            if name in self.factors:  # a tiny factor asks for more cells than exist: clamped
                return max(1, round(min(n / self.factors[name], 1e15)))
            return n

        return axis("E", width), axis("N", height)


#: The scaling of the current request, set by the WSGI layer (pygeoapi does not pass it on).
SCALING: ContextVar[Scaling | None] = ContextVar("coverage_scaling", default=None)


def check_request(path: str, query_string: str) -> tuple[str | None, Token | None]:
    """Check a request to a coverage before pygeoapi sees it.

    Returns why it is refused (a sentence for a 400 answer) or None, and the token of
    :data:`SCALING` set for it (the caller resets it), or None when ``path`` is no coverage.
    """
    m = COVERAGE_PATH.match(path)
    if not m or m["cid"] not in COVERAGE_IDS:
        return None, None
    params = parse_qsl(query_string, keep_blank_values=True)
    keys = [k for k, _ in params]
    for key, value in params:
        if key not in PARAMS:
            return f"unknown query parameter '{key}'; valid: {', '.join(sorted(PARAMS))}", None
        if not value.strip():
            return f"query parameter '{key}' is empty", None
        if keys.count(key) > 1:
            return f"query parameter '{key}' is given more than once", None
    given = dict(params)
    try:
        if "f" in given and given["f"] not in FORMATS:
            raise ValueError(f"f must be one of {', '.join(FORMATS)}, not '{given['f']}'")
        if "bbox" in given:
            _parse_bbox(given["bbox"], given.get("bbox-crs", CRS84))
        elif "bbox-crs" in given:
            raise ValueError("bbox-crs is given without a bbox")
        subset = _parse_axes(given["subset"], "subset", _interval) if "subset" in given else {}
        if subset and "bbox" in given:
            raise ValueError("give either bbox or subset, not both")
        scaling = _parse_scaling(given)
    except ValueError as exc:
        return str(exc), None
    return None, SCALING.set(scaling)


def _parse_bbox(text: str, crs: str) -> tuple[float, float, float, float]:
    from twin.request_checks import bbox_problem

    if crs not in BBOX_CRS:
        raise ValueError(f"bbox-crs '{crs}' is not offered; valid: {', '.join(BBOX_CRS)}")
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ValueError("bbox takes 4 numbers separated by commas") from None
    if len(values) != 4:
        raise ValueError(f"bbox takes 4 numbers (the terrain has two axes), not {len(values)}")
    if problem := bbox_problem(values, crs):
        raise ValueError(problem)
    if values[0] > values[2] or values[1] > values[3]:
        raise ValueError("bbox must give the lower corner first, then the upper one (in the "
                         "axis order of bbox-crs)")
    return values  # type: ignore[return-value]


def _interval(axis: str, text: str) -> tuple[float, float]:
    parts = text.split(":")
    try:
        numbers = [float(p.strip().strip('"')) for p in parts]
    except ValueError:
        raise ValueError(f"subset on {axis} takes a number or low:high in metres "
                         f"(EPSG:{STORAGE_SRID}), not '{text}'") from None
    if len(numbers) not in (1, 2) or not all(map(math.isfinite, numbers)):
        raise ValueError(f"subset on {axis} takes a number or low:high, not '{text}'")
    low, high = numbers[0], numbers[-1]
    if low > high:
        raise ValueError(f"subset on {axis}: the low value comes first")
    return low, high


def _positive(kind: str, integer: bool):
    def parse(axis: str, text: str) -> float:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            value = -1
        if not (value > 0 and math.isfinite(value)):
            what = "a whole number ≥ 1" if integer else "a number > 0"
            raise ValueError(f"{kind} on {axis} must be {what}, not '{text}'")
        return value
    return parse


def _parse_axes(text: str, name: str, parse: Any) -> dict[str, Any]:
    """``E(...),N(...)`` as {axis: parse(axis, inner)}; only the axes of EPSG:25833."""
    out: dict[str, Any] = {}
    for part in text.split(","):
        m = _AXIS_VALUE.match(part)
        if not m:
            raise ValueError(f"{name} takes axis(value) pairs such as E(453000:454000), "
                             f"not '{part}'")
        axis, inner = m.groups()
        if axis not in AXES:
            raise ValueError(f"unknown axis '{axis}' in {name}; valid: {', '.join(AXES)} "
                             f"(EPSG:{STORAGE_SRID})")
        if axis in out:
            raise ValueError(f"axis {axis} is given twice in {name}")
        out[axis] = parse(axis, inner)
    return out


def _parse_scaling(given: dict[str, str]) -> Scaling:
    kinds = [k for k in ("scale-factor", "scale-axes", "scale-size") if k in given]
    if "width" in given or "height" in given:
        kinds.append("width/height")
    if len(kinds) > 1:
        raise ValueError(f"give one way of scaling, not {' and '.join(kinds)}")
    if "scale-factor" in given:
        factor = _positive("scale-factor", integer=False)("both axes", given["scale-factor"])
        return Scaling(factors={"E": factor, "N": factor})
    if "scale-axes" in given:
        return Scaling(factors=_parse_axes(given["scale-axes"], "scale-axes",
                                           _positive("scale-axes", integer=False)))
    if "scale-size" in given:
        return Scaling(sizes=_parse_axes(given["scale-size"], "scale-size",
                                         _positive("scale-size", integer=True)))
    sizes = {axis: _positive(name, integer=True)(axis, given[name])
             for axis, name in (("E", "width"), ("N", "height")) if name in given}
    return Scaling(sizes=sizes)


@dataclass(frozen=True)
class Window:
    """Cells of the coverage to answer with, and the shape to scale them to."""

    col: int
    row: int
    width: int
    height: int
    out_width: int
    out_height: int


class CoverageProvider(BaseProvider):
    """pygeoapi provider of one of :data:`twin.registry.COVERAGES` (the config's ``data`` is
    its file; the resource id names it)."""

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        self.coverage: Coverage = get_coverage(provider_def["coverage"])
        self.path = Path(self.data)
        self.extent = terrain_extent(self.path)
        self.axes = list(AXES)
        self.crs = STORAGE_CRS_URI
        self.num_bands = 1
        self.filename = f"{self.coverage.id}.tif"
        self._fields = {self.coverage.band.name: self._field()}
        self._coverage_properties = self._properties()

    def get_fields(self) -> dict:
        return self._fields

    def _field(self) -> dict[str, Any]:
        c = self.coverage
        return {
            "title": c.band.title_en,
            "description": f"{c.band.title_de}. {c.description_en}",
            "type": "number",
            "x-ogc-propertySeq": 1,
            "x-ogc-unit": c.unit,
            "x-ogc-variableType": "continuous",
            "x-ogc-nullValues": [c.nodata],
        }

    def _properties(self) -> dict[str, Any]:
        """What pygeoapi's collection description reads (``uad`` is added to its extent)."""
        e = self.extent
        if e is None:
            return {"width": 0, "height": 0, "resx": 0, "resy": 0, "uad": {}}
        left, bottom, right, top = e.bounds
        spatial = {
            "bbox": [list(e.bbox_crs84)], "crs": CRS84,
            "storageCrsBbox": [[left, bottom, right, top]],
            # One entry per axis of the storage CRS (E, N); cell centres, area cells.
            "grid": [{"cellsCount": e.width, "resolution": e.res,
                      "firstCoordinate": left + e.res / 2},
                     {"cellsCount": e.height, "resolution": e.res,
                      "firstCoordinate": bottom + e.res / 2}],
        }
        return {"width": e.width, "height": e.height, "resx": e.res, "resy": e.res,
                "uad": {"spatial": spatial}}

    def query(self, properties: list | None = None, subsets: dict | None = None,
              bbox: list | None = None, bbox_crs: str | None = None,
              datetime_: str | None = None, format_: str = "json", **kwargs: Any) -> Any:
        if self.extent is None:
            raise ProviderItemNotFoundError(
                user_msg=f"the {self.coverage.id} has not been loaded yet")
        window = self._window(subsets or {}, bbox or [], bbox_crs or CRS84)
        data = self._read(window)
        if format_ == "GTiff":
            return self._geotiff(window, data)
        return self._covjson(window, data)

    def _window(self, subsets: dict, bbox: list, bbox_crs: str) -> Window:
        left, bottom, right, top = self.extent.bounds
        res = self.extent.res
        want = [left, bottom, right, top]
        if bbox:
            if len(bbox) != 4:
                raise CoverageQueryError(user_msg="bbox takes 4 numbers")
            want = list(_to_storage(tuple(bbox), bbox_crs))
        for axis, (lo_i, hi_i) in (("E", (0, 2)), ("N", (1, 3))):
            if axis in subsets:
                try:
                    values = [float(v) for v in subsets[axis]]
                except ValueError:
                    raise CoverageQueryError(
                        user_msg=f"subset on {axis} takes numbers") from None
                want[lo_i], want[hi_i] = values[0], values[-1]
        # Whole cells covering the request, within the coverage; a slice (low = high) is the
        # one column or row holding it.
        col0, col1 = _cells((want[0] - left) / res, (want[2] - left) / res, self.extent.width)
        row0, row1 = _cells((top - want[3]) / res, (top - want[1]) / res, self.extent.height)
        if col1 <= col0 or row1 <= row0:
            raise CoverageQueryError(
                user_msg=f"the requested area (E {want[0]:.1f} to {want[2]:.1f}, N {want[1]:.1f} "
                f"to {want[3]:.1f} in EPSG:{STORAGE_SRID}) lies outside the "
                f"{self.coverage.id} (E {left:.0f} to {right:.0f}, N {bottom:.0f} to {top:.0f})")
        width, height = col1 - col0, row1 - row0
        out_w, out_h = (SCALING.get() or Scaling()).shape(width, height)
        limit = get_settings().max_coverage_cells
        if out_w * out_h > limit:
            factor = math.ceil(math.sqrt(out_w * out_h / limit) * 10) / 10
            raise CoverageQueryError(
                user_msg=f"the answer would hold {out_w * out_h:,} cells ({out_w} × {out_h}); "
                f"the limit is {limit:,}: ask for a smaller bbox or scale down, e.g. "
                f"scale-factor={factor:g} or width={max(1, math.floor(out_w / factor))}")
        return Window(col0, row0, width, height, out_w, out_h)

    def _read(self, w: Window) -> np.ma.MaskedArray:
        import rasterio
        from rasterio.enums import Resampling
        from rasterio.windows import Window as RioWindow

        # Averages when scaling down (GDAL reads the nearest overview), bilinear when up.
        down = w.out_width * w.out_height < w.width * w.height
        with rasterio.open(self.path) as src:
            return src.read(1, window=RioWindow(w.col, w.row, w.width, w.height),
                            out_shape=(w.out_height, w.out_width), masked=True,
                            resampling=Resampling.average if down else Resampling.bilinear)

    def _bounds(self, w: Window) -> tuple[float, float, float, float]:
        left, _, _, top = self.extent.bounds
        res = self.extent.res
        return (left + w.col * res, top - (w.row + w.height) * res,
                left + (w.col + w.width) * res, top - w.row * res)

    def _geotiff(self, w: Window, data: np.ma.MaskedArray) -> bytes:
        from rasterio.io import MemoryFile
        from rasterio.transform import from_bounds

        c = self.coverage
        tiled = w.out_width >= 256 and w.out_height >= 256
        profile = {
            "driver": "GTiff", "width": w.out_width, "height": w.out_height, "count": 1,
            "dtype": "float32", "crs": f"EPSG:{STORAGE_SRID}", "nodata": c.nodata,
            "transform": from_bounds(*self._bounds(w), w.out_width, w.out_height),
            "compress": "deflate", "predictor": 3,
            **({"tiled": True, "blockxsize": 256, "blockysize": 256} if tiled else {}),
        }
        with MemoryFile() as mem:
            with mem.open(**profile) as dst:
                dst.write(data.filled(c.nodata).astype("float32"), 1)
                dst.set_band_description(1, c.band.name)
                dst.set_band_unit(1, c.unit)
                dst.update_tags(1, VERTICAL_DATUM=c.reference_en)
            return mem.read()

    def _covjson(self, w: Window, data: np.ma.MaskedArray) -> dict[str, Any]:
        c = self.coverage
        left, bottom, right, top = self._bounds(w)
        dx, dy = (right - left) / w.out_width, (top - bottom) / w.out_height
        # Millimetres: the model's own precision is centimetres; float32 noise would add digits.
        values = np.round(data.filled(np.nan).astype("float64"), 3).astype(object)
        values[np.ma.getmaskarray(data)] = None
        return {
            "type": "Coverage",
            "domain": {
                "type": "Domain", "domainType": "Grid",
                "axes": {"x": {"start": left + dx / 2, "stop": right - dx / 2,
                               "num": w.out_width},
                         "y": {"start": top - dy / 2, "stop": bottom + dy / 2,
                               "num": w.out_height}},
                "referencing": [{"coordinates": ["x", "y"], "system": {
                    "type": "ProjectedCRS", "id": STORAGE_CRS_URI}}],
            },
            "parameters": {c.band.name: {
                "type": "Parameter",
                "description": {"en": f"{c.band.title_en}; relative to {c.reference_en}",
                                "de": f"{c.band.title_de}; bezogen auf {c.reference_de}"},
                "unit": {"label": {"en": "metre", "de": "Meter"},
                         "symbol": {"value": c.unit,
                                    "type": "http://www.opengis.net/def/uom/UCUM/"}},
                "observedProperty": {"label": {"en": c.title_en, "de": c.title_de}},
            }},
            "ranges": {c.band.name: {
                "type": "NdArray", "dataType": "float", "axisNames": ["y", "x"],
                "shape": [w.out_height, w.out_width], "values": values.ravel().tolist(),
            }},
        }


def _cells(low: float, high: float, count: int) -> tuple[int, int]:
    """First and past-the-last cell covering [low, high] (in cells), clipped to ``count``."""
    if low == high and 0 <= low <= count:
        first = min(math.floor(low), count - 1)
        return first, first + 1
    return (max(0, math.floor(low + 1e-9)), min(count, math.ceil(high - 1e-9)))


def describe(doc: dict) -> None:
    """Complete a coverage's collection description: pygeoapi gives no CRS for coverages. (No
    ``crs`` list: answers are always in the storage CRS; there is no ``crs`` parameter.)"""
    if doc.get("id") in COVERAGE_IDS:
        doc["storageCrs"] = STORAGE_CRS_URI


def _to_storage(bbox: tuple[float, ...], crs: str) -> tuple[float, float, float, float]:
    """A bbox in ``crs`` (its own axis order) as the bbox in EPSG:25833 that covers it."""
    if crs == STORAGE_CRS_URI:
        return bbox  # type: ignore[return-value]
    return _transformer(crs).transform_bounds(*bbox, densify_pts=21)


@lru_cache(maxsize=8)
def _transformer(crs: str) -> Any:
    from pyproj import Transformer

    # Authority axis order: EPSG:4326 boxes come latitude first, as Features Part 2 has it.
    return Transformer.from_crs(crs, f"EPSG:{STORAGE_SRID}")


def resource(c: Coverage, extent_crs84: list[float] | None) -> dict[str, Any]:
    """The pygeoapi resource of a coverage (see twin/pygeoapi_config.py)."""
    return {
        "type": "collection",
        "title": {"de": c.title_de, "en": c.title_en},
        "description": {"de": c.description_de, "en": c.description_en},
        "keywords": list(c.keywords),
        "links": [],
        "extents": {"spatial": {"bbox": extent_crs84 or list(c.default_bbox), "crs": CRS84}},
        "providers": [{
            "type": "coverage",
            "name": PROVIDER,
            "data": f"${{TWIN_DATA_DIR:-var}}/{c.file}",
            "coverage": c.id,
            "format": {"name": "GTiff", "mimetype": "image/tiff; application=geotiff"},
        }],
    }


#: The reference pygeoapi's OpenAPI document makes for `subset` (bundled: twin/openapi_bundle.py).
OAS_SUBSET = ("https://raw.githubusercontent.com/opengeospatial/ogcapi-coverages/refs/heads/"
              "master/standard/openapi/ogcapi-coverages-1.yaml#/components/parameters/subset")


def _query_param(name: str, description: str, schema: dict) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "style": "form",
            "explode": False, "description": description, "schema": schema}


def openapi(doc: dict) -> None:
    """Describe the coverage operations of a bundled OpenAPI document as they are answered:
    their parameters (pygeoapi lists neither scaling nor our bbox CRS) and their answers
    (pygeoapi refers to the Features response)."""
    axes = "E (easting) and N (northing) of EPSG:25833, in metres"
    params = doc["components"]["parameters"]
    params.update({
        "subset": _query_param("subset", f"Cells within intervals along the axes {axes}, "
                               "e.g. E(453500:454000),N(5734000:5734500); one value takes "
                               "the one column or row holding it. Not with bbox.",
                               {"type": "string", "pattern": r"^[EN]\(.+\)(,[EN]\(.+\))?$"}),
        "coverage-bbox-crs": _query_param(
            "bbox-crs", "The CRS of bbox (its axis order: EPSG:4326 latitude first); default "
            "CRS84. The box is carried into EPSG:25833 with densified edges.",
            {"type": "string", "format": "uri", "enum": list(BBOX_CRS), "default": CRS84}),
        "scale-factor": _query_param(
            "scale-factor", "Divide the number of cells along both axes by this number "
            "(2: half as many each way; averaged from overviews).",
            {"type": "number", "minimum": 0, "exclusiveMinimum": True}),  # OpenAPI 3.0
        "scale-axes": _query_param(
            "scale-axes", f"Per-axis factors, e.g. E(2),N(4); axes {axes}.",
            {"type": "string", "pattern": r"^[EN]\([^()]+\)(,[EN]\([^()]+\))?$"}),
        "scale-size": _query_param(
            "scale-size", f"Per-axis numbers of cells, e.g. E(500),N(500); axes {axes}.",
            {"type": "string", "pattern": r"^[EN]\(\d+\)(,[EN]\(\d+\))?$"}),
        "width": _query_param("width", "Number of cells along E (as scale-size=E(width)).",
                              {"type": "integer", "minimum": 1}),
        "height": _query_param("height", "Number of cells along N (as scale-size=N(height)).",
                               {"type": "integer", "minimum": 1}),
    })
    limit = get_settings().max_coverage_cells
    for cid in sorted(COVERAGE_IDS):
        op = doc["paths"].get(f"/collections/{cid}/coverage", {}).get("get")
        if op is None:
            continue
        keep = [p for p in op["parameters"]
                if p.get("$ref") not in ("#/components/parameters/bbox-crs", )]
        keep += [{"$ref": f"#/components/parameters/{name}"} for name in (
            "coverage-bbox-crs", "scale-factor", "scale-axes", "scale-size", "width",
            "height")]
        op["parameters"] = keep
        op["description"] = (f"{op.get('description', '')} At most {limit:,} cells per "
                             "answer: ask for a smaller bbox or scale down.").strip()
        op["responses"]["200"] = {
            "description": "The cells asked for: CoverageJSON (f=json, the default), a "
                           "GeoTIFF of exactly those cells (f=GTiff) or a web page (f=html).",
            "content": {"application/prs.coverage+json": {"schema": {"type": "object"}},
                        "image/tiff; application=geotiff": {
                            "schema": {"type": "string", "format": "binary"}},
                        "text/html": {"schema": {"type": "string"}}}}
