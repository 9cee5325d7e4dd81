"""Reading vector files in Arrow batches through GDAL (pyogrio), whatever their format.

Part of the intake layer (:mod:`etl.io`): every source reads its vector files here, so a file
that is cut short, a layer that is missing, a curve to linearise or a trailing NUL byte is met
the same way whichever source reads it.
"""

from __future__ import annotations

import json
import struct
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyogrio
import pyogrio.errors
import pyogrio.raw
import shapely
import shapely.errors

from etl.truncation import damage, truncation_evidence
from twin.errors import SourceError


@dataclass(frozen=True)
class Batch:
    """A slice of a source: columns by (lower-cased) name, geometries, 1-based row numbers."""

    columns: Mapping[str, list]
    geometries: np.ndarray  # shapely geometries or None
    rows: np.ndarray  # feature index in the file, 1-based, for messages
    #: Geometries of the batch that held arcs (gml:Arc, circular strings) and were linearised.
    linearised: int = 0
    #: The geometries as GDAL gave them (WKB), where no curve had to be linearised: the batch
    #: path of the ETL (etl/batch_path.py) sends them on without re-encoding.
    wkb: pa.Array | None = None

    def __len__(self) -> int:
        return len(self.rows)


class ArrowColumns(Mapping[str, list]):
    """Columns of an Arrow batch by name, turned into Python lists only when asked for.

    The batch path of a big load reads the Arrow arrays themselves (:attr:`arrays`) and never
    pays for a list of a million Python values; a source or check that wants the values gets
    them as :func:`_values` makes them, once per column.
    """

    def __init__(self, arrays: dict[str, pa.Array]) -> None:
        self.arrays = arrays
        self._lists: dict[str, list] = {}

    def __getitem__(self, name: str) -> list:
        if name not in self._lists:
            self._lists[name] = _values(self.arrays[name])
        return self._lists[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.arrays)

    def __len__(self) -> int:
        return len(self.arrays)


@dataclass(frozen=True)
class VectorInfo:
    """What GDAL says about a layer before reading it."""

    layer: str
    crs: str | None
    feature_count: int  # -1 when the driver cannot tell without reading
    fields: tuple[str, ...]
    driver: str | None
    #: The file was parsed to its end for signs of a cut (:func:`inspect_vector` does it), so
    #: :func:`read_vector` need not ask again.
    complete: bool = False


#: Largest angle (degrees) of the arc between two vertices when GDAL linearises a curve
#: (GDAL's OGR_ARC_STEPSIZE; its default is 4). The area a chord cuts off an arc of radius R
#: and angle a is R²(a - sin a)/2, about R²a³/12: at 1 degree a parcel bounded by arcs loses
#: less than 1e-4 of the circular segments beside it, far inside 0.1 % of its area.
ARC_STEP_DEGREES = 1.0

#: WKB type codes (ISO, with Z/M/ZM variants as + 1000/2000/3000) of curved geometries:
#: CircularString, CompoundCurve, CurvePolygon, MultiCurve, MultiSurface, Curve, Surface.
_CURVE_TYPES = frozenset(base + dim for base in range(8, 15) for dim in (0, 1000, 2000, 3000))
#: The first five bytes of a WKB of a curved type: byte order, then the type code in that order
#: with any flags in its top four bits (EWKB: Z, M, SRID), as :func:`_is_curve` reads them; so
#: a batch is sorted out in Arrow, not geometry by geometry.
_CURVE_HEADS = pa.array(sorted(
    bytes([mark]) + (code | top << 28).to_bytes(4, order)
    for code in _CURVE_TYPES for top in range(16)
    for mark, order in ((1, "little"), (0, "big"))), pa.binary())

_GDAL_ERRORS = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    pyogrio.errors.FieldError,
    pyogrio.errors.GeometryError,
    pyogrio.errors.CRSError,
    pa.ArrowException,
    OSError,
    RuntimeError,
)


def vector_layers(path: Path) -> list[str]:
    """Names of every layer of a vector file, in file order; refuses unreadable files."""
    if not path.exists():
        raise SourceError("file does not exist", path=str(path))
    if path.is_file() and path.stat().st_size == 0:
        raise SourceError("file is empty (0 bytes)", path=str(path))
    try:
        return [str(name) for name, _ in pyogrio.list_layers(path)]
    except _GDAL_ERRORS as exc:
        raise _unreadable(path, exc) from exc


