"""Deterministic generator of the terrain sample in ``data/samples/terrain/``.

Four tiles of a digital terrain model of central Cottbus/Chóśebuz as Brandenburg's survey
(LGB) publishes its DGM1: one GeoTIFF per square kilometre, named ``dgm_33EEE-NNNN.tif`` after
the zone (33) and the kilometre of the lower-left corner, EPSG:25833, 1 m cells whose values
are the heights at the cell centres (as the LGB has delivered since 2023), float32, heights in
metres above sea level (DHHN2016) to the centimetre, nodata -9999.

The surface is **invented**, only shaped like the real place: the ground falls gently to the
north and east, the old town around the Altmarkt and the Oberkirche sits on a low sand ridge
(about 73 m), and the Spree runs through a shallow valley at about 64-65 m, on the course the
parcels sample draws. It is smooth, so the tiles compress to a few hundred kilobytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import shapely
from rasterio.transform import from_origin

OUT = Path("terrain")
CRS = "EPSG:25833"
NODATA = -9999.0
#: Lower-left corners (km) of the tiles: the old town, the Hauptbahnhof and the Spree.
TILES = [(453, 5733), (454, 5733), (453, 5734), (454, 5734)]
TILE_M = 1000
#: The Spree's centre line through the tiles, south to north (as data/samples/parcelgen).
SPREE = [(455260, 5732550), (455050, 5733150), (454830, 5733700), (454710, 5734120),
         (454650, 5734560), (454700, 5735020), (454860, 5735520)]
#: Centre of the old town's sand ridge, between the Altmarkt and the Oberkirche.
OLD_TOWN = (454100.0, 5734650.0)


def tile_name(east_km: int, north_km: int) -> str:
    """The LGB's file name of a DGM1 tile."""
    return f"dgm_33{east_km}-{north_km}.tif"


def heights(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Terrain height (m, DHHN2016) at EPSG:25833 points; smooth, to the centimetre."""
    # A plain falling about 2 m per kilometre to the north and 1 m to the east.
    h = 74.5 - 0.002 * (y - 5733000.0) - 0.001 * (x - 453000.0)
    # Long, low swells of a sandy plain (a few decimetres).
    h += 0.45 * np.sin((x - 453000.0) / 310.0) * np.cos((y - 5733000.0) / 420.0)
    h += 0.25 * np.sin((x + y) / 170.0)
    # The old town's ridge.
    dx, dy = x - OLD_TOWN[0], y - OLD_TOWN[1]
    h += 2.2 * np.exp(-(dx**2 + (dy / 1.3) ** 2) / (2 * 260.0**2))
    # The Spree: a valley some 250 m wide and the river's surface at its bottom.
    spree = shapely.LineString(SPREE)
    d = shapely.distance(shapely.points(x.ravel(), y.ravel()), spree).reshape(x.shape)
    water = 64.6 - 0.0004 * (y - 5733000.0)
    valley = h - (h - water - 1.2) * np.exp(-(d / 180.0) ** 2)
    bank = np.clip((d - 14.0) / 10.0, 0.0, 1.0)  # 14 m of water, then a 10 m bank
    bank = bank * bank * (3 - 2 * bank)
    h = water + (valley - water) * bank
    return np.round(h, 2)


def write(out_dir: Path) -> None:
    """Write the tiles below ``out_dir``/terrain/."""
    folder = out_dir / OUT
    folder.mkdir(parents=True, exist_ok=True)
    for east_km, north_km in TILES:
        left, top = east_km * 1000.0, (north_km * 1000.0) + TILE_M
        centres = np.arange(TILE_M) + 0.5
        x, y = np.meshgrid(left + centres, top - centres)
        values = heights(x, y).astype("float32")
        profile = {
            "driver": "GTiff", "width": TILE_M, "height": TILE_M, "count": 1,
            "dtype": "float32", "crs": CRS, "nodata": NODATA,
            "transform": from_origin(left, top, 1.0, 1.0),
            "tiled": True, "blockxsize": 256, "blockysize": 256,
            # Floating-point predictor: smooth heights then compress about tenfold.
            "compress": "deflate", "predictor": 3, "zlevel": 9,
        }
        with rasterio.open(folder / tile_name(east_km, north_km), "w", **profile) as dst:
            dst.write(values, 1)
            dst.update_tags(1, UNITS="m", VERTICAL_DATUM="DHHN2016 (EPSG:7837)")
