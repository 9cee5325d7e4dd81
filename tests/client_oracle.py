"""What PostGIS holds, in the forms the client tests of tests/test_clients.py compare with.

Every collection is read through the registry (table, key, fields, types), so a client test
parametrised over :data:`twin.registry.COLLECTIONS` needs no hand-written list. Values are
normalised per registry type, strictly: a number a client hands over as text stays text and
so differs from the stored number.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import cached_property
from typing import Any

import psycopg
import shapely
from psycopg import sql
from pyproj import Transformer
from shapely.geometry import mapping

from twin.registry import Collection, FieldType

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
EPSG_25833 = "http://www.opengis.net/def/crs/EPSG/0/25833"
#: Tolerance of coordinates: millimetres in metres, about a millimetre in degrees (the server
#: writes 3 and 8 decimals).
TOLERANCE = {25833: 0.001, 4326: 1e-8}
#: QGIS's and GDAL's names of the registry's types.
QGIS_TYPES = {FieldType.TEXT: "String", FieldType.INTEGER: "Integer", FieldType.DOUBLE: "Real",
              FieldType.DATE: "Date", FieldType.TIMESTAMPTZ: "DateTime",
              FieldType.TIME: "Time", FieldType.BOOLEAN: "Boolean",
              FieldType.TEXT_ARRAY: "StringList"}
#: GDAL's OAPIF driver maps the schema formats "date" and "date-time" only: a time of day
#: (format "time") is a String field holding "HH:MM:SS".
GDAL_TYPES = {FieldType.TEXT: "String", FieldType.INTEGER: "Integer", FieldType.DOUBLE: "Real",
              FieldType.DATE: "Date", FieldType.TIMESTAMPTZ: "DateTime",
              FieldType.TIME: "String", FieldType.BOOLEAN: "Integer(Boolean)",
              FieldType.TEXT_ARRAY: "StringList"}
ARROW_TYPES = {FieldType.TEXT: "string", FieldType.INTEGER: "int32", FieldType.DOUBLE: "double",
               FieldType.DATE: "date32[day]", FieldType.TIMESTAMPTZ: "timestamp[ms]",
               FieldType.TIME: "string", FieldType.BOOLEAN: "bool",
               FieldType.TEXT_ARRAY: "list<item: string not null>"}


def norm(ftype: FieldType, value: Any) -> Any:
    """``value`` of a field of type ``ftype`` in one comparable form; a value of the wrong
    kind is returned as it is, so that it differs from the stored one."""
    if value is None:
        return None
    if ftype is FieldType.TEXT:
        return value if isinstance(value, str) else ("?", value)
    if ftype is FieldType.TEXT_ARRAY:  # a JSON array; GDAL's StringList, QGIS's QStringList
        items = list(value) if isinstance(value, list | tuple) or hasattr(value, "tolist") \
            else None
        ok = items is not None and all(isinstance(v, str) for v in items)
        return tuple(items) if ok else ("?", value)
    if ftype is FieldType.BOOLEAN:
        return value if isinstance(value, bool) else ("?", value)
    if ftype is FieldType.INTEGER:
        return value if isinstance(value, int) and not isinstance(value, bool) else ("?", value)
    if ftype is FieldType.DOUBLE:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else ("?", value)
    if ftype is FieldType.DATE:
        if isinstance(value, datetime):
            return ("?", value)
        if isinstance(value, date):
            return value.isoformat()
        return date.fromisoformat(value).isoformat() if isinstance(value, str) else ("?", value)
    if ftype is FieldType.TIME:
        if isinstance(value, time):
            return value.isoformat()
        return time.fromisoformat(value).isoformat() if isinstance(value, str) else ("?", value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime) or value.tzinfo is None:
        return ("?", value)  # a time without its zone is not the stored instant
    return value.astimezone(UTC).isoformat()


def gdal_string_list(text: Any) -> Any:
    """A StringList as GDAL writes it where a format has no lists (GeoPackage in GDAL 3.6):
    ``(2:a,b)``, back as a list; anything else as it is. The count must match."""
    if not isinstance(text, str) or not (text.startswith("(") and text.endswith(")")):
        return text
    count, _, items = text[1:-1].partition(":")
    values = items.split(",") if items else []
    return values if count.isdigit() and int(count) == len(values) else text


def normed(c: Collection, props: dict[str, Any]) -> dict[str, Any]:
    """Every registry field of ``props`` normalised; fields the registry lacks are kept as
    they are (they then differ from what is stored)."""
    types = {f.name: f.type for f in c.all_fields}
    return {k: norm(types[k], v) if k in types else ("unexpected", v) for k, v in props.items()}


def flat_coordinates(coords: Any) -> list[tuple[float, ...]]:
    """Every position of a GeoJSON coordinate array, in order."""
    if isinstance(coords[0], int | float):
        return [tuple(coords)]
    return [pos for part in coords for pos in flat_coordinates(part)]


def geojson_of(geom: Any) -> dict[str, Any]:
    """A shapely geometry (or WKB, or WKT) as a GeoJSON-like mapping."""
    if isinstance(geom, bytes):
        geom = shapely.from_wkb(geom)
    elif isinstance(geom, str):
        geom = shapely.from_wkt(geom)
    return mapping(geom)


def geometry_difference(got: dict, expected: dict, srid: int) -> str | None:
    """Why ``got`` is not ``expected`` (same type, positions in order, each within the
    tolerance of ``srid``), or None."""
    if got["type"] != expected["type"]:
        return f"type {got['type']} instead of {expected['type']}"
    got_pos, exp_pos = flat_coordinates(got["coordinates"]), flat_coordinates(
        expected["coordinates"])
    if len(got_pos) != len(exp_pos):
        return f"{len(got_pos)} positions instead of {len(exp_pos)}"
    worst = max(max(abs(g[0] - e[0]), abs(g[1] - e[1]))
                for g, e in zip(got_pos, exp_pos, strict=True))
    return None if worst <= TOLERANCE[srid] else f"a position is {worst} off"


def assert_same_geometries(got: dict[str, dict], expected: dict[str, dict], srid: int) -> None:
    """Every key's geometry as stored (see :func:`geometry_difference`)."""
    assert set(got) == set(expected)
    wrong = {k: why for k in expected
             if (why := geometry_difference(got[k], expected[k], srid))}
    assert not wrong, dict(list(wrong.items())[:5])


