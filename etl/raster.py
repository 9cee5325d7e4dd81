"""Raster tiles into one Cloud-Optimised GeoTIFF, with rasterio.

Each tile is inspected (one band, a CRS, square cells), read in the storage CRS (reprojected
through a GDAL warped VRT when it is in another one), checked window by window and written
into a tiled scratch GeoTIFF covering all tiles; GDAL's COG driver then copies that into the
published layout (tiles, overviews, compression). Nothing here knows terrain: the source
module (etl/sources/terrain.py) says which values are plausible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from pyproj import CRS
from pyproj.exceptions import CRSError
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rasterio.transform import from_origin
from rasterio.vrt import WarpedVRT
from rasterio.warp import Resampling, transform_bounds
from rasterio.windows import Window

from etl.geometry import BRANDENBURG_25833, resolve_crs
from twin.errors import RecordError, SourceError
from twin.settings import STORAGE_SRID

#: A tile edge may miss the grid by this fraction of a cell (float noise in file headers).
GRID_TOLERANCE = 1e-6
#: Cells read and written at once: 1024 × 1024 float32 = 4 MB.
WINDOW = 1024
#: Layout of the published file (GDAL's COG driver options).
COG_OPTIONS = {
    "COMPRESS": "DEFLATE", "PREDICTOR": "FLOATING_POINT", "LEVEL": "6", "BLOCKSIZE": "512",
    "OVERVIEWS": "AUTO", "OVERVIEW_RESAMPLING": "AVERAGE", "BIGTIFF": "IF_SAFER",
}

Advance = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Grid:
    """A north-up grid of square cells in the storage CRS."""

    res: float
    left: float
    bottom: float
    right: float
    top: float

    @property
    def width(self) -> int:
        return round((self.right - self.left) / self.res)

    @property
    def height(self) -> int:
        return round((self.top - self.bottom) / self.res)

    @property
    def transform(self) -> rasterio.Affine:
        return from_origin(self.left, self.top, self.res, self.res)

    def union(self, other: Grid) -> Grid:
        return Grid(self.res, min(self.left, other.left), min(self.bottom, other.bottom),
                    max(self.right, other.right), max(self.top, other.top))

    def window(self, inner: Grid) -> Window:
        """Where ``inner`` (on this grid) lies in it, in cells."""
        return Window(round((inner.left - self.left) / self.res),
                      round((self.top - inner.top) / self.res), inner.width, inner.height)

    def phase(self) -> tuple[float, float]:
        """Offsets of the cell edges from multiples of the cell size."""
        return self.left % self.res, self.top % self.res

    def overlaps(self, other: Grid) -> bool:
        return (self.left < other.right and other.left < self.right
                and self.bottom < other.top and other.bottom < self.top)


@dataclass(frozen=True)
class Tile:
    """What a tile is, as found out before any value is read."""

    path: Path
    #: The CRS the cells are in (the file's own, or --crs).
    crs: str
    #: Its cells in the storage CRS (after reprojection, on the mosaic's grid when warped).
    grid: Grid
    #: Whether it must be reprojected into the storage CRS.
    warp: bool
    #: The vertical CRS the file declares (compound CRS), if any.
    vertical: str | None


def inspect_tile(path: Path, crs_override: str | None) -> tuple[Tile, float]:
    """The tile in ``path`` and its cell size in its own CRS; refuses what cannot be read.

    Raises
    ------
    SourceError
        Unreadable, not one band, no CRS, rotated or non-square cells.
    """
    where = str(path)
    try:
        src = rasterio.open(path)
    except RasterioError as exc:
        raise SourceError(f"not a raster file GDAL can read ({_first_line(exc)})",
                          path=where) from exc
    with src:
        if src.count != 1:
            raise SourceError(f"the file has {src.count} bands; a height model has one",
                              path=where)
        a, b, _, d, e, _ = src.transform[:6]
        if b or d or src.transform.is_identity:
            raise SourceError("the grid is rotated or not georeferenced; only north-up grids "
                              "are read", path=where)
        if not math.isclose(abs(a), abs(e), rel_tol=GRID_TOLERANCE):
            raise SourceError(f"the cells are {abs(a):g} × {abs(e):g} units; only square "
                              "cells are read", path=where)
        crs_text = resolve_crs(where, src.crs.to_wkt() if src.crs else None, crs_override)
        horizontal, vertical = _split_crs(crs_text, where)
        res = abs(a)
        left, bottom, right, top = src.bounds
        if horizontal.to_epsg() == STORAGE_SRID:
            grid = Grid(res, left, bottom, right, top)
            warp = False
        else:
            if horizontal.is_geographic:
                raise SourceError(
                    f"the cells are in a geographic CRS ({horizontal.name}); a height model "
                    "is read in a projected CRS with metre cells, such as EPSG:25833",
                    path=where)
            try:
                box = transform_bounds(horizontal.to_wkt(), f"EPSG:{STORAGE_SRID}",
                                       left, bottom, right, top, densify_pts=21)
            except (RasterioError, ValueError) as exc:
                raise SourceError(f"cannot carry the tile from {horizontal.name} into "
                                  f"EPSG:{STORAGE_SRID} ({_first_line(exc)})",
                                  path=where) from exc
            if not all(map(math.isfinite, box)):
                raise SourceError(f"the tile's corners do not exist in EPSG:{STORAGE_SRID}: "
                                  "is its CRS right? (name it with --crs)", path=where)
            grid = Grid(res, *box)
            warp = True
    _check_in_brandenburg(grid, where)
    vertical_name = vertical.name if vertical is not None else None
    return Tile(path, crs_text, grid, warp, vertical_name), res


def _split_crs(text: str, where: str) -> tuple[CRS, CRS | None]:
    """Horizontal and vertical parts of a CRS (a compound one such as EPSG:25833+7837)."""
    try:
        crs = CRS.from_user_input(text)
    except CRSError as exc:
        raise SourceError(f"unknown CRS ({_first_line(exc)})", path=where) from exc
    if crs.is_compound:
        return crs.sub_crs_list[0], crs.sub_crs_list[1]
    return crs, None


def _check_in_brandenburg(grid: Grid, where: str) -> None:
    """Refuse a tile that cannot lie in Brandenburg, as every source does (a wrong CRS)."""
    xmin, ymin, xmax, ymax = BRANDENBURG_25833
    if grid.left < xmin or grid.bottom < ymin or grid.right > xmax or grid.top > ymax:
        hint = (" (the easting has too many digits: a zone prefix such as 33?)"
                if grid.left > 1_000_000 else "")
        raise SourceError(
            f"the tile lies at E {grid.left:.0f}-{grid.right:.0f}, N {grid.bottom:.0f}-"
            f"{grid.top:.0f} in EPSG:{STORAGE_SRID}, which cannot be in Brandenburg{hint}: "
            "is its CRS right? (name it with --crs)", path=where)


def snap(grid: Grid, res: float, phase: tuple[float, float]) -> Grid:
    """``grid`` widened to whole cells of size ``res`` whose edges have offsets ``phase``."""
    def down(v: float, p: float) -> float:
        return math.floor((v - p) / res + GRID_TOLERANCE) * res + p

    def up(v: float, p: float) -> float:
        return math.ceil((v - p) / res - GRID_TOLERANCE) * res + p

    return Grid(res, down(grid.left, phase[0]), down(grid.bottom, phase[1]),
                up(grid.right, phase[0]), up(grid.top, phase[1]))


def on_grid(grid: Grid, res: float, phase: tuple[float, float]) -> bool:
    """Whether the edges of ``grid`` lie on the cells of size ``res`` with ``phase``."""
    def fits(v: float, p: float) -> bool:
        k = (v - p) / res
        return abs(k - round(k)) <= GRID_TOLERANCE * max(1.0, abs(k))

    return (math.isclose(grid.res, res, rel_tol=GRID_TOLERANCE)
            and all(fits(v, phase[0]) for v in (grid.left, grid.right))
            and all(fits(v, phase[1]) for v in (grid.bottom, grid.top)))


@contextmanager
def open_in_storage(tile: Tile, grid: Grid,
                    nodata: float) -> Iterator[DatasetReader | WarpedVRT]:
    """The tile's cells in the storage CRS; ``grid`` is where they go (for a warped tile:
    bilinear, heights are continuous; cells beyond the tile's own are ``nodata``)."""
    with ExitStack() as stack:
        src = stack.enter_context(rasterio.open(tile.path))
        if not tile.warp:
            yield src
            return
        yield stack.enter_context(WarpedVRT(
            src, src_crs=tile.crs, crs=f"EPSG:{STORAGE_SRID}", transform=grid.transform,
            width=grid.width, height=grid.height, resampling=Resampling.bilinear,
            nodata=nodata, dtype="float32"))


