"""twin.buildings + twin.building_surfaces -> a 3D Tiles 1.1 tileset in twin.building_tiles.

The tileset has two levels under an empty root:

- **coarse** tiles of ``group`` x ``group`` cells (1 km by default): every building as its
  footprint extruded from the ground to half-way up the roof, without normals (glTF clients
  shade such meshes flat). Drawn when the camera is far, so the whole city's first frame stays
  light;
- **detailed** tiles of one ``tile_size`` cell (250 m): the true LoD2 faces (walls, sloped
  roofs, closure surfaces; ground faces are never seen and left out), one normal per face.
  A building without LoD2 faces gets its extruded footprint here too.

A building belongs to the cell of a point on its footprint, so it is never cut in two. Each
tile's vertices are relative to the tile's centre in an east-north-up frame whose position is
the tile's ``transform`` (ECEF, float64 in tileset.json). Content file names carry a hash of the
content, so a tile is immutable and served with a long cache lifetime; tileset.json is not.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import psycopg
import shapely

from twin.tiles3d.style import ROOF_SHADE, colour

# The mesh and glTF modules (pyproj transformers, pygltflib) are imported by the functions
# that build tiles: most loads that run refresh_building_tiles change no building and only
# compare a fingerprint.
if TYPE_CHECKING:
    from twin.tiles3d import geometry

#: Edge of a detailed tile, metres (EPSG:25833 grid).
TILE_SIZE = 250.0
#: Detailed tiles per coarse tile along each axis.
COARSE_GROUP = 4
#: Geometric errors (metres): the root always refines, a coarse tile refines to its detailed
#: tiles when its 8 m (flat roofs at half height) would show as more than loaders.gl's
#: default 8 pixels of screen-space error, i.e. from roughly 1 km away.
ROOT_ERROR = 10_000.0
COARSE_ERROR = 8.0
DETAIL_ERROR = 0.0
TILESET = "tileset.json"
GLB = "model/gltf-binary"
JSON = "application/json"
#: Cottbus, for the bounding volume of a tileset without buildings (lon/lat degrees).
EMPTY_BOX = (14.25, 51.70, 14.45, 51.83)

BUILDING_SQL = """
SELECT building_id, address, function_de, function_en, roof_type_de, roof_type_en, height,
       storeys, heritage_status, heritage_id, heritage_name, ground_height, eave_height,
       roof_height, ST_X(p) AS x, ST_Y(p) AS y, ST_AsBinary(geom) AS footprint
FROM (SELECT *, ST_PointOnSurface(geom) AS p FROM twin.buildings
      WHERE geom IS NOT NULL AND NOT ST_IsEmpty(geom)) b
ORDER BY building_id
"""
# Ground faces are under the building: never seen from a map view, so not sent.
SURFACE_SQL = """
SELECT building_id, surface_type, ST_AsBinary(geom)
FROM twin.building_surfaces
WHERE surface_type IS DISTINCT FROM 'ground' AND geom IS NOT NULL
ORDER BY building_id
"""


@dataclass(frozen=True)
class TileStats:
    """What :func:`write_building_tiles` wrote."""

    buildings: int
    faces: int
    skipped_faces: int
    extruded_buildings: int
    detail_tiles: int
    coarse_tiles: int
    triangles: int
    bytes: int
    seconds: float


@dataclass
class _Buildings:
    ids: list[str]
    features: list[dict]
    status: list[str | None]
    x: np.ndarray
    y: np.ndarray
    footprints: np.ndarray
    ground: np.ndarray  # nan where unknown
    eave: np.ndarray
    roof: np.ndarray
    height: np.ndarray


def _floats(rows: list, key: str) -> np.ndarray:
    return np.array([np.nan if r[key] is None else r[key] for r in rows], np.float64)


def _read_buildings(conn: psycopg.Connection) -> _Buildings:
    from twin.tiles3d.gltf import PROPERTIES

    with conn.cursor(row_factory=psycopg.rows.dict_row, binary=True) as cur:
        rows = cur.execute(BUILDING_SQL).fetchall()
    return _Buildings(
        ids=[r["building_id"] for r in rows],
        features=[{k: r[k] for k in PROPERTIES} for r in rows],
        status=[r["heritage_status"] for r in rows],
        x=np.array([r["x"] for r in rows], np.float64),
        y=np.array([r["y"] for r in rows], np.float64),
        footprints=shapely.from_wkb([r["footprint"] for r in rows], on_invalid="ignore"),
        ground=_floats(rows, "ground_height"), eave=_floats(rows, "eave_height"),
        roof=_floats(rows, "roof_height"), height=_floats(rows, "height"))


def _read_faces(conn: psycopg.Connection, index: dict[str, int]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Faces as (polygons, building index, is-roof); MultiPolygons split into parts."""
    with conn.cursor(binary=True) as cur:
        rows = [r for r in cur.execute(SURFACE_SQL) if r[0] in index]
    geoms = shapely.from_wkb([r[2] for r in rows], on_invalid="ignore")
    owner = np.array([index[r[0]] for r in rows], np.int64)
    roof = np.array([r[1] == "roof" for r in rows], bool)
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    polygon = (shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)
    parts, part_of = parts[polygon], part_of[polygon]
    return parts, owner[part_of], roof[part_of]