@dataclass
class Stored:
    """One collection as PostGIS holds it; expected values of the client tests."""

    pg: psycopg.Connection
    c: Collection
    _geoms: dict[int, dict[str, dict]] = field(default_factory=dict)

    def _query(self, template: str, params: Iterable[Any] = (), **parts: Any) -> list:
        parts = {"t": sql.Identifier(self.c.schema, self.c.table),
                 "key": sql.Identifier(self.c.id_field.name),
                 "g": sql.Identifier(self.c.geometry_column), **parts}
        return self.pg.execute(sql.SQL(template).format(**parts), list(params)).fetchall()

    @cached_property
    def rows(self) -> dict[str, dict[str, Any]]:
        """Every row's registry fields, normalised, by key."""
        cols = sql.SQL(", ").join(sql.Identifier(f.name) for f in self.c.all_fields)
        out = {}
        for row in self._query("SELECT {cols} FROM {t}", cols=cols):
            props = dict(zip(self.c.property_names, row, strict=True))
            out[props[self.c.id_field.name]] = normed(self.c, props)
        return out

    @property
    def count(self) -> int:
        return len(self.rows)

    def geometries(self, srid: int, flip: bool = False) -> dict[str, dict]:
        """GeoJSON geometry of every row, as stored (25833) or transformed in PostGIS."""
        cache_key = srid * (-1 if flip else 1)
        if cache_key not in self._geoms:
            geom = sql.Identifier(self.c.geometry_column) if srid == self.c.srid else \
                sql.SQL("ST_Transform({}, {})").format(sql.Identifier(self.c.geometry_column),
                                                       sql.Literal(srid))
            if flip:
                geom = sql.SQL("ST_FlipCoordinates({})").format(geom)
            rows = self._query("SELECT {key}, ST_AsGeoJSON({geom}, 12) FROM {t}", geom=geom)
            self._geoms[cache_key] = {k: json.loads(text) for k, text in rows}
        return self._geoms[cache_key]

    def keys_where(self, condition: sql.Composable, params: Iterable[Any] = ()) -> set[str]:
        return {row[0] for row in self._query("SELECT {key} FROM {t} WHERE {w}", params,
                                              w=condition)}

    @cached_property
    def first_keys(self) -> list[str]:
        """Keys in the server's order (by key, in the database's collation), first ten."""
        return [r[0] for r in self._query("SELECT {key} FROM {t} ORDER BY {key} LIMIT 10")]

    def extent(self, srid: int) -> tuple[float, float, float, float]:
        """ST_Extent of the data as stored, or transformed to ``srid``."""
        geom = sql.Identifier(self.c.geometry_column) if srid == self.c.srid else \
            sql.SQL("ST_Transform({}, {})").format(sql.Identifier(self.c.geometry_column),
                                                   sql.Literal(srid))
        row = self._query("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                          "(SELECT ST_Extent({geom}) e FROM {t}) s", geom=geom)[0]
        return tuple(row)

    # -- selections derived from the data ---------------------------------------------------
    def west_box(self, srid: int) -> tuple[float, float, float, float]:
        """A box over the western part of the data in ``srid`` (x, y order), so that it holds
        some features, not all: its east edge lies halfway between the median of the
        features' western edges and the next one, touching no feature's western edge (a
        feature that only touches a box is at the mercy of each client's rounding)."""
        geom = sql.Identifier(self.c.geometry_column) if srid == self.c.srid else \
            sql.SQL("ST_Transform({}, {})").format(sql.Identifier(self.c.geometry_column),
                                                   sql.Literal(srid))
        xmin, ymin, ymax, median, beyond = self._query(
            "SELECT ST_XMin(e), ST_YMin(e), ST_YMax(e), m, "
            "(SELECT min(ST_XMin({geom})) FROM {t} WHERE ST_XMin({geom}) > m) FROM "
            "(SELECT ST_Extent({geom}) e, percentile_disc(0.5) WITHIN GROUP "
            "(ORDER BY ST_XMin({geom})) m FROM {t}) s", geom=geom)[0]
        pad = 10.0 if srid == self.c.srid else 1e-4
        return (xmin - pad, ymin - pad, (median + beyond) / 2, ymax + pad)

    def keys_in_box(self, box: tuple[float, ...], srid: int) -> set[str]:
        """Keys of the features intersecting ``box``, tested in the box's own CRS."""
        geom = sql.Identifier(self.c.geometry_column) if srid == self.c.srid else \
            sql.SQL("ST_Transform({}, {})").format(sql.Identifier(self.c.geometry_column),
                                                   sql.Literal(srid))
        return self.keys_where(sql.SQL("ST_Intersects({}, ST_MakeEnvelope(%s, %s, %s, %s, {}))")
                               .format(geom, sql.Literal(srid)), box)

    @cached_property
    def text_selection(self) -> tuple[str, str]:
        """A text property and its most frequent value that select some features, not all:
        the first such of the registry's queryable text fields besides the key."""
        for f in self.c.fields:
            if f.type is not FieldType.TEXT or not f.queryable:
                continue
            rows = self._query("SELECT {f}, count(*) FROM {t} WHERE {f} IS NOT NULL "
                               "GROUP BY {f} ORDER BY count(*) DESC, {f} LIMIT 1",
                               f=sql.Identifier(f.name))
            if rows and 0 < rows[0][1] < self.count:
                return f.name, rows[0][0]
        raise AssertionError(f"no text property of {self.c.id} selects a part of it")

    def keys_with(self, name: str, value: Any) -> set[str]:
        return self.keys_where(sql.SQL("{} = %s").format(sql.Identifier(name)), [value])

    @cached_property
    def median_time(self) -> datetime:
        """The median of the collection's time field: a bound that splits the features."""
        assert self.c.time_field
        return self._query("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY {f}) FROM {t}",
                           f=sql.Identifier(self.c.time_field))[0][0]

    @cached_property
    def split_time(self) -> datetime:
        """A whole second between the median and the next later time, where there is one: a
        bound that splits the features for both ``>=`` and ``<=``, even with two of them."""
        low = self.median_time
        later = self._query("SELECT min({f}) FROM {t} WHERE {f} > %s",
                            [low], f=sql.Identifier(self.c.time_field))[0][0]
        if later is None:
            return low
        middle = (low + (later - low) / 2).replace(microsecond=0)
        return middle if middle > low else low

    def keys_in_time(self, op: str, instant: datetime) -> set[str]:
        assert op in (">=", "<=") and self.c.time_field
        return self.keys_where(sql.SQL("{} {} %s").format(
            sql.Identifier(self.c.time_field), sql.SQL(op)), [instant])


def cql_text(value: str) -> str:
    """A CQL2 (and OGR SQL) string literal."""
    return "'" + value.replace("'", "''") + "'"


def pages(count: int) -> int:
    """A page size that makes a client fetch at least two pages of ``count`` features (three
    where there are enough), and never more than a thousand per page."""
    return max(1, min(1000, math.ceil(count / 3)))


def transformed_bounds(bbox: Iterable[float], to_srid: int) -> tuple[float, ...]:
    """A CRS84 box carried into ``to_srid`` as GDAL does (edges densified, 21 points each)."""
    t = Transformer.from_crs("OGC:CRS84", f"EPSG:{to_srid}", always_xy=True)
    return tuple(t.transform_bounds(*bbox, densify_pts=21))
