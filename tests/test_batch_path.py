"""The batch path of the ETL (etl/batch_path.py, issue 11) stages what the row path stages.

A batch of plain records goes from GDAL's Arrow arrays to a binary COPY without a Python value
per record; any record that needs a conversion, repair or refusal sends its batch through the
row path. Whichever path a batch takes, the published rows (to the byte, geometries included),
the run record and every message must be the same: each variant below is loaded both ways into
the same real database and compared.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from etl import copy_binary, parcel_key
from etl.batch_path import SPACES, _untrimmed
from etl.core import load_file
from etl.sources.base import LoadOptions
from etl.sources.parcels import ParcelsSource
from tests.helpers import published_of
from tests.sources import Layer, sample
from twin.errors import LoadRefusedError
from twin.registry import FieldType
from twin.settings import Settings

N = 400
BATCH = 100  # four batches: a quirk in one leaves three to the batch path
published = published_of("parcels")


def _first(layer: Layer, name: str, value: object) -> Layer:
    """``layer`` with the first record's ``name`` set to ``value`` (in batch 1 of 4)."""
    column = np.asarray(layer.column(name), dtype=object).copy()
    column[0] = value
    return layer.with_column(name, column)


def _numbers(layer: Layer, name: str) -> Layer:
    """``layer`` with the column ``name`` written as integers (a GIS that lost the zeros)."""
    columns = list(layer.columns)
    columns[layer.names.index(name)] = np.array([int(v) for v in layer.column(name)], np.int64)
    return Layer(layer.names, columns, layer.geoms, layer.crs)


def _bowtie(layer: Layer) -> Layer:
    geoms = layer.geoms.copy()
    x0, y0, x1, y1 = shapely.bounds(geoms[0])
    geoms[0] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
    return Layer(layer.names, layer.columns, geoms, layer.crs)


def _key_nenner_0000(layer: Layer) -> Layer:
    keys = np.asarray(layer.column("flstkennz"), dtype=object).copy()
    i = next(i for i, k in enumerate(keys) if k[14:18] == "____")
    keys[i] = keys[i][:14] + "0000" + keys[i][18:]
    return layer.with_column("flstkennz", keys)


#: name -> (the layer to load, whether every batch may take the batch path)
VARIANTS = {
    "as delivered": (lambda s: s, True),
    "multipolygons": (lambda s: Layer(s.names, s.columns, shapely.multipolygons(
        shapely.get_parts(s.geoms)[:, None].tolist()), s.crs), True),
    "gemaschl blank": (lambda s: s.with_column("gemaschl", [None] * N), True),
    "a text with a trailing space": (lambda s: _first(s, "lagebeztxt", "Am Markt "), False),
    "a text with a non-breaking space": (lambda s: _first(s, "gemeinde", "Cottbus\u00a0"), False),
    "an empty text": (lambda s: _first(s, "tntxt", ""), False),
    "an area that is NaN": (lambda s: _first(s, "flaeche", float("nan")), False),
    "Flur as text": (lambda s: s.with_column(
        "flur", [f"Flur {v}" for v in s.column("flur")]), False),
    "key widths as numbers": (lambda s: _numbers(s, "kreisschl"), False),
    "a Nenner written 0000": (_key_nenner_0000, False),
    "a bow-tie to repair": (_bowtie, False),
    "heights": (lambda s: Layer(s.names, s.columns, shapely.force_3d(s.geoms, 70.0), s.crs),
                False),
    "in ETRS89 longitude/latitude": (lambda s: Layer(s.names, s.columns, shapely.transform(
        s.geoms, _to_lonlat), "EPSG:4258"), False),
    "a Zähler that disagrees": (lambda s: _first(s, "flstnrzae", "99999"), False),
    "a key of another Land": (lambda s: _first(
        s, "flstkennz", "11" + s.column("flstkennz")[0][2:]), False),
}


def _to_lonlat(coords: np.ndarray) -> np.ndarray:
    from pyproj import Transformer
    x, y = Transformer.from_crs(25833, 4258, always_xy=True).transform(coords[:, 0],
                                                                       coords[:, 1])
    return np.column_stack([x, y])


