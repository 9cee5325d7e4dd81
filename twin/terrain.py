"""The terrain model as the rest of the twin uses it: where its file is, what it covers, and
the ground height at points (for buildings whose model gives none).

The file is the Cloud-Optimised GeoTIFF that `twin load terrain` writes (etl/sources/terrain.py):
EPSG:25833, square cells whose values are the heights at the cell centres, in metres above
sea level (DHHN2016), nodata where there is no height.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twin.registry import TERRAIN
from twin.settings import Settings, get_settings

#: Points are sampled block by block: one read per 512 × 512 cells that hold points.
BLOCK = 512


def terrain_path(settings: Settings | None = None) -> Path:
    """Where the terrain's file is (it may not exist yet)."""
    return (settings or get_settings()).data_dir / TERRAIN.file


@dataclass(frozen=True)
class TerrainExtent:
    """What the published terrain covers."""

    #: Bounds of its cells in EPSG:25833 (left, bottom, right, top).
    bounds: tuple[float, float, float, float]
    #: Cell size in metres.
    res: float
    width: int
    height: int
    #: The same area in CRS84 (longitude, latitude), edges densified before transforming.
    bbox_crs84: tuple[float, float, float, float]


def terrain_extent(path: Path) -> TerrainExtent | None:
    """The extent of the terrain file at ``path``; None when there is none."""
    if not path.exists():
        return None
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as src:
        bounds = tuple(src.bounds)
        crs84 = transform_bounds(src.crs, "OGC:CRS84", *bounds, densify_pts=21)
        return TerrainExtent(bounds, src.res[0], src.width, src.height, tuple(crs84))


def ground_heights(settings_or_path: Settings | Path | None,
                   xy: Sequence[tuple[float, float]]) -> list[float | None]:
    """Terrain heights (m, DHHN2016) at EPSG:25833 points, bilinear between cell centres.

    Parameters
    ----------
    settings_or_path
        Settings (the file in their ``data_dir``), the file itself, or None for the
        default settings.
    xy
        Easting and northing of each point.

    Returns
    -------
    list of float or None
        One height per point; None outside the terrain, where no terrain is loaded, and where
        neither the four cells around the point nor the cell under it hold a height.
    """
    path = settings_or_path if isinstance(settings_or_path, Path) \
        else terrain_path(settings_or_path)
    points = np.asarray(xy, dtype="float64").reshape(-1, 2)
    result = np.full(len(points), np.nan)
    if len(points) and path.exists():
        _sample(path, points, result)
    return [None if math.isnan(v) else float(v) for v in result]


def _sample(path: Path, points: np.ndarray, result: np.ndarray) -> None:
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(path) as src:
        left, bottom, right, top = src.bounds
        res, width, height, nodata = src.res[0], src.width, src.height, src.nodata
        x, y = points[:, 0], points[:, 1]
        inside = (x >= left) & (x <= right) & (y >= bottom) & (y <= top)
        # Fractional cell indices, 0 at the centre of the first cell.
        fc, fr = (x - left) / res - 0.5, (top - y) / res - 0.5
        c0 = np.clip(np.floor(fc), 0, width - 1).astype(np.int64)
        r0 = np.clip(np.floor(fr), 0, height - 1).astype(np.int64)
        key = (r0 // BLOCK) * (width // BLOCK + 1) + c0 // BLOCK
        for k in np.unique(key[inside]):
            sel = np.nonzero(inside & (key == k))[0]
            row0, col0 = int(r0[sel].min()), int(c0[sel].min())
            rows = min(int(r0[sel].max()) + 2, height) - row0
            cols = min(int(c0[sel].max()) + 2, width) - col0
            cells = src.read(1, window=Window(col0, row0, cols, rows)).astype("float64")
            if nodata is not None:
                cells[cells == nodata] = np.nan
            result[sel] = _bilinear(cells, fc[sel] - col0, fr[sel] - row0)


def _bilinear(cells: np.ndarray, fc: np.ndarray, fr: np.ndarray) -> np.ndarray:
    """Bilinear values at fractional indices of ``cells`` (NaN = no value); where a corner
    has none, the value of the cell under the point. Indices beyond the outer cell centres
    take the border cells' values."""
    rows, cols = cells.shape
    fc, fr = np.clip(fc, 0, cols - 1), np.clip(fr, 0, rows - 1)
    c0 = np.minimum(np.floor(fc).astype(np.int64), cols - 1)
    r0 = np.minimum(np.floor(fr).astype(np.int64), rows - 1)
    c1, r1 = np.minimum(c0 + 1, cols - 1), np.minimum(r0 + 1, rows - 1)
    tx, ty = fc - c0, fr - r0
    value = (cells[r0, c0] * (1 - tx) * (1 - ty) + cells[r0, c1] * tx * (1 - ty)
             + cells[r1, c0] * (1 - tx) * ty + cells[r1, c1] * tx * ty)
    nearest = cells[np.rint(fr).astype(np.int64), np.rint(fc).astype(np.int64)]
    return np.where(np.isnan(value), nearest, value)
