"""CQL2 (as parsed by pygeofilter) to SQL with bound parameters, against the registry only.

Every attribute a filter names is resolved against the collection's published fields before
any SQL exists, so an unknown property is a 400 and never reaches the database. Values become
placeholders; identifiers come from the registry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
from psycopg import sql
from pygeofilter import ast, values
from pyproj import CRS, Transformer

from twin import cql_arithmetic
from twin.cql_arithmetic import IntDiv, Mod, Power
from twin.cql_types import FilterTypeError, check_types
from twin.errors import UnknownNameError
from twin.pygeoapi.context import CRS84, FILTER_CRS, FILTER_JSON
from twin.registry import Collection
from twin.request_checks import bbox_problem
from twin.settings import get_settings

cql_arithmetic.install()  # before pygeoapi parses a filter: it loads this provider first


class FilterError(UnknownNameError):
    """A filter names something unknown or uses an unsupported construct."""


_COMPARISON = {
    ast.Equal: "=", ast.NotEqual: "<>", ast.LessThan: "<", ast.LessEqual: "<=",
    ast.GreaterThan: ">", ast.GreaterEqual: ">=",
}
_SPATIAL = {
    ast.GeometryIntersects: "ST_Intersects", ast.GeometryDisjoint: "ST_Disjoint",
    ast.GeometryContains: "ST_Contains", ast.GeometryWithin: "ST_Within",
    ast.GeometryTouches: "ST_Touches", ast.GeometryCrosses: "ST_Crosses",
    ast.GeometryOverlaps: "ST_Overlaps", ast.GeometryEquals: "ST_Equals",
}
#: CQL2 arithmetic as SQL templates. `/` is real division (in SQL, 7 / 2 is 3); `%` and
#: `div` work on numeric (PostgreSQL has no double precision modulo); `div` truncates.
_ARITHMETIC = {
    ast.Add: "({} + {})", ast.Sub: "({} - {})", ast.Mul: "({} * {})",
    ast.Div: "(CAST({} AS double precision) / {})",
    Mod: "mod(CAST({} AS numeric), CAST({} AS numeric))",
    IntDiv: "div(CAST({} AS numeric), CAST({} AS numeric))",
    Power: "power(CAST({} AS double precision), CAST({} AS double precision))",
}
_TEMPORAL = {ast.TimeBefore: "<", ast.TimeAfter: ">", ast.TimeEquals: "="}
#: CQL2 array functions on PostgreSQL arrays: A_CONTAINS(a, b) holds when a has every
#: element of b, A_OVERLAPS when they share one.
_ARRAY = {ast.ArrayEquals: "=", ast.ArrayContains: "@>", ast.ArrayContainedBy: "<@",
          ast.ArrayOverlaps: "&&"}


@lru_cache(maxsize=64)
def srid_and_flip(crs_uri: str) -> tuple[int, bool]:
    """EPSG code of a CRS URI and whether its first axis is northing (lat/lon order).

    Cached: pyproj's EPSG lookup takes tens of milliseconds (CRS84 has no EPSG code, so the
    whole database is searched), on every request otherwise.
    """
    crs = CRS.from_user_input(crs_uri)
    epsg = crs.to_epsg() or 4326
    first = crs.axis_info[0].direction.lower() if crs.axis_info else "east"
    return epsg, first in ("north", "south")


class Translator:
    """Translates one filter tree; collects the parameters in placeholder order."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self.params: list[Any] = []
        self.vertices = 0  # of all geometry literals together, against max_vertices

    def __call__(self, node: Any) -> sql.Composable:
        return self.node(node)

    def value(self, v: Any) -> sql.Composable:
        self.params.append(v)
        return sql.Placeholder()

    def node(self, n: Any) -> sql.Composable:  # noqa: C901 - one dispatch table, flat
        if isinstance(n, ast.And | ast.Or):
            op = sql.SQL(" AND " if isinstance(n, ast.And) else " OR ")
            return sql.SQL("({})").format(op.join([self.node(n.lhs), self.node(n.rhs)]))
        if isinstance(n, ast.Not):
            return sql.SQL("NOT ({})").format(self.node(n.sub_node))
        if type(n) in _COMPARISON:
            return sql.SQL("({} {} {})").format(self.node(n.lhs), sql.SQL(_COMPARISON[type(n)]),
                                                self.node(n.rhs))
        if isinstance(n, ast.Between):
            return sql.SQL("({} {}BETWEEN {} AND {})").format(
                self.node(n.lhs), sql.SQL("NOT " if n.not_ else ""), self.node(n.low),
                self.node(n.high))
        if isinstance(n, ast.Like):
            # CQL2's wildcards are SQL's, % and _; pygeofilter reports '.' as the single
            # character one, but a '.' in a CQL2 pattern is a dot.
            pattern = n.pattern
            return sql.SQL("({}::text {}{} {})").format(
                self.node(n.lhs), sql.SQL("NOT " if n.not_ else ""),
                sql.SQL("ILIKE" if n.nocase else "LIKE"), self.value(pattern))
        if isinstance(n, ast.In):
            limit = get_settings().max_in_values
            if len(n.sub_nodes) > limit:
                raise FilterError(f"an IN list has {len(n.sub_nodes)} values; the limit is "
                                  f"{limit}")
            lhs = self.node(n.lhs)
            items = sql.SQL(", ").join(self.node(s) for s in n.sub_nodes)
            return sql.SQL("({} {}IN ({}))").format(lhs, sql.SQL("NOT " if n.not_ else ""), items)
        if isinstance(n, ast.IsNull):
            return sql.SQL("({} IS {}NULL)").format(self.node(n.lhs),
                                                   sql.SQL("NOT " if n.not_ else ""))
        if type(n) in _SPATIAL:
            return self.spatial(_SPATIAL[type(n)], n.lhs, n.rhs)
        if isinstance(n, ast.BBox):  # BBOX(geometry, x1, y1, x2, y2), the CQL1 form
            box = self.checked_box(tuple(float(c) for c in (n.minx, n.miny, n.maxx, n.maxy)),
                                   n.crs or self.filter_crs)
            return self.box_condition("ST_Intersects", n.lhs, box, box_first=False)
        if isinstance(n, ast.DistanceWithin | ast.DistanceBeyond):
            fn = "ST_DWithin" if isinstance(n, ast.DistanceWithin) else "NOT ST_DWithin"
            metres = _to_metres(n.distance, n.units)
            return sql.SQL("{}({}, {}, {})").format(sql.SQL(fn), self.node(n.lhs),
                                                    self.node(n.rhs), self.value(metres))
        if type(n) in _TEMPORAL:
            return sql.SQL("({} {} {})").format(self.node(n.lhs), sql.SQL(_TEMPORAL[type(n)]),
                                                self.node(n.rhs))
        if isinstance(n, ast.TimeDuring | ast.TimeOverlaps) and \
                isinstance(n.rhs, values.Interval):
            # An open side ('..') of the interval arrives as None and bounds nothing.
            lhs = self.node(n.lhs)
            bounds = [sql.SQL("{} {} {}").format(lhs, sql.SQL(op), self.node(v))
                      for op, v in ((">=", n.rhs.start), ("<=", n.rhs.end)) if v is not None]
            return sql.SQL("({})").format(sql.SQL(" AND ").join(bounds or [sql.SQL("TRUE")]))
        if type(n) in _ARRAY:
            return sql.SQL("({} {} {})").format(self.array(n.lhs), sql.SQL(_ARRAY[type(n)]),
                                                self.array(n.rhs))
        if type(n) in _ARITHMETIC:
            return sql.SQL(_ARITHMETIC[type(n)]).format(self.node(n.lhs), self.node(n.rhs))
        if isinstance(n, ast.Attribute):
            return self.attribute(n.name)
        if self.box(n) is not None:
            raise FilterError("a BBOX can only be an argument of a spatial predicate, e.g. "
                              "S_INTERSECTS(geometry, BBOX(...))")
        if isinstance(n, values.Geometry):
            return self.geometry(n)
        if isinstance(n, bool | int | float | str | datetime | date | time | timedelta):
            return self.value(n)
        if n is None:
            return sql.SQL("NULL")
        name = type(n).__name__
        raise FilterError(f"filter construct '{name}' is not supported by this service")

    def array(self, n: Any) -> sql.Composable:
        """An operand of an array function: a list property, or a literal list (of texts:
        the type check refuses any other)."""
        if isinstance(n, list):
            return sql.SQL("CAST({} AS text[])").format(self.value([str(v) for v in n]))
        return self.node(n)

    def attribute(self, name: str) -> sql.Composable:
        if name in ("geometry", self.collection.geometry_column):
            return sql.Identifier(self.collection.geometry_column)
        try:
            f = self.collection.field(name)
            if not f.queryable:
                raise UnknownNameError(name)
            return sql.Identifier(f.name)
        except UnknownNameError:
            queryables = ", ".join(f.name for f in self.collection.all_fields if f.queryable)
            raise FilterError(
                f"unknown property '{name}' in filter; queryables: {queryables}") from None

    def geometry(self, g: values.Geometry) -> sql.Composable:
        geojson = {k: v for k, v in g.geometry.items() if k != "crs"}
        self.vertices += _count_positions(geojson)
        limit = get_settings().max_vertices
        if self.vertices > limit:
            raise FilterError(f"the filter's geometries have more than {limit} vertices "
                              f"(the limit); simplify them")
        # pygeoapi has already transformed geometry literals to the storage CRS.
        return sql.SQL("ST_SetSRID(ST_GeomFromGeoJSON({}), {})").format(
            self.value(json.dumps(geojson)), sql.Literal(self.collection.srid))

    @property
    def filter_crs(self) -> str:
        return FILTER_CRS.get() or CRS84

    def box(self, n: Any) -> Box | None:
        """The box a BBOX literal draws, or None if ``n`` is none."""
        if isinstance(n, values.Envelope):
            if FILTER_JSON.get():
                # CQL2 JSON {"bbox": [x1, y1, x2, y2]}: pygeofilter builds Envelope(*bbox),
                # whose fields are named (x1, x2, y1, y2), so the values sit in JSON order.
                coords = (n.x1, n.x2, n.y1, n.y2)
            else:  # pygeofilter's text ENVELOPE(x1 x2 y1 y2), fields by name
                coords = (n.x1, n.y1, n.x2, n.y2)
        elif isinstance(n, ast.Function) and n.name.lower() == "bbox":
            # CQL2 text's BBOX(x1, y1, x2, y2) literal, which pygeofilter parses as a call.
            args = n.arguments
            if len(args) not in (4, 6) or not all(
                    isinstance(a, int | float) and not isinstance(a, bool) for a in args):
                raise FilterError("BBOX(...) takes 4 or 6 numbers")
            coords = (args[0], args[1], args[2], args[3]) if len(args) == 4 else \
                (args[0], args[1], args[3], args[4])
        else:
            return None
        return self.checked_box(tuple(float(c) for c in coords), self.filter_crs)

    def checked_box(self, coords: tuple[float, ...], crs: str) -> Box:
        """The box of a filter's BBOX, refused (400) when outside its CRS or not finite."""
        if problem := bbox_problem(coords, crs, "BBOX in the filter"):
            raise FilterError(problem)
        return make_box(coords, crs, self.collection.srid)

    def spatial(self, function: str, lhs: Any, rhs: Any) -> sql.Composable:
        lhs_box, rhs_box = self.box(lhs), self.box(rhs)
        if lhs_box is not None and rhs_box is not None:
            raise FilterError("a spatial predicate compares a geometry with a box, not two "
                              "boxes")
        if rhs_box is not None:
            return self.box_condition(function, lhs, rhs_box, box_first=False)
        if lhs_box is not None:
            return self.box_condition(function, rhs, lhs_box, box_first=True)
        return sql.SQL("{}({}, {})").format(sql.SQL(function), self.node(lhs), self.node(rhs))

    def box_condition(self, function: str, other: Any, box: Box, *,
                      box_first: bool) -> sql.Composable:
        # A geometry literal's placeholder must appear once: no prefilter on it (it is one
        # row's worth of work anyway), only the exact test.
        if box.coords is None:  # decided without the other side (and its parameters)
            return sql.SQL("TRUE" if function == "ST_Disjoint" else "FALSE")
        literal = not isinstance(other, ast.Attribute)
        geom = self.node(other)
        condition, params = box_predicate(function, geom, box, self.collection.srid,
                                          box_first=box_first, prefilter=not literal)
        self.params += params
        return condition


