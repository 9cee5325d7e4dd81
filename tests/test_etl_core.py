"""Behaviour of the ETL core that no single source owns."""

from __future__ import annotations

import shutil

import psycopg

from etl.core import LoadOptions, load
from etl.samples import sample_files
from etl.sources import SOURCES
from tests.conftest import RUN
from tests.helpers import last_run, run_twin
from twin.settings import PROJECT_ROOT, Settings

SAMPLES = PROJECT_ROOT / "data" / "samples"


def test_a_load_that_only_repairs_derived_values_says_so(loaded_settings: Settings) -> None:
    with psycopg.connect(loaded_settings.dsn, autocommit=True) as conn:
        stale = conn.execute("UPDATE twin.heritage SET flurstuecke = NULL "
                             "WHERE flurstueck_anzahl > 0").rowcount
    assert stale > 0
    report = load(SOURCES["heritage"](), sample_files("heritage", SAMPLES),
                  LoadOptions(progress=False), loaded_settings)
    assert report.total("updated") == report.total("inserted") == 0
    assert report.outcome == "succeeded" and report.derived == stale
    again = load(SOURCES["heritage"](), sample_files("heritage", SAMPLES),
                 LoadOptions(progress=False), loaded_settings)
    assert (again.outcome, again.derived) == ("unchanged", 0)


def test_loads_of_different_sources_at_once_both_finish(loaded_settings: Settings) -> None:
    # Their derive steps write each other's tables: without the lock of their shared reach
    # (etl/core.py _lock_reach), two at once deadlock.
    from concurrent.futures import ThreadPoolExecutor

    def run(name: str) -> str:
        reports = [load(SOURCES[name](), sample_files(name, SAMPLES),
                        LoadOptions(progress=False), loaded_settings) for _ in range(3)]
        return reports[-1].outcome

    with ThreadPoolExecutor(3) as pool:
        outcomes = list(pool.map(run, ["parcels", "heritage", "commercial-land"]))
    assert outcomes == ["unchanged"] * 3


def test_heights_are_dropped_with_a_note(empty_settings: Settings, tmp_path) -> None:
    import shapely

    from tests.sources import Layer, sample

    layer = sample(5)
    z = Layer(layer.names, layer.columns, shapely.force_3d(layer.geoms, 70.5), layer.crs)
    path = z.write(tmp_path / "parcels_z.gpkg", "GPKG")
    report = load(SOURCES["parcels"](), [path], LoadOptions(progress=False), empty_settings)
    assert report.total("inserted") == 5
    assert any("heights (Z) dropped" in n for n in report.notes)


def test_a_database_without_schema_is_a_clear_error(tmp_path) -> None:
    from tests.conftest import _database, _url
    from tests.helpers import run_twin

    with _database(f"twin_test_noschema_{RUN}") as name:
        result = run_twin(Settings(database_url=_url(name), config_path=tmp_path / "c.yml",
                                   openapi_path=tmp_path / "o.yml"),
                          "load", "parcels", str(sample_files("parcels", SAMPLES)[0]))
    assert result.returncode == 78
    assert "run `twin db init`" in result.stderr and "Traceback" not in result.stderr


def test_messages_keep_the_paths_of_the_load(empty_settings: Settings, tmp_path) -> None:
    # A folder named like a number plate ("cb-ab1") is the operator's path, not personal data:
    # notes in the CLI and in twin.load_run must still name the file.
    folder = tmp_path / "cb-ab1"
    shutil.copytree(PROJECT_ROOT / "data" / "samples" / "commercial-land", folder)
    sheet = folder / "gewerbeflaechen_standortblaetter.xlsx"
    result = run_twin(empty_settings, "load", "commercial-land", str(sheet),
                      str(folder / "gewerbeflaechen_umringe.gpkg"))
    assert result.returncode == 0, result.stderr
    assert f"{sheet}: row 2 (sheet 'Gewerbeflächen'), field 'Gleisanschluss'" in result.stderr
    notes = last_run(empty_settings)["notes"]
    assert any(str(sheet) in note for note in notes), notes


def test_a_reload_inserts_updates_and_deletes_only_what_changed(empty_settings: Settings,
                                                                 tmp_path) -> None:
    # The merge finds the changes in one join of stage and table (etl/core.py _merge): each
    # kind of change, its count and the rows it leaves, in both modes that compare.
    from dataclasses import replace

    import shapely

    from etl.sources.base import LoadMode
    from tests.sources import sample

    def take(layer, rows: list[int]):
        return replace(layer, columns=[c[rows] for c in layer.columns],
                       geoms=layer.geoms[rows])

    def published() -> dict[str, tuple[str, str]]:
        with psycopg.connect(empty_settings.dsn) as conn:
            return {k: (t, g) for k, t, g in conn.execute(
                "SELECT flstkennz, lagebeztxt, ST_AsText(geom) FROM twin.parcels")}

    def run(layer, name: str, mode: LoadMode | None = None):
        return load(SOURCES["parcels"](), [layer.write(tmp_path / name, "GPKG")],
                    LoadOptions(progress=False, mode=mode), empty_settings)

    layer = sample(8)
    keys = list(layer.column("flstkennz"))
    run(take(layer, list(range(7))), "first.gpkg")
    before = published()
    changed = take(layer, list(range(1, 8)))
    text = changed.column("lagebeztxt").copy()
    text[0] = "Am Anger 1 (umbenannt)"
    geoms = changed.geoms.copy()
    geoms[1] = shapely.affinity.translate(geoms[1], 1.0, 0.0)
    changed = replace(changed.with_column("lagebeztxt", text), geoms=geoms)
    report = run(changed, "second.gpkg", LoadMode.REPLACE)
    counts = report.counts["parcels"]
    assert (counts.inserted, counts.updated, counts.deleted, counts.unchanged) == (1, 2, 1, 4)
    after = published()
    assert sorted(after) == sorted(keys[1:])
    assert after[keys[1]][0] == "Am Anger 1 (umbenannt)"
    assert after[keys[2]][1] != before[keys[2]][1]
    assert {k: after[k] for k in keys[3:7]} == {k: before[k] for k in keys[3:7]}
    # Upsert: the first three rows as they were; the rows the file lacks stay.
    report = run(take(layer, [0, 1, 2]), "third.gpkg", LoadMode.UPSERT)
    counts = report.counts["parcels"]
    assert (counts.inserted, counts.updated, counts.deleted, counts.unchanged) == (1, 2, 0, 0)
    assert published() == {**before, keys[7]: after[keys[7]]}
    assert run(take(layer, [0, 1, 2]), "third.gpkg", LoadMode.UPSERT).outcome == "unchanged"
