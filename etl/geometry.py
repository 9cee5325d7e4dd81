"""Geometry work of the ETL, vectorised with shapely 2: reprojection, repair, plausibility."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from twin.errors import GeometryError, SourceError
from twin.settings import STORAGE_SRID

#: Generous envelope of Brandenburg in EPSG:25833 (the state spans about E 250-490 km,
#: N 5690-5940 km). A coordinate outside cannot be in the state.
BRANDENBURG_25833 = (250_000.0, 5_680_000.0, 500_000.0, 5_950_000.0)

#: ETRS89 / UTM 33N with the zone number prefixed to the easting ("33454002"), common in
#: German data; EPSG:5650 is exactly that CRS, so such files need only be read as 5650.
ZONE_PREFIXED_SRID = 5650

POLYGONAL = ("Polygon", "MultiPolygon")


@lru_cache(maxsize=16)
def transformer_to_storage(source: str) -> Transformer | None:
    """A reusable transformer from ``source`` to the storage CRS; None when already there."""
    crs = CRS.from_user_input(source)
    if crs.to_epsg() == STORAGE_SRID:
        return None
    return Transformer.from_crs(crs, CRS.from_epsg(STORAGE_SRID), always_xy=True)


def resolve_crs(path: str, file_crs: str | None, override: str | None) -> str:
    """The CRS to read a file in: the override, else the file's own; refuse when neither."""
    chosen = override or file_crs
    if not chosen:
        raise SourceError(
            "the file declares no CRS; name it with --crs (e.g. --crs EPSG:25833)", path=path
        )
    try:
        CRS.from_user_input(chosen)
    except CRSError as exc:
        raise SourceError(f"unknown CRS '{chosen}': {exc}", path=path) from exc
    return chosen


def has_zone_prefix(geoms: np.ndarray) -> bool:
    """True when eastings look like UTM 33 with the zone prefixed (33 000 000 + E)."""
    present = geoms[~shapely.is_missing(geoms)]
    if len(present) == 0:
        return False
    xmin, _, xmax, _ = shapely.total_bounds(present)
    return 33_000_000 + BRANDENBURG_25833[0] <= xmin and xmax <= 33_000_000 + BRANDENBURG_25833[2]


def zone_checked_crs(geoms: np.ndarray, crs: str) -> tuple[str, str | None]:
    """The CRS to read ``geoms`` in, and a note when their eastings carry the UTM zone prefix
    ('33454002' for 454002: read as EPSG:5650, which is exactly that CRS)."""
    if transformer_to_storage(crs) is None and has_zone_prefix(geoms):
        return f"EPSG:{ZONE_PREFIXED_SRID}", (
            "eastings carry the UTM zone prefix '33' (e.g. 33454002 for 454002); read as "
            f"EPSG:{ZONE_PREFIXED_SRID} (ETRS89 / UTM 33N zE-N) and corrected to "
            f"EPSG:{STORAGE_SRID}")
    return crs, None


def points(xs: list, ys: list) -> np.ndarray:
    """Point geometries from coordinate lists (decimal commas read); None where either
    coordinate is missing."""
    out = np.full(len(xs), None, dtype=object)
    x = np.array([np.nan if v in (None, "") else float(str(v).replace(",", ".")) for v in xs])
    y = np.array([np.nan if v in (None, "") else float(str(v).replace(",", ".")) for v in ys])
    ok = ~(np.isnan(x) | np.isnan(y))
    out[ok] = shapely.points(x[ok], y[ok])
    return out


def to_storage(geoms: np.ndarray, source_crs: str) -> np.ndarray:
    """Reproject to EPSG:25833 (x = easting, y = northing)."""
    # Published tables are 2D; a PolygonZ export would otherwise not fit the column.
    geoms = shapely.force_2d(geoms)
    transformer = transformer_to_storage(source_crs)
    if transformer is None:
        return geoms

    def _apply(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, _apply)


