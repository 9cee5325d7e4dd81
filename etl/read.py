"""Reading vector files in Arrow batches through GDAL (pyogrio), whatever their format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyogrio
import pyogrio.errors
import shapely

from etl.truncation import damage, truncation_evidence
from twin.errors import SourceError


@dataclass(frozen=True)
class Batch:
    """A slice of a source: columns by (lower-cased) name, geometries, 1-based row numbers."""

    columns: dict[str, list]
    geometries: np.ndarray  # shapely geometries or None
    rows: np.ndarray  # feature index in the file, 1-based, for messages

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class VectorInfo:
    """What GDAL says about a layer before reading it."""

    layer: str
    crs: str | None
    feature_count: int  # -1 when the driver cannot tell without reading
    fields: tuple[str, ...]
    driver: str | None


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
    )


def read_vector(path: Path, info: VectorInfo, *, batch_size: int) -> Iterator[Batch]:
    """Stream a layer as :class:`Batch` es; a file that breaks mid-way raises SourceError.

    A file whose header shows it cut short (GeoPackage, shapefile, ZIP) is refused before
    reading: GDAL would read its remains without complaint. A file of fewer features than
    GDAL counted in it is refused when its structure shows why (XML and JSON: cut short or not
    well-formed), since some readers (GML) stop there silently.
    """
    if evidence := truncation_evidence(path, thorough=False):
        raise SourceError(f"the file is truncated ({evidence})", path=str(path))
    start = 1
    try:
        with pyogrio.open_arrow(path, layer=info.layer, batch_size=batch_size,
                                use_pyarrow=True) as (meta, reader):
            geom_col = _geometry_column(reader.schema, meta)
            for record_batch in reader:
                n = record_batch.num_rows
                columns = {
                    name.lower(): _values(record_batch.column(name))
                    for name in record_batch.schema.names
                    if name != geom_col
                }
                if geom_col is not None:
                    wkb = np.asarray(record_batch.column(geom_col).to_pylist(), dtype=object)
                    geoms = shapely.from_wkb(wkb, on_invalid="ignore")
                else:
                    geoms = np.full(n, None, dtype=object)
                yield Batch(columns, geoms, np.arange(start, start + n))
                start += n
    except _GDAL_ERRORS as exc:
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
    values = column.to_pylist()
    if isinstance(column.type, pa.ExtensionType) and column.type.extension_name == "arrow.json":
        return [None if v is None else json.loads(v) for v in values]
    return values