def windows(width: int, height: int) -> Iterator[Window]:
    """Windows of at most :data:`WINDOW` × :data:`WINDOW` cells covering a raster."""
    for row in range(0, height, WINDOW):
        for col in range(0, width, WINDOW):
            yield Window(col, row, min(WINDOW, width - col), min(WINDOW, height - row))


def read_valid(ds: DatasetReader | WarpedVRT, window: Window) -> tuple[np.ndarray, np.ndarray]:
    """Values of a window as float64 and the mask of cells that hold one."""
    data = ds.read(1, window=window, masked=True)
    values = np.ma.getdata(data).astype("float64")
    valid = ~np.ma.getmaskarray(data) & np.isfinite(values)
    return values, valid


def first_cell(mask: np.ndarray) -> tuple[int, int]:
    """Row and column of the first True cell of ``mask``."""
    rows, cols = np.nonzero(mask)
    return int(rows[0]), int(cols[0])


def cell_error(path: Path, ds: DatasetReader | WarpedVRT, window: Window, row: int, col: int,
               field: str, reason: str) -> RecordError:
    """A refusal naming the file, the cell (row and column, 1-based) and where it lies."""
    r, c = int(window.row_off) + row, int(window.col_off) + col
    x, y = ds.xy(r, c)
    return RecordError(f"column {c + 1} (E {x:.1f}, N {y:.1f}): {reason}", path=str(path),
                       row=r + 1, field=field)


def create_scratch(path: Path, grid: Grid, nodata: float) -> rasterio.io.DatasetWriter:
    """A tiled GeoTIFF covering ``grid``, every cell nodata until written."""
    return rasterio.open(
        path, "w+", driver="GTiff", width=grid.width, height=grid.height, count=1,
        dtype="float32", crs=f"EPSG:{STORAGE_SRID}", transform=grid.transform, nodata=nodata,
        tiled=True, blockxsize=512, blockysize=512, compress="deflate", zlevel=1,
        predictor=3, sparse_ok=True, bigtiff="if_safer")


def write_cog(scratch: Path, out: Path) -> None:
    """Copy the scratch GeoTIFF into a Cloud-Optimised GeoTIFF with overviews."""
    rasterio.shutil.copy(scratch, out, driver="COG", **COG_OPTIONS)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
