"""Faults the twin must survive: a database restart under the API, a load killed or
interrupted.

Database restarts are simulated by terminating the API's own backends (never the shared
cluster); the real restart and a 30 s outage are exercised by `make soak` (bench/soak.py).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyogrio
import pytest
import requests

from tests.conftest import PARCELS_SAMPLE, TWIN, Server, twin_env
from tests.helpers import last_run, published_of, run_twin
from twin import db
from twin.settings import Settings

#: Pool size per worker (twin/provider.py) times the workers the test server runs.
POOL_MAX, WORKERS = 4, 2


def _terminate_api_backends(server_settings_dsn: str) -> int:
    """Kill every backend the API holds in this test's database; returns how many."""
    with psycopg.connect(server_settings_dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'twin-api' AND datname = current_database()"
        ).fetchone()[0]


def test_requests_after_the_api_connections_die_all_succeed(server: Server, loaded_settings):
    paths = ["/collections/parcels/items?f=json&limit=5", "/collections/heritage/items?f=json",
             "/collections/street-damage/items?f=json&limit=3"]
    # Fill each worker's pool: concurrent requests make the pools open several connections.
    with ThreadPoolExecutor(8) as ex:
        warm = list(ex.map(lambda i: server.get(paths[i % 3]).status_code, range(40)))
    assert set(warm) == {200}
    assert _terminate_api_backends(loaded_settings.dsn) >= 1  # per worker, whatever the front
    statuses = []
    for i in range(3 * POOL_MAX * WORKERS):
        try:
            statuses.append(server.get(paths[i % 3]).status_code)
        except requests.RequestException as exc:  # a dropped connection is a failure too
            statuses.append(repr(exc))
    assert statuses == [200] * len(statuses)


# -- loads killed or interrupted --------------------------------------------------------------

published = published_of("parcels")
#: Copies of the parcel sample in the big file: ~150,000 parcels, a load of several seconds.
COPIES = 40


def big_parcels(path: Path, copies: int) -> Path:
    """The parcel sample ``copies`` times over, each copy with Flur numbers of its own."""
    meta, table = pyogrio.read_arrow(PARCELS_SAMPLE)
    key, flur = table["flstkennz"], table["flur"]
    parts = [table]
    i_key, i_flur = (table.schema.get_field_index(n) for n in ("flstkennz", "flur"))
    for k in range(1, copies):
        # Key = Land+Gemarkung (6) Flur (3) Zähler (5) Nenner (4) "__"; the sample's Flur < 12.
        new_flur = pc.cast(pc.add(flur, 100 + 12 * k), flur.type)
        flur_text = pc.utf8_lpad(pc.cast(new_flur, pa.string()), 3, "0")
        new_key = pc.binary_join_element_wise(pc.utf8_slice_codeunits(key, 0, 6), flur_text,
                                              pc.utf8_slice_codeunits(key, 9, 20), "")
        parts.append(table.set_column(i_key, table.schema.field(i_key), new_key)
                     .set_column(i_flur, table.schema.field(i_flur), new_flur))
    pyogrio.write_arrow(pa.concat_tables(parts), path, layer="flurstueck", driver="GPKG",
                        crs=meta["crs"], geometry_type="Polygon",
                        geometry_name=meta["geometry_name"])
    return path


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> Path:
    return big_parcels(tmp_path_factory.mktemp("big") / "flurstuecke_gross.gpkg", COPIES)


def _start_load_and_wait(settings: Settings, path: Path) -> tuple[subprocess.Popen, int]:
    """`twin load parcels PATH` started, and the id of its run once it is well under way."""
    before = last_run(settings)["id"] if last_run(settings) else 0
    proc = subprocess.Popen([TWIN, "load", "parcels", str(path)], env=twin_env(settings),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = last_run(settings)
        if run and run["id"] > before:
            time.sleep(2)  # into the reading and copying
            assert proc.poll() is None, ("the load ended before it could be stopped", proc.stderr)
            assert last_run(settings)["outcome"] == "running"
            return proc, run["id"]
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the load never recorded its run")


def _wait_for_load_backends_to_end(settings: Settings) -> None:
    """A killed client's backend ends within a second or so: the twin's connections have
    PostgreSQL check the socket every second (else it ran its statement to the end, 30 s)."""
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        for _ in range(100):
            if not conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                "'twin' AND datname = current_database()").fetchone()[0]:
                return
            time.sleep(0.1)
    raise AssertionError("the killed load's backends are still there after 10 s")


