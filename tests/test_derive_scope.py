"""A load runs the derivation steps downstream of what it touched, and only those (issue 11).

Observed in the database: before each load every step's derived values are spoiled; the
values the load puts right are those of the steps it ran, the others stay spoiled.
"""

from __future__ import annotations

import psycopg
import pytest

from etl.core import load
from etl.samples import sample_files
from etl.sources import SOURCES
from twin import derive
from twin.db import connect
from twin.settings import Settings

#: Per step: an update that spoils its derived values, and a query true once they are right.
SPOIL = {
    "derive_heritage.sql": ("UPDATE twin.heritage SET flurstueck_anzahl = -1",
                            "SELECT NOT EXISTS (SELECT 1 FROM twin.heritage "
                            "WHERE flurstueck_anzahl = -1)"),
    "derive_traffic.sql": ("UPDATE twin.traffic_stations SET hours_counted = -1",
                           "SELECT NOT EXISTS (SELECT 1 FROM twin.traffic_stations "
                           "WHERE hours_counted = -1)"),
    "derive_street_damage.sql": ("UPDATE twin.street_damage SET repair_priority = -1",
                                 "SELECT NOT EXISTS (SELECT 1 FROM twin.street_damage "
                                 "WHERE repair_priority = -1)"),
    "derive_buildings.sql": ("UPDATE twin.buildings SET heritage_name = 'spoiled'",
                             "SELECT NOT EXISTS (SELECT 1 FROM twin.buildings "
                             "WHERE heritage_name = 'spoiled')"),
    "commercial_land_scores": ("UPDATE twin.commercial_land SET a15_distance_km = -1",
                               "SELECT NOT EXISTS (SELECT 1 FROM twin.commercial_land "
                               "WHERE a15_distance_km = -1)"),
    "building_tiles": ("DELETE FROM twin.building_tiles WHERE path = 'tileset.json'",
                       "SELECT EXISTS (SELECT 1 FROM twin.building_tiles "
                       "WHERE path = 'tileset.json')"),
}

EXPECTED = {
    "parcels": ["derive_heritage.sql", "derive_buildings.sql", "commercial_land_scores",
                "building_tiles"],
    "heritage": ["derive_heritage.sql", "derive_buildings.sql", "commercial_land_scores",
                 "building_tiles"],
    "street-damage": ["derive_street_damage.sql"],
    "traffic-counts": ["derive_traffic.sql", "derive_street_damage.sql"],
    "commercial-land": ["commercial_land_scores"],
    "buildings": ["derive_buildings.sql", "buildings_ground_from_terrain", "building_tiles"],
}


def _right(conn: psycopg.Connection) -> set[str]:
    return {name for name, (_, check) in SPOIL.items() if conn.execute(check).fetchone()[0]}


@pytest.mark.parametrize("source", list(EXPECTED))
def test_a_load_runs_exactly_the_steps_downstream_of_its_collections(
        loaded_settings: Settings, source: str) -> None:
    with psycopg.connect(loaded_settings.dsn, autocommit=True) as conn:
        assert _right(conn) == set(SPOIL), "the samples' derived values are not right"
        for spoil, _ in SPOIL.values():
            conn.execute(spoil)
        assert _right(conn) == set()
        try:
            report = load(SOURCES[source](), sample_files(source, loaded_settings.samples_dir),
                          settings=loaded_settings)
            assert report.derive_steps == EXPECTED[source]
            # Steps that run no check of their own are seen through the values they wrote.
            assert _right(conn) == set(EXPECTED[source]) & set(SPOIL)
        finally:
            with connect(loaded_settings) as tx:
                derive.refresh(tx, loaded_settings)


def test_the_closure_follows_steps_that_write_what_later_steps_read() -> None:
    # A terrain load changes no table: the ground heights it gives the buildings change their
    # tiles, and nothing else.
    assert [s.name for s in derive.downstream(["terrain"])] == [
        "buildings_ground_from_terrain", "building_tiles"]
    # Traffic counts -> station figures -> repair priorities of street damage.
    assert [s.name for s in derive.downstream(["traffic-counts"])] == [
        "derive_traffic.sql", "derive_street_damage.sql"]
    assert derive.downstream([]) == []


