"""The one SQL statement that makes a vector tile (twin/tiles.py serves it).

The tile's envelope is carried into the storage CRS once per tile (:func:`tile_in_storage`):
the GiST index is searched with it and the candidates near its edges are tested against it,
so no stored geometry is transformed for the filter. Only what touches the tile is in it (a
feature that lies in the buffer alone is its neighbour's, as in tipg); the buffer holds the
parts of those features beyond the edge, so that outlines do not end at it. Only the
candidates are generalised (below zoom :data:`SIMPLIFY_BELOW`: ``ST_Simplify`` by one tile
unit on the ground, which ``ST_AsMVTGeom``'s snapping to the 4096 grid would blur anyway),
carried into EPSG:3857, clipped to ``ST_TileEnvelope`` and encoded by
``ST_AsMVTGeom``/``ST_AsMVT``. The properties are the registry's published fields, the same
list the items answer with; nothing else of the row is selected.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from psycopg import sql
from pyproj import CRS, Transformer

from twin.registry import Collection, FieldType

#: Tile units per side: the MVT default, which every client expects.
EXTENT = 4096
#: Units of buffer around the tile: enough for a renderer's line joins and labels at the
#: edges, a quarter of tipg's 256 (fewer clipped neighbours, smaller tiles).
BUFFER = 64
#: Below this zoom polygons and lines are simplified; from it on a tile unit is under 0.4 m
#: on the ground, finer than the parcels' and buildings' vertices lie apart, and
#: simplification would cost more than it removes.
SIMPLIFY_BELOW = 14
#: Web Mercator's circumference in metres at the equator.
CIRCUMFERENCE = 2 * 20037508.3427892
#: Points per tile edge carried into the storage CRS: the tile's straight Mercator edges are
#: curves there, and the polygon must hold them.
EDGE_POINTS = 16


def tile_type(t: FieldType) -> dict[str, Any]:
    """JSON Schema of a field's value as the tile carries it."""
    if t is FieldType.TEXT_ARRAY:
        return {"type": "string", "x-list-separator": ","}
    return t.json_schema()


def _column(name: str, t: FieldType) -> sql.Composable:
    col = sql.Identifier(name)
    if t is FieldType.TEXT_ARRAY:
        # MVT has no lists: the values comma-separated (keys and numbers hold no comma).
        expr = sql.SQL("array_to_string({}, ',')").format(col)
    elif t is FieldType.TIMESTAMPTZ:
        expr = sql.SQL("to_json({}) #>> '{{}}'").format(col)  # RFC 3339, as the items
    elif t in (FieldType.DATE, FieldType.TIME):
        expr = sql.SQL("{}::text").format(col)  # ISO 8601 (the pool sets DateStyle=ISO)
    else:
        return col  # integer, double precision, boolean, text: MVT's own value types
    return sql.SQL("{} AS {}").format(expr, col)


def ground_unit(z: int, y: int) -> float:
    """Metres on the ground of one tile unit at zoom ``z``, in the middle of row ``y``."""
    lat = math.atan(math.sinh(math.pi * (1 - 2 * (y + 0.5) / 2 ** z)))
    return CIRCUMFERENCE / 2 ** z / EXTENT * math.cos(lat)


#: How far beyond its CRS's area of use a storage CRS is trusted to carry a tile's outline:
#: a transverse Mercator zone is exact enough for a filter well past its six degrees
#: (Brandenburg reaches 0.8 degrees west of EPSG:25833's), and diverges towards 90 degrees.
AREA_MARGIN_DEG = 10.0
#: A tile's outline, carried over once: the box that the GiST index is searched with, a box
#: inside it (a feature whose box lies there needs no further test) and the outline (WKB).
#: NOWHERE is the answer for a tile beyond the storage CRS's reach: no row matches it.
NOWHERE = ((0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0), None)


@lru_cache(maxsize=8)
def _storage(srid: int) -> tuple[Transformer, Transformer, shapely.Polygon]:
    """Web Mercator to lon/lat, lon/lat to the storage CRS, and where the latter holds."""
    area = CRS.from_epsg(srid).area_of_use
    reach = shapely.box(*(area.bounds if area else (-180, -90, 180, 90))).buffer(
        AREA_MARGIN_DEG, join_style="mitre").intersection(shapely.box(-180, -85.06, 180, 85.06))
    return (Transformer.from_crs(3857, 4326, always_xy=True),
            Transformer.from_crs(4326, srid, always_xy=True), reach)


