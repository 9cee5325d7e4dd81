"""Parcel GeoPackages of any size for the benchmarks: the sample generator, tiled.

    .venv/bin/python bench/parcel_files.py 10000 200000 1000000

The sample generator (data/samples/gen_parcels.py) builds one synthetic Cottbus of ~3,800
parcels on 6 x 6 km. A bigger file repeats that city side by side across Brandenburg: tile 0 is
the sample itself (so a bbox over Cottbus Mitte sees the same density at every size), tile t
is shifted by whole 6 km steps, west and alternately north and south, and its parcels get keys
of their own (Flur and Zähler carry the tile number; every field stays consistent with the
Flurstückskennzeichen, so the ETL's checks pass unchanged). The output is deterministic: the
generator's fixed seed, fixed tile order, GDAL's fixed GeoPackage timestamp. Files go to
bench/data/ (gitignored) and are reused when present.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyogrio
import shapely

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
DATA = ROOT / "bench" / "data"

#: Side of the sample's square, metres (451.5-457.5 km E, 5731.5-5737.5 km N).
TILE_M = 6000.0
#: Tiles per row, going west from Cottbus (16 x 6 km stays east of 355 km E, inside Brandenburg).
COLUMNS = 16
#: Zähler of the sample stay below this; a tile adds a multiple of it (five digits at most).
ZAE_STEP = 1000
#: Tiles told apart by the Zähler alone; the next ones also shift the Flur.
ZAE_TILES = 99
#: Flur of the sample stay below this (the highest is 11).
FLUR_STEP = 20


def tile_offset(t: int) -> tuple[float, float]:
    """Where tile ``t`` lies relative to the sample, metres: rows 0, +1, -1, +2, -2, ..."""
    col, row = t % COLUMNS, t // COLUMNS
    north = (row + 1) // 2 * (1 if row % 2 else -1)
    return -col * TILE_M, north * TILE_M


def tile_key(key: str, flur: int, zae: int, t: int) -> tuple[str, int, int]:
    """The Flurstückskennzeichen, Flur and Zähler of a sample parcel in tile ``t``.

    The key is rebuilt from its parts by position (AdV: Land 2, Gemarkung 4, Flur 3, Zähler 5,
    Nenner 4, Folge 2), so the record's own fields agree with it.
    """
    flur += FLUR_STEP * (t // ZAE_TILES)
    zae += ZAE_STEP * (t % ZAE_TILES)
    return f"{key[:6]}{flur:03d}{zae:05d}{key[14:]}", flur, zae


def _generator_importable() -> None:
    """The generator's modules sit beside it in data/samples/, not in a package."""
    if str(SAMPLES) not in sys.path:
        sys.path.insert(0, str(SAMPLES))


def sample_table() -> pa.Table:
    """The sample's parcels as the generator builds them (the committed GeoPackage's rows)."""
    _generator_importable()
    import gen_parcels
    from parcelgen.places import SEED

    rng = np.random.default_rng([SEED, 1])
    pieces, reps, anchors = gen_parcels.build_parcels(rng)
    return gen_parcels.parcel_table(pieces, reps, anchors, rng)


def tile_table(base: pa.Table, t: int, rows: int) -> pa.Table:
    """The first ``rows`` parcels of tile ``t``."""
    part = base.slice(0, rows)
    keys = [tile_key(k, f, int(z), t) for k, f, z in zip(
        part["flstkennz"].to_pylist(), part["flur"].to_pylist(),
        part["flstnrzae"].to_pylist(), strict=True)]
    dx, dy = tile_offset(t)
    geoms = shapely.from_wkb(part["geom"].to_numpy(zero_copy_only=False))
    moved = shapely.transform(geoms, lambda xy: xy + (dx, dy))
    columns = {name: part[name] for name in part.column_names}
    columns["flstkennz"] = pa.array([k for k, _, _ in keys])
    columns["flur"] = pa.array([f for _, f, _ in keys], type=pa.int32())
    columns["flstnrzae"] = pa.array([str(z) for _, _, z in keys])
    columns["idflurst"] = pa.array([f"DEBBAL{t:03d}{i:07d}" for i in range(rows)])
    columns["geom"] = pa.array(shapely.to_wkb(moved, output_dimension=2), type=pa.binary())
    return pa.table(columns)


def path_for(count: int) -> Path:
    return DATA / f"parcels_{count}.gpkg"


def write(count: int, *, force: bool = False) -> Path:
    """Write (or reuse) the GeoPackage of ``count`` parcels and return its path."""
    _generator_importable()
    from parcelgen.places import CRS, OGR_CURRENT_DATE, PARCEL_LAYER

    path = path_for(count)
    if path.exists() and not force:
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part.gpkg")
    partial.unlink(missing_ok=True)
    base = sample_table()
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": OGR_CURRENT_DATE})
    done, t, batch = 0, 0, []
    while done < count:
        rows = min(base.num_rows, count - done)
        batch.append(tile_table(base, t, rows))
        done, t = done + rows, t + 1
        if len(batch) == 20 or done == count:
            pyogrio.write_arrow(
                pa.concat_tables(batch), partial, layer=PARCEL_LAYER, driver="GPKG",
                geometry_name="geom", geometry_type="Polygon", crs=CRS,
                append=partial.exists(), dataset_options=None if partial.exists() else
                {"VERSION": "1.2"})
            batch = []
    partial.rename(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("counts", type=int, nargs="+")
    parser.add_argument("--force", action="store_true", help="rewrite existing files")
    args = parser.parse_args()
    for count in args.counts:
        path = write(count, force=args.force)
        print(f"{path.relative_to(ROOT)}: {count} parcels, {path.stat().st_size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
