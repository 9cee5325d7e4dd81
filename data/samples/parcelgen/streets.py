"""The street grid: jittered nodes, street segments, blocks, street polygons and names."""

from __future__ import annotations

import numpy as np
import shapely

from .model import Edges, Grid, is_none
from .places import (
    BBOX,
    CENTRE,
    STREET_ANCHORS,
    STREET_POOL,
    ZONES,
    distance_to_centre,
    is_urban,
    zone_of,
)

# --- street grid ----------------------------------------------------------------------


def _line_positions(
    centre: float, lo: float, hi: float, s0: float, growth: float, smax: float
) -> np.ndarray:
    """Street line positions along one axis, spacing growing away from ``centre``.

    ``centre`` lies in the middle of a block; ``lo`` and ``hi`` (the bbox) are
    always lines.
    """
    pos = [centre - s0 / 2, centre + s0 / 2]
    for sign, limit, start in ((1.0, hi, pos[1]), (-1.0, lo, pos[0])):
        p = start
        while True:
            s = min(s0 + growth * abs(p - centre), smax)
            nxt = p + sign * s
            if sign * (limit - nxt) < 0.45 * s:
                break
            pos.append(nxt)
            p = nxt
    return np.array(sorted([lo, *pos, hi]))


def build_grid(rng: np.random.Generator) -> Grid:
    """Jittered, gently warped street grid covering :data:`BBOX`."""
    xmin, ymin, xmax, ymax = BBOX
    xs = _line_positions(CENTRE[0], xmin, xmax, 112.0, 0.23, 640.0)
    ys = _line_positions(CENTRE[1], ymin, ymax, 108.0, 0.23, 640.0)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    nodes = np.stack([gx, gy], axis=-1)

    # local spacing for the jitter amplitude
    sx = np.gradient(xs)[:, None] * np.ones_like(gx)
    sy = np.gradient(ys)[None, :] * np.ones_like(gy)
    d = distance_to_centre(nodes)
    taper = np.clip((d - 150.0) / 900.0, 0.0, 1.0)
    phase = rng.uniform(0, 2 * np.pi, 4)
    warp_x = 45.0 * np.sin(2 * np.pi * gy / 2700.0 + phase[0]) + 25.0 * np.sin(
        2 * np.pi * gy / 1100.0 + phase[1]
    )
    warp_y = 45.0 * np.sin(2 * np.pi * gx / 2900.0 + phase[2]) + 25.0 * np.sin(
        2 * np.pi * gx / 1300.0 + phase[3]
    )
    jit = rng.normal(0.0, 1.0, nodes.shape)
    jit = np.clip(jit, -2.0, 2.0) * 0.065 * np.stack([sx, sy], axis=-1)
    nodes[..., 0] += taper * warp_x + jit[..., 0]
    nodes[..., 1] += taper * warp_y + jit[..., 1]
    # keep the outer frame on the bbox
    nodes[0, :, 0], nodes[-1, :, 0] = xmin, xmax
    nodes[:, 0, 1], nodes[:, -1, 1] = ymin, ymax

    kx = np.arange(len(xs)) - int(np.searchsorted(xs, CENTRE[0]))
    ky = np.arange(len(ys)) - int(np.searchsorted(ys, CENTRE[1]))
    return Grid(nodes=nodes, kx=kx, ky=ky)


def build_edges(grid: Grid) -> Edges:
    """Street segments of the grid with width and urban/rural flag (no names yet)."""
    nx, ny = grid.shape
    n = grid.nodes
    ii, jj = np.meshgrid(np.arange(nx), np.arange(ny - 1), indexing="ij")
    va, vb = n[ii, jj].reshape(-1, 2), n[ii, jj + 1].reshape(-1, 2)
    v_line, v_pos = ii.ravel(), jj.ravel()
    v_bnd = (v_line == 0) | (v_line == nx - 1)
    ii, jj = np.meshgrid(np.arange(nx - 1), np.arange(ny), indexing="ij")
    ha, hb = n[ii, jj].reshape(-1, 2), n[ii + 1, jj].reshape(-1, 2)
    h_line, h_pos = jj.ravel(), ii.ravel()
    h_bnd = (h_line == 0) | (h_line == ny - 1)

    a, b = np.concatenate([va, ha]), np.concatenate([vb, hb])
    vertical = np.concatenate([np.ones(len(va), bool), np.zeros(len(ha), bool)])
    line = np.concatenate([v_line, h_line])
    pos = np.concatenate([v_pos, h_pos])
    boundary = np.concatenate([v_bnd, h_bnd])
    mid = 0.5 * (a + b)
    zi = zone_of(mid)
    zkind = np.array([ZONES[z].kind if z >= 0 else "" for z in zi])
    urban = is_urban(mid) | (zkind != "")
    k = np.where(vertical, grid.kx[np.minimum(line, nx - 1)], grid.ky[np.minimum(line, ny - 1)])
    arterial = (np.abs(k) % 3 == 0) & (np.abs(k) > 0)
    # open land: only every third line is a farm track, elsewhere fields abut
    width = np.where(urban, np.where(arterial, 22.0, 12.0), np.where(arterial, 7.0, 0.0))
    width[boundary] = 0.0
    name = np.full(len(a), None, dtype=object)
    return Edges(
        a=a,
        b=b,
        vertical=vertical,
        line=line,
        pos=pos,
        boundary=boundary,
        width=width,
        urban=urban,
        name=name,
    )


