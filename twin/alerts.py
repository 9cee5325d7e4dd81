"""Sensor thresholds and alerts: a crossing becomes a `sensor-alerts` feature and an MQTT message.

Thresholds come from ``config/sensor_thresholds.yml`` (:data:`Settings.sensor_thresholds_path`;
its comments name the sources and assumptions): per gauge the four alarm levels (Alarmstufe
1-4, cm), per tree a wilting point (volumetric %). A station's *level* is 0 inside the band,
1-4 for a gauge at or above that alarm level, 1 for a tree below its wilting point. A crossing
is a change of level between two consecutive observations of a device.

The intake calls :func:`after_batch` after each committed batch (twin/sensors/). It reads each
device's observations after its watermark (``twin.sensor_alert_state``: the newest time
evaluated and the level there), writes one ``twin.sensor_alerts`` row per crossing and moves
the watermark, in one transaction; then it publishes each new alert. Running it twice for the
same rows creates nothing twice. An observation older than its device's watermark (a late
file load) is stored but not evaluated again: alerts follow the order in which time passes.

Messages follow pygeoapi's publish-subscribe layout, so the AsyncAPI document pygeoapi
generates describes them: topic ``<channel>/collections/sensor-alerts`` (channel
``twin/alerts`` by default), payload an OGC CloudEvent (pygeoapi's
``generate_ogc_cloudevent``) whose data is the alert as a GeoJSON feature. They are sent by
:class:`twin.pubsub.AlertPubSubClient` (pygeoapi's plugin point for pub/sub clients) and not
by pygeoapi's own MQTT client, which connects anew for each message without a network loop and
never waits for the broker's PUBACK (a QoS 1 alert could be lost); see twin/pubsub.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg
import yaml

from twin import yamltext
from twin.errors import ConfigurationError
from twin.settings import Settings, get_settings

LOGGER = logging.getLogger(__name__)

COLLECTION_ID = "sensor-alerts"
#: Event type of a new alert: an item created in the collection (OGC API - Pub/Sub).
EVENT_TYPE = "org.ogc.api.collection.item.create"
GAUGE_STATES = ("ok", "alarm_1", "alarm_2", "alarm_3", "alarm_4")
TREE_STATES = ("ok", "dry")


@dataclass(frozen=True)
class Thresholds:
    """Alarm levels per gauge (ascending, cm) and wilting points per tree (vol. %)."""

    gauges: dict[str, tuple[float, ...]]
    default_wilting_point: float
    wilting_points: dict[str, float]

    def level(self, kind: str, device_id: str, value: float) -> int:
        """0 inside the band; the alarm level reached (gauge); 1 when dry (tree)."""
        if kind == "gauge":
            return sum(1 for limit in self.gauges.get(device_id, ()) if value >= limit)
        return 1 if value < self.wilting_point(device_id) else 0

    def wilting_point(self, device_id: str) -> float:
        return self.wilting_points.get(device_id, self.default_wilting_point)

    def threshold(self, kind: str, device_id: str, level: int) -> float | None:
        """The value that defines ``level`` (None for level 0)."""
        if level == 0:
            return None
        if kind == "gauge":
            return self.gauges[device_id][level - 1]
        return self.wilting_point(device_id)


def load_thresholds(path: Path) -> Thresholds:
    """The thresholds file; ConfigurationError names what is wrong in it."""
    try:
        doc = yamltext.load(path.read_text(encoding="utf-8")) or {}
        gauges = {str(k): tuple(float(x) for x in v["alarm_levels_cm"])
                  for k, v in (doc.get("gauges") or {}).items()}
        trees = doc.get("trees") or {}
        thresholds = Thresholds(
            gauges=gauges,
            default_wilting_point=float(trees.get("default_wilting_point_pct", 8.0)),
            wilting_points={str(k): float(v)
                            for k, v in (trees.get("wilting_point_pct") or {}).items()})
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"{path}: not a valid thresholds file ({exc})") from exc
    for device, levels in thresholds.gauges.items():
        if len(levels) != 4 or list(levels) != sorted(levels):
            raise ConfigurationError(f"{path}: gauge '{device}' needs four ascending alarm "
                                     f"levels in cm, not {list(levels)}")
    return thresholds


@lru_cache(maxsize=4)
def _cached_thresholds(path: Path, mtime: float) -> Thresholds:
    return load_thresholds(path)


def thresholds(settings: Settings | None = None) -> Thresholds:
    """The configured thresholds, read again when the file changes."""
    path = (settings or get_settings()).sensor_thresholds_path
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise ConfigurationError(f"thresholds file {path} is missing") from exc
    return _cached_thresholds(path, mtime)


def state_name(kind: str, level: int) -> str:
    return (GAUGE_STATES if kind == "gauge" else TREE_STATES)[level]


@dataclass(frozen=True)
class Alert:
    """One crossing, as stored in ``twin.sensor_alerts`` and published."""

    alert_id: str
    device_id: str
    station: str
    kind: str
    parameter: str
    state: str
    previous_state: str
    direction: str
    value: float
    threshold: float | None
    unit: str
    observed_at: datetime
    message: str
    lon: float
    lat: float

    def feature(self) -> dict[str, Any]:
        """The alert as a GeoJSON feature (CRS84), as the collection serves it."""
        props = {k: v for k, v in self.__dict__.items() if k not in ("lon", "lat")}
        props["observed_at"] = self.observed_at.isoformat().replace("+00:00", "Z")
        return {"type": "Feature", "id": self.alert_id,
                "geometry": {"type": "Point", "coordinates": [self.lon, self.lat]},
                "properties": props}


_PARAMETER = {"gauge": ("water_level_cm", "cm"), "tree": ("soil_moisture", "%")}

# The observations after each device's watermark, oldest first. One statement for the batch.
_PENDING = """
SELECT d.device_id, d.kind, d.name, ST_X(p) AS lon, ST_Y(p) AS lat,
       coalesce(s.level, 0) AS level, o.observed_at,
       CASE d.kind WHEN 'gauge' THEN o.water_level_cm ELSE o.soil_moisture END AS value
