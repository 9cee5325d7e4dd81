"""Blocks split into lots (Voronoi of seeded points), land use, slivers and coverage cleaning."""

from __future__ import annotations

import numpy as np
import shapely

from .model import Pieces, explode, is_none
from .places import LAND_USE, R_CORE, ZONES, distance_to_centre, is_urban, zone_of

# --- lots -----------------------------------------------------------------------------


def block_kind(piece: shapely.Geometry, rng: np.random.Generator) -> str:
    """Land-use kind of a block piece from its position."""
    xy = shapely.get_coordinates(shapely.point_on_surface(piece))
    zi = int(zone_of(xy)[0])
    if zi >= 0:
        return ZONES[zi].kind
    d = float(distance_to_centre(xy)[0])
    if d < R_CORE:
        return "core"
    if is_urban(xy)[0]:
        u = rng.random()
        if u < np.clip((d - 800.0) / 2000.0, 0.0, 0.35):
            return "allotment"
        return "institution" if u > 0.94 else "residential"
    return "forest" if rng.random() < 0.25 else "field"


def target_lot_area(kind: str, d: float) -> float:
    """Mean parcel size (m²) for a block kind at distance ``d`` from the Altmarkt."""
    if kind == "core":
        return 420.0 * np.exp(d / 650.0)
    if kind == "residential":
        return float(np.clip(1300.0 * np.exp((d - R_CORE) / 450.0), 1300.0, 6500.0))
    return {
        "village": 3000.0,
        "plattenbau": 8000.0,
        "industry": 9000.0,
        "allotment": 12000.0,
        "institution": 9000.0,
        "green": 14000.0,
        "cemetery": 25000.0,
        "sport": 9000.0,
        "field": 40000.0,
        "forest": 45000.0,
    }[kind]


def _grid_points(poly: shapely.Geometry, spacing: float, rng: np.random.Generator) -> np.ndarray:
    """Jittered grid points (``spacing`` apart) inside ``poly``."""
    xmin, ymin, xmax, ymax = poly.bounds
    gx = np.arange(xmin + spacing / 2, xmax, spacing)
    gy = np.arange(ymin + spacing / 2, ymax, spacing)
    if len(gx) == 0 or len(gy) == 0:
        return np.empty((0, 2))
    pts = np.stack(np.meshgrid(gx, gy, indexing="ij"), axis=-1).reshape(-1, 2)
    pts += rng.uniform(-0.35, 0.35, pts.shape) * spacing
    return pts[shapely.contains_xy(poly, pts[:, 0], pts[:, 1])]


