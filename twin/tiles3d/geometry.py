"""Triangles from LoD2 faces and footprints, and the frames 3D Tiles places them in.

Faces arrive as PolygonZ (one row of twin.building_surfaces each). LoD2 faces are often not
exactly planar, so a face is projected onto its best-fit plane (the Newell normal, which is
defined for any ring) and triangulated there by earcut (mapbox_earcut, holes kept); the
triangles keep the face's real 3D vertices. A face that has no area in any plane (fewer than
three distinct points, all points on a line) is skipped and counted, never an error.

Heights. The model's heights are DHHN2016 normal heights. The viewer uses them as heights above
the ellipsoid: no geoid is applied (the quasigeoid GCG2016 lies about 40 m above the ellipsoid
in Cottbus, so the tiles sit about 40 m low for a client with a global ellipsoidal terrain).
Terrain and buildings share this convention, so they meet; see ``HEIGHT_CONVENTION``.
"""

from __future__ import annotations

from dataclasses import dataclass

import mapbox_earcut
import numpy as np
import shapely
from pyproj import CRS, Transformer

from twin.settings import STORAGE_SRID

#: What tileset.json says about heights (asset.extras); the module docstring says why.
HEIGHT_CONVENTION = ("DHHN2016 normal heights used as ellipsoidal heights (no geoid applied; "
                     "the GCG2016 quasigeoid is about +40 m in Cottbus)")

#: Storage CRS with its heights taken as ellipsoidal -> geocentric (ECEF, EPSG:4978).
_TO_ECEF = Transformer.from_crs(CRS.from_epsg(STORAGE_SRID).to_3d(), "EPSG:4978",
                                always_xy=True)
_TO_LONLAT = Transformer.from_crs(f"EPSG:{STORAGE_SRID}", "EPSG:4326", always_xy=True)


@dataclass(frozen=True)
class Mesh:
    """Triangles with one normal per face, as flat arrays (vertices are not shared by faces).

    ``vertices`` are in the storage CRS with heights; ``owner`` is the index of the face each
    vertex belongs to, so callers can carry per-face values (building, surface type) to
    vertices; ``triangles`` index ``vertices``.
    """

    vertices: np.ndarray  # (n, 3) float64
    normals: np.ndarray  # (n, 3) float32
    owner: np.ndarray  # (n,) int64, index of the input face
    triangles: np.ndarray  # (k, 3) uint32
    skipped: np.ndarray  # indices of input faces that had no area


def _newell(coords: np.ndarray, ring_start: np.ndarray, ring_len: np.ndarray) -> np.ndarray:
    """Newell normal (not normalised) of each ring; closing points already dropped."""
    idx = np.arange(len(coords))
    ring_of = np.repeat(np.arange(len(ring_start)), ring_len)
    nxt = idx + 1
    last = ring_start + ring_len - 1
    nxt[last] = ring_start  # wrap around each ring
    a, b = coords, coords[nxt]
    terms = np.column_stack([
        (a[:, 1] - b[:, 1]) * (a[:, 2] + b[:, 2]),
        (a[:, 2] - b[:, 2]) * (a[:, 0] + b[:, 0]),
        (a[:, 0] - b[:, 0]) * (a[:, 1] + b[:, 1]),
    ])
    out = np.zeros((len(ring_start), 3))
    np.add.at(out, ring_of, terms)
    return out