FROM twin.sensor_devices d
CROSS JOIN LATERAL ST_Transform(d.geom, 4326) p
LEFT JOIN twin.sensor_alert_state s ON s.device_id = d.device_id
JOIN twin.sensor_observations o ON o.device_id = d.device_id
     AND o.observed_at > coalesce(s.evaluated_until, '-infinity'::timestamptz)
WHERE (%(devices)s::text[] IS NULL OR d.device_id = ANY (%(devices)s::text[]))
  AND CASE d.kind WHEN 'gauge' THEN o.water_level_cm ELSE o.soil_moisture END IS NOT NULL
ORDER BY d.device_id, o.observed_at
"""

_INSERT = """
INSERT INTO twin.sensor_alerts (alert_id, device_id, station, kind, parameter, state,
    previous_state, direction, value, threshold, unit, observed_at, message, geom)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
        ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326), 25833))
ON CONFLICT (alert_id) DO NOTHING
RETURNING alert_id
"""

_WATERMARK = """
INSERT INTO twin.sensor_alert_state (device_id, level, evaluated_until)
VALUES (%s, %s, %s)
ON CONFLICT (device_id) DO UPDATE SET level = excluded.level,
    evaluated_until = excluded.evaluated_until
"""


# Two statements: bound parameters allow one statement per execute.
_STATES = ("""
UPDATE twin.water_gauges g SET state = 'alarm_' || s.level
FROM twin.sensor_alert_state s
WHERE s.device_id = g.device_id AND s.level > 0 AND g.state = 'ok'
  AND (%(devices)s::text[] IS NULL OR g.device_id = ANY (%(devices)s::text[]))
""", """
UPDATE twin.tree_sensors t SET state = 'dry'
FROM twin.sensor_alert_state s
WHERE s.device_id = t.device_id AND s.level > 0 AND t.state = 'ok'
  AND (%(devices)s::text[] IS NULL OR t.device_id = ANY (%(devices)s::text[]))
