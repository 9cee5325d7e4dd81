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

Carrying a geometry into EPSG:3857 with ``ST_Transform`` was a fifth of a z14 tile's CPU in
PostgreSQL (PROJ's exact transverse Mercator per vertex and PostGIS's per-call overhead, for
every one of ~1,400 small parcels). Over a few hundred metres the projection is an affine
map to well under a tile unit, so the tile's box in the storage CRS is cut into a grid of
cells (:func:`tile_affines`), each with the affine map fitted to PROJ's exact one over the
cell and a margin around it, and a geometry that lies within a cell's margin is carried by
``ST_Affine`` with that cell's six numbers (a box test against the geometry's stored bounding
box picks the cell: no vertex is read). The grid is as fine as it must be for the fit to stay
within :data:`AFFINE_TOLERANCE` of the exact map everywhere in the cell (checked on a lattice
of exact points); where no grid of at most :data:`AFFINE_MAX_CELLS` cells a side does (low
zooms) and for a geometry larger than a cell's margin, ``ST_Transform`` carries it as before.
``ST_AsMVTGeom`` then rounds every vertex to the tile grid, so a vertex lands on the point the
exact transform gives or, when it lay within the tolerance of a rounding boundary, on its
neighbour one unit away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from psycopg import sql
from pyproj import CRS, Transformer

from twin.registry import Collection, FieldType, get_collection

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
#: Most the affine stand-in for the projection may move a point, in tile units (1/4096 of a
#: tile): at 512 pixels a tile, a hundredth of a pixel; ST_AsMVTGeom's rounding is 0.5.
AFFINE_TOLERANCE = 1 / 16
#: The finest grid of affine cells per tile side tried; beyond it the SQL's box tests per row
#: would cost what ST_Transform costs.
AFFINE_MAX_CELLS = 8
#: The margin around a cell (a fraction of the cell on every side) within which its fit holds:
#: a geometry whose box lies within a cell's margin is carried by that cell's map.
AFFINE_MARGIN = 0.25


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


@dataclass(frozen=True)
class AffineCell:
    """A cell of a tile's grid: the box (storage CRS) in which its affine map holds and the
    map's six numbers in ``ST_Affine``'s order (a, b, d, e, xoff, yoff)."""

    box: tuple[float, float, float, float]
    coefficients: tuple[float, float, float, float, float, float]


@lru_cache(maxsize=4096)  # a millisecond or two each, once per tile like tile_in_storage
def tile_affines(z: int, x: int, y: int, srid: int) -> tuple[AffineCell, ...]:
    """Cells over tile z/x/y whose affine maps (storage CRS to EPSG:3857) stay within
    :data:`AFFINE_TOLERANCE` tile units of the exact transform; none when no grid of at most
    :data:`AFFINE_MAX_CELLS` a side does (then every geometry is transformed exactly).

    Each cell's map is the least-squares fit to exact points on a lattice of quarter cells
    over the cell and its margin, and its largest miss on that lattice is its error (the miss
    is the projection's curvature, smooth at this scale: largest at the corners and the
    middle, which the lattice holds).
    """
    outer, _, polygon = tile_in_storage(z, x, y, srid)
    if polygon is None:
        return ()
    unit = CIRCUMFERENCE / 2 ** z / EXTENT  # a tile unit in EPSG:3857 metres
    to_mercator = _to_mercator(srid)
    x0, y0, x1, y1 = outer
    k = 1
    while k <= AFFINE_MAX_CELLS:
        cells, worst = _fit_cells(to_mercator, x0, y0, (x1 - x0) / k, (y1 - y0) / k, k, unit)
        if cells is not None:
            return cells
        # The miss is the curvature: it shrinks with the square of the cell's size.
        k = max(2 * k, 2 ** math.ceil(math.log2(k * math.sqrt(worst / AFFINE_TOLERANCE))))
    return ()


@lru_cache(maxsize=8)
def _to_mercator(srid: int) -> Transformer:
    return Transformer.from_crs(srid, 3857, always_xy=True)