def _count_positions(geojson: dict) -> int:
    """Positions (vertices) of a GeoJSON geometry, collections included, without recursion
    on the coordinates' nesting depth chosen by the client."""
    count, stack = 0, [geojson.get("coordinates", [])]
    stack += [g for g in geojson.get("geometries", []) if isinstance(g, dict)]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.append(item.get("coordinates", []))
            stack += [g for g in item.get("geometries", []) if isinstance(g, dict)]
        elif isinstance(item, list | tuple):
            if item and all(isinstance(v, int | float) for v in item):
                count += 1
            else:
                stack.extend(item)
    return count


def _to_metres(distance: float, units: str) -> float:
    factors = {"meters": 1.0, "metres": 1.0, "m": 1.0, "kilometers": 1000.0, "km": 1000.0}
    try:
        return float(distance) * factors[units.lower()]
    except KeyError:
        raise FilterError(f"distance unit '{units}' is not supported; use meters or "
                          "kilometers") from None


def to_sql(node: Any, collection: Collection) -> tuple[sql.Composable, list[Any]]:
    """SQL condition and its parameters for a pygeofilter tree."""
    if not isinstance(node, ast.Predicate | ast.Condition):
        raise FilterError("a filter must be a condition (a comparison, a spatial or temporal "
                          f"predicate, or a combination of them), not {node!r}")
    try:
        check_types(node, collection)  # before SQL: PostgreSQL would say it in its words
    except FilterTypeError as exc:
        raise FilterError(f"filter: {exc}") from None
    translator = Translator(collection)
    condition = translator(node)
    return condition, translator.params