@lru_cache(maxsize=4096)  # a few hundred microseconds each; clients ask for tiles again
def tile_in_storage(z: int, x: int, y: int, srid: int
                    ) -> tuple[tuple[float, ...], tuple[float, ...], bytes | None]:
    """Tile z/x/y in the storage CRS: the box around it, a box inside it, its outline (WKB).

    Carried over once per tile, here rather than per row: the outer box is what the GiST
    index is searched with; a feature whose box lies within the inner box touches the tile
    without further test; only those near the edges are tested against the outline (GEOS),
    so that the tile holds exactly what intersects it. Tiles larger than the storage CRS's
    reach (low zooms) are cut to it first.
    """
    to_lonlat, to_storage, reach = _storage(srid)
    size = CIRCUMFERENCE / 2 ** z
    west, north = -CIRCUMFERENCE / 2 + x * size, CIRCUMFERENCE / 2 - y * size
    steps = np.arange(EDGE_POINTS) / EDGE_POINTS * size
    ring_x = np.concatenate([west + steps, np.full(EDGE_POINTS, west + size),
                             west + size - steps, np.full(EDGE_POINTS, west)])
    ring_y = np.concatenate([np.full(EDGE_POINTS, north), north - steps,
                             np.full(EDGE_POINTS, north - size), north - size + steps])
    lon, lat = to_lonlat.transform(ring_x, ring_y)
    outline = shapely.Polygon(np.column_stack([lon, lat]))
    if not reach.contains(outline):
        outline = outline.intersection(reach)
        if outline.is_empty or outline.area == 0:
            return NOWHERE
        outline = shapely.segmentize(outline, max_segment_length=max(
            outline.bounds[2] - outline.bounds[0], outline.bounds[3] - outline.bounds[1])
            / EDGE_POINTS)
    polygon = shapely.transform(outline, lambda c: np.column_stack(
        to_storage.transform(c[:, 0], c[:, 1])))
    outer = polygon.bounds
    inner: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)  # contains nothing: every one is tested
    width, height = outer[2] - outer[0], outer[3] - outer[1]
    for inset in (0.01, 0.03, 0.1):  # the tile is a square turned by the grid convergence
        box = (outer[0] + inset * width, outer[1] + inset * height,
               outer[2] - inset * width, outer[3] - inset * height)
        if polygon.contains(shapely.box(*box)):
            inner = box
            break
    return tuple(outer), inner, shapely.to_wkb(polygon)


def tile_query(c: Collection, z: int, x: int, y: int, limit: int
               ) -> tuple[sql.Composed, dict[str, Any]]:
    """The statement answering (MVT bytes, candidate count) for tile z/x/y of ``c``."""
    geom = sql.Identifier(c.geometry_column)
    shape: sql.Composable = geom
    params: dict[str, Any] = {"z": z, "x": x, "y": y, "limit": limit, "layer": c.id}
    if z < SIMPLIFY_BELOW and "Point" not in c.geometry_type:
        # preserveCollapsed: a small polygon stays (ST_AsMVTGeom decides whether it shows).
        shape = sql.SQL("ST_Simplify({}, %(tolerance)s, true)").format(geom)
        params["tolerance"] = ground_unit(z, y)
    order = sql.SQL("")
    if c.time_field:  # a full tile keeps the newest
        order = sql.SQL("ORDER BY {} DESC NULLS LAST").format(sql.Identifier(c.time_field))
    query = sql.SQL(
        "SELECT ST_AsMVT(t, %(layer)s, {extent}, 'mvt_geom'), count(*)::int FROM ("
        " SELECT {columns}, ST_AsMVTGeom(ST_Transform({shape}, 3857),"
        " ST_TileEnvelope(%(z)s, %(x)s, %(y)s), {extent}, {buffer}, true) AS mvt_geom"
        # CASE, not OR: an OR would be planned as two index scans and a BitmapOr; this is
        # one scan of the outer box, the inner box and the outline tested per candidate.
        " FROM {table} WHERE {geom} && (SELECT ST_MakeEnvelope(%(ox0)s, %(oy0)s, %(ox1)s,"
        " %(oy1)s, {srid})) AND CASE WHEN {geom} @ (SELECT ST_MakeEnvelope(%(ix0)s, %(iy0)s,"
        " %(ix1)s, %(iy1)s, {srid})) THEN true ELSE ST_Intersects({geom}, (SELECT"
        " ST_GeomFromWKB(%(polygon)s, {srid}))) END"
        " {order} LIMIT %(limit)s) AS t"
    ).format(
        extent=sql.Literal(EXTENT), buffer=sql.Literal(BUFFER),
        columns=sql.SQL(", ").join(_column(f.name, f.type) for f in c.all_fields),
        shape=shape, table=sql.Identifier(c.schema, c.table), geom=geom,
        srid=sql.Literal(c.srid), order=order)
    outer, inner, polygon = tile_in_storage(z, x, y, c.srid)
    params.update(zip(("ox0", "oy0", "ox1", "oy1"), outer, strict=True))
    params.update(zip(("ix0", "iy0", "ix1", "iy1"), inner, strict=True))
    params["polygon"] = polygon
    return query, params
