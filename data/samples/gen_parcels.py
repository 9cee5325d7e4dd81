"""Deterministic generator for the synthetic sample data in ``data/samples/``.

Every sample file is *synthetic* but placed on the real city of Cottbus/Chóśebuz
(EPSG:25833, ETRS89 / UTM zone 33N): landmarks, the Spree, the railway and the
Gemarkungen sit roughly where they really are, street names are real Cottbus
street names, but every parcel boundary, number, area and attribute is invented.

Run ``python data/samples/generate.py`` (which runs this module); the output is
byte-identical between runs (fixed random seed, fixed GeoPackage timestamp via
``OGR_CURRENT_DATE``).

Other sources have their own ``gen_<source>.py`` beside this one.

The parcels are built by the modules of the ``parcelgen`` package beside this file
(places, street grid, overlays, lots, cadastral attributes); this module assembles them,
writes the GeoPackage and checks it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyogrio
import shapely
from parcelgen.attributes import (
    assign_addresses,
    assign_flur,
    assign_gemarkung,
    field_names,
    number_parcels,
    object_ids,
)
from parcelgen.lots import absorb_slivers, assign_land_use, block_kind, clean_coverage, split_blocks
from parcelgen.model import Pieces, _pieces, explode, is_none
from parcelgen.overlays import build_overlays
from parcelgen.places import (
    CRS,
    GEMARKUNGEN,
    GEMEINDE,
    GMDSCHL,
    KREIS,
    KREISSCHL,
    LAND,
    LAND_KEY,
    LANDMARKS,
    OGR_CURRENT_DATE,
    PARCEL_FILE,
    PARCEL_LAYER,
    SEED,
    ZONES,
    zone_of,
)
from parcelgen.streets import (
    block_edge_ids,
    build_edges,
    build_grid,
    name_streets,
    shrink_quads,
    street_parcels,
)

SAMPLES_DIR = Path(__file__).resolve().parent


# --- assembly -------------------------------------------------------------------------


def build_parcels(rng: np.random.Generator) -> tuple[Pieces, np.ndarray, np.ndarray]:
    """Generate all parcel polygons with kind, land use and location text.

    Returns the pieces, a representative point per piece and the point that decides
    its Gemarkung and Flur (both ``(n, 2)``).
    """
    grid = build_grid(rng)
    edges = build_edges(grid)
    quads, eids = block_edge_ids(grid)
    quad_polys = shapely.polygons(np.concatenate([quads, quads[:, :1]], axis=1))
    altmarkt_block = int(np.flatnonzero(shapely.contains_xy(quad_polys, *LANDMARKS["altmarkt"]))[0])
    name_streets(edges, grid, altmarkt_block)
    inner = shrink_quads(quads, edges.width[eids] / 2.0)
    block_polys = shapely.polygons(np.concatenate([inner, inner[:, :1]], axis=1))

    overlays = build_overlays(rng)
    taken = shapely.union_all(overlays.geom)

    street_geoms, street_ids = street_parcels(quads, inner, eids, edges)
    road = edges.urban[street_ids] | ~is_none(edges.name[street_ids])
    streets = _pieces(
        shapely.difference(street_geoms, taken),
        np.where(road, "street", "way"),
        np.where(road, "Straßenverkehr", "Weg"),
        edges.name[street_ids],
    )
    streets = explode(streets)

    blocks = explode(
        _pieces(shapely.difference(block_polys, taken), "", None, None, np.arange(len(block_polys)))
    )
    blocks.kind = np.array([block_kind(g, rng) for g in blocks.geom], dtype=object)
    blocks.anchor = shapely.get_coordinates(shapely.point_on_surface(blocks.geom))
    alt = np.flatnonzero(
        (blocks.block == altmarkt_block) & shapely.contains_xy(blocks.geom, *LANDMARKS["altmarkt"])
    )[0]
    blocks.kind[alt], blocks.tn[alt], blocks.lage[alt] = "landmark", "Platz", "Altmarkt"
    ober = int(np.flatnonzero(shapely.contains_xy(blocks.geom, *LANDMARKS["oberkirche"]))[0])
    blocks.kind[ober] = "core"
    keep_whole = blocks.take(np.array([alt]))
    rest = blocks.take(np.setdiff1d(np.arange(len(blocks)), [alt]))
    ober_rest = int(np.flatnonzero(rest.block == blocks.block[ober])[0])
    lots = split_blocks(rest, rng, {ober_rest: [LANDMARKS["oberkirche"]]})
    church = np.flatnonzero(shapely.contains_xy(lots.geom, *LANDMARKS["oberkirche"]))[0]
    lots.kind[church] = "landmark"
    lots.tn[church] = "Fläche besonderer funktionaler Prägung"
    lots.lage[church] = "Oberkirchplatz 1"
    # green blocks and cemeteries carry the zone name
    for i in np.flatnonzero(np.isin(lots.kind, ["green", "cemetery"])):
        xy = shapely.get_coordinates(shapely.point_on_surface(lots.geom[i]))
        zi = int(zone_of(xy)[0])
        lots.lage[i] = ZONES[zi].name if zi >= 0 else None
    assign_land_use(lots, rng)

    allp = overlays.extend(streets).extend(keep_whole).extend(lots)
    allp = absorb_slivers(allp)
    reps = shapely.get_coordinates(shapely.point_on_surface(allp.geom))
    assign_addresses(allp, reps, eids, edges, rng)
    anchors = np.where(np.isnan(allp.anchor), reps, allp.anchor)
    return allp, reps, anchors


def parcel_table(
    p: Pieces, reps: np.ndarray, anchors: np.ndarray, rng: np.random.Generator
) -> pa.Table:
    """Attribute table in the ALKIS-vereinfacht ``ave:Flurstueck`` layout."""
    p.geom = clean_coverage(p.geom)
    gem = assign_gemarkung(anchors)
    flur = assign_flur(anchors, gem)
    zae, nen = number_parcels(reps, gem, flur, rng)
    gewann = field_names(reps, gem)
    lage = np.where(is_none(p.lage), gewann, p.lage)
    flaeche = np.round(shapely.area(p.geom)).astype(float)
    tn = np.array([f"{t};{int(a)}" for t, a in zip(p.tn, flaeche, strict=True)], dtype=object)
    gnum = np.array([GEMARKUNGEN[g].number for g in gem], dtype=object)
    # AdV's Flurstückskennzeichen: a parcel without Nenner writes '____' in its place, and
    # without Flurstücksfolge '__' (GeoInfoDok); never '0000'.
    kennz = np.array(
        [
            f"{LAND_KEY}{g}{f:03d}{z:05d}{f'{n:04d}' if n else '____'}__"
            for g, f, z, n in zip(gnum, flur, zae, nen, strict=True)
        ],
        dtype=object,
    )
    # Features in the order of their numbers (Gemarkung, Flur, Zähler, then Nenner, none
    # first), as before AdV's fill: the samples drawn from this file keep theirs.
    by_number = np.array(
        [f"{g}{f:03d}{z:05d}{n:04d}" for g, f, z, n in zip(gnum, flur, zae, nen, strict=True)]
    )
    start = dt.date(2021, 1, 4).toordinal()
    days = rng.integers(0, dt.date(2024, 11, 29).toordinal() - start, len(p))
    aktualit = [dt.date.fromordinal(start + int(d)) for d in days]
    n = len(p)
    order = np.argsort(by_number, kind="stable")
    cols = {
        "flstkennz": kennz,
        "land": np.full(n, LAND, dtype=object),
        "gemarkung": np.array([GEMARKUNGEN[g].name for g in gem], dtype=object),
        "gemaschl": np.array([LAND_KEY + g for g in gnum], dtype=object),
        "flur": flur.astype(np.int32),
        "flstnrzae": np.array([str(z) for z in zae], dtype=object),
        "flstnrnen": np.array([str(v) if v else None for v in nen], dtype=object),
        "flaeche": flaeche,
        "lagebeztxt": lage,
        "tntxt": tn,
        "kreis": np.full(n, KREIS, dtype=object),
        "kreisschl": np.full(n, KREISSCHL, dtype=object),
        "gemeinde": np.full(n, GEMEINDE, dtype=object),
        "gmdschl": np.full(n, GMDSCHL, dtype=object),
        "aktualit": np.array(aktualit, dtype=object),
        "idflurst": object_ids(n, rng),
    }
    arrays = {
        k: pa.array(list(v[order]) if v.dtype == object else v[order]) for k, v in cols.items()
    }
    arrays["aktualit"] = pa.array(list(cols["aktualit"][order]), type=pa.date32())
    arrays["flstnrnen"] = pa.array(list(cols["flstnrnen"][order]), type=pa.string())
    arrays["geom"] = pa.array(shapely.to_wkb(p.geom[order], output_dimension=2), type=pa.binary())
    return pa.table(arrays)


def check_parcels(table: pa.Table) -> None:
    """Sanity checks that must hold for every regeneration (raises ``ValueError``)."""
    kennz = table["flstkennz"].to_pylist()
    if len(set(kennz)) != len(kennz) or {len(k) for k in kennz} != {20}:
        raise ValueError("flstkennz must be unique and 20 characters long")
    if len(set(table["idflurst"].to_pylist())) != len(kennz):
        raise ValueError("idflurst must be unique")
    if not 2500 <= len(kennz) <= 4000:
        raise ValueError(f"{len(kennz)} parcels, expected 2500-4000")
    geoms = shapely.from_wkb(table["geom"].to_numpy(zero_copy_only=False))
    if not shapely.is_valid(geoms).all():
        raise ValueError("invalid parcel geometry")
    expected = {
        "altmarkt": ("Cottbus", 1, "Altmarkt"),
        "oberkirche": ("Cottbus", 1, "Oberkirchplatz"),
        "hauptbahnhof": ("Cottbus", None, "Vetschauer Straße"),
        "schloss_branitz": ("Branitz", None, "Robinienweg"),
    }
    for key, (gemarkung, flur, lage) in expected.items():
        hit = np.flatnonzero(shapely.contains_xy(geoms, *LANDMARKS[key]))
        if len(hit) != 1:
            raise ValueError(f"{key}: {len(hit)} parcels contain the landmark")
        row = {c: table[c][int(hit[0])].as_py() for c in ("gemarkung", "flur", "lagebeztxt")}
        if (
            row["gemarkung"] != gemarkung
            or (flur is not None and row["flur"] != flur)
            or not row["lagebeztxt"].startswith(lage)
        ):
            raise ValueError(f"{key}: unexpected parcel {row}")


def write_parcels(out_dir: Path) -> Path:
    """Write the synthetic Flurstücke GeoPackage and return its path.

    Parameters
    ----------
    out_dir : Path
        Sample directory (``data/samples``); the file goes to
        ``parcels/flurstuecke_cottbus_mitte.gpkg`` below it.

    Returns
    -------
    Path
        Path of the written GeoPackage.
    """
    rng = np.random.default_rng([SEED, 1])
    pieces, reps, anchors = build_parcels(rng)
    table = parcel_table(pieces, reps, anchors, rng)
    check_parcels(table)
    path = out_dir / PARCEL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": OGR_CURRENT_DATE})
    pyogrio.write_arrow(
        table,
        path,
        layer=PARCEL_LAYER,
        driver="GPKG",
        geometry_name="geom",
        geometry_type="Polygon",
        crs=CRS,
        dataset_options={"VERSION": "1.2"},
    )
    return path


def write(out_dir: Path = SAMPLES_DIR) -> None:
    """Write the parcel sample and say what it holds."""
    path = write_parcels(out_dir)
    info = pyogrio.read_info(path, layer=PARCEL_LAYER)
    gem = pyogrio.read_arrow(path, layer=PARCEL_LAYER, columns=["gemarkung"], read_geometry=False)
    counts = sorted(
        (c["values"], c["counts"]) for c in gem[1]["gemarkung"].value_counts().to_pylist()
    )
    per_gem = ", ".join(f"{name} {count}" for name, count in counts)
    print(
        f"wrote {path.relative_to(SAMPLES_DIR)}: {info['features']} parcels "
        f"(layer {PARCEL_LAYER}, {CRS}, {path.stat().st_size / 1e6:.2f} MB)\n"
        f"  per Gemarkung: {per_gem}"
    )