@dataclass(frozen=True)
class Box:
    """A client's box in its own CRS, clipped to where that CRS is defined.

    ``coords`` are x/y as PostGIS orders them (longitude first for EPSG:4326); ``prefilter``
    is a storage-CRS envelope that covers the whole box (None: the box covers no place where
    stored data can be, i.e. nothing of the storage CRS's area of use).
    """

    srid: int
    coords: tuple[float, float, float, float] | None  # None: empty after clipping
    prefilter: tuple[float, float, float, float] | None
    #: The part west of the antimeridian of a geographic box that crosses it (``coords`` is
    #: then the part east of it); None for every other box.
    west: tuple[float, float, float, float] | None = None
    #: For a geographic box: a storage-CRS rectangle inside the box's image (by
    #: :data:`INNER_MARGIN_M`); a geometry whose bounding box it holds matches without being
    #: carried into the box's CRS. None: no such rectangle.
    inner: tuple[float, float, float, float] | None = None


#: Metres added around the storage-CRS envelope of a box: its edges are curves there, and
#: the densified envelope may miss a sliver between two sampled points (well under 1 m).
PREFILTER_MARGIN_M = 10.0
#: Points per edge when a box's envelope is carried into the storage CRS.
DENSIFY_POINTS = 1000
#: Metres by which the storage-CRS rectangle inside a geographic box's image is shrunk before
#: it decides a match on its own: more than PostGIS rounds bounding boxes outward (float4:
#: 0.5 m at northings of 5.7 million), than the densified edges stray from the curved ones
#: (millimetres) and than two PROJ pipelines differ.
INNER_MARGIN_M = 2.0
#: Points per edge of a geographic box when its inner rectangle is found.
INNER_DENSIFY_POINTS = 201


