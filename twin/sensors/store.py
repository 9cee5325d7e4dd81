"""Writing observations: checks, the frame-counter rule, COPY in batches, the quarantine.

One :meth:`Store.write` is one transaction: the batch's observations (COPY into a temporary
table, then INSERT ... ON CONFLICT DO NOTHING on the replay key), its quarantined messages, the
devices' newest frame counters and the published stations' latest values commit together or
not at all. The caller acknowledges the batch's messages only after it returns, so a message
is either stored (or quarantined) and acknowledged, or redelivered and then found a replay.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from twin.db import CONNECT_TIMEOUT_S
from twin.errors import TwinError
from twin.sensors.checks import COLUMNS, Observation, Registry, observe
from twin.sensors.messages import Rejected, parse
from twin.settings import Settings, get_settings

log = logging.getLogger("twin.sensors")

OBS_COLUMNS = ("device_id", "observed_at", "f_cnt", *COLUMNS, "extra", "source")


@dataclass(frozen=True)
class Incoming:
    """A message as the broker delivered it; ``token`` is the caller's (what to acknowledge)."""

    topic: str
    payload: bytes
    token: Any = None


@dataclass
class BatchResult:
    """What one batch did."""

    stored: int = 0
    replayed: int = 0
    quarantined: Counter = field(default_factory=Counter)
    devices: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _State:
    f_cnt: int
    time: datetime