def _prism_faces(footprint: shapely.Geometry, bottom: float, top: float
                 ) -> tuple[list[shapely.Geometry], list[bool]]:
    """Walls and a flat roof of a footprint, as PolygonZ faces (for buildings without LoD2)."""
    faces, roofs = [], []
    for poly in shapely.get_parts(shapely.orient_polygons(footprint)):
        rings = [poly.exterior, *poly.interiors]
        faces.append(shapely.Polygon([(x, y, top) for x, y in rings[0].coords],
                                     [[(x, y, top) for x, y in r.coords] for r in rings[1:]]))
        roofs.append(True)
        for ring in rings:
            pts = list(ring.coords)
            for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:], strict=True):
                faces.append(shapely.Polygon([(x0, y0, bottom), (x1, y1, bottom),
                                              (x1, y1, top), (x0, y0, top)]))
                roofs.append(False)
    return faces, roofs


def _vertical_extent(b: _Buildings, face_owner: np.ndarray, face_z: tuple[np.ndarray, np.ndarray]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Bottom and top of each building's coarse prism; nan where nothing is known."""
    zmin, zmax = face_z
    n = len(b.ids)
    low = np.full(n, np.inf)
    high = np.full(n, -np.inf)
    np.minimum.at(low, face_owner, zmin)
    np.maximum.at(high, face_owner, zmax)
    low[~np.isfinite(low)] = np.nan
    high[~np.isfinite(high)] = np.nan
    bottom = np.where(np.isfinite(b.ground), b.ground, low)
    ridge = np.where(np.isfinite(b.roof), b.roof,
                     np.where(np.isfinite(high), high, bottom + b.height))
    # Half-way up the roof: the volume of a gable house, without its ridge.
    top = np.where(np.isfinite(b.eave), (b.eave + ridge) / 2, ridge)
    top = np.where(np.isfinite(top), top, np.nan)
    return bottom, np.maximum(top, bottom + 0.5)


@dataclass
class _Tile:
    key: tuple[int, int]
    uri: str
    content: bytes
    region: list[float]
    frame: np.ndarray  # 4x4 ENU -> ECEF


def _make_tile(kind: str, key: tuple[int, int], mesh: geometry.Mesh, vertex_building: np.ndarray,
               tri_rows: np.ndarray, b: _Buildings, roof_vertex: np.ndarray | None) -> _Tile:
    """One tile's glb from the vertices used by ``tri_rows`` of ``mesh.triangles``."""
    from twin.tiles3d import geometry
    from twin.tiles3d.gltf import TileMesh, write_glb

    tris = mesh.triangles[tri_rows]
    used, local_tris = np.unique(tris, return_inverse=True)
    local_tris = local_tris.reshape(-1, 3)
    verts = mesh.vertices[used]
    owners = vertex_building[used]
    buildings, feature_ids = np.unique(owners, return_inverse=True)
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    centre = geometry.to_ecef(((lo + hi) / 2)[None, :])[0]
    frame = geometry.enu_frame(centre)
    enu = (geometry.to_ecef(verts) - centre) @ frame[:3, :3]  # rows: east, north, up
    positions = np.column_stack([enu[:, 0], enu[:, 2], -enu[:, 1]]).astype(np.float32)  # y-up
    normals = None
    if len(mesh.normals):
        n = mesh.normals[used]
        normals = np.column_stack([n[:, 0], n[:, 2], -n[:, 1]]).astype(np.float32)
    rgb = np.array([colour(b.status[i]) for i in buildings], np.float32)[feature_ids]
    if roof_vertex is not None:
        rgb[roof_vertex[used]] *= ROOF_SHADE
    colours = np.column_stack([rgb, np.full(len(rgb), 255.0)]).round().astype(np.uint8)
    index_type = np.uint16 if len(used) < 65536 else np.uint32
    content = write_glb(TileMesh(
        positions=positions, normals=normals, colors=colours,
        feature_ids=feature_ids.astype(np.float32),
        indices=local_tris.reshape(-1).astype(index_type),
        features=[b.features[i] for i in buildings]))
    digest = hashlib.sha256(content).hexdigest()[:12]
    uri = f"tiles/{kind}/{key[0]}_{key[1]}-{digest}.glb"
    return _Tile(key, uri, content, geometry.region(verts), frame)


def _union(regions: list[list[float]]) -> list[float]:
    r = np.array(regions)
    return [float(r[:, 0].min()), float(r[:, 1].min()), float(r[:, 2].max()),
            float(r[:, 3].max()), float(r[:, 4].min()), float(r[:, 5].max())]


def _column_major(matrix: np.ndarray) -> list[float]:
    return [float(v) for v in matrix.T.reshape(-1)]


def _tileset(coarse: list[_Tile], detail: dict[tuple[int, int], list[_Tile]],
             extras: dict) -> dict:
    children = []
    for parent in coarse:
        kids = detail.get(parent.key, [])
        inverse = np.linalg.inv(parent.frame)
        node = {
            "boundingVolume": {"region": _union([parent.region] + [k.region for k in kids])},
            "geometricError": COARSE_ERROR, "refine": "REPLACE",
            "transform": _column_major(parent.frame),
            "content": {"uri": parent.uri},
            # The detailed tiles hang below an empty tile: loaders.gl (deck.gl) then requests
            # them all at once; as direct children of a tile with content they would be
            # requested one per traversal, one after the other.
            "children": [{
                "boundingVolume": {"region": _union([k.region for k in kids])},
                "geometricError": COARSE_ERROR, "refine": "REPLACE",
                # A child's transform is relative to its parent's.
                "children": [{"boundingVolume": {"region": k.region},
                              "geometricError": DETAIL_ERROR,
                              "transform": _column_major(inverse @ k.frame),
                              "content": {"uri": k.uri}} for k in kids],
            }] if kids else [],
        }
        children.append(node)
    if children:
        box = _union([c["boundingVolume"]["region"] for c in children])
    else:
        w, s, e, n = np.radians(EMPTY_BOX)
        box = [float(w), float(s), float(e), float(n), 0.0, 100.0]
    return {
        "asset": {"version": "1.1", "generator": "cottbus-twin twin.tiles3d",
                  "extras": {"twin": extras}},
        "geometricError": ROOT_ERROR,
        "root": {"boundingVolume": {"region": box}, "geometricError": ROOT_ERROR,
                 "refine": "REPLACE", "children": children},
    }


def build_tiles(conn: psycopg.Connection, *, tile_size: float = TILE_SIZE,
                group: int = COARSE_GROUP, progress: Callable[[str], None] | None = None
                ) -> tuple[list[tuple[str, bytes, str]], TileStats]:
    """The tileset's rows (path, content, content type) from the buildings, and what they hold.

    Reads only; :func:`write_building_tiles` stores them.
    """
    from twin.tiles3d import geometry

    started = time.perf_counter()
    say = progress or (lambda message: None)
    b = _read_buildings(conn)
    index = {bid: i for i, bid in enumerate(b.ids)}
    faces, face_owner, face_roof = _read_faces(conn, index)
    say(f"{len(b.ids)} buildings, {len(faces)} faces read")
    zmin = shapely.get_coordinates(faces, include_z=True)
    counts = shapely.get_num_coordinates(faces)
    face_of = np.repeat(np.arange(len(faces)), counts)
    face_z = (np.full(len(faces), np.inf), np.full(len(faces), -np.inf))
    np.minimum.at(face_z[0], face_of, zmin[:, 2])
    np.maximum.at(face_z[1], face_of, zmin[:, 2])
    bottom, top = _vertical_extent(b, face_owner, face_z)

    mesh = geometry.triangulate_faces(faces, up=face_roof)
    skipped = len(mesh.skipped)
    # Buildings without a drawable LoD2 face get their extruded footprint on this level too.
    has_face = np.zeros(len(b.ids), bool)
    has_face[face_owner[mesh.owner]] = True
    missing = np.flatnonzero(~has_face & np.isfinite(bottom) & np.isfinite(top)
                             & ~shapely.is_missing(b.footprints))
    extra_faces, extra_owner, extra_roof = [], [], []
    for i in missing:
        f, r = _prism_faces(b.footprints[i], bottom[i], top[i])
        extra_faces += f
        extra_roof += r
        extra_owner += [i] * len(f)
    if extra_faces:
        faces = np.concatenate([faces, np.array(extra_faces, dtype=object)])
        face_owner = np.concatenate([face_owner, np.array(extra_owner, np.int64)])
        face_roof = np.concatenate([face_roof, np.array(extra_roof, bool)])
        mesh = geometry.triangulate_faces(faces, up=face_roof)
    say(f"{len(mesh.triangles)} triangles")

    cell = np.column_stack([np.floor(b.x / tile_size), np.floor(b.y / tile_size)]).astype(int)
    vertex_building = face_owner[mesh.owner]
    roof_vertex = face_roof[mesh.owner]
    tri_building = vertex_building[mesh.triangles[:, 0]]
    tri_cell = cell[tri_building]
    detail: dict[tuple[int, int], list[_Tile]] = {}
    order = np.lexsort((tri_cell[:, 1], tri_cell[:, 0]))
    keys, starts = np.unique(tri_cell[order], axis=0, return_index=True)
    bounds = np.append(starts, len(order))
    for k, (key, start, stop) in enumerate(zip(keys, bounds[:-1], bounds[1:], strict=True)):
        key = (int(key[0]), int(key[1]))
        tile = _make_tile("d", key, mesh, vertex_building, order[start:stop], b, roof_vertex)
        parent = (key[0] // group, key[1] // group)
        detail.setdefault(parent, []).append(tile)
        if k % 200 == 199:
            say(f"{k + 1} of {len(keys)} detailed tiles")

    drawable = np.flatnonzero(np.isfinite(bottom) & np.isfinite(top)
                              & ~shapely.is_missing(b.footprints))
    coarse: list[_Tile] = []
    groups = cell[drawable] // group
    for key in sorted({(int(gx), int(gy)) for gx, gy in groups}):
        members = drawable[(groups[:, 0] == key[0]) & (groups[:, 1] == key[1])]
        prisms = geometry.extrude_footprints(b.footprints[members], bottom[members],
                                             top[members])
        if not len(prisms.triangles):
            continue
        coarse.append(_make_tile("c", key, prisms, members[prisms.owner],
                                 np.arange(len(prisms.triangles)), b, None))
    say(f"{len(coarse)} coarse tiles")

    grounds = bottom[np.isfinite(bottom)]
    extras = {
        "heights": geometry.HEIGHT_CONVENTION,
        "crs": "EPSG:25833 (source), tiles in EPSG:4978",
        "groundHeight": float(np.median(grounds)) if len(grounds) else 0.0,
        "buildings": len(b.ids), "tileSize": tile_size,
        "heritageStatus": "heritage_status in each tile's EXT_structural_metadata table",
    }
    tileset = json.dumps(_tileset(coarse, detail, extras), separators=(",", ":")).encode()
    rows = [(TILESET, tileset, JSON)]
    rows += [(t.uri, t.content, GLB) for t in coarse]
    rows += [(t.uri, t.content, GLB) for tiles in detail.values() for t in tiles]
    stats = TileStats(
        buildings=len(b.ids), faces=len(faces), skipped_faces=skipped,
        extruded_buildings=len(missing), detail_tiles=sum(len(t) for t in detail.values()),
        coarse_tiles=len(coarse), triangles=len(mesh.triangles),
        bytes=sum(len(r[1]) for r in rows), seconds=round(time.perf_counter() - started, 3))
    return rows, stats


#: What the tiles are made of, as one value: every column of every building and every face.
#: The tiles are a function of these rows, so an equal fingerprint means equal tiles. Sums of
#: 64-bit row hashes: one pass over each table, no sort, no big string.
FINGERPRINT_SQL = """
SELECT concat_ws('-',
    (SELECT count(*) || ':' || coalesce(sum(hashtextextended(b::text, 0)::numeric), 0)
       FROM twin.buildings b),
    (SELECT count(*) || ':' || coalesce(sum(hashtextextended(s::text, 0)::numeric), 0)
       FROM twin.building_surfaces s))
"""
_STORED_VERSION_SQL = """
SELECT convert_from(content, 'UTF8')::jsonb #>> '{asset,tilesetVersion}'
  FROM twin.building_tiles WHERE path = 'tileset.json'
"""


def refresh_building_tiles(conn: psycopg.Connection) -> TileStats | None:
    """:func:`write_building_tiles` unless the stored tiles were made from the same rows.

    Loads of parcels, heritage and buildings run this step (twin/derive.py), and most of them
    change no building: rebuilding the tiles of a whole city for them would cost seconds each.
    The fingerprint of the rows the tiles were made from is their ``asset.tilesetVersion``.

    Returns
    -------
    TileStats or None
        What was written, or None when the tiles were current.
    """
    fingerprint = conn.execute(FINGERPRINT_SQL).fetchone()[0]
    stored = conn.execute(_STORED_VERSION_SQL).fetchone()
    if stored is not None and stored[0] == fingerprint:
        return None
    return write_building_tiles(conn, version=fingerprint)


def write_building_tiles(conn: psycopg.Connection, *, tile_size: float = TILE_SIZE,
                         group: int = COARSE_GROUP,
                         progress: Callable[[str], None] | None = None,
                         version: str | None = None) -> TileStats:
    """Replace the rows of twin.building_tiles by the tileset of the current buildings.

    Runs in the caller's transaction and never commits: called by the buildings load, the
    tiles change together with the buildings or not at all.

    Parameters
    ----------
    conn
        A connection inside the transaction that changed the buildings.
    tile_size, group
        Edge of a detailed tile in metres, and detailed tiles per coarse tile along an axis.
    progress
        Called with a line of text at each stage (long work shows progress).
    version
        The tileset's ``asset.tilesetVersion`` (see :func:`refresh_building_tiles`).

    Returns
    -------
    TileStats
        Counts of buildings, faces, tiles, triangles and bytes written.
    """
    rows, stats = build_tiles(conn, tile_size=tile_size, group=group, progress=progress)
    if version is not None:
        rows = [(path, _with_version(content, version) if path == TILESET else content,
                 kind) for path, content, kind in rows]
    conn.execute("DELETE FROM twin.building_tiles")
    with conn.cursor() as cur, cur.copy(
            "COPY twin.building_tiles (path, content, content_type) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["text", "bytea", "text"])
        for row in rows:
            copy.write_row(row)
    return stats


def _with_version(tileset: bytes, version: str) -> bytes:
    doc = json.loads(tileset)
    doc["asset"]["tilesetVersion"] = version
    return json.dumps(doc, separators=(",", ":")).encode()