@dataclass(frozen=True)
class Repair:
    """One geometry repaired on load, with the reason GEOS gave."""

    row: int
    key: str | None
    reason: str

    def as_dict(self) -> dict:
        return {"row": self.row, "key": self.key, "field": "geometry", "reason": self.reason}


def check_polygons(
    geoms: np.ndarray, rows: np.ndarray, keys: list, *, path: str
) -> tuple[np.ndarray, list[Repair], list[GeometryError]]:
    """Polygonal geometries as valid MultiPolygons, repairs made, and errors for the rest.

    Returns the cleaned array (None where refused), the repairs and the errors.
    """
    out = np.full(len(geoms), None, dtype=object)
    errors: list[GeometryError] = []
    repairs: list[Repair] = []

    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for i in np.flatnonzero(missing):
        errors.append(GeometryError("feature has no geometry", path=path, row=where(rows[i],
                                    keys[i]), field="geometry"))

    present = ~missing
    types = shapely.get_type_id(geoms)
    polygonal = present & np.isin(types, (3, 6))
    for i in np.flatnonzero(present & ~polygonal):
        errors.append(GeometryError(
            f"geometry is a {geoms[i].geom_type}, "
            "expected Polygon or MultiPolygon",
            path=path, row=where(rows[i], keys[i]), field="geometry"))

    valid = np.zeros(len(geoms), dtype=bool)
    valid[polygonal] = shapely.is_valid(geoms[polygonal])
    fixed = geoms.copy()
    for i in np.flatnonzero(polygonal & ~valid):
        reason = shapely.is_valid_reason(geoms[i])
        repaired = _polygonal_part(shapely.make_valid(geoms[i]))
        if repaired is None or repaired.area <= 0:
            errors.append(GeometryError(f"invalid geometry cannot be repaired ({reason})",
                                        path=path, row=where(rows[i], keys[i]),
                                        field="geometry"))
            polygonal[i] = False
            continue
        fixed[i] = repaired
        repairs.append(Repair(int(rows[i]), keys[i], f"repaired invalid geometry: {reason}"))

    ok = np.flatnonzero(polygonal)
    if len(ok):
        parts, index = shapely.get_parts(fixed[ok], return_index=True)
        multi = shapely.multipolygons(parts, indices=index)
        out[ok] = multi
    return out, repairs, errors


def check_geometries(
    kind: str, geoms: np.ndarray, rows: np.ndarray, keys: list, *, path: str
) -> tuple[np.ndarray, list[Repair], list[GeometryError]]:
    """Geometries fit for a column of ``kind`` (MultiPolygon, Point or Geometry)."""
    if kind == "MultiPolygon":
        return check_polygons(geoms, rows, keys, path=path)
    out = geoms.copy()
    errors: list[GeometryError] = []
    repairs: list[Repair] = []
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for i in np.flatnonzero(missing):
        errors.append(GeometryError("record has no geometry (or no position)", path=path,
                                    row=where(rows[i], keys[i]), field="geometry"))
    for i in np.flatnonzero(~missing):
        g = geoms[i]
        if kind == "Point":
            if g.geom_type == "MultiPoint" and shapely.get_num_geometries(g) == 1:
                out[i] = shapely.get_geometry(g, 0)
            elif g.geom_type != "Point":
                errors.append(GeometryError(f"geometry is a {g.geom_type}, expected a Point",
                                            path=path, row=where(rows[i], keys[i]),
                                            field="geometry"))
        elif not shapely.is_valid(g):
            reason = shapely.is_valid_reason(g)
            out[i] = shapely.make_valid(g)
            repairs.append(Repair(int(rows[i]), keys[i], f"repaired invalid geometry: {reason}"))
    return out, repairs, errors


@dataclass(frozen=True)
class Region:
    """Where a source's data can lie: a generous envelope in EPSG:25833 and, where that is too
    coarse (far from UTM 33's meridian), a longitude/latitude box (ETRS89) as well."""

    name: str
    bounds: tuple[float, float, float, float]
    lonlat: tuple[float, float, float, float] | None = None


