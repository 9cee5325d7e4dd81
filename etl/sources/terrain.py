"""The terrain: tiles of a digital terrain model (DGM) into the coverage `terrain`.

As Brandenburg's survey (LGB) delivers its DGM1: GeoTIFF tiles of 1 km² (``dgm_33453-5733.tif``)
in EPSG:25833 with 1 m cells and heights in metres above sea level (DHHN2016). Anything else
GDAL reads as a single-band grid is read too: the former ASCII deliveries (gridded XYZ, Esri
ASCII grid), which declare no CRS and need ``--crs``. A tile in another projected CRS is
reprojected (bilinear) onto the grid of the others. All tiles must lie in Brandenburg, have the
same cell size and lie on one grid; every height must be plausible for Germany. The tiles are
mosaicked into one Cloud-Optimised GeoTIFF with overviews (etl/raster.py), which the core swaps
in whole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from etl import raster
from etl.sources.base import Advance, CoverageSource, LoadOptions
from twin.errors import LoadRefusedError, RecordError, SourceError
from twin.registry import TERRAIN


class TerrainSource(CoverageSource):
    name = "terrain"
    coverage = TERRAIN
    sample_globs = ("*.tif", "*.tiff", "*.xyz", "*.asc")

    def build(self, paths: list[Path], options: LoadOptions, out: Path, base: Path | None,
              progress: Advance) -> int:
        tiles, grid = self._plan(paths, options, base)
        scratch = out.with_name(out.name + ".scratch.tif")
        cov = self.coverage
        try:
            with raster.create_scratch(scratch, grid, cov.nodata) as dst:
                if base is not None:
                    self._copy_base(base, dst, grid)
                errors, filled = self._write_tiles(tiles, dst, grid, progress)
                if errors:
                    raise LoadRefusedError(
                        f"{len(errors)} tile(s) refused; nothing was changed. First: "
                        f"{errors[0].location}", path=errors[0].path, errors=errors)
                if not filled and base is None:
                    raise SourceError("the tiles hold no heights: every cell is nodata",
                                      path=", ".join(map(str, paths)))
                dst.set_band_description(1, cov.band.name)
                dst.set_band_unit(1, cov.unit)
                dst.update_tags(1, VERTICAL_DATUM=cov.reference_en)
                dst.update_tags(AREA_OR_POINT="Area")
            self.notes.append(
                f"{cov.id}: {grid.width} × {grid.height} cells of {grid.res:g} m, E "
                f"{grid.left:.0f}-{grid.right:.0f}, N {grid.bottom:.0f}-{grid.top:.0f}")
            progress(f"{cov.id}: overviews and COG", 1, 0)
            raster.write_cog(scratch, out)
            progress(f"{cov.id}: overviews and COG", 1, 1)
        finally:
            scratch.unlink(missing_ok=True)
        return len(tiles)

    def _plan(self, paths: list[Path], options: LoadOptions,
              base: Path | None) -> tuple[list[raster.Tile], raster.Grid]:
        """The tiles, each on the mosaic's grid, and the mosaic's grid; refuses misfits."""
        inspected = [raster.inspect_tile(p, options.crs) for p in paths]
        res: float | None = None
        phase = (0.0, 0.0)
        first = ""
        if base is not None:
            with rasterio.open(base) as published:
                left, bottom, right, top = published.bounds
                res, first = published.res[0], "the published terrain"
                phase = raster.Grid(res, left, bottom, right, top).phase()
        for tile, own_res in inspected:
            if not tile.warp and res is None:
                res, phase, first = own_res, tile.grid.phase(), tile.path.name
        if res is None:  # every tile is reprojected: the first one's cell size rules
            res, first = inspected[0][1], inspected[0][0].path.name
        tiles = []
        for tile, own_res in inspected:
            if abs(own_res - res) > raster.GRID_TOLERANCE * res:
                raise SourceError(f"the cells are {own_res:g} m; those of {first} are "
                                  f"{res:g} m: a terrain model has one cell size",
                                  path=str(tile.path))
            if tile.warp:
                tile = raster.Tile(tile.path, tile.crs, raster.snap(tile.grid, res, phase),
                                   True, tile.vertical)
                self.notes.append(f"{tile.path}: reprojected from {tile.crs.split('[')[0]} "
                                  "into EPSG:25833 (bilinear)")
            elif not raster.on_grid(tile.grid, res, phase):
                raise SourceError(
                    f"the cell edges (E {tile.grid.left:g}, N {tile.grid.top:g}) are off the "
                    f"grid of {first} by a fraction of a cell; resample the tile onto it",
                    path=str(tile.path))
            if tile.vertical and "DHHN2016" not in tile.vertical:
                self.notes.append(f"{tile.path}: heights are relative to {tile.vertical}, "
                                  "not DHHN2016; kept as they are")
            tiles.append(tile)
        grid = tiles[0].grid
        for tile in tiles[1:]:
            grid = grid.union(tile.grid)
        if base is not None:
            with rasterio.open(base) as published:
                grid = grid.union(raster.Grid(res, *published.bounds))
        for i, a in enumerate(tiles):
            for b in tiles[i + 1:]:
                if a.grid.overlaps(b.grid):
                    self.notes.append(f"{a.path} and {b.path} overlap; the cells of the "
                                      "later one are kept where both have heights")
        return tiles, grid

    def _copy_base(self, base: Path, dst: rasterio.io.DatasetWriter, grid: raster.Grid) -> None:
        with rasterio.open(base) as src:
            at = grid.window(raster.Grid(src.res[0], *src.bounds))
            for w in raster.windows(src.width, src.height):
                target = raster.Window(at.col_off + w.col_off, at.row_off + w.row_off,
                                       w.width, w.height)
                dst.write(src.read(1, window=w), 1, window=target)

    def _write_tiles(self, tiles: list[raster.Tile], dst: rasterio.io.DatasetWriter,
                     grid: raster.Grid, progress: Advance) -> tuple[list[RecordError], int]:
        """Check and write every tile; the refusals (one per tile) and the cells written."""
        lo, hi = self.coverage.valid_range
        errors: list[RecordError] = []
        filled = 0
        for tile in tiles:
            label = f"{self.coverage.id} ← {tile.path.name}"
            at = grid.window(tile.grid)
            first: RecordError | None = None
            bad_cells = 0
            with raster.open_in_storage(tile, tile.grid, self.coverage.nodata) as ds:
                parts = list(raster.windows(ds.width, ds.height))
                for w in parts:
                    values, valid = raster.read_valid(ds, w)
                    bad = valid & ((values < lo) | (values > hi))
                    if bad.any():
                        bad_cells += int(bad.sum())
                        if first is None:
                            r, c = raster.first_cell(bad)
                            first = raster.cell_error(
                                tile.path, ds, w, r, c, self.coverage.band.name,
                                f"{values[r, c]:g} is not a height in metres ({lo:g} to "
                                f"{hi:g} in Germany): a wrong unit or band?")
                    elif first is None and len(errors) == 0 and valid.any():
                        target = raster.Window(at.col_off + w.col_off, at.row_off + w.row_off,
                                               w.width, w.height)
                        current = dst.read(1, window=target)
                        dst.write(np.where(valid, values, current).astype("float32"), 1,
                                  window=target)
                        filled += int(valid.sum())
                    progress(label, len(parts), 1)
            if first is not None:
                if bad_cells > 1:
                    first = RecordError(f"{first.reason} (and {bad_cells - 1} more such cells)",
                                        path=first.path, row=first.row, field=first.field)
                errors.append(first)
        return errors, filled
