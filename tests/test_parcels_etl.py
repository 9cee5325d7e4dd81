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
    keys = layer.column("flstkennz").copy()
    keys[7] = keys[3]
    return layer.with_column("flstkennz", keys)


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