def test_every_step_declares_registered_collections() -> None:
    from twin.registry import COLLECTIONS, COVERAGES
    known = {c.id for c in COLLECTIONS} | {c.id for c in COVERAGES}
    for step in derive.STEPS:
        assert step.loaded | step.derived, step.name
        assert step.loaded | step.derived | step.writes <= known, step.name


def test_no_step_reads_derived_fields_a_later_step_writes() -> None:
    for i, step in enumerate(derive.STEPS):
        for later in derive.STEPS[i + 1:]:
            assert not step.derived & later.writes, (step.name, later.name)


def _statements(name: str) -> list[str]:
    from twin.db import packaged_sql
    text = "\n".join(line for line in packaged_sql(name).splitlines()
                     if not line.lstrip().startswith("--"))
    return [s.strip() for s in text.split(";\n") if s.strip().rstrip(";").strip()]


def test_plans_without_geometry_work_are_estimated_too_cheap_to_jit(
        loaded_settings: Settings) -> None:
    # With PostgreSQL's default JIT settings, as a server that does not turn it off runs them:
    # a plan estimated above jit_above_cost is compiled, for longer than it runs (1.8 s for
    # 80 rows of street damage, issue 11). The geometric steps are estimated by PostGIS's
    # function costs, which grow with the city: twin connections run with jit off.
    with psycopg.connect(loaded_settings.dsn) as conn:
        conn.execute("SET jit = on")
        limit = float(conn.execute("SHOW jit_above_cost").fetchone()[0])
        for name in ("derive_traffic.sql", "derive_street_damage.sql"):
            for stmt in _statements(name):
                plan = conn.execute("EXPLAIN (FORMAT JSON) " + stmt).fetchone()[0][0]
                assert plan["Plan"]["Total Cost"] < limit, (name, plan["Plan"]["Total Cost"])
                conn.execute(stmt)
        conn.rollback()
    with connect(loaded_settings) as conn:
        assert conn.execute("SHOW jit").fetchone()[0] == "off"


def test_a_load_leaves_statistics_of_what_it_changed(empty_settings: Settings) -> None:
    # Analysed in the load's transaction, before the derive steps plan their queries: a
    # first load would otherwise leave them a guess of the table's size.
    report = load(SOURCES["street-damage"](), sample_files("street-damage",
                                                           empty_settings.samples_dir),
                  settings=empty_settings)
    with psycopg.connect(empty_settings.dsn) as conn:
        rows, estimate = conn.execute(
            "SELECT (SELECT count(*) FROM twin.street_damage), reltuples FROM pg_class "
            "WHERE oid = 'twin.street_damage'::regclass").fetchone()
    assert rows == report.counts["street-damage"].inserted > 0
    assert estimate == rows


def test_loads_of_disjoint_reaches_do_not_wait_for_each_other(loaded_settings: Settings) -> None:
    # A traffic load (its reach: counts, stations, street damage) holds its collections' lock;
    # a parcels load shares none of them and finishes, a street-damage load waits.
    from concurrent.futures import ThreadPoolExecutor

    def run(name: str) -> str:
        return load(SOURCES[name](), sample_files(name, loaded_settings.samples_dir),
                    settings=loaded_settings).outcome

    with psycopg.connect(loaded_settings.dsn) as holder, ThreadPoolExecutor(2) as pool:
        holder.execute("SELECT pg_advisory_xact_lock(hashtext('twin.load'), "
                       "hashtext('traffic-stations'))")
        waiting = pool.submit(run, "street-damage")
        assert pool.submit(run, "parcels").result(timeout=60) == "unchanged"
        assert not waiting.done()
        holder.rollback()
        assert waiting.result(timeout=60) == "unchanged"