def _load(settings: Settings, path: Path, bulk: bool) -> tuple[tuple, dict]:
    """Load ``path`` into an empty parcels table; what a reader and the run record see."""
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE twin.parcels CASCADE")
    chosen = settings.model_copy(update={"batch_path": bulk, "batch_size": BATCH})
    try:
        report = load_file(ParcelsSource(), path, LoadOptions(progress=False), chosen)
    except LoadRefusedError as exc:
        return published(settings), {"refused": str(exc),
                                     "errors": [str(e) for e in exc.errors]}
    return published(settings), {
        "outcome": report.outcome, "counts": report.counts, "notes": report.notes,
        "repairs": report.repairs, "batches": (report.batches, report.bulk_batches)}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_both_paths_publish_the_same(name: str, empty_settings: Settings,
                                     tmp_path: Path) -> None:
    make, plain = VARIANTS[name]
    path = make(sample(N)).write(tmp_path / "parcels.gpkg", "GPKG")
    rows_by_row, run_by_row = _load(empty_settings, path, bulk=False)
    rows_in_bulk, run_in_bulk = _load(empty_settings, path, bulk=True)
    assert rows_in_bulk == rows_by_row
    batches = run_in_bulk.pop("batches", None)
    run_by_row.pop("batches", None)
    assert run_in_bulk == run_by_row
    if batches is not None:
        total, bulk = batches
        assert total == N // BATCH
        # A plain file goes in bulk; a quirk sends its batch (at least) the row path.
        assert bulk == total if plain else bulk < total


def test_a_reload_in_bulk_changes_nothing(empty_settings: Settings, tmp_path: Path) -> None:
    path = sample(N).write(tmp_path / "parcels.gpkg", "GPKG")
    _load(empty_settings, path, bulk=True)
    with psycopg.connect(empty_settings.dsn) as conn:
        before = conn.execute("SELECT string_agg(xmin::text, ',' ORDER BY flstkennz) "
                              "FROM twin.parcels").fetchone()[0]
    chosen = empty_settings.model_copy(update={"batch_size": BATCH})
    report = load_file(ParcelsSource(), path, LoadOptions(progress=False), chosen)
    assert report.outcome == "unchanged" and report.bulk_batches == report.batches
    with psycopg.connect(empty_settings.dsn) as conn:
        assert conn.execute("SELECT string_agg(xmin::text, ',' ORDER BY flstkennz) "
                            "FROM twin.parcels").fetchone()[0] == before


# --- the bulk tests against the record-by-record ones ---------------------------------------

_KEY_CHARS = st.sampled_from("0123456789_12 a")
keys = st.one_of(
    st.text(_KEY_CHARS, min_size=18, max_size=22),
    st.builds(lambda land, g, f, z, n, fo: f"{land}{g}{f}{z}{n}{fo}",
              st.sampled_from(["12", "11"]), st.sampled_from(["0000", "0001", "4567"]),
              st.sampled_from(["000", "___", "001", "012"]),
              st.sampled_from(["00000", "00425", "12345"]),
              st.sampled_from(["0000", "____", "0001", "0010"]),
              st.sampled_from(["00", "__", "01"])))
digit_texts = st.one_of(st.none(), st.text("0123456789 a", max_size=5),
                        st.sampled_from(["425", "1", "01", "0001", "4567"]))
records = st.tuples(keys, st.one_of(st.none(), st.sampled_from(["124567", "120001", "12456"])),
                    st.one_of(st.none(), st.integers(0, 20)), digit_texts, digit_texts)


@settings(max_examples=400, deadline=None)
@given(batch=st.lists(records, min_size=1, max_size=6), land=st.sampled_from(["12", "11"]))
def test_all_sound_only_when_each_record_is(batch: list[tuple], land: str) -> None:
    key, gemaschl, flur, zaehler, nenner = (list(c) for c in zip(*batch, strict=True))
    bulk = parcel_key.all_sound(pa.array(key, pa.string()), land,
                                pa.array(gemaschl, pa.string()), pa.array(flur, pa.int32()),
                                pa.array(zaehler, pa.string()), pa.array(nenner, pa.string()))
    each = all(parcel_key.sound(*r[:1], land, *r[1:]) for r in batch)
    # The bulk test may only be stricter (then the row path asks each record).
    assert not bulk or each
    # On records as real files write them, it must not be: plain digits, whole numbers.
    if each and all(k.isascii() for k in key) and all(
            v is None or (v.isascii() and v.isdigit() and len(v) <= 18)
            for v in zaehler + nenner):
        assert bulk