def inspect_vector(path: Path, layer: str | None = None) -> VectorInfo:
    """Layer, CRS, count and fields of a vector file; refuses unreadable and empty files."""
    if not path.exists():
        raise SourceError("file does not exist", path=str(path))
    if path.is_file() and path.stat().st_size == 0:
        raise SourceError("file is empty (0 bytes)", path=str(path))
    # GDAL's GML and KML readers stop quietly at a cut: fewer features, no error, and GDAL's
    # own count agrees with them. So a text file is parsed to its end first (etl/truncation.py).
    if path.is_file() and (evidence := truncation_evidence(path)):
        raise SourceError(f"the file is truncated ({evidence}); was the download or copy "
                          "complete?", path=str(path))
    try:
        layers = pyogrio.list_layers(path)
        if layer is None:
            if len(layers) == 0:
                raise SourceError("file holds no layer", path=str(path))
            layer = str(layers[0][0])
        elif layer not in {str(n) for n, _ in layers}:
            names = ", ".join(str(n) for n, _ in layers)
            raise SourceError(f"no layer '{layer}'; layers: {names}", path=str(path))
        info = pyogrio.read_info(path, layer=layer)
    except _GDAL_ERRORS as exc:
        raise _unreadable(path, exc) from exc
    return VectorInfo(
        layer=layer,
        crs=info.get("crs"),
        feature_count=int(info.get("features", -1)),
        fields=tuple(str(f) for f in info.get("fields", ())),
        driver=info.get("driver"),
        complete=True,
    )


def read_vector(path: Path, info: VectorInfo, *, batch_size: int) -> Iterator[Batch]:
    """Stream a layer as :class:`Batch` es; a file that breaks mid-way raises SourceError.

    A file whose header shows it cut short (GeoPackage, shapefile, ZIP) is refused before
    reading: GDAL would read its remains without complaint. A file of fewer features than
    GDAL counted in it is refused when its structure shows why (XML and JSON: cut short or not
    well-formed), since some readers (GML) stop there silently.
    """
    if not info.complete and (evidence := truncation_evidence(path, thorough=False)):
        raise SourceError(f"the file is truncated ({evidence})", path=str(path))
    start = 1
    try:
        with pyogrio.open_arrow(path, layer=info.layer, batch_size=batch_size,
                                use_pyarrow=True) as (meta, reader):
            geom_col = _geometry_column(reader.schema, meta)
            for record_batch in reader:
                n = record_batch.num_rows
                columns = ArrowColumns({
                    name.lower(): record_batch.column(name)
                    for name in record_batch.schema.names
                    if name != geom_col
                })
                linearised = 0
                column = None
                if geom_col is not None:
                    column = record_batch.column(geom_col)
                    if isinstance(column, pa.ExtensionArray):
                        column = column.storage
                    wkb = column.to_numpy(zero_copy_only=False, writable=True)
                    curved = _curved(column)
                    if curved.any():
                        # GEOS has no curves: GDAL linearises them (read without Arrow). A
                        # MultiSurface of plain polygons is only retyped; arcs are approximated.
                        linearised = sum(_has_arcs(w) for w in wkb[curved])
                        wkb[curved] = _linear_wkb(path, info.layer, start, n)[curved]
                        column = None  # the file's WKB is not what was read
                    geoms = shapely.from_wkb(wkb, on_invalid="ignore")
                else:
                    geoms = np.full(n, None, dtype=object)
                yield Batch(columns, geoms, np.arange(start, start + n), linearised, column)
                start += n
    except (*_GDAL_ERRORS, shapely.errors.ShapelyError) as exc:
        raise _unreadable(path, exc, start) from exc
    if start - 1 < info.feature_count and (problem := damage(path)) is not None:
        raise SourceError(f"reading stopped after feature {start - 1} of the "
                          f"{info.feature_count} GDAL counted: {problem}", path=str(path))


def _unreadable(path: Path, exc: BaseException, start: int | None = None) -> SourceError:
    """The refusal of a file GDAL could not read: "truncated" only when the file's own
    structure shows it (etl/truncation.py), otherwise what is wrong with it or what the reader
    said."""
    problem = damage(path)
    if start is None:
        what = "not a readable vector file"
    else:
        what = f"reading stopped at feature {start}"
    if problem is not None:
        return SourceError(f"{what}: {problem}; GDAL said: {exc}", path=str(path))
    if isinstance(exc, NotImplementedError | shapely.errors.GEOSException):
        # A geometry GDAL read but shapely cannot take (a curve, say): the file is whole.
        return SourceError(f"{what}: a geometry cannot be converted ({exc})", path=str(path))
    return SourceError(f"{what} ({exc})", path=str(path))


def _curved(column: pa.Array) -> np.ndarray:
    """Which WKB of a binary column are of a curved type (:func:`_is_curve` of each)."""
    heads = pc.binary_slice(column.cast(pa.binary()), 0, 5)
    return pc.is_in(heads, value_set=_CURVE_HEADS).fill_null(False).to_numpy(
        zero_copy_only=False)


def _is_curve(wkb: bytes | None) -> bool:
    """True when a WKB geometry is of a curved type (its type code, in either byte order)."""
    if not wkb or len(wkb) < 5:
        return False
    order = "little" if wkb[0] == 1 else "big"
    code = int.from_bytes(wkb[1:5], order) & 0x0FFFFFFF  # EWKB flags off
    return code in _CURVE_TYPES