@lru_cache(maxsize=16)
def _valid_bounds(srid: int) -> tuple[float, float, float, float]:
    """Where coordinates of ``srid`` are defined: its area of use, in its own units.

    A geographic CRS covers the globe; a projected one its EPSG area of use (EPSG:3857 stops
    at ±85.06° latitude, EPSG:25833 spans 12-18° E), outside of which PROJ gives errors or
    nonsense.
    """
    crs = CRS.from_epsg(srid)
    if crs.is_geographic:
        return -180.0, -90.0, 180.0, 90.0
    w, s, e, n = crs.area_of_use.bounds
    to_crs = Transformer.from_crs(4326, crs, always_xy=True)
    return to_crs.transform_bounds(w, s, e, n, densify_pts=DENSIFY_POINTS)


def make_box(bbox: tuple[float, ...], crs: str, storage_srid: int) -> Box:
    """The box (x1, y1, x2, y2 in the axis order ``crs`` defines) clipped and prefiltered.

    Every stored geometry lies in the storage CRS's area of use (loads refuse anything outside
    Brandenburg), so the part of a box outside that area can match nothing and the prefilter
    covers only the rest. The exact test is made in the box's own CRS (:func:`box_predicate`).
    """
    srid, flip = srid_and_flip(crs)
    x1, y1, x2, y2 = (bbox[1], bbox[0], bbox[3], bbox[2]) if flip else bbox[:4]
    if srid == storage_srid:
        box = (float(x1), float(y1), float(x2), float(y2))
        return Box(srid, box, box)
    if x1 > x2 and CRS.from_epsg(srid).is_geographic:
        # OGC API Features Part 1, 7.15.3: a west edge east of the east edge is a box across
        # the antimeridian, i.e. the boxes on either side of it.
        return _across_antimeridian(_clipped(srid, (x1, y1, 180.0, y2), storage_srid),
                                    _clipped(srid, (-180.0, y1, x2, y2), storage_srid))
    return _clipped(srid, (x1, y1, x2, y2), storage_srid)


