"""Parcels cut out before the grid: landmarks, the Spree, the railway, banks, Branitzer Park."""

from __future__ import annotations

import numpy as np
import shapely
from shapely import Polygon, affinity

from .model import Pieces, _pieces, explode
from .places import BBOX, LANDMARKS, RAIL_LINES, SPREE_LINE, is_urban

# --- overlays (landmarks, Spree, railway, Branitzer Park) -----------------------------


def _smooth(coords: list[tuple[float, float]], rounds: int = 3) -> np.ndarray:
    """Chaikin corner cutting, keeps the end points."""
    pts = np.asarray(coords, dtype=float)
    for _ in range(rounds):
        q = 0.75 * pts[:-1] + 0.25 * pts[1:]
        r = 0.25 * pts[:-1] + 0.75 * pts[1:]
        pts = np.vstack([pts[:1], np.column_stack([q, r]).reshape(-1, 2), pts[-1:]])
    return pts


def _rectangle(x: float, y: float, w: float, h: float, angle_deg: float) -> Polygon:
    """Rectangle of size ``w`` x ``h`` centred on ``(x, y)`` rotated by ``angle_deg``."""
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2.0
    return Polygon(corners @ rot.T + [x, y])


def split_along(poly: shapely.Geometry, line: shapely.LineString, step: float) -> np.ndarray:
    """Cut a corridor polygon into pieces roughly ``step`` long along ``line``."""
    n = max(int(line.length // step), 1)
    pts = shapely.line_interpolate_point(line, (np.arange(n) + 0.5) * line.length / n)
    if n == 1:
        return np.array([poly], dtype=object)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=poly))
    return shapely.intersection(cells, poly)


def split_random(
    poly: shapely.Geometry,
    n: int,
    rng: np.random.Generator,
    fixed: list[tuple[float, float]] | None = None,
) -> np.ndarray:
    """Cut a polygon into about ``n`` Voronoi pieces (``fixed`` seeds included)."""
    pts = list(fixed or [])
    xmin, ymin, xmax, ymax = poly.bounds
    while len(pts) < n:
        cand = rng.uniform([xmin, ymin], [xmax, ymax], (4 * n, 2))
        cand = cand[shapely.contains_xy(poly, cand[:, 0], cand[:, 1])]
        pts.extend(map(tuple, cand[: n - len(pts)]))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=poly))
    return shapely.intersection(cells, poly)


def build_overlays(rng: np.random.Generator) -> Pieces:
    """Parcels that take precedence over the street grid.

    Order (earlier wins): Hauptbahnhof and Schloss Branitz buildings, the Spree,
    the railway, the Spree banks and the Branitzer Park.
    """
    frame = shapely.box(*BBOX)
    hbf = _rectangle(*LANDMARKS["hauptbahnhof"], 170.0, 60.0, 7.5)
    schloss = _rectangle(*LANDMARKS["schloss_branitz"], 75.0, 55.0, 12.0)
    spree = shapely.LineString(_smooth(SPREE_LINE))
    rails = [shapely.LineString(_smooth(c, 2)) for c in RAIL_LINES]
    hbf_pt = shapely.Point(LANDMARKS["hauptbahnhof"])
    yard_line = shapely.intersection(rails[0], hbf_pt.buffer(750.0))
    rail_area = shapely.union_all(
        [rails[0].buffer(24.0), rails[1].buffer(17.0), yard_line.buffer(70.0)]
    )
    park = affinity.rotate(
        affinity.scale(shapely.Point(456330, 5732600).buffer(1.0, 32), 640, 470), -15.0
    )

    out = Pieces.empty()
    taken = shapely.Polygon()

    def add(
        geoms: np.ndarray,
        kind: str,
        tn: str | np.ndarray,
        lage: str | np.ndarray,
    ) -> None:
        nonlocal out, taken
        geoms = shapely.intersection(
            shapely.difference(np.asarray(geoms, dtype=object), taken), frame
        )
        out = out.extend(_pieces(geoms, kind, tn, lage))
        taken = shapely.union_all([taken, *geoms])

    add(np.array([hbf]), "landmark", "Bahnverkehr", "Vetschauer Straße 70")
    add(np.array([schloss]), "landmark", "Fläche besonderer funktionaler Prägung", "Robinienweg 5")
    river = spree.buffer(16.0)
    add(split_along(river, spree, 420.0), "water", "Fließgewässer", "Spree")
    for line, step in ((rails[0], 480.0), (rails[1], 520.0)):
        area = shapely.intersection(rail_area, line.buffer(80.0))
        add(split_along(area, line, step), "rail", "Bahnverkehr", "An der Bahn")
    banks = shapely.difference(spree.buffer(48.0), river)
    bank_parts = split_along(banks, spree, 420.0)
    reps = shapely.get_coordinates(shapely.point_on_surface(bank_parts))
    rural = ~is_urban(reps)
    add(bank_parts, "bank", np.where(rural, "Landwirtschaft", "Grünanlage"), "Am Spreeufer")
    add(split_random(park, 9, rng), "park", "Grünanlage", "Branitzer Park")
    return explode(out)
