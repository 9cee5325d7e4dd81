"""Which WebMercatorQuad tiles the benchmark asks for: the densest of the data at each zoom.

Pure functions over parcel centroids in longitude/latitude (bench/peers.py reads them from the
loaded table), so the choice follows the file, not a hand-picked box, and is the same for the
same file: the tile holding the most centroids wins, ties go to the lowest row, then column.
"""

from __future__ import annotations

import math

import numpy as np

#: WebMercatorQuad's latitude limit: tiles stop here (atan(sinh(pi))).
MAX_LAT = math.degrees(math.atan(math.sinh(math.pi)))


def tile_of(lon: np.ndarray, lat: np.ndarray, z: int) -> tuple[np.ndarray, np.ndarray]:
    """Column and row (OGC TileCol/TileRow, XYZ x/y) of the z tiles over points."""
    n = 2 ** z
    lat = np.clip(np.asarray(lat, dtype=float), -MAX_LAT, MAX_LAT)
    x = np.floor((np.asarray(lon, dtype=float) + 180.0) / 360.0 * n)
    y = np.floor((1.0 - np.arcsinh(np.tan(np.radians(lat))) / math.pi) / 2.0 * n)
    return np.clip(x, 0, n - 1).astype(np.int64), np.clip(y, 0, n - 1).astype(np.int64)


def densest_tile(lon: np.ndarray, lat: np.ndarray, z: int) -> tuple[int, int, int, int]:
    """The tile at zoom ``z`` over the most points: ``(z, x, y, points)``.

    Ties go to the lowest row (y), then the lowest column (x), so equal counts never depend on
    the order the points came in.
    """
    if len(lon) == 0:
        raise ValueError("no points to choose a tile from")
    x, y = tile_of(lon, lat, z)
    tiles, counts = np.unique(np.stack([y, x], axis=1), axis=0, return_counts=True)
    # np.unique sorts rows by (y, x); argmax takes the first maximum, i.e. the lowest (y, x).
    best = int(np.argmax(counts))
    return z, int(tiles[best][1]), int(tiles[best][0]), int(counts[best])


def densest_tiles(lon: np.ndarray, lat: np.ndarray,
                  zooms: tuple[int, ...] = (12, 14, 16)) -> list[tuple[int, int, int, int]]:
    """:func:`densest_tile` at each zoom, each chosen on its own."""
    return [densest_tile(lon, lat, z) for z in zooms]


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """The tile's longitude/latitude bounds (west, south, east, north)."""
    n = 2 ** z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)