""")


def evaluate(conn: psycopg.Connection, device_ids: Iterable[str] | None = None,
             settings: Settings | None = None) -> list[Alert]:
    """Store the crossings since each device's watermark; returns the new alerts.

    Runs in the caller's transaction (the caller commits); takes a transaction-level lock so
    two intakes never evaluate the same rows at once.
    """
    limits = thresholds(settings)
    devices = None if device_ids is None else sorted(set(device_ids))
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('twin.sensor_alerts'))")
    rows = conn.execute(_PENDING, {"devices": devices}).fetchall()
    alerts: list[Alert] = []
    last: dict[str, tuple[int, datetime]] = {}
    level_now: dict[str, int] = {}
    for device_id, kind, name, lon, lat, stored_level, observed_at, value in rows:
        before = level_now.get(device_id, stored_level)
        level = limits.level(kind, device_id, value)
        level_now[device_id] = level
        last[device_id] = (level, observed_at)
        if level == before:
            continue
        alerts.append(_alert(limits, device_id, kind, name, lon, lat, before, level,
                             value, observed_at))
    new: list[Alert] = []
    for a in alerts:
        stored = conn.execute(_INSERT, [
            a.alert_id, a.device_id, a.station, a.kind, a.parameter, a.state,
            a.previous_state, a.direction, a.value, a.threshold, a.unit, a.observed_at,
            a.message, a.lon, a.lat]).fetchone()
        if stored:
            new.append(a)
    for device_id, (level, observed_at) in last.items():
        conn.execute(_WATERMARK, [device_id, level, observed_at])
    # The stations' state: twin.sensor_refresh_stations (run before, per batch) says 'ok' for
    # a fresh value; the level of the newest value refines it.
    for statement in _STATES:
        conn.execute(statement, {"devices": devices})
    return new


def _alert(limits: Thresholds, device_id: str, kind: str, name: str, lon: float, lat: float,
           before: int, level: int, value: float, observed_at: datetime) -> Alert:
    parameter, unit = _PARAMETER[kind]
    rising = level > before
    # The threshold that defines the new state: the highest now reached when rising, the
    # lowest now under when falling (230 cm for a fall from level 3 to 0).
    threshold = limits.threshold(kind, device_id, level if rising else level + 1)
    state, previous = state_name(kind, level), state_name(kind, before)
    if kind == "gauge":
        message = (f"{name}: Wasserstand {value:g} cm, "
                   + (f"Alarmstufe {level} erreicht" if rising and level
                      else f"unter Alarmstufe {before} gefallen" if level == 0
                      else f"auf Alarmstufe {level} gefallen"))
    else:
        message = (f"{name}: Bodenfeuchte {value:g} Vol.-% "
                   + ("unter dem Welkepunkt" if rising else "wieder über dem Welkepunkt")
                   + f" ({threshold:g} Vol.-%)")
    stamp = observed_at.isoformat().replace("+00:00", "Z")
    return Alert(alert_id=f"{device_id}/{stamp}", device_id=device_id, station=name,
                 kind=kind, parameter=parameter, state=state, previous_state=previous,
                 direction="rising" if rising else "falling", value=value,
                 threshold=threshold, unit=unit, observed_at=observed_at, message=message,
                 lon=round(lon, 7), lat=round(lat, 7))


def after_batch(conn: psycopg.Connection, device_ids: Iterable[str] | None = None, *,
                publish_url: str | None = None, settings: Settings | None = None,
                publisher: Any = None) -> list[Alert]:
    """Evaluate and store the crossings of a committed batch, then publish them.

    ``conn`` must not be inside a transaction of the caller's: the alerts are committed here
    before they are published (a message never announces a row that could still roll back).
    ``publish_url`` is the broker (``mqtt://user:password@host:port``, a user allowed to write
    ``<channel>/collections/sensor-alerts``); None: :data:`Settings.mqtt_alert_url`, and none
    there either: the rows are stored and nothing is sent. A broker that cannot be reached is
    logged; the rows stay (the collection is the record, the message a notification).
    """
    settings = settings or get_settings()
    with conn.transaction():
        new = evaluate(conn, device_ids, settings)
    if not new:
        return new
    url = publish_url or settings.mqtt_alert_url
    if publisher is None and url:
        publisher = _publisher(url, settings.mqtt_alert_channel)
    if publisher is not None:
        for alert in new:
            try:
                publish(publisher, alert, settings)
            except Exception as exc:  # noqa: BLE001 - a broker problem must not stop the intake
                LOGGER.warning("alert %s stored but not published: %s", alert.alert_id, exc)
    return new


_PUBLISHERS: dict[tuple[str, str], Any] = {}


def _publisher(url: str, channel: str) -> Any:
    """One connection per broker and channel per process, kept between batches."""
    from twin.pubsub import AlertPubSubClient

    key = (url, channel)
    if key not in _PUBLISHERS:
        _PUBLISHERS[key] = AlertPubSubClient.for_url(url, channel)
    return _PUBLISHERS[key]


def after_load(device_ids: Iterable[str] | None, settings: Settings | None = None) -> list[Alert]:
    """:func:`after_batch` after a file load or a registry load (its own connection); a
    problem is logged, never raised: the load has committed, and the next batch catches up
    (the watermark says where evaluation stopped)."""
    from twin.db import connect

    settings = settings or get_settings()
    try:
        with connect(settings, autocommit=True) as conn:
            return after_batch(conn, device_ids, settings=settings)
    except (psycopg.Error, ConfigurationError) as exc:
        LOGGER.warning("sensor alerts not evaluated after the load: %s", exc)
        return []


def publish(publisher: Any, alert: Alert, settings: Settings) -> None:
    """Send one alert as an OGC CloudEvent on ``<channel>/collections/sensor-alerts``."""
    from pygeoapi.api.pubsub import generate_ogc_cloudevent

    channel = f"{publisher.channel}/collections/{COLLECTION_ID}" if publisher.channel \
        else f"collections/{COLLECTION_ID}"
    event = generate_ogc_cloudevent(EVENT_TYPE, "application/geo+json", settings.url,
                                    channel, alert.feature())
    publisher.connect()
    if not publisher.pub(channel, json.dumps(event)):
        raise ConnectionError(f"the broker did not acknowledge the alert on {channel}")
