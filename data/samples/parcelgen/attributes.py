"""Cadastral attributes: Gemarkung, Flur, Flurstücksnummer, addresses, field names, ids."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import shapely
from shapely import Polygon

from .model import Edges, Pieces, is_none
from .overlays import _smooth
from .places import BBOX, CENTRE, FLUR_CELL, GEMARKUNGEN, SPREE_LINE, distance_to_centre

# --- cadastral attributes -------------------------------------------------------------


def assign_gemarkung(reps: np.ndarray) -> np.ndarray:
    """Index into :data:`GEMARKUNGEN` for every representative point."""
    east_poly = Polygon(
        [*_smooth(SPREE_LINE), (BBOX[2] + 1e3, BBOX[3] + 1e3), (BBOX[2] + 1e3, BBOX[1] - 1e3)]
    )
    east = shapely.contains_xy(east_poly, reps[:, 0], reps[:, 1])
    dist = np.stack([np.hypot(reps[:, 0] - g.x, reps[:, 1] - g.y) for g in GEMARKUNGEN], axis=1)
    allowed = np.stack([np.isin(east, g.sides) for g in GEMARKUNGEN], axis=1)
    return np.argmin(np.where(allowed, dist, np.inf), axis=1)


def assign_flur(reps: np.ndarray, gem: np.ndarray, min_parcels: int = 15) -> np.ndarray:
    """Flur numbers: square cells per Gemarkung numbered outward from its seed."""
    origin = np.array(CENTRE) - FLUR_CELL / 2
    cells = np.floor((reps - origin) / FLUR_CELL).astype(np.int64)
    flur = np.zeros(len(reps), dtype=np.int64)
    for gi, g in enumerate(GEMARKUNGEN):
        sel = np.flatnonzero(gem == gi)
        if len(sel) == 0:
            continue
        uniq, inv, cnt = np.unique(cells[sel], axis=0, return_inverse=True, return_counts=True)
        centres = origin + (uniq + 0.5) * FLUR_CELL
        big = cnt >= min_parcels
        if not big.any():
            big[:] = True
        # small cells join the nearest big cell
        dd = np.hypot(
            centres[:, None, 0] - centres[None, :, 0], centres[:, None, 1] - centres[None, :, 1]
        )
        dd[:, ~big] = np.inf
        target = np.where(big, np.arange(len(uniq)), np.argmin(dd, axis=1))
        seed_d = np.hypot(centres[:, 0] - g.x, centres[:, 1] - g.y)
        order = np.lexsort((uniq[:, 1], uniq[:, 0], seed_d))
        rank = np.zeros(len(uniq), dtype=np.int64)
        big_order = [c for c in order if big[c]]
        rank[big_order] = np.arange(1, len(big_order) + 1)
        flur[sel] = rank[target[inv.ravel()]]
    return flur


def number_parcels(
    reps: np.ndarray, gem: np.ndarray, flur: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Flurstücksnummer (Zähler, Nenner or 0) per parcel, serpentine order per Flur."""
    zae = np.zeros(len(reps), dtype=np.int64)
    nen = np.zeros(len(reps), dtype=np.int64)
    row = np.floor((BBOX[3] - reps[:, 1]) / 130.0).astype(np.int64)
    serp = np.where(row % 2 == 0, reps[:, 0], -reps[:, 0])
    for key in sorted(set(zip(gem.tolist(), flur.tolist(), strict=True))):
        sel = np.flatnonzero((gem == key[0]) & (flur == key[1]))
        sel = sel[np.lexsort((serp[sel], row[sel]))]
        k, z = 0, 0
        while k < len(sel):
            z += 1 + (int(rng.integers(1, 4)) if rng.random() < 0.08 else 0)
            if rng.random() < 0.12 and k + 1 < len(sel):
                size = int(min(rng.integers(2, 5), len(sel) - k))
                nens = np.sort(rng.choice(np.arange(1, 15), size=size, replace=False))
                zae[sel[k : k + size]] = z
                nen[sel[k : k + size]] = nens
                k += size
            else:
                zae[sel[k]] = z
                k += 1
    return zae, nen


def assign_addresses(
    p: Pieces, reps: np.ndarray, eids: np.ndarray, edges: Edges, rng: np.random.Generator
) -> None:
    """Street + house number for lots of address-bearing kinds (in place)."""
    addr_kinds = {
        "core",
        "residential",
        "village",
        "plattenbau",
        "industry",
        "sport",
        "allotment",
        "institution",
    }
    sel = np.flatnonzero(np.isin(p.kind, list(addr_kinds)) & is_none(p.lage))
    if len(sel) == 0:
        return
    blk_e = eids[p.block[sel]]  # (n, 4)
    segs = shapely.linestrings(np.stack([edges.a[blk_e], edges.b[blk_e]], axis=2))
    dist = shapely.distance(shapely.points(reps[sel])[:, None], segs)
    named = ~is_none(edges.name[blk_e].ravel()).reshape(blk_e.shape) & ~edges.boundary[blk_e]
    dist = np.where(named, dist, np.inf)
    k = np.argmin(dist, axis=1)
    ok = np.isfinite(dist[np.arange(len(sel)), k])
    street = edges.name[blk_e[np.arange(len(sel)), k]]
    side = np.where(np.isin(k, (0, 3)), 1, 0)  # block north/east of the street: odd
    along = distance_to_centre(reps[sel])
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for n in np.flatnonzero(ok):
        groups[(street[n], int(side[n]))].append(int(n))
    for (name, sd), members in sorted(groups.items()):
        members.sort(key=lambda m: along[m])
        number, suffix = (-1 if sd else 0), ""
        for m in members:
            # now and then a lot shares the previous number with an "a" suffix
            if suffix == "" and number > 0 and rng.random() < 0.04:
                suffix = "a"
            else:
                number, suffix = number + 2, ""
            p.lage[sel[m]] = f"{name} {number}{suffix}"


def field_names(reps: np.ndarray, gem: np.ndarray) -> np.ndarray:
    """Gewann (field) name for open land: "Am Spreeufer" near the river, else the
    nearest field name of the parcel's Gemarkung."""
    spree = shapely.LineString(_smooth(SPREE_LINE))
    near = shapely.distance(spree, shapely.points(reps)) < 250.0
    out = np.empty(len(reps), dtype=object)
    for i, (x, y) in enumerate(reps):
        fields = GEMARKUNGEN[gem[i]].fields
        best = min(fields, key=lambda f: (f[1] - x) ** 2 + (f[2] - y) ** 2)
        out[i] = "Am Spreeufer" if near[i] else best[0]
    return out


def object_ids(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unique 16-character ALKIS object identifiers ``DEBBAL06nnnnnxxx``."""
    serial = rng.permutation(np.arange(1, 99999))[:n]
    letters = rng.integers(0, 26, (n, 3))
    abc = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return np.array(
        [f"DEBBAL06{s:05d}{''.join(abc[row])}" for s, row in zip(serial, letters, strict=True)],
        dtype=object,
    )