def _across_antimeridian(east: Box, west: Box) -> Box:
    """One box of the parts of a box either side of the antimeridian; a part that reaches
    no stored data (no prefilter) is left out, as it matches nothing."""
    parts = [b for b in (east, west) if b.coords is not None and b.prefilter is not None]
    if len(parts) < 2:
        return parts[0] if parts else Box(east.srid, None, None)
    (ex1, ey1, ex2, ey2), (wx1, wy1, wx2, wy2) = east.prefilter, west.prefilter
    cover = (min(ex1, wx1), min(ey1, wy1), max(ex2, wx2), max(ey2, wy2))
    return Box(east.srid, east.coords, cover, west=west.coords)


def _clipped(srid: int, bbox: tuple[float, float, float, float], storage_srid: int) -> Box:
    """The box x1, y1, x2, y2 of ``srid`` clipped to where ``srid`` is defined."""
    x1, y1, x2, y2 = bbox
    vx1, vy1, vx2, vy2 = _valid_bounds(srid)
    cx1, cy1 = float(max(x1, vx1)), float(max(y1, vy1))
    cx2, cy2 = float(min(x2, vx2)), float(min(y2, vy2))
    if not (cx1 <= cx2 and cy1 <= cy2):
        return Box(srid, None, None)
    return Box(srid, (cx1, cy1, cx2, cy2),
               _storage_envelope(srid, (cx1, cy1, cx2, cy2), storage_srid),
               inner=_inner_part(srid, (cx1, cy1, cx2, cy2), storage_srid))


@lru_cache(maxsize=16)
def _transformer(from_srid: int, to_srid: int) -> Transformer:
    """A transformer, x/y as PostGIS orders them, built once per pair: building one takes
    milliseconds, and every new box (a client panning) needs two."""
    return Transformer.from_crs(from_srid, to_srid, always_xy=True)