_ANY_SPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(st.sampled_from("ab ä\u00a0\t\u3000\x1c"),
                                                 max_size=4)), max_size=6))
def test_untrimmed_as_python_strips(values: list[str | None]) -> None:
    expected = any(v is not None and (v.strip() != v or v == "") for v in values)
    assert _untrimmed(pa.array(["x", *values], pa.string()).slice(1)) == expected



def test_the_list_of_spaces_is_unicodes() -> None:
    assert SPACES == _ANY_SPACE


def test_binary_rows_as_the_server_reads_them(empty_settings: Settings) -> None:
    columns = [
        (pa.array(["Lindenstraße", "", None]), FieldType.TEXT),
        (pa.array([2**31 - 1, -(2**31), None], pa.int64()), FieldType.INTEGER),
        (pa.array([0.1, -1e300, None]), FieldType.DOUBLE),
        (pa.array([dt.date(2000, 1, 1), dt.date(1899, 12, 31), None]), FieldType.DATE),
        (pa.nulls(3), FieldType.TEXT),
        (pa.array([shapely.to_wkb(shapely.Point(454000.5, 5735000.25), include_srid=True)
                   for _ in range(3)]), copy_binary.BYTES),
    ]
    data = copy_binary.rows(columns)
    assert data is not None
    with psycopg.connect(empty_settings.dsn) as conn:
        conn.execute("CREATE TEMP TABLE t (a text, b integer, c double precision, d date, "
                     "e text, g geometry)")
        with conn.cursor().copy("COPY t FROM STDIN (FORMAT binary)") as copy:
            copy.write(copy_binary.SIGNATURE)
            copy.write(data)
            copy.write(copy_binary.TRAILER)
        got = conn.execute("SELECT a, b, c, d, e, ST_AsText(g) FROM t").fetchall()
    assert got == [
        ("Lindenstraße", 2**31 - 1, 0.1, dt.date(2000, 1, 1), None, "POINT(454000.5 5735000.25)"),
        ("", -(2**31), -1e300, dt.date(1899, 12, 31), None, "POINT(454000.5 5735000.25)"),
        (None, None, None, None, None, "POINT(454000.5 5735000.25)")]
    # A number the column cannot hold is left to the row path, which names its row.
    assert copy_binary.rows([(pa.array([2**31]), FieldType.INTEGER)]) is None


def test_a_first_load_goes_into_the_table_and_keeps_its_indexes(empty_settings: Settings,
                                                                tmp_path: Path) -> None:
    """An empty table is loaded without a stage; its key and indexes are built after."""
    with psycopg.connect(empty_settings.dsn) as conn:
        before = conn.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'twin' "
                              "AND tablename = 'parcels' ORDER BY 1").fetchall()
    path = sample(N).write(tmp_path / "parcels.gpkg", "GPKG")
    _, run = _load(empty_settings, path, bulk=True)
    assert run["outcome"] == "succeeded" and run["counts"]["parcels"].inserted == N
    with psycopg.connect(empty_settings.dsn) as conn:
        after = conn.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'twin' "
                             "AND tablename = 'parcels' ORDER BY 1").fetchall()
        assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = "
                            "'twin.parcels'::regclass AND contype = 'p'").fetchone()[0] == 1
    assert after == before and any("gist" in d for (d,) in after)


def test_duplicates_in_a_first_load_are_named_as_always(empty_settings: Settings,
                                                        tmp_path: Path) -> None:
    """Straight into an empty table, a duplicate key cannot be placed: the load starts over
    through the stage, which names both rows, and the table stays empty."""
    layer = sample(N)
    for name in ("flstkennz", "gemaschl", "flur", "flstnrzae", "flstnrnen"):
        column = np.asarray(layer.column(name), dtype=object).copy()
        column[250] = column[3]
        layer = layer.with_column(name, column)
    keys = layer.column("flstkennz")
    path = layer.write(tmp_path / "parcels.gpkg", "GPKG")
    for bulk in (True, False):
        rows, run = _load(empty_settings, path, bulk=bulk)
        assert rows == (0, "")
        assert "1 duplicate key(s)" in run["refused"], run
        [error] = run["errors"]
        assert error.startswith(f"{path}: row 4, field 'flstkennz': duplicate key "
                                f"'{keys[3]}'"), error
        assert error.endswith("(also in rows 251)"), error