def _has_arcs(wkb: bytes) -> bool:
    """True when a WKB geometry holds a circular string anywhere (an arc, not just a curve type
    around straight lines)."""
    return _walk(memoryview(wkb), 0)[0]


def _walk(buf: memoryview, pos: int) -> tuple[bool, int]:
    """(holds an arc, position after it) of the WKB geometry at ``pos``."""
    order = "<" if buf[pos] == 1 else ">"
    code = struct.unpack_from(order + "I", buf, pos + 1)[0]
    pos += 5
    if code & 0x20000000:  # EWKB: an SRID follows
        pos += 4
    iso_dim = (code & 0x0FFFFFFF) // 1000
    dims = 2 + (bool(code & 0x80000000) or iso_dim in (1, 3)) \
        + (bool(code & 0x40000000) or iso_dim in (2, 3))
    kind = (code & 0x0FFFFFFF) % 1000
    count = struct.unpack_from(order + "I", buf, pos)[0] if kind != 1 else 0
    if kind == 1:  # Point
        return False, pos + 8 * dims
    if kind in (2, 8):  # LineString, CircularString
        return kind == 8, pos + 4 + 8 * dims * count
    if kind in (3, 17):  # Polygon, Triangle: rings of points
        pos += 4
        for _ in range(count):
            points = struct.unpack_from(order + "I", buf, pos)[0]
            pos += 4 + 8 * dims * points
        return False, pos
    found, pos = False, pos + 4  # collections, CompoundCurve, CurvePolygon, Multi*...
    for _ in range(count):
        arc, pos = _walk(buf, pos)
        found = found or arc
    return found, pos


def _linear_wkb(path: Path, layer: str, start: int, n: int) -> np.ndarray:
    """WKB of features ``start`` .. ``start + n - 1`` (1-based), curves linearised by GDAL in
    steps of at most :data:`ARC_STEP_DEGREES`."""
    previous = pyogrio.get_gdal_config_option("OGR_ARC_STEPSIZE")
    pyogrio.set_gdal_config_options({"OGR_ARC_STEPSIZE": str(ARC_STEP_DEGREES)})
    try:
        # pyogrio's feature reader linearises non-linear geometries (OGR_G_GetLinearGeometry,
        # which takes its step from OGR_ARC_STEPSIZE).
        _, _, wkb, _ = pyogrio.raw.read(path, layer=layer, columns=[], skip_features=start - 1,
                                       max_features=n)
    finally:
        pyogrio.set_gdal_config_options({"OGR_ARC_STEPSIZE": previous})
    if len(wkb) != n:
        raise SourceError(f"features {start}-{start + n - 1} could not be read again to "
                          "linearise their curves", path=str(path))
    return np.asarray(wkb, dtype=object)



def _geometry_column(schema: pa.Schema, meta: dict) -> str | None:
    """The WKB column: GDAL names it per driver (wkb_geometry, geometry, geom...)."""
    if meta.get("geometry_name") and meta["geometry_name"] in schema.names:
        return meta["geometry_name"]
    for f in schema:
        if (f.metadata or {}).get(b"ARROW:extension:name") == b"geoarrow.wkb":
            return f.name
    return "wkb" if "wkb" in schema.names else None


def _values(column: pa.Array) -> list:
    """Python values; GeoJSON columns of mixed types arrive as JSON text and are decoded."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        # The same list (str, None for nulls), built by NumPy in half the time.
        return column.to_numpy(zero_copy_only=False).tolist()
    values = column.to_pylist()
    if isinstance(column.type, pa.ExtensionType) and column.type.extension_name == "arrow.json":
        return [None if v is None else json.loads(v) for v in values]
    return values


@contextmanager
def without_trailing_nul(path: Path) -> Iterator[tuple[Path, int]]:
    """The file, or a copy without the NUL bytes some KML exporters write after ``</kml>``
    (GDAL's XML parser stops at them); and how many were dropped. Only in XML, and only
    trailing ones: a NUL inside a document is damage and stays an error, and binary formats
    (a GeoPackage) may well end in zeros."""
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
            fh.seek(max(path.stat().st_size - 64, 0))
            tail = fh.read()
    except OSError:
        yield path, 0  # the reader names the problem
        return
    trimmed = len(tail) - len(tail.rstrip(b"\0"))
    xml = head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")
    if not (trimmed and xml and tail.rstrip(b"\0").rstrip().endswith(b">")):
        yield path, 0
        return
    with tempfile.TemporaryDirectory(prefix="twin-intake-") as tmp:
        copy = Path(tmp) / path.name
        copy.write_bytes(path.read_bytes()[:-trimmed])
        yield copy, trimmed