def _fit_cells(to_mercator: Transformer, x0: float, y0: float, width: float, height: float,
               k: int, unit: float) -> tuple[tuple[AffineCell, ...] | None, float]:
    """The k x k cells' fits (None if one misses by more than the tolerance) and the
    largest miss in tile units."""
    steps = 4  # lattice points per cell side
    margin = round(AFFINE_MARGIN * steps)
    offsets = (np.arange(k * steps + 2 * margin + 1) - margin) / steps  # in cells
    grid_x, grid_y = np.meshgrid(x0 + offsets * width, y0 + offsets * height)
    merc_x, merc_y = to_mercator.transform(grid_x, grid_y)
    if not (np.all(np.isfinite(merc_x)) and np.all(np.isfinite(merc_y))):
        return None, math.inf
    span = steps + 2 * margin + 1  # lattice points per side of a cell with its margin

    def per_cell(grid: np.ndarray) -> np.ndarray:  # (cells, points of a cell), row by row
        windows = np.lib.stride_tricks.sliding_window_view(grid, (span, span))
        return windows[::steps, ::steps].reshape(k * k, span * span)

    sx, sy, tx, ty = (per_cell(g) for g in (grid_x, grid_y, merc_x, merc_y))
    # Relative to each cell's first lattice point: the fit stays well conditioned.
    ox, oy = sx[:, :1], sy[:, :1]
    a = np.stack([sx - ox, sy - oy, np.ones_like(sx)], axis=2)  # (cells, points, 3)
    normal = np.einsum("cpi,cpj->cij", a, a)
    fx = np.linalg.solve(normal, np.einsum("cpi,cp->ci", a, tx)[..., None])[..., 0]
    fy = np.linalg.solve(normal, np.einsum("cpi,cp->ci", a, ty)[..., None])[..., 0]
    miss = np.hypot(np.einsum("cpi,ci->cp", a, fx) - tx, np.einsum("cpi,ci->cp", a, fy) - ty)
    worst = float(miss.max()) / unit
    if worst > AFFINE_TOLERANCE:
        return None, worst
    # x' = fx0 (x - ox) + fx1 (y - oy) + fx2, as ST_Affine's a x + b y + xoff.
    ox, oy = ox[:, 0], oy[:, 0]
    numbers = np.column_stack([fx[:, 0], fx[:, 1], fy[:, 0], fy[:, 1],
                               fx[:, 2] - fx[:, 0] * ox - fx[:, 1] * oy,
                               fy[:, 2] - fy[:, 0] * ox - fy[:, 1] * oy])
    boxes = np.column_stack([sx.min(axis=1), sy.min(axis=1), sx.max(axis=1), sy.max(axis=1)])
    return tuple(AffineCell(tuple(map(float, box)), tuple(map(float, n)))  # type: ignore[arg-type]
                 for box, n in zip(boxes, numbers, strict=True)), worst


def _in_tile_crs(shape: sql.Composable, geom: sql.Composable, srid: int, cells: int,
                 first: int) -> sql.Composable:
    """``shape`` in EPSG:3857: each of ``cells`` cells' affine map where the geometry lies
    within the cell's box (tested on the stored bounding box), ``ST_Transform`` elsewhere.

    A cell's box and map are the ten parameters from ``$first`` on, cell after cell, row
    after row; on grids of more than two cells a side, each row's box follows (four
    parameters each), tested first: a geometry meets a row's cells only once in its row.
    """
    exact = sql.SQL("ST_Transform({}, 3857)").format(shape)
    if not cells:
        return exact

    def box(n: int) -> sql.Composable:
        # The box as an InitPlan (once per statement); @ reads the stored bounding box only.
        corners = sql.SQL(", ").join(sql.SQL(f"${i}") for i in range(n, n + 4))
        return sql.SQL("{} @ (SELECT ST_MakeEnvelope({}, {}))").format(
            geom, corners, sql.Literal(srid))

    def case(numbers: range) -> sql.Composable:
        # The result keeps the storage SRID: ST_AsMVTGeom reads coordinates, not the SRID.
        return sql.SQL("CASE {} ELSE {} END").format(sql.SQL(" ").join(
            sql.SQL("WHEN {} THEN ST_Affine({}, {})").format(
                box(first + 10 * n), shape,
                sql.SQL(", ").join(sql.SQL(f"${i}") for i in range(
                    first + 10 * n + 4, first + 10 * n + 10))) for n in numbers), exact)

    side = math.isqrt(cells)
    if side <= 2:
        return case(range(cells))
    rows = first + 10 * cells
    return sql.SQL("CASE {} ELSE {} END").format(sql.SQL(" ").join(
        sql.SQL("WHEN {} THEN {}").format(box(rows + 4 * j), case(range(j * side,
                                                                        (j + 1) * side)))
        for j in range(side)), exact)