def _envelope_25833(lonlat: tuple[float, float, float, float]
                    ) -> tuple[float, float, float, float]:
    """The EPSG:25833 envelope of a longitude/latitude box (ETRS89), edges densified."""
    to_utm = Transformer.from_crs(4258, STORAGE_SRID, always_xy=True)
    xmin, ymin, xmax, ymax = to_utm.transform_bounds(*lonlat, densify_pts=100)
    return float(xmin), float(ymin), float(xmax), float(ymax)


#: Germany's extent, generously rounded out: 5.8-15.1 E, 47.2-55.1 N. A model may reach beyond
#: the border (Zurich, at 8.5 E 47.4 N, lies in the box); the Netherlands west of 5.8 E do not.
#: Carried into UTM 33 the box's edges are curves, and its envelope there reaches as far west as
#: 's-Hertogenbosch; so the box itself is checked too.
GERMANY_LONLAT = (5.8, 47.2, 15.1, 55.1)
BRANDENBURG = Region("Brandenburg", BRANDENBURG_25833)
GERMANY = Region("Germany", _envelope_25833(GERMANY_LONLAT), GERMANY_LONLAT)


def check_in_region(
    geoms: np.ndarray, rows: np.ndarray, keys: list, *, path: str,
    region: Region = BRANDENBURG, read_as: str | None = None,
    field: str | tuple[str, str] = "geometry",
) -> list[GeometryError]:
    """Errors for geometries (in EPSG:25833) whose bounds cannot lie in ``region``.

    ``read_as`` names the CRS the file was read in, for the message. ``field`` is what the
    errors name: a pair names the columns points were made of (a list's x and y), the
    easting's when it is out of place, else the northing's.
    """
    xmin, ymin, xmax, ymax = region.bounds
    errors = []
    present = ~shapely.is_missing(geoms)
    bounds = np.full((len(geoms), 4), np.nan)
    bounds[present] = shapely.bounds(geoms[present])
    outside = present & (
        (bounds[:, 0] < xmin) | (bounds[:, 1] < ymin)
        | (bounds[:, 2] > xmax) | (bounds[:, 3] > ymax)
    )
    if region.lonlat is not None:
        # The corners of each box, as longitude and latitude: all must be in the region's box.
        to_lonlat = Transformer.from_crs(STORAGE_SRID, 4258, always_xy=True)
        lon_w, lat_s, lon_e, lat_n = region.lonlat
        for xi, yi in ((0, 1), (0, 3), (2, 1), (2, 3)):
            lon, lat = to_lonlat.transform(bounds[:, xi], bounds[:, yi])
            outside |= present & ~np.isnan(bounds[:, 0]) & (
                (lon < lon_w) | (lon > lon_e) | (lat < lat_s) | (lat > lat_n))
    for i in np.flatnonzero(outside):
        x, y = bounds[i, 0], bounds[i, 1]
        named = field
        if not isinstance(named, str):
            named = named[0] if not (xmin <= x and bounds[i, 2] <= xmax) else named[1]
        hint = ""
        if x > 1_000_000:
            hint = " (the easting has too many digits: a zone prefix such as '33'?)"
        source = f" from {read_as}" if read_as else ""
        errors.append(GeometryError(
            f"coordinates (E {x:.0f}, N {y:.0f}) cannot be in {region.name} after "
            f"reprojection{source} to EPSG:{STORAGE_SRID}{hint}; is the CRS of the file right?",
            path=path, row=where(rows[i], keys[i]), field=named))
    return errors


def check_in_brandenburg(
    geoms: np.ndarray, rows: np.ndarray, keys: list, *, path: str
) -> list[GeometryError]:
    """Errors for geometries whose bounds cannot lie in Brandenburg."""
    return check_in_region(geoms, rows, keys, path=path, region=BRANDENBURG)


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry | None:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in POLYGONAL]
    if not parts:
        return None
    polys = [q for p in parts for q in shapely.get_parts(p)]
    return shapely.MultiPolygon(polys)


def where(row: int, key: object) -> str:
    """A row reference that names the feature index and, when known, its key."""
    return f"{int(row)} ({key})" if key else str(int(row))