class Store:
    """A connection to the twin's database and what the intake keeps between batches: the
    registry, each device's newest (frame counter, time), the months that have a partition."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._conn: psycopg.Connection | None = None
        self._registry: Registry | None = None
        self._state: dict[str, _State] = {}
        self._months: set[tuple[int, int]] = set()
        self._registry_read = 0.0
        self.totals = BatchResult()
        #: Broker the alerts of each batch are published to (twin/alerts.py); None: stored only.
        self.alert_url: str | None = None

    # -- connection ---------------------------------------------------------------------------
    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            # A plain connection held across batches (twin.db.connect is a block's).
            self._conn = psycopg.connect(self.settings.dsn, connect_timeout=CONNECT_TIMEOUT_S,
                                         application_name="twin-intake",
                                         options="-c jit=off")
            self._conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS sensor_batch (LIKE twin.sensor_observations "
                "INCLUDING DEFAULTS) "
                "ON COMMIT DELETE ROWS")
            self._conn.commit()
            self._load_state(self._conn)
        return self._conn

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    def _load_state(self, conn: psycopg.Connection) -> None:
        """Registry and counters from the database: after (re)connecting, they are the truth."""
        import time

        self._registry = Registry.read(conn)
        self._registry_read = time.monotonic()
        self._state = {r[0]: _State(r[1], r[2]) for r in conn.execute(
            "SELECT device_id, last_f_cnt, last_time FROM twin.sensor_device_state "
            "WHERE last_f_cnt IS NOT NULL")}
        self._months.clear()
        conn.commit()

    def reload_registry(self, *, min_interval: float = 5.0) -> bool:
        """Read the registry again (a device registered while the intake runs), at most every
        ``min_interval`` seconds; True if read."""
        import time

        if time.monotonic() - self._registry_read < min_interval:
            return False
        conn = self._connection()
        self._registry = Registry.read(conn)
        conn.commit()
        self._registry_read = time.monotonic()
        return True

    def prune(self) -> list[str]:
        """Retention: drop the monthly partitions older than the setting; create those
        ahead. Returns the partitions dropped."""
        conn = self._connection()
        months = self.settings.sensor_retention_months
        dropped = [r[0] for r in conn.execute(
            "SELECT twin.sensor_drop_partitions(date_trunc('month', now()) "
            "- make_interval(months => %s))", (months,))]
        conn.execute("SELECT twin.sensor_ensure_partitions(now(), now() + make_interval("
                     "months => %s))", (self.settings.sensor_partitions_ahead,))
        conn.commit()
        if dropped:
            log.info("retention (%d months): dropped %s", months, ", ".join(dropped))
        return dropped

    # -- one batch ------------------------------------------------------------------------------
    def write(self, batch: list[Incoming]) -> BatchResult:
        """Check, store and quarantine ``batch`` in one transaction.

        Raises psycopg.OperationalError (and closes the connection) when the database is
        gone: nothing of the batch is then stored, and the caller retries it.
        """
        conn = self._connection()
        try:
            return self._write(conn, batch)
        except psycopg.OperationalError:
            self.close()
            raise
        except BaseException:
            if not conn.closed:
                conn.rollback()
            raise

    def _classify(self, batch: list[Incoming]
                  ) -> tuple[list[Observation], list[tuple[Incoming, Rejected]],
                             list[tuple[Incoming, Observation]], dict[str, _State]]:
        assert self._registry is not None
        observations: list[Observation] = []
        rejected: list[tuple[Incoming, Rejected]] = []
        suspects: list[tuple[Incoming, Observation]] = []
        state = dict(self._state)
        for item in batch:
            try:
                uplink = parse(item.payload)
                try:
                    obs = observe(uplink, self._registry)
                except Rejected as exc:
                    if exc.reason != "unknown_device" or not self.reload_registry():
                        raise
                    obs = observe(uplink, self._registry)
            except Rejected as exc:
                rejected.append((item, exc))
                continue
            last = state.get(obs.device_id)
            if last is not None and obs.f_cnt is not None and (
                    obs.f_cnt < last.f_cnt or (obs.f_cnt == last.f_cnt and obs.observed_at
                                               != last.time)):
                # A counter below the newest: a replay of a stored message, or one that went
                # backwards. Decided against the table below.
                suspects.append((item, obs))
                continue
            observations.append(obs)
            if obs.f_cnt is not None:
                state[obs.device_id] = _State(obs.f_cnt, obs.observed_at)
        return observations, rejected, suspects, state

    def _write(self, conn: psycopg.Connection, batch: list[Incoming]) -> BatchResult:
        result = BatchResult()
        observations, rejected, suspects, state = self._classify(batch)
        if suspects:
            stored = set(conn.execute(
                "SELECT o.device_id, o.observed_at, o.f_cnt FROM twin.sensor_observations o "
                "JOIN unnest(%s::text[], %s::timestamptz[], %s::bigint[]) AS s(d, t, f) "
                "ON o.device_id = s.d AND o.observed_at = s.t AND o.f_cnt = s.f",
                ([o.device_id for _, o in suspects], [o.observed_at for _, o in suspects],
                 [o.f_cnt for _, o in suspects])).fetchall())
            # A replay of a message earlier in this very batch is not in the table yet.
            stored |= {(o.device_id, o.observed_at, o.f_cnt) for o in observations}
            for item, obs in suspects:
                if (obs.device_id, obs.observed_at, obs.f_cnt) in stored:
                    result.replayed += 1
                elif obs.observed_at < state[obs.device_id].time:
                    # An older counter with an older time, not stored: a message the broker
                    # delivers late (redelivered after a restart, behind newer ones), kept.
                    observations.append(obs)
                else:
                    last = state[obs.device_id]
                    rejected.append((item, Rejected(
                        "counter_backwards", f"frame counter {obs.f_cnt} after {last.f_cnt} "
                        f"({last.time.isoformat()})", obs.device_id)))
        months: set[tuple[int, int]] = set()
        if observations:
            months = self._ensure_partitions(conn, observations)
            with conn.cursor() as cur:
                with cur.copy("COPY sensor_batch (device_id, observed_at, f_cnt, "
                              "soil_moisture, soil_temperature, battery, water_level_cm, "
                              "extra, source) FROM STDIN") as copy:
                    for obs in observations:
                        copy.write_row(obs.row())
                cur.execute(
                    "INSERT INTO twin.sensor_observations (device_id, observed_at, f_cnt, "
                    "soil_moisture, soil_temperature, battery, water_level_cm, extra, source) "
                    "SELECT device_id, observed_at, f_cnt, soil_moisture, soil_temperature, "
                    "battery, water_level_cm, extra, source FROM sensor_batch "
                    "ON CONFLICT ON CONSTRAINT sensor_observations_key DO NOTHING")
                result.stored = cur.rowcount
            result.replayed += len(observations) - result.stored
            result.devices = {o.device_id for o in observations}
            changed = {d: s for d, s in state.items() if self._state.get(d) != s}
            if changed:
                conn.execute(
                    "INSERT INTO twin.sensor_device_state (device_id, last_f_cnt, last_time) "
                    "SELECT * FROM unnest(%s::text[], %s::bigint[], %s::timestamptz[]) "
                    "ON CONFLICT (device_id) DO UPDATE SET last_f_cnt = excluded.last_f_cnt, "
                    "last_time = excluded.last_time",
                    (list(changed), [s.f_cnt for s in changed.values()],
                     [s.time for s in changed.values()]))
            conn.execute("SELECT twin.sensor_refresh_stations(%s)", (sorted(result.devices),))
        if rejected:
            with conn.cursor() as cur:
                with cur.copy("COPY twin.sensor_quarantine (topic, reason, detail, device_id, "
                              "raw) FROM STDIN") as copy:
                    for item, exc in rejected:
                        copy.write_row((item.topic, exc.reason, exc.detail[:500],
                                        exc.device_id, item.payload))
                        result.quarantined[exc.reason] += 1
        conn.commit()
        if result.devices:
            self._alerts(conn, result.devices)
        self._months |= months
        self._state = state
        self.totals.stored += result.stored
        self.totals.replayed += result.replayed
        self.totals.quarantined.update(result.quarantined)
        return result

    def _alerts(self, conn: psycopg.Connection, devices: set[str]) -> None:
        """Threshold crossings of the committed batch (twin/alerts.py). A failure is logged:
        the rows are stored, and the next batch evaluates from the watermark on."""
        from twin.alerts import after_batch

        try:
            after_batch(conn, devices, publish_url=self.alert_url, settings=self.settings)
        except (psycopg.Error, TwinError) as exc:  # the thresholds file, the database
            if not conn.closed:
                conn.rollback()
            log.warning("sensor alerts not evaluated for this batch: %s", exc)

    def _ensure_partitions(self, conn: psycopg.Connection,
                           rows: list[Observation]) -> set[tuple[int, int]]:
        """Create the monthly partitions the rows need (in the batch's transaction); returns
        the months, remembered once the batch commits."""
        months = {(o.observed_at.year, o.observed_at.month) for o in rows} - self._months
        if months:
            first, last = min(months), max(months)
            conn.execute("SELECT twin.sensor_ensure_partitions("
                         "make_timestamptz(%s, %s, 1, 0, 0, 0, 'UTC'), "
                         "make_timestamptz(%s, %s, 1, 0, 0, 0, 'UTC'))", (*first, *last))
        return months
