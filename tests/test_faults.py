"""Faults the twin must survive: a database restart under the API, a load killed or
interrupted.

Database restarts are simulated by terminating the API's own backends (never the shared
cluster); the real restart and a 30 s outage are exercised by `make soak` (bench/soak.py).
"""

from __future__ import annotations

import psycopg
import requests

from tests.conftest import Server

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
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as ex:
        warm = list(ex.map(lambda i: server.get(paths[i % 3]).status_code, range(40)))
    assert set(warm) == {200}
    assert _terminate_api_backends(loaded_settings.dsn) >= WORKERS
    statuses = []
    for i in range(3 * POOL_MAX * WORKERS):
        try:
            statuses.append(server.get(paths[i % 3]).status_code)
        except requests.RequestException as exc:  # a dropped connection is a failure too
            statuses.append(repr(exc))
    assert statuses == [200] * len(statuses)