def _status_row(settings: Settings, run_id: int) -> list[str]:
    """The row of ``run_id`` in `twin db status` (tab-separated when piped)."""
    result = run_twin(settings, "db", "status")
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    return next(r for r in rows if r[0] == str(run_id))


def _run(settings: Settings, run_id: int) -> dict:
    with psycopg.connect(settings.dsn, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT * FROM twin.load_run WHERE id = %s", (run_id,)).fetchone()


def test_a_killed_load_changes_nothing_and_is_marked_failed(loaded_settings, big_file):
    before = published(loaded_settings)
    proc, run_id = _start_load_and_wait(loaded_settings, big_file)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    _wait_for_load_backends_to_end(loaded_settings)
    assert published(loaded_settings) == before
    row = _status_row(loaded_settings, run_id)
    assert row[3] == "failed"
    assert "process gone; marked failed at" in row[-1]
    run = _run(loaded_settings, run_id)
    assert run["outcome"] == "failed" and run["finished_at"] is not None


def _communicate_or_explain(proc: subprocess.Popen, settings: Settings,
                           timeout: float) -> tuple[str, str]:
    """``proc.communicate(timeout)``; if it is still running then, the failure says where:
    the process's Python stacks (py-spy dump) and the database's sessions, then it is killed.
    (Seen once, in a loaded run of the whole suite: a load still running 60 s after Ctrl-C.)"""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        spy = Path(sys.executable).with_name("py-spy")
        dump = subprocess.run([str(spy), "dump", "--pid", str(proc.pid)], capture_output=True,
                              text=True, timeout=60, check=False)
        with psycopg.connect(settings.dsn, autocommit=True) as conn:
            sessions = conn.execute(
                "SELECT pid, application_name, state, wait_event_type, wait_event, "
                "now() - query_start, left(query, 200) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall()
        proc.kill()
        _, stderr = proc.communicate()
        raise AssertionError(
            f"still running {timeout} s after the signal\n--- py-spy dump:\n{dump.stdout}"
            f"{dump.stderr}\n--- sessions:\n" + "\n".join(map(str, sessions))
            + f"\n--- stderr:\n{stderr[-3000:]}") from None


@pytest.mark.parametrize(("signum", "how"), [(signal.SIGINT, "Ctrl-C"),
                                              (signal.SIGTERM, "SIGTERM")])
def test_an_interrupted_load_changes_nothing_and_records_failed_on_its_way_out(
        loaded_settings, big_file, signum, how):
    before = published(loaded_settings)
    proc, run_id = _start_load_and_wait(loaded_settings, big_file)
    proc.send_signal(signum)
    _, stderr = _communicate_or_explain(proc, loaded_settings, 60)
    assert proc.returncode != 0
    assert published(loaded_settings) == before
    # Read directly, not through `twin db status`: the process itself must have said so.
    run = _run(loaded_settings, run_id)
    assert run["outcome"] == "failed", (run, stderr)
    assert run["message"] == f"interrupted ({how}); nothing was changed"
    assert run["finished_at"] is not None


def test_only_runs_without_a_living_holder_are_marked_failed(loaded_settings):
    with psycopg.connect(loaded_settings.dsn, autocommit=True) as holder, \
            psycopg.connect(loaded_settings.dsn, autocommit=True) as conn:
        insert = ("INSERT INTO twin.load_run (source, collection, path, mode) "
                  "VALUES ('parcels', 'parcels', 'x.gpkg', 'replace') RETURNING id")
        alive = conn.execute(insert).fetchone()[0]
        db.hold_run(holder, alive)
        orphan = conn.execute(insert).fetchone()[0]  # as a load killed mid-way leaves it
        result = run_twin(loaded_settings, "db", "init")
        assert result.returncode == 0, result.stderr
        assert _run(loaded_settings, alive)["outcome"] == "running"
        assert _run(loaded_settings, orphan)["outcome"] == "failed"
        assert "process gone" in _run(loaded_settings, orphan)["message"]
    # The holder's connection has ended: the next load notices.
    assert run_twin(loaded_settings, "load", "parcels", str(PARCELS_SAMPLE)).returncode == 0
    assert _run(loaded_settings, alive)["outcome"] == "failed"
    assert last_run(loaded_settings)["outcome"] in ("succeeded", "unchanged")