def triangulate_faces(faces: np.ndarray, *, up: np.ndarray | None = None) -> Mesh:
    """Triangulate PolygonZ faces (a shapely array), each on its best-fit plane.

    Parameters
    ----------
    faces
        shapely Polygons with Z (MultiPolygons are not expected: one face is one polygon).
    up
        Booleans per face: where True the normal is turned to point up (roofs, whose rings
        are not always oriented outward in real data).
    """
    n_faces = len(faces)
    empty = Mesh(np.zeros((0, 3)), np.zeros((0, 3), np.float32), np.zeros(0, np.int64),
                 np.zeros((0, 3), np.uint32), np.arange(n_faces))
    if n_faces == 0:
        return empty
    _, coords, (ring_offsets, poly_offsets) = shapely.to_ragged_array(faces, include_z=True)
    coords = np.asarray(coords, dtype=np.float64)
    # Drop each ring's closing point: earcut and the normals want the distinct corners.
    ring_len = np.diff(ring_offsets) - 1
    keep = np.ones(len(coords), bool)
    keep[ring_offsets[1:] - 1] = False
    coords = coords[keep]
    ring_start = np.concatenate([[0], np.cumsum(ring_len)[:-1]]).astype(np.int64)
    ext_ring = poly_offsets[:-1]  # index of each face's exterior ring

    normal = _newell(coords, ring_start, ring_len)[ext_ring]
    length = np.linalg.norm(normal, axis=1)
    # A face without area in any plane: its Newell normal vanishes (to rounding).
    face_of_ring = np.repeat(np.arange(n_faces), np.diff(poly_offsets))
    ring_of_vertex = np.repeat(np.arange(len(ring_len)), ring_len)
    face_of_vertex = face_of_ring[ring_of_vertex]
    lo = np.full((n_faces, 3), np.inf)
    hi = np.full((n_faces, 3), -np.inf)
    np.minimum.at(lo, face_of_vertex, coords)
    np.maximum.at(hi, face_of_vertex, coords)
    span = np.where(np.isfinite(hi - lo), hi - lo, 0.0)
    extent = np.max(span, axis=1)
    ok = (length > 1e-9 * np.maximum(extent, 1e-9) ** 2) & (ring_len[ext_ring] >= 3)
    normal = np.divide(normal, length[:, None], out=np.zeros_like(normal), where=ok[:, None])
    if up is not None:
        flip = np.asarray(up, bool) & (normal[:, 2] < 0)
        normal[flip] *= -1

    # Two axes of each face's plane; x-axis as helper for faces near horizontal.
    helper = np.where(np.abs(normal[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    u = np.cross(helper, normal)
    u /= np.maximum(np.linalg.norm(u, axis=1), 1e-12)[:, None]
    v = np.cross(normal, u)
    local = coords - coords[ring_start[ext_ring]][face_of_vertex]  # small numbers for earcut
    flat = np.column_stack([np.einsum("ij,ij->i", local, u[face_of_vertex]),
                            np.einsum("ij,ij->i", local, v[face_of_vertex])])

    face_start = ring_start[ext_ring]
    face_end = np.append(face_start[1:], len(coords))
    triangles: list[np.ndarray] = []
    skipped = list(np.flatnonzero(~ok))
    for f in np.flatnonzero(ok):
        start, stop = face_start[f], face_end[f]
        rings = poly_offsets[f], poly_offsets[f + 1]
        if rings[1] - rings[0] == 1 and stop - start == 3:
            tri = np.array([0, 1, 2], np.uint32)
        else:
            ends = np.cumsum(ring_len[rings[0]:rings[1]]).astype(np.uint32)
            tri = mapbox_earcut.triangulate_float64(flat[start:stop], ends)
        if len(tri) == 0:
            skipped.append(f)
            continue
        triangles.append(tri.astype(np.int64) + start)
    if not triangles:
        return empty
    tris = np.concatenate(triangles).reshape(-1, 3)
    # Wind every triangle as its face's normal (front faces counter-clockwise in glTF).
    p0, p1, p2 = coords[tris[:, 0]], coords[tris[:, 1]], coords[tris[:, 2]]
    facing = np.einsum("ij,ij->i", np.cross(p1 - p0, p2 - p0), normal[face_of_vertex[tris[:, 0]]])
    tris[facing < 0] = tris[facing < 0][:, ::-1]
    # Keep only vertices that triangles use (skipped faces' corners go).
    used = np.unique(tris)
    remap = np.full(len(coords), -1, np.int64)
    remap[used] = np.arange(len(used))
    return Mesh(vertices=coords[used], normals=normal[face_of_vertex[used]].astype(np.float32),
                owner=face_of_vertex[used], triangles=remap[tris].astype(np.uint32),
                skipped=np.array(sorted(skipped), np.int64))


def extrude_footprints(footprints: np.ndarray, bottom: np.ndarray, top: np.ndarray) -> Mesh:
    """Prisms of 2D footprints (Polygons or MultiPolygons) from ``bottom`` to ``top``.

    The coarse level of the tileset. Vertices are shared by the faces of a prism and carry no
    normal (a glTF client shades a mesh without normals flat, so walls and roofs still read):
    half the bytes of a prism with a normal per face. ``owner`` is the footprint's index.
    """
    parts, part_of = shapely.get_parts(footprints, return_index=True)
    if len(parts) == 0:
        return Mesh(np.zeros((0, 3)), np.zeros((0, 3), np.float32), np.zeros(0, np.int64),
                    np.zeros((0, 3), np.uint32), np.arange(len(footprints)))
    parts = shapely.force_2d(shapely.orient_polygons(parts))  # exteriors counter-clockwise
    _, coords, (ring_offsets, poly_offsets) = shapely.to_ragged_array(parts)
    ring_len = np.diff(ring_offsets) - 1
    keep = np.ones(len(coords), bool)
    keep[ring_offsets[1:] - 1] = False
    xy = np.asarray(coords, np.float64)[keep]
    ring_start = np.concatenate([[0], np.cumsum(ring_len)[:-1]]).astype(np.int64)
    n = len(xy)
    ring_of_vertex = np.repeat(np.arange(len(ring_len)), ring_len)
    part_of_ring = np.repeat(np.arange(len(parts)), np.diff(poly_offsets))
    owner2d = part_of[part_of_ring[ring_of_vertex]]
    z_bottom, z_top = bottom[owner2d], top[owner2d]
    # Vertices: all top corners, then all bottom corners.
    vertices = np.vstack([np.column_stack([xy, z_top]), np.column_stack([xy, z_bottom])])
    tris: list[np.ndarray] = []
    for p in range(len(parts)):
        r0, r1 = poly_offsets[p], poly_offsets[p + 1]
        start = ring_start[r0]
        stop = ring_start[r1 - 1] + ring_len[r1 - 1]
        if ring_len[r0] < 3:
            continue
        ends = np.cumsum(ring_len[r0:r1]).astype(np.uint32)
        roof = mapbox_earcut.triangulate_float64(xy[start:stop] - xy[start], ends)
        if len(roof):
            tri = roof.astype(np.int64).reshape(-1, 3) + start
            # Counter-clockwise seen from above (shapely's exterior rings are, once oriented).
            a, b, c = xy[tri[:, 0]], xy[tri[:, 1]], xy[tri[:, 2]]
            cross = ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1])
                     - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
            tri[cross < 0] = tri[cross < 0][:, ::-1]
            tris.append(tri)
    # Walls: one quad per ring edge, outward for counter-clockwise exteriors and clockwise holes.
    idx = np.arange(n)
    nxt = idx + 1
    last = ring_start + ring_len - 1
    nxt[last] = ring_start
    walls = np.column_stack([idx, nxt + n, nxt, idx, idx + n, nxt + n])
    tris.append(walls.reshape(-1, 3))
    triangles = np.concatenate(tris).astype(np.uint32)
    missing = np.setdiff1d(np.arange(len(footprints)), part_of)
    return Mesh(vertices=vertices, normals=np.zeros((0, 3), np.float32),
                owner=np.concatenate([owner2d, owner2d]), triangles=triangles, skipped=missing)


def to_ecef(vertices: np.ndarray) -> np.ndarray:
    """Storage-CRS points with heights as geocentric (EPSG:4978) coordinates, float64."""
    x, y, z = _TO_ECEF.transform(vertices[:, 0], vertices[:, 1], vertices[:, 2])
    return np.column_stack([x, y, z])


def enu_frame(ecef_origin: np.ndarray) -> np.ndarray:
    """4x4 east-north-up to ECEF matrix at ``ecef_origin`` (the tile transform), row-major."""
    x, y, z = ecef_origin
    lon = np.arctan2(y, x)
    # Geodetic latitude of the origin (WGS84/GRS80 differ by far less than a millimetre here).
    lat = _geodetic_latitude(x, y, z)
    east = np.array([-np.sin(lon), np.cos(lon), 0.0])
    north = np.array([-np.sin(lat) * np.cos(lon), -np.sin(lat) * np.sin(lon), np.cos(lat)])
    up = np.array([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    frame = np.eye(4)
    frame[:3, 0], frame[:3, 1], frame[:3, 2], frame[:3, 3] = east, north, up, ecef_origin
    return frame


def _geodetic_latitude(x: float, y: float, z: float) -> float:
    a, f = 6378137.0, 1 / 298.257222101  # GRS80, the ellipsoid of ETRS89
    e2 = f * (2 - f)
    p = np.hypot(x, y)
    lat = np.arctan2(z, p * (1 - e2))
    for _ in range(5):  # converges to well below a millimetre in a few steps
        n = a / np.sqrt(1 - e2 * np.sin(lat) ** 2)
        h = p / np.cos(lat) - n
        lat = np.arctan2(z, p * (1 - e2 * n / (n + h)))
    return float(lat)


def region(vertices: np.ndarray) -> list[float]:
    """3D Tiles ``region`` (west, south, east, north in radians, min and max height) of points
    in the storage CRS: the lon/lat box of their grid box's corners."""
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    xs = np.array([lo[0], hi[0], hi[0], lo[0]])
    ys = np.array([lo[1], lo[1], hi[1], hi[1]])
    lon, lat = _TO_LONLAT.transform(xs, ys)
    pad = 1e-8  # radians (~6 cm): the grid box's edges bulge a little in lon/lat
    return [float(np.radians(lon.min()) - pad), float(np.radians(lat.min()) - pad),
            float(np.radians(lon.max()) + pad), float(np.radians(lat.max()) + pad),
            float(lo[2]), float(hi[2])]


def lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes (degrees) of storage-CRS points."""
    lon, lat = _TO_LONLAT.transform(x, y)
    return np.asarray(lon), np.asarray(lat)