def block_edge_ids(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Corner coordinates ``(nb, 4, 2)`` (counter-clockwise) and edge ids ``(nb, 4)``."""
    nx, ny = grid.shape
    n = grid.nodes
    ii, jj = np.meshgrid(np.arange(nx - 1), np.arange(ny - 1), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    quads = np.stack([n[ii, jj], n[ii + 1, jj], n[ii + 1, jj + 1], n[ii, jj + 1]], axis=1)
    n_vert = nx * (ny - 1)

    def h_id(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return n_vert + i * ny + j

    def v_id(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return i * (ny - 1) + j

    eids = np.stack([h_id(ii, jj), v_id(ii + 1, jj), h_id(ii, jj + 1), v_id(ii, jj)], axis=1)
    return quads, eids


def shrink_quads(quads: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Move every quad edge inwards by its own offset (``(nb, 4)``), mitred corners."""
    q = quads
    d = np.roll(q, -1, axis=1) - q
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    nrm = np.stack([-d[..., 1], d[..., 0]], axis=-1)  # inward for CCW rings
    c = np.einsum("bki,bki->bk", nrm, q) + offsets
    n_prev, c_prev = np.roll(nrm, 1, axis=1), np.roll(c, 1, axis=1)
    det = n_prev[..., 0] * nrm[..., 1] - n_prev[..., 1] * nrm[..., 0]
    x = (c_prev * nrm[..., 1] - c * n_prev[..., 1]) / det
    y = (n_prev[..., 0] * c - nrm[..., 0] * c_prev) / det
    return np.stack([x, y], axis=-1)


def street_parcels(
    quads: np.ndarray, inner: np.ndarray, eids: np.ndarray, edges: Edges
) -> tuple[np.ndarray, np.ndarray]:
    """One street polygon per grid edge (union of the two half-streets beside it)."""
    q1, i1 = np.roll(quads, -1, axis=1), np.roll(inner, -1, axis=1)
    rings = np.stack([quads, q1, i1, inner, quads], axis=2).reshape(-1, 5, 2)
    traps = shapely.polygons(rings)
    flat = eids.ravel()
    keep = edges.width[flat] > 0.0  # no street on the bbox frame or between fields
    traps, flat = traps[keep], flat[keep]
    order = np.argsort(flat, kind="stable")
    traps, flat = traps[order], flat[order]
    uniq, start, count = np.unique(flat, return_index=True, return_counts=True)
    geoms = traps[start].copy()
    pair = count == 2
    geoms[pair] = shapely.union(traps[start[pair]], traps[start[pair] + 1])
    return geoms, uniq


# --- street names ---------------------------------------------------------------------


def name_streets(edges: Edges, grid: Grid, altmarkt_block: int) -> None:
    """Attach real Cottbus street names to the urban street segments (in place)."""
    nx, ny = grid.shape
    mid = edges.mid
    # the four streets around the Altmarkt square are "Altmarkt"
    _, eids = block_edge_ids(grid)
    edges.name[eids[altmarkt_block]] = "Altmarkt"

    for name, orient, ax, ay, half in STREET_ANCHORS:
        vert = orient == "NS"
        along, across = (1, 0) if vert else (0, 1)
        sel = np.flatnonzero((edges.vertical == vert) & ~edges.boundary)
        near = sel[np.abs(mid[sel, along] - (ay if vert else ax)) <= half]
        if len(near) == 0:
            continue
        target = ax if vert else ay
        # pick the grid line passing closest to the anchor
        lines = np.unique(edges.line[near])
        cost = [np.min(np.abs(mid[near[edges.line[near] == ln], across] - target)) for ln in lines]
        best = lines[int(np.argmin(cost))]
        hit = near[(edges.line[near] == best) & is_none(edges.name[near])]
        edges.name[hit] = name

    # remaining urban segments: runs along a line share a pool name; runs nearest
    # the centre get the first (inner-city) names of the pool
    runs: list[list[int]] = []
    for vert in (True, False):
        for ln in range(nx if vert else ny):
            sel = np.flatnonzero((edges.vertical == vert) & (edges.line == ln))
            run_len, current = 0.0, None
            for e in sel[np.argsort(edges.pos[sel])]:
                if not edges.urban[e] or edges.boundary[e] or edges.name[e] is not None:
                    current = None
                    continue
                seg = float(np.hypot(*(edges.b[e] - edges.a[e])))
                if current is None or run_len + seg > 900.0:
                    current, run_len = [], 0.0
                    runs.append(current)
                current.append(int(e))
                run_len += seg
    dist = [float(distance_to_centre(mid[r]).min()) for r in runs]
    names = STREET_POOL * (len(runs) // len(STREET_POOL) + 1)
    for rank, r in enumerate(np.argsort(dist, kind="stable")):
        edges.name[runs[r]] = names[rank]
    # named roads through open land are real roads, not farm tracks
    rural_named = ~edges.urban & ~edges.boundary & ~is_none(edges.name)
    edges.width[rural_named] = 10.0
