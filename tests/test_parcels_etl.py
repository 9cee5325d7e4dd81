"""Loading ALKIS parcels through `twin load parcels`: formats, refusals, atomicity, privacy."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest
import shapely

from tests.conftest import PARCELS_SAMPLE
from tests.helpers import assert_refused, last_run, published_of, run_twin, xmins_of
from tests.sources import Layer, sample
from twin.settings import Settings

N = 300  # features per variant: enough for batches and paging, quick to load
published = published_of("parcels")
xmins = xmins_of("parcels")
#: The key and the fields it is made of.
KEY_FIELDS = ("flstkennz", "gemaschl", "flur", "flstnrzae", "flstnrnen")








@pytest.fixture(scope="module")
def base(empty_settings: Settings, tmp_path_factory) -> Settings:
    """The module database with N parcels published, as the state to protect."""
    path = sample(N).write(tmp_path_factory.mktemp("base") / "base.gpkg", "GPKG")
    result = run_twin(empty_settings, "load", "parcels", str(path))
    assert result.returncode == 0, result.stderr
    return empty_settings


def test_sample_loads_completely_and_twice_changes_nothing(base: Settings) -> None:
    result = run_twin(base, "load", "parcels", str(PARCELS_SAMPLE))
    assert result.returncode == 0, result.stderr
    expected = len(sample().geoms)
    count, digest = published(base)
    assert count == expected
    run = last_run(base)
    assert (run["outcome"], run["read_count"]) == ("succeeded", expected)

    with psycopg.connect(base.dsn) as conn:
        xmins = conn.execute("SELECT string_agg(xmin::text, ',' ORDER BY flstkennz) "
                             "FROM twin.parcels").fetchone()[0]
    again = run_twin(base, "load", "parcels", str(PARCELS_SAMPLE))
    assert again.returncode == 0, again.stderr
    assert published(base) == (count, digest)
    with psycopg.connect(base.dsn) as conn:
        # Not even rewritten: no row got a new version.
        assert conn.execute("SELECT string_agg(xmin::text, ',' ORDER BY flstkennz) "
                            "FROM twin.parcels").fetchone()[0] == xmins
    run = last_run(base)
    assert (run["outcome"], run["unchanged_count"], run["inserted_count"]) == (
        "unchanged", expected, 0)
    status = run_twin(base, "db", "status")
    assert status.returncode == 0
    assert "unchanged" in status.stdout and "succeeded" in status.stdout


@pytest.mark.parametrize("fmt", ["geojson-crs84", "shapefile-latin1", "gml32", "gpkg"])
def test_formats_give_the_stored_coordinates(empty_settings: Settings, tmp_path: Path,
                                             fmt: str) -> None:
    layer = sample(N)
    path = _write_format(layer, tmp_path, fmt)
    result = run_twin(empty_settings, "load", "parcels", str(path))
    assert result.returncode == 0, result.stderr
    with psycopg.connect(empty_settings.dsn) as conn:
        rows = dict(conn.execute(
            "SELECT flstkennz, ST_AsBinary(geom) FROM twin.parcels").fetchall())
        gemarkungen = {r[0] for r in conn.execute("SELECT DISTINCT gemarkung FROM twin.parcels")}
    assert len(rows) == N
    keys = layer.column("flstkennz")
    for key, geom in zip(keys[:50], layer.geoms[:50], strict=True):
        stored = shapely.from_wkb(rows[key])
        # Round trips through lon/lat and text formats: centimetres, not metres.
        assert shapely.hausdorff_distance(stored, geom) < 0.05, (fmt, key)
    assert gemarkungen == set(layer.column("gemarkung"))


def _write_format(layer: Layer, tmp: Path, fmt: str) -> Path:
    if fmt == "geojson-crs84":
        return layer.to_crs("EPSG:4326").write(tmp / "parcels.geojson", "GeoJSON",
                                               layer_options={"RFC7946": "YES"})
    if fmt == "shapefile-latin1":
        return layer.write(tmp / "parcels.shp", "ESRI Shapefile", encoding="ISO-8859-1")
    if fmt == "gml32":
        path = layer.write(tmp / "parcels.gml", "GML", dataset_options={"FORMAT": "GML3.2"})
        # As the WFS delivers it: no schema file beside the GML.
        (tmp / "parcels.xsd").unlink()
        return path
    return layer.write(tmp / "parcels.gpkg", "GPKG")


def test_umlauts_survive_a_latin1_shapefile(empty_settings: Settings, tmp_path: Path) -> None:
    names = ["Döbbrick", "Ströbitz", "Schloßpark", "Mühlenstraße 3"]
    layer = sample(4).with_column("gemarkung", names[:3] + ["Sandow"]) \
        .with_column("lagebeztxt", ["Am Großen Spreewehr", "Straße der Jugend 1",
                                    "Schloßkirchplatz", names[3]])
    path = layer.write(tmp_path / "umlaut.shp", "ESRI Shapefile", encoding="ISO-8859-1")
    assert "ISO-8859-1" in (tmp_path / "umlaut.cpg").read_text()
    assert "Döbbrick".encode("latin-1") in (tmp_path / "umlaut.dbf").read_bytes()
    result = run_twin(empty_settings, "load", "parcels", str(path))
    assert result.returncode == 0, result.stderr
    with psycopg.connect(empty_settings.dsn) as conn:
        stored = dict(conn.execute("SELECT gemarkung, lagebeztxt FROM twin.parcels").fetchall())
    assert stored["Döbbrick"] == "Am Großen Spreewehr"
    assert stored["Schloßpark"] == "Schloßkirchplatz"
    assert stored["Sandow"] == "Mühlenstraße 3"


def _no_key(layer: Layer) -> Layer:
    return layer.without("flstkennz")


def _duplicate(layer: Layer) -> Layer:
    # Row 8 holds the parcel of row 4 again: its key and the fields the key is made of.
    for name in KEY_FIELDS:
        values = layer.column(name).copy()
        values[7] = values[3]
        layer = layer.with_column(name, values)
    return layer


def _no_geometry(layer: Layer) -> Layer:
    geoms = layer.geoms.copy()
    geoms[5] = None
    return Layer(layer.names, layer.columns, geoms, layer.crs)


def _gauss_krueger(layer: Layer) -> Layer:
    # Claims EPSG:25833 but holds Gauss-Krüger zone 5 coordinates: far outside Brandenburg.
    moved = shapely.transform(layer.geoms, lambda xy: xy + [5_000_000, 0])
    return Layer(layer.names, layer.columns, moved, layer.crs)


def _bad_key(layer: Layer) -> Layer:
    keys = layer.column("flstkennz").copy()
    keys[2] = "12-4166-1-12"
    return layer.with_column("flstkennz", keys)


REFUSALS = [
    # (id, how to break the file, words the message must hold)
    ("missing-key-field", _no_key, ["required field 'flstkennz' is missing"]),
    ("duplicate-keys", _duplicate, ["duplicate key", "row 4", "rows 8", "flstkennz"]),
    ("no-geometry", _no_geometry, ["row 6", "'geometry'", "no geometry"]),
    ("outside-brandenburg", _gauss_krueger, ["row 1", "cannot be in Brandenburg", "'geometry'"]),
    ("malformed-key", _bad_key, ["row 3", "'flstkennz'", "Flurstückskennzeichen"]),
]


@pytest.mark.parametrize(("case", "breaker", "words"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refused_files_change_nothing(base: Settings, tmp_path: Path, case: str, breaker,
                                      words: list[str]) -> None:
    before = published(base)
    path = breaker(sample(40)).write(tmp_path / f"{case}.gpkg", "GPKG")
    result = run_twin(base, "load", "parcels", str(path))
    assert_refused(result, path, words)
    assert published(base) == before
    run = last_run(base)
    assert run["outcome"] == "refused" and run["refusals"]


def _truncated(tmp: Path) -> Path:
    full = sample(40).to_crs("EPSG:4326").write(tmp / "full.geojson", "GeoJSON")
    data = full.read_bytes()
    path = tmp / "truncated.geojson"
    path.write_bytes(data[: len(data) // 2])
    return path


def _garbage(tmp: Path) -> Path:
    path = tmp / "garbage.gpkg"
    path.write_bytes(b"\x00\x01 this is not a GeoPackage " * 50)
    return path


def _zero_bytes(tmp: Path) -> Path:
    path = tmp / "empty.geojson"
    path.write_bytes(b"")
    return path


def _no_features(tmp: Path) -> Path:
    path = tmp / "nofeatures.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    return path


FILE_REFUSALS = [
    ("truncated", _truncated, ["truncated"]),
    ("unreadable", _garbage, ["not a readable vector file"]),
    ("zero-bytes", _zero_bytes, ["empty (0 bytes)"]),
    ("no-features", _no_features, ["no features", "--allow-empty"]),
]


@pytest.mark.parametrize(("case", "make", "words"), FILE_REFUSALS,
                         ids=[r[0] for r in FILE_REFUSALS])
def test_broken_files_are_refused(base: Settings, tmp_path: Path, case: str, make,
                                  words: list[str]) -> None:
    before = published(base)
    path = make(tmp_path)
    result = run_twin(base, "load", "parcels", str(path))
    assert_refused(result, path, words)
    assert published(base) == before


def test_allow_empty_publishes_an_empty_collection(empty_settings: Settings,
                                                   tmp_path: Path) -> None:
    path = sample(3).write(tmp_path / "three.gpkg", "GPKG")
    assert run_twin(empty_settings, "load", "parcels", str(path)).returncode == 0
    empty = _no_features(tmp_path)
    result = run_twin(empty_settings, "load", "parcels", str(empty), "--allow-empty")
    assert result.returncode == 0, result.stderr
    assert published(empty_settings)[0] == 0


def test_zone_prefixed_eastings_are_corrected_and_said(empty_settings: Settings,
                                                        tmp_path: Path) -> None:
    layer = sample(20)
    prefixed = Layer(layer.names, layer.columns,
                     shapely.transform(layer.geoms, lambda xy: xy + [33_000_000, 0]), layer.crs)
    path = prefixed.write(tmp_path / "prefixed.gpkg", "GPKG")
    result = run_twin(empty_settings, "load", "parcels", str(path))
    assert result.returncode == 0, result.stderr
    assert "zone prefix" in result.stderr and "EPSG:5650" in result.stderr
    with psycopg.connect(empty_settings.dsn) as conn:
        stored = dict(conn.execute("SELECT flstkennz, ST_AsBinary(geom) FROM twin.parcels"))
    key = layer.column("flstkennz")[0]
    assert shapely.hausdorff_distance(shapely.from_wkb(stored[key]), layer.geoms[0]) < 0.01


def test_invalid_rings_are_repaired_and_reported(empty_settings: Settings,
                                                 tmp_path: Path) -> None:
    layer = sample(10)
    geoms = layer.geoms.copy()
    x0, y0, x1, y1 = geoms[4].bounds
    geoms[4] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])  # bow tie
    path = Layer(layer.names, layer.columns, geoms, layer.crs).write(tmp_path / "bow.gpkg",
                                                                     "GPKG")
    result = run_twin(empty_settings, "load", "parcels", str(path))
    assert result.returncode == 0, result.stderr
    assert "repair" in result.stderr and "row 5" in result.stderr
    assert "Self-intersection" in result.stderr
    with psycopg.connect(empty_settings.dsn) as conn:
        assert conn.execute("SELECT bool_and(ST_IsValid(geom)) FROM twin.parcels").fetchone()[0]
    run = last_run(empty_settings)
    assert len(run["repairs"]) == 1 and run["repairs"][0]["row"] == 5


OWNER_VALUES = {
    "eigentuemer": ["Gräfin Adelheid Zwiebelmuster", "Kunibert Quastenflosser"],
    "anschrift": ["Quastenweg 99, 03046 Cottbus", "Zwiebelgasse 7"],
    "geburtsdatum": ["1931-02-29x", "1966-13-13x"],
    "grundbuchblatt": ["GB-ZZ-998877", "GB-ZZ-112233"],
}


def test_owner_columns_never_reach_the_database(empty_settings: Settings,
                                                tmp_path: Path) -> None:
    layer = sample(2)
    for name, values in OWNER_VALUES.items():
        layer = layer.with_column(name, values)
    path = layer.write(tmp_path / "with_owners.gpkg", "GPKG")
    result = run_twin(empty_settings, "load", "parcels", str(path))
    assert result.returncode == 0, result.stderr
    assert "eigentuemer" in result.stderr  # said to be dropped, by name only
    dump = subprocess.run(["pg_dump", "--data-only", empty_settings.dsn], capture_output=True,
                          text=True, check=True).stdout
    assert layer.column("flstkennz")[0] in dump  # the dump does hold the load
    for values in OWNER_VALUES.values():
        for value in values:
            assert value not in dump and value not in result.stderr


# --- AdV's Flurstückskennzeichen ---------------------------------------------------------------

def _adv_key(layer: Layer, i: int, *, no_nenner: str = "____") -> str:
    """The key of row ``i`` built from its own fields as AdV lays it out: Land and Gemarkung
    (gemaschl, 6), Flur (3), Zähler (5), Nenner (4; ``no_nenner`` when none), Folge ``__``."""
    gemaschl, flur, zaehler, nenner = (layer.column(n)[i] for n in KEY_FIELDS[1:])
    return (f"{gemaschl}{int(flur):03d}{int(zaehler):05d}"
            f"{f'{int(nenner):04d}' if nenner else no_nenner}__")


def _set(layer: Layer, name: str, i: int, value) -> Layer:
    values = layer.column(name).astype(object)
    values[i] = value
    return layer.with_column(name, values)


def test_sample_keys_are_adv_keys_of_their_own_fields() -> None:
    layer = sample()
    keys = list(layer.column("flstkennz"))
    assert keys == [_adv_key(layer, i) for i in range(len(keys))]
    no_nenner = sum(1 for v in layer.column("flstnrnen") if v is None)
    # Before AdV's fill, 2,716 of the 3,828 keys wrote a missing Nenner as 0000.
    assert (len(keys), no_nenner) == (3828, 2716)
    assert sum(k[14:18] == "____" for k in keys) == no_nenner
    assert not any(k[14:18] == "0000" for k in keys)


#: (id, row index, how the file is broken, the field named, the message, from the row's key k
#: as built by _adv_key, and the layer)
KEY_REFUSALS = [
    ("land-not-configured", 2, lambda lr, k: _set(lr, "flstkennz", 2, "16" + k[2:]),
     "flstkennz", lambda k, lr: f"'16{k[2:]}': Land '16' (Thüringen) is not the configured "
     "Land '12' (Brandenburg); the twin publishes the parcels of one Land, set by TWIN_LAND_KEY"),
    ("land-unknown", 2, lambda lr, k: _set(lr, "flstkennz", 2, "99" + k[2:]),
     "flstkennz", lambda k, lr: f"'99{k[2:]}': Land '99' (characters 1-2) is no "
     "Länderschlüssel (01-16)"),
    ("gemarkung-zero", 2, lambda lr, k: _set(lr, "flstkennz", 2, k[:2] + "0000" + k[6:]),
     "flstkennz", lambda k, lr: f"'{k[:2]}0000{k[6:]}': Gemarkungsnummer '0000' "
     "(characters 3-6) is 0; AdV numbers it from 1"),
    ("flur-zero", 2, lambda lr, k: _set(lr, "flstkennz", 2, k[:6] + "000" + k[9:]),
     "flstkennz", lambda k, lr: f"'{k[:6]}000{k[9:]}': Flurnummer '000' (characters 7-9) is "
     "0; AdV numbers it from 1, or '___' when the parcel has none"),
    ("zaehler-zero", 2, lambda lr, k: _set(lr, "flstkennz", 2, k[:9] + "00000" + k[14:]),
     "flstkennz", lambda k, lr: f"'{k[:9]}00000{k[14:]}': Zähler '00000' (characters 10-14) "
     "is 0; AdV numbers it from 1"),
    ("nenner-half-filled", 5, lambda lr, k: _set(lr, "flstkennz", 5, k[:14] + "00_4" + k[18:]),
     "flstkennz", lambda k, lr: f"'{k[:14]}00_4{k[18:]}': Nenner '00_4' (characters 15-18) "
     "is not 4 digits, or '____' when the parcel has none"),
    ("folge-zero", 2, lambda lr, k: _set(lr, "flstkennz", 2, k[:18] + "00"),
     "flstkennz", lambda k, lr: f"'{k[:18]}00': Flurstücksfolge '00' (characters 19-20) is 0; "
     "AdV numbers it from 1, or '__' when the parcel has none"),
    ("folge-letters", 2, lambda lr, k: _set(lr, "flstkennz", 2, k[:18] + "ab"),
     "flstkennz", lambda k, lr: f"'{k[:18]}ab': Flurstücksfolge 'ab' (characters 19-20) is not "
     "2 digits, or '__' when the parcel has none"),
    ("too-short", 2, lambda lr, k: _set(lr, "flstkennz", 2, k[:18]),
     "flstkennz", lambda k, lr: f"'{k[:18]}' has 18 characters; a Flurstückskennzeichen has "
     "20: Land (2), Gemarkungsnummer (4), Flurnummer (3), Zähler (5), Nenner (4), "
     "Flurstücksfolge (2)"),
    ("flur-field", 2, lambda lr, k: _set(lr, "flur", 2, int(lr.column("flur")[2]) + 1),
     "flur", lambda k, lr: f"'{k}' has Flurnummer '{k[6:9]}' (characters 7-9), but the field "
     f"says '{int(lr.column('flur')[2]) + 1}'"),
    ("no-flur-in-key", 2, lambda lr, k: _set(lr, "flstkennz", 2, k[:6] + "___" + k[9:]),
     "flur", lambda k, lr: f"'{k[:6]}___{k[9:]}' has Flurnummer '___' (characters 7-9), but "
     f"the field says '{int(lr.column('flur')[2])}'"),
    ("gemaschl-field", 2, lambda lr, k: _set(lr, "gemaschl", 2, "124999"),
     "gemaschl", lambda k, lr: f"'{k}' has Land and Gemarkungsnummer '{k[:6]}' (characters "
     "1-6), but the field says '124999'"),
    ("zaehler-field", 2, lambda lr, k: _set(lr, "flstnrzae", 2, str(int(k[9:14]) + 1000)),
     "flstnrzae", lambda k, lr: f"'{k}' has Zähler '{k[9:14]}' (characters 10-14), but the "
     f"field says '{int(k[9:14]) + 1000}'"),
    ("nenner-field-blank", 5, lambda lr, k: _set(lr, "flstnrnen", 5, None),
     "flstnrnen", lambda k, lr: f"'{k}' has Nenner '{k[14:18]}' (characters 15-18), but the "
     "field says the parcel has no Nenner"),
    ("nenner-field-given", 2, lambda lr, k: _set(lr, "flstnrnen", 2, "3"),
     "flstnrnen", lambda k, lr: f"'{k}' has Nenner '____' (characters 15-18), but the field "
     "says '3'"),
]


@pytest.mark.parametrize(("case", "i", "breaker", "field", "message"), KEY_REFUSALS,
                         ids=[r[0] for r in KEY_REFUSALS])
def test_each_part_of_the_key_is_checked_as_adv_defines_it(
        base: Settings, tmp_path: Path, case: str, i: int, breaker, field: str,
        message) -> None:
    layer = sample(40)
    assert layer.column("flstnrnen")[2] is None and layer.column("flstnrnen")[5]  # the cases
    key = _adv_key(layer, i)
    assert layer.column("flstkennz")[i] == key
    before = published(base)
    path = breaker(layer, key).write(tmp_path / f"{case}.gpkg", "GPKG")
    result = run_twin(base, "load", "parcels", str(path))
    expected = message(key, layer)
    assert_refused(result, path, [
        f"{path}: 1 record(s) refused; nothing was changed. First: row {i + 1}, "
        f"field '{field}': {expected}"])
    assert published(base) == before
    run = last_run(base)
    assert run["refusals"] == [{"path": str(path), "row": i + 1, "field": field,
                                "reason": expected}]


def test_a_nenner_written_0000_is_read_as_adv_writes_it(empty_settings: Settings,
                                                       tmp_path: Path) -> None:
    layer = sample(40)
    n = len(layer.geoms)
    zeros = [_adv_key(layer, i, no_nenner="0000") for i in range(n)]
    written = layer.with_column("flstkennz", zeros)
    written = _set(written, "flstnrnen", 3, "0")  # and a field writing it 0
    path = written.write(tmp_path / "zeros.gpkg", "GPKG")
    result = run_twin(empty_settings, "load", "parcels", str(path))
    assert result.returncode == 0, result.stderr
    with psycopg.connect(empty_settings.dsn) as conn:
        stored = dict(conn.execute("SELECT flstkennz, flstnrnen FROM twin.parcels"))
    assert stored == {_adv_key(layer, i): layer.column("flstnrnen")[i] for i in range(n)}
    assert stored[_adv_key(layer, 3)] is None
    changed = sum(1 for v in layer.column("flstnrnen") if v is None)
    assert changed == 33
    note = (f"{path}: {changed} key(s) write no Nenner as '0000'; read as AdV writes it, "
            f"'____' (e.g. row 1: '{zeros[0]}' as '{_adv_key(layer, 0)}')")
    assert note in last_run(empty_settings)["notes"]


def test_a_parcel_in_both_spellings_is_a_duplicate(base: Settings, tmp_path: Path) -> None:
    layer = sample(40)
    assert layer.column("flstnrnen")[3] is None
    for name in KEY_FIELDS[1:]:  # row 8 is the parcel of row 4 again ...
        layer = _set(layer, name, 7, layer.column(name)[3])
    # ... its key written with Nenner 0000, row 4's with AdV's ____
    layer = _set(layer, "flstkennz", 7, _adv_key(layer, 3, no_nenner="0000"))
    key = _adv_key(layer, 3)
    assert layer.column("flstkennz")[3] == key != layer.column("flstkennz")[7]
    before = published(base)
    path = layer.write(tmp_path / "both.gpkg", "GPKG")
    result = run_twin(base, "load", "parcels", str(path))
    expected = (f"duplicate key '{key}' (a Nenner written '0000' is read as AdV's '____', no "
                "Nenner: both spellings are one parcel) (also in rows 8)")
    assert_refused(result, path, [f"First: row 4, field 'flstkennz': {expected}"])
    assert published(base) == before
    assert last_run(base)["refusals"] == [{"path": str(path), "row": 4, "field": "flstkennz",
                                           "reason": expected}]
