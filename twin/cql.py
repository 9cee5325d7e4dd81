"""CQL2 (as parsed by pygeofilter) to SQL with bound parameters, against the registry only.

Every attribute a filter names is resolved against the collection's published fields before
any SQL exists, so an unknown property is a 400 and never reaches the database. Values become
placeholders; identifiers come from the registry.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from psycopg import sql
from pygeofilter import ast, values
from pyproj import CRS

from twin.cql_types import FilterTypeError, check_types
from twin.errors import UnknownNameError
from twin.query_context import CRS84, FILTER_CRS
from twin.registry import Collection
from twin.request_checks import bbox_problem
from twin.settings import get_settings


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
_ARITHMETIC = {ast.Add: "+", ast.Sub: "-", ast.Mul: "*", ast.Div: "/"}
_TEMPORAL = {ast.TimeBefore: "<", ast.TimeAfter: ">", ast.TimeEquals: "="}


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
            pattern = n.pattern
            if n.wildcard != "%" or n.singlechar != "_":
                pattern = pattern.replace(n.wildcard, "%").replace(n.singlechar, "_")
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
            return sql.SQL("{}({}, {})").format(sql.SQL(_SPATIAL[type(n)]), self.node(n.lhs),
                                                self.node(n.rhs))
        if isinstance(n, ast.BBox):
            env = values.Envelope(n.minx, n.maxx, n.miny, n.maxy)
            return sql.SQL("ST_Intersects({}, {})").format(self.node(n.lhs),
                                                          self.envelope(env, n.crs))
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
        if type(n) in _ARITHMETIC:
            return sql.SQL("({} {} {})").format(self.node(n.lhs), sql.SQL(_ARITHMETIC[type(n)]),
                                                self.node(n.rhs))
        if isinstance(n, ast.Attribute):
            return self.attribute(n.name)
        if isinstance(n, ast.Function) and n.name.lower() == "bbox" and \
                len(n.arguments) in (4, 6):
            # CQL2 text's BBOX(x1, y1, x2, y2) literal, which pygeofilter parses as a call.
            if not all(isinstance(a, int | float) and not isinstance(a, bool)
                       for a in n.arguments):
                raise FilterError("BBOX(...) takes 4 or 6 numbers")
            args = [float(a) for a in n.arguments]
            x1, y1, x2, y2 = (args[0], args[1], args[2], args[3]) if len(args) == 4 else \
                (args[0], args[1], args[3], args[4])
            return self.envelope(values.Envelope(x1, x2, y1, y2), None)
        if isinstance(n, values.Envelope):
            return self.envelope(n, None)
        if isinstance(n, values.Geometry):
            return self.geometry(n)
        if isinstance(n, bool | int | float | str | datetime | date | time | timedelta):
            return self.value(n)
        if n is None:
            return sql.SQL("NULL")
        name = type(n).__name__
        raise FilterError(f"filter construct '{name}' is not supported by this service")

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

    def envelope(self, e: values.Envelope, crs: str | None) -> sql.Composable:
        box_crs = crs or FILTER_CRS.get() or CRS84
        if problem := bbox_problem((e.x1, e.y1, e.x2, e.y2), box_crs, "BBOX in the filter"):
            raise FilterError(problem)
        condition, params = envelope_sql((e.x1, e.y1, e.x2, e.y2),
                                         crs or FILTER_CRS.get() or CRS84, self.collection.srid)
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


def envelope_sql(bbox: tuple[float, float, float, float], crs: str,
                 storage_srid: int) -> tuple[sql.Composable, list[float]]:
    """A box drawn in ``crs`` (axis order as the CRS defines it) as a storage-CRS polygon."""
    srid, flip = srid_and_flip(crs)
    x1, y1, x2, y2 = (bbox[1], bbox[0], bbox[3], bbox[2]) if flip else bbox
    env = sql.SQL("ST_MakeEnvelope(%s, %s, %s, %s, {})").format(sql.Literal(srid))
    if srid != storage_srid:
        # Transformed as a polygon, so the client's box is meant, not a bigger box around it.
        env = sql.SQL("ST_Transform({}, {})").format(env, sql.Literal(storage_srid))
    return env, [float(x1), float(y1), float(x2), float(y2)]