def frontage_seeds(poly: shapely.Geometry, area: float, rng: np.random.Generator) -> np.ndarray:
    """Seeds along the block edge (street-facing lots) plus a few inside."""
    depth = float(np.clip(np.sqrt(area) * 1.0, 18.0, 60.0))
    ring = shapely.buffer(poly, -depth / 2, join_style="mitre")
    if ring.is_empty:
        return _grid_points(poly, np.sqrt(area), rng)
    boundary = shapely.get_exterior_ring(max(shapely.get_parts(ring), key=lambda g: g.area))
    width = float(np.clip(area / depth, 10.0, 100.0))
    n = max(int(boundary.length // width), 1)
    steps = rng.uniform(0.6, 1.4, n)
    dist = np.cumsum(steps) / steps.sum() * boundary.length
    pts = shapely.get_coordinates(shapely.line_interpolate_point(boundary, dist))
    core = shapely.buffer(poly, -1.6 * depth, join_style="mitre")
    inner = _grid_points(core, np.sqrt(area) * 1.15, rng) if not core.is_empty else np.empty((0, 2))
    return np.vstack([pts, inner])


def strip_seeds(poly: shapely.Geometry, area: float, rng: np.random.Generator) -> np.ndarray:
    """Seeds on the long axis of a block: Voronoi cells become field strips."""
    rect = shapely.get_coordinates(shapely.oriented_envelope(poly))[:4]
    e1, e2 = rect[1] - rect[0], rect[2] - rect[1]
    long_, short = (e1, e2) if np.hypot(*e1) >= np.hypot(*e2) else (e2, e1)
    short_len = float(np.hypot(*short))
    rows = 2 if short_len > 380.0 else 1
    width = float(np.clip(area / (short_len / rows), 35.0, 220.0))
    n = max(int(np.hypot(*long_) // width), 1)
    centre = rect.mean(axis=0)
    t = (np.arange(n) + 0.5 + rng.uniform(-0.3, 0.3, n)) / n - 0.5
    offs = [0.0] if rows == 1 else [-0.25, 0.25]
    pts = [centre + ti * long_ + o * short for o in offs for ti in t]
    return np.asarray(pts)


def lot_seeds(poly: shapely.Geometry, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Voronoi seed points for the parcels of one block piece."""
    xy = shapely.get_coordinates(shapely.point_on_surface(poly))
    area = target_lot_area(kind, float(distance_to_centre(xy)[0]))
    area *= float(rng.uniform(0.8, 1.25))
    if poly.area < 1.6 * area:
        return xy
    if kind in ("core", "residential", "village"):
        pts = frontage_seeds(poly, area, rng)
    elif kind in ("field", "forest"):
        pts = strip_seeds(poly, area, rng)
    else:
        pts = _grid_points(poly, np.sqrt(area), rng)
    pts = pts[shapely.contains_xy(poly, pts[:, 0], pts[:, 1])]
    return pts if len(pts) else xy


def split_blocks(
    blocks: Pieces, rng: np.random.Generator, fixed: dict[int, list[tuple[float, float]]]
) -> Pieces:
    """Split every block piece into parcels (vectorised Voronoi + clip).

    ``fixed`` maps a piece index to extra seeds (landmarks that must get a lot).
    """
    seeds = []
    for i, (poly, kind) in enumerate(zip(blocks.geom, blocks.kind, strict=True)):
        pts = lot_seeds(poly, kind, rng)
        if i in fixed:
            own = np.asarray(fixed[i], dtype=float)
            gap = np.min(
                np.hypot(pts[:, None, 0] - own[None, :, 0], pts[:, None, 1] - own[None, :, 1]),
                axis=1,
            )
            pts = np.vstack([own, pts[gap > 30.0]])
        seeds.append(shapely.multipoints(pts))
    seeds_arr = np.asarray(seeds, dtype=object)
    n_seeds = shapely.get_num_geometries(seeds_arr)
    single = n_seeds <= 1
    cells = shapely.voronoi_polygons(seeds_arr[~single], extend_to=blocks.geom[~single])
    parts, idx = shapely.get_parts(cells, return_index=True)
    owner = np.flatnonzero(~single)[idx]
    lots = shapely.intersection(parts, blocks.geom[owner])
    split = blocks.take(owner)
    split.geom = np.asarray(lots, dtype=object)
    whole = blocks.take(np.flatnonzero(single))
    return explode(whole.extend(split))


def assign_land_use(p: Pieces, rng: np.random.Generator) -> None:
    """Fill ``p.tn`` for grid parcels from their block kind (in place)."""
    for i in np.flatnonzero(is_none(p.tn)):
        names, probs = LAND_USE[p.kind[i]]
        p.tn[i] = names[int(rng.choice(len(names), p=probs))]


# --- slivers --------------------------------------------------------------------------


def absorb_slivers(p: Pieces) -> Pieces:
    """Merge tiny or very thin polygons into the neighbour sharing most boundary."""
    area = shapely.area(p.geom)
    thin = area / np.maximum(shapely.length(p.geom), 1e-9)
    sliver = (area < 60.0) | ((area < 600.0) & (thin < 2.5))
    tree = shapely.STRtree(p.geom)
    geom = p.geom.copy()
    drop = np.zeros(len(p), dtype=bool)
    for i in np.flatnonzero(sliver):
        cand = [
            j
            for j in tree.query(geom[i], predicate="intersects")
            if j != i and not sliver[j] and not drop[j]
        ]
        if not cand:
            drop[i] = True
            continue
        shared = shapely.length(
            shapely.intersection(shapely.boundary(geom[i]), shapely.buffer(geom[cand], 0.05))
        )
        j = cand[int(np.argmax(shared))]
        merged = shapely.union(geom[j], geom[i])
        merged = shapely.buffer(
            shapely.buffer(merged, 0.001, join_style="mitre"), -0.001, join_style="mitre"
        )
        if merged.geom_type == "Polygon" and merged.is_valid:
            geom[j] = merged
        drop[i] = True
    out = p.take(np.flatnonzero(~drop))
    out.geom = geom[~drop]
    return out


def clean_coverage(geoms: np.ndarray) -> np.ndarray:
    """Round to millimetres and make the parcels an exact, gap-free coverage.

    Needs shapely >= 2.2 with GEOS >= 3.14 for ``coverage_clean``; older versions only
    round (leaving sub-millimetre overlaps where vertices do not match).
    """
    geoms = shapely.set_precision(geoms, 0.001)
    if hasattr(shapely, "coverage_clean") and shapely.geos_version >= (3, 14, 0):
        geoms = shapely.coverage_clean(geoms, gap_width=1.0, snapping_distance=0.002)
    if not np.all(shapely.get_type_id(geoms) == 3):
        raise RuntimeError("coverage cleaning produced non-polygon parcels")
    return geoms