@lru_cache(maxsize=256)
def _statement(cid: str, simplified: bool, cells: int, limit: int) -> bytes:
    """The tile statement of ``c`` as bytes with PostgreSQL's own ``$n`` placeholders.

    Made once per collection and shape: composing it, and psycopg's parsing of ``%s``
    placeholders (which it caches only for short statements with few parameters), cost more
    Python time per tile than the rest of the request; the statement is run through a
    :class:`psycopg.RawCursor`, which sends it as it is. The limit is written into it, so that
    a generic plan (twin/tiles.py prepares it once per connection) knows it as a custom plan
    would. Parameters: $1 layer, $2-$4 z/x/y, $5-$8 the outer box, $9-$12 the inner box,
    $13 the outline, $14 the simplification tolerance, then ten per affine cell and four per
    row of cells (:func:`_in_tile_crs`).
    """
    c = get_collection(cid)
    geom = sql.Identifier(c.geometry_column)
    shape: sql.Composable = geom
    if simplified:
        # preserveCollapsed: a small polygon stays (ST_AsMVTGeom decides whether it shows).
        shape = sql.SQL("ST_Simplify({}, $14, true)").format(geom)
    order = sql.SQL("")
    if c.time_field:  # a full tile keeps the newest
        order = sql.SQL("ORDER BY {} DESC NULLS LAST").format(sql.Identifier(c.time_field))
    return sql.SQL(
        "SELECT ST_AsMVT(t, $1, {extent}, 'mvt_geom'), count(*)::int FROM ("
        " SELECT {columns}, ST_AsMVTGeom({in_tile_crs},"
        " ST_TileEnvelope($2, $3, $4), {extent}, {buffer}, true) AS mvt_geom"
        # CASE, not OR: an OR would be planned as two index scans and a BitmapOr; this is
        # one scan of the outer box, the inner box and the outline tested per candidate.
        " FROM {table} WHERE {geom} && (SELECT ST_MakeEnvelope($5, $6, $7, $8, {srid}))"
        " AND CASE WHEN {geom} @ (SELECT ST_MakeEnvelope($9, $10, $11, $12, {srid}))"
        " THEN true ELSE ST_Intersects({geom}, (SELECT ST_GeomFromWKB($13, {srid}))) END"
        " {order} LIMIT {limit}) AS t"
    ).format(
        extent=sql.Literal(EXTENT), buffer=sql.Literal(BUFFER),
        columns=sql.SQL(", ").join(_column(f.name, f.type) for f in c.all_fields),
        in_tile_crs=_in_tile_crs(shape, geom, c.srid, cells, 15),
        table=sql.Identifier(c.schema, c.table), geom=geom,
        srid=sql.Literal(c.srid), order=order, limit=sql.Literal(limit)).as_bytes(None)


def tile_query(c: Collection, z: int, x: int, y: int, limit: int
               ) -> tuple[bytes, list[Any]]:
    """The statement answering (MVT bytes, candidate count) for tile z/x/y of ``c``, with
    ``$n`` placeholders (run it with a :class:`psycopg.RawCursor`), and its parameters."""
    simplified = z < SIMPLIFY_BELOW and "Point" not in c.geometry_type
    cells = tile_affines(z, x, y, c.srid)
    outer, inner, polygon = tile_in_storage(z, x, y, c.srid)
    # $14 is always sent (PostgreSQL needs every parameter's type): unused when not simplified.
    params: list[Any] = [c.id, z, x, y, *outer, *inner, polygon,
                         ground_unit(z, y) if simplified else 0.0]
    for cell in cells:
        params += (*cell.box, *cell.coefficients)
    side = math.isqrt(len(cells))
    if side > 2:  # each row's box (_in_tile_crs)
        for j in range(side):
            row = cells[j * side:(j + 1) * side]
            params += (min(cell.box[0] for cell in row), row[0].box[1],
                       max(cell.box[2] for cell in row), row[0].box[3])
    return _statement(c.id, simplified, len(cells), limit), params
