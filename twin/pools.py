"""What the API's connection pools (pygeoapi's provider, the fast lane, the tiles) share."""

from __future__ import annotations

import threading
from time import monotonic
from typing import TYPE_CHECKING

import psycopg
from psycopg_pool import PoolTimeout

if TYPE_CHECKING:
    from psycopg_pool.base import BasePool

#: How long one probe's verdict on a database stands: the requests of a burst share it.
PROBE_TTL_S = 1.0
PROBE_CONNECT_TIMEOUT_S = 2
_probes: dict[str, tuple[float, bool]] = {}
_probes_lock = threading.Lock()


def has_idle(pool: BasePool) -> bool:
    """Whether ``pool`` has a connection to hand out now (0.5 us: fine on every request)."""
    return bool(pool.get_stats()["pool_available"])


def refuse_if_down(pool: BasePool) -> None:
    """Raise :class:`PoolTimeout` at once when ``pool`` has no idle connection and its
    database refuses a new one.

    A pool waits its whole timeout for a connection it cannot make, so with the database down
    every request took 10-15 s to say 503 (one wait per pool it tried). While the pool has an
    idle connection, even a dead one, its own retrying is right and nothing is probed; else
    one direct connection attempt per database and second decides (a saturated pool of a
    healthy database pays that one connection a second).
    """
    if has_idle(pool):
        return
    dsn = pool.conninfo
    with _probes_lock:
        checked, up = _probes.get(dsn, (float("-inf"), True))
        if monotonic() - checked > PROBE_TTL_S:
            try:
                psycopg.connect(dsn, connect_timeout=PROBE_CONNECT_TIMEOUT_S).close()
                up = True
            except psycopg.OperationalError:
                up = False
            _probes[dsn] = (monotonic(), up)
    if not up:
        raise PoolTimeout("the database refuses connections")