def _edges(transformer: Transformer, box: tuple[float, float, float, float],
           points: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The west, east, south and north edges of ``box``, ``points`` each, carried over."""
    x1, y1, x2, y2 = box
    steps = np.linspace(0.0, 1.0, points)
    xs, ys = x1 + (x2 - x1) * steps, y1 + (y2 - y1) * steps
    return (transformer.transform(np.full_like(ys, x1), ys),
            transformer.transform(np.full_like(ys, x2), ys),
            transformer.transform(xs, np.full_like(xs, y1)),
            transformer.transform(xs, np.full_like(xs, y2)))


def _edge_bounds(transformer: Transformer, box: tuple[float, float, float, float],
                 points: int) -> tuple[float, float, float, float]:
    """The bounds of ``box`` carried over, from its densified edges: what pyproj's
    ``transform_bounds`` gives for such boxes, but vectorised (that took 0.2-0.5 s, on every
    request with a new box, for 1,000 points per edge)."""
    edges = _edges(transformer, box, points)
    xs, ys = np.concatenate([e[0] for e in edges]), np.concatenate([e[1] for e in edges])
    return float(np.min(xs)), float(np.min(ys)), float(np.max(xs)), float(np.max(ys))


@lru_cache(maxsize=256)
def _inner_part(srid: int, box: tuple[float, float, float, float],
                storage_srid: int) -> tuple[float, float, float, float] | None:
    """A storage-CRS rectangle inside the image of a geographic ``box`` (shrunk by
    :data:`INNER_MARGIN_M`), or None (a projected box CRS, or nothing of it left).

    The box is first clipped to the storage CRS's area of use, where PROJ carries it over
    faithfully; its image's edges are curves, densified and then bounded from inside: the
    rectangle lies east of every point of the west edge, north of every point of the south
    edge, and so on. A projected box CRS (EPSG:3857, ...) is left to the exact test alone.
    """
    if not CRS.from_epsg(srid).is_geographic:
        return None
    w, s, e, n = CRS.from_epsg(storage_srid).area_of_use.bounds
    x1, y1, x2, y2 = max(w, box[0]), max(s, box[1]), min(e, box[2]), min(n, box[3])
    if not (x1 < x2 and y1 < y2):
        return None
    west, east, south, north = _edges(_transformer(srid, storage_srid), (x1, y1, x2, y2),
                                      INNER_DENSIFY_POINTS)
    m = INNER_MARGIN_M
    ix1, ix2 = float(np.max(west[0])) + m, float(np.min(east[0])) - m
    iy1, iy2 = float(np.max(south[1])) + m, float(np.min(north[1])) - m
    if not all(np.isfinite((ix1, iy1, ix2, iy2))) or not (ix1 < ix2 and iy1 < iy2):
        return None
    return ix1, iy1, ix2, iy2


@lru_cache(maxsize=256)
def _storage_envelope(srid: int, box: tuple[float, float, float, float],
                      storage_srid: int) -> tuple[float, float, float, float] | None:
    """A storage-CRS envelope covering ``box`` (in ``srid``) as far as it overlaps the
    storage CRS's area of use, edges densified; None when it does not overlap."""
    if CRS.from_epsg(srid).is_geographic:
        lon_lat = box
    else:
        lon_lat = _edge_bounds(_transformer(srid, 4326), box, DENSIFY_POINTS)
    w, s, e, n = CRS.from_epsg(storage_srid).area_of_use.bounds
    w, s = max(w, lon_lat[0]), max(s, lon_lat[1])
    e, n = min(e, lon_lat[2]), min(n, lon_lat[3])
    if not (w <= e and s <= n):
        return None
    x1, y1, x2, y2 = _edge_bounds(_transformer(4326, storage_srid), (w, s, e, n),
                                  DENSIFY_POINTS)
    m = PREFILTER_MARGIN_M
    return x1 - m, y1 - m, x2 + m, y2 + m


def box_predicate(function: str, geom: sql.Composable, box: Box, storage_srid: int, *,
                  box_first: bool = False,
                  prefilter: bool = True) -> tuple[sql.Composable, list[float]]:
    """``function(geom, box)`` (e.g. ST_Intersects) as PostGIS answers it in the box's CRS.

    ``geom`` is a storage-CRS expression. For a box in another CRS the geometry is carried
    into the box's CRS (so its edges are straight where the client drew them), behind an
    index-usable ``&&`` on the box's storage-CRS envelope when the predicate implies that
    the two meet (every one but ST_Disjoint).
    """
    if box.coords is None:  # nothing of the box is anywhere a geometry can be
        return (sql.SQL("TRUE") if function == "ST_Disjoint" else sql.SQL("FALSE")), []
    envelope = sql.SQL("ST_MakeEnvelope(%s, %s, %s, %s, {})").format(sql.Literal(box.srid))
    params = list(box.coords)
    if box.west is not None:  # both sides of the antimeridian, as one (multi)polygon
        envelope = sql.SQL("ST_Collect({}, {})").format(envelope, envelope)
        params += box.west
    if box.srid != storage_srid:
        geom_in_box_crs = sql.SQL("ST_Transform({}, {})").format(geom, sql.Literal(box.srid))
    else:
        geom_in_box_crs = geom
    args = (envelope, geom_in_box_crs) if box_first else (geom_in_box_crs, envelope)
    exact = sql.SQL("{}({}, {})").format(sql.SQL(function), *args)
    if box.srid == storage_srid or function == "ST_Disjoint" or not prefilter:
        return exact, params
    if box.prefilter is None:
        return sql.SQL("FALSE"), []
    pre = sql.SQL("{} && ST_MakeEnvelope(%s, %s, %s, %s, {})").format(
        geom, sql.Literal(storage_srid))
    if function != "ST_Intersects" or box.inner is None or box.west is not None:
        return sql.SQL("({} AND {})").format(pre, exact), [*box.prefilter, *params]
    # Most geometries lie well inside the box: one whose bounding box lies in a storage-CRS
    # rectangle inside the box's image has every vertex in the box once carried into the
    # box's CRS, and so all of it (its edges are straight there, the box convex). Only the
    # rest pay for ST_Transform per row; the answer is the exact test's.
    fast = sql.SQL("{} @ ST_MakeEnvelope(%s, %s, %s, %s, {})").format(
        geom, sql.Literal(storage_srid))
    return (sql.SQL("({} AND ({} OR {}))").format(pre, fast, exact),
            [*box.prefilter, *box.inner, *params])
