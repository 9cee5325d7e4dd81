"""Issue 12, publishing: EDR over the sensor observations, thresholds and alerts.

Real PostGIS, a real `twin serve`, a real mosquitto (tests/conftest.py's ``mqtt_broker``).
Every EDR answer is compared with SQL of its own over the same rows (written here, not taken
from twin/edr.py): raw series, hourly means, daily means of the local day, datetime ranges,
parameter-name, stations by position, area and bbox.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from paho.mqtt import client as mqtt_client
from psycopg import sql

from tests.conftest import Server
from twin.alerts import after_batch
from twin.settings import Settings

EDR_CONF = "http://www.opengis.net/spec/ogcapi-edr-1/1.0/conf/"
# Stations (CRS84): two gauges on the Spree, three trees; tree-c far to the east.
DEVICES = [
    ("gauge-a", "gauge", "Pegel A", None, 14.3445, 51.7590),
    ("gauge-b", "gauge", "Pegel B", None, 14.3215, 51.7705),
    ("tree-a", "tree", "Baum A", "Tilia cordata", 14.3300, 51.7600),
    ("tree-b", "tree", "Baum B", "Acer platanoides", 14.3310, 51.7610),
    ("tree-c", "tree", "Baum C", "Quercus robur", 14.4000, 51.7600),
]
START = datetime(2026, 3, 20, tzinfo=UTC)  # the clocks change on 2026-03-29 in Cottbus
STEP = timedelta(minutes=15)
STEPS = 20 * 96  # 20 days


def _value(device: str, i: int) -> float:
    """Deterministic, not smooth: means over bins are not trivially the middle value."""
    base = {"gauge-a": 100.0, "gauge-b": 60.0}.get(device, 20.0)
    return round(base + 10 * math.sin(i / 37.0) + (i * 7919 % 13) / 10, 2)


def _insert_devices(conn: psycopg.Connection) -> None:
    for device_id, kind, name, species, lon, lat in DEVICES:
        fields = ({"water_level_cm": "water_level_cm"} if kind == "gauge" else
                  {"soil_moisture": "soil_moisture", "soil_temperature": "soil_temperature",
                   "battery": "battery"})
        conn.execute(
            "INSERT INTO twin.sensor_devices (device_id, kind, name, species, fields, geom) "
            "VALUES (%s, %s, %s, %s, %s, ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326), "
            "25833))", [device_id, kind, name, species, json.dumps(fields), lon, lat])


def _insert_observations(conn: psycopg.Connection) -> None:
    conn.execute("SELECT twin.sensor_ensure_partitions(%s, %s)", [START, START + STEPS * STEP])
    with conn.cursor().copy(
            "COPY twin.sensor_observations (device_id, observed_at, f_cnt, soil_moisture, "
            "soil_temperature, battery, water_level_cm, source) FROM STDIN") as copy:
        for device_id, kind, *_ in DEVICES:
            for i in range(STEPS):
                if device_id == "tree-b" and i % 4:  # a sparser series
                    continue
                v = _value(device_id, i)
                if kind == "gauge":
                    copy.write_row([device_id, START + i * STEP, i, None, None, None, v, "test"])
                else:
                    copy.write_row([device_id, START + i * STEP, i, v, 10 + v / 10,
                                    3.6 - i / 10000, None, "test"])
    conn.execute("SELECT twin.sensor_refresh_stations(NULL)")


@pytest.fixture(scope="module")
def sensors(empty_settings: Settings) -> Settings:
    with psycopg.connect(empty_settings.dsn, autocommit=True) as conn:
        _insert_devices(conn)
        _insert_observations(conn)
    return empty_settings


@pytest.fixture(scope="module")
def edr_server(sensors: Settings, tmp_path_factory) -> Iterator[Server]:
    # A small step budget, so a refused raw series is cheap to ask for.
    os.environ["TWIN_EDR_MAX_STEPS"] = "3000"
    try:
        srv = Server(sensors, tmp_path_factory.mktemp("srv") / "server.log", forked=True)
    finally:
        del os.environ["TWIN_EDR_MAX_STEPS"]
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def pg(sensors: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(sensors.dsn, autocommit=True,
                         options="-c TimeZone=UTC") as conn:
        yield conn


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _sql_series(pg: psycopg.Connection, device: str, column: str, start: datetime,
                end: datetime, bin_sql: str | None = None) -> list[tuple[str, float]]:
    """The series as the test writes it in SQL: raw, or avg per bin expression."""
    col = sql.Identifier(column)
    if bin_sql is None:
        query = sql.SQL(
            "SELECT observed_at, {} FROM twin.sensor_observations WHERE device_id = %s "
            "AND observed_at >= %s AND observed_at <= %s ORDER BY 1").format(col)
    else:
        query = sql.SQL(
            "SELECT {} AS b, avg({}) FROM twin.sensor_observations "
            "WHERE device_id = %s AND observed_at >= %s AND observed_at <= %s "
            "GROUP BY b ORDER BY b").format(sql.SQL(bin_sql), col)  # noqa: S608 - test's own
    rows = pg.execute(query, [device, start, end]).fetchall()
    return [(_iso(t), float(v)) for t, v in rows]


def _series(cov: dict, parameter: str) -> list[tuple[str, float]]:
    return list(zip(cov["domain"]["axes"]["t"]["values"], cov["ranges"][parameter]["values"],
                    strict=True))


def _close(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> None:
    assert [t for t, _ in a] == [t for t, _ in b]
    assert all(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)
               for (_, x), (_, y) in zip(a, b, strict=True))


# -- CoverageJSON ---------------------------------------------------------------------------

def _check_coverage(cov: dict, parameters: set[str], *, standalone: bool = True) -> None:
    assert cov["type"] == "Coverage"
    domain = cov["domain"]
    assert domain["type"] == "Domain" and domain["domainType"] == "PointSeries"
    axes = domain["axes"]
    assert set(axes) == {"x", "y", "t"}
    assert len(axes["x"]["values"]) == 1 and len(axes["y"]["values"]) == 1
    n = len(axes["t"]["values"])
    assert n > 0
    assert set(cov["ranges"]) == parameters
    for name, rng in cov["ranges"].items():
        assert rng["type"] == "NdArray" and rng["axisNames"] == ["t"]
        assert rng["shape"] == [n] and len(rng["values"]) == n, name
    if standalone:
        systems = {tuple(r["coordinates"]): r["system"] for r in domain["referencing"]}
        assert systems[("x", "y")]["id"].endswith("/OGC/1.3/CRS84")
        assert systems[("t",)]["type"] == "TemporalRS"
        assert set(cov["parameters"]) == parameters


UNITS = {"water_level_cm": "cm", "soil_moisture": "%", "soil_temperature": "Cel",
         "battery": "V"}


def test_location_raw_series_equals_sql(edr_server: Server, pg: psycopg.Connection) -> None:
    start, end = START + timedelta(days=2), START + timedelta(days=3)
    r = edr_server.get("/collections/water-gauges/locations/gauge-a",
                       params={"datetime": f"{_iso(start)}/{_iso(end)}"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/vnd.cov+json")
    cov = r.json()
    _check_coverage(cov, {"water_level_cm"})
    assert cov["parameters"]["water_level_cm"]["unit"]["symbol"]["value"] == "cm"
    assert cov["domain"]["axes"]["x"]["values"] == [14.3445]
    assert cov["domain"]["axes"]["y"]["values"] == [51.759]
    expected = _sql_series(pg, "gauge-a", "water_level_cm", start, end)
    assert len(expected) == 97  # both ends included
    _close(_series(cov, "water_level_cm"), expected)


@pytest.mark.parametrize(("resolution", "bin_sql"), [
    ("PT1H", "date_trunc('hour', observed_at)"),
    # The local calendar day: 23 hours on 2026-03-29.
    ("P1D", "(date_trunc('day', observed_at AT TIME ZONE 'Europe/Berlin') "
            "AT TIME ZONE 'Europe/Berlin')"),
])
def test_downsampled_means_equal_sql(edr_server: Server, pg: psycopg.Connection,
                                     resolution: str, bin_sql: str) -> None:
    start, end = START, START + timedelta(days=12)
    r = edr_server.get("/collections/tree-sensors/locations/tree-a", params={
        "datetime": f"{_iso(start)}/{_iso(end)}", "resolution": resolution,
        "parameter-name": "soil_moisture,battery"})
    assert r.status_code == 200, r.text
    cov = r.json()
    _check_coverage(cov, {"soil_moisture", "battery"})
    assert cov["twin:resolution"] == resolution
    for parameter in ("soil_moisture", "battery"):
        _close(_series(cov, parameter),
               _sql_series(pg, "tree-a", parameter, start, end, bin_sql))
    if resolution == "P1D":
        times = cov["domain"]["axes"]["t"]["values"]
        assert "2026-03-28T23:00:00Z" in times and "2026-03-29T22:00:00Z" in times


def test_long_series_refused_with_a_hint_not_cut(edr_server: Server) -> None:
    # 20 days of 15-minute values: 1,920 steps per station, over the budget of 3,000 for two.
    r = edr_server.get("/collections/water-gauges/cube", params={"bbox": "14.3,51.75,14.35,51.78"})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] and "resolution=PT1H" in body["description"]
    assert "3000" in body["description"]
    r = edr_server.get("/collections/water-gauges/cube", params={
        "bbox": "14.3,51.75,14.35,51.78", "resolution": "PT1H"})
    assert r.status_code == 200, r.text
    assert [c["id"] for c in r.json()["coverages"]] == ["gauge-a", "gauge-b"]


def test_position_is_the_nearest_station(edr_server: Server, pg: psycopg.Connection) -> None:
    day = "2026-03-25"
    r = edr_server.get("/collections/tree-sensors/position", params={
        "coords": "POINT(14.3301 51.7601)", "datetime": day, "parameter-name": "soil_moisture"})
    assert r.status_code == 200, r.text
    cov = r.json()
    assert cov["id"] == "tree-a"
    _check_coverage(cov, {"soil_moisture"})
    # A date is its whole day in Cottbus (UTC+1 in March before the change).
    start = datetime(2026, 3, 24, 23, tzinfo=UTC)
    expected = _sql_series(pg, "tree-a", "soil_moisture", start,
                           start + timedelta(hours=23, minutes=59))
    _close(_series(cov, "soil_moisture"), expected)
    far = edr_server.get("/collections/tree-sensors/position",
                         params={"coords": "POINT(14.2 51.7)"})
    assert far.status_code == 404
    assert "within 250 m" in far.json()["description"]


def test_area_and_cube_select_stations_like_sql(edr_server: Server,
                                                pg: psycopg.Connection) -> None:
    polygon = "POLYGON((14.32 51.75,14.34 51.75,14.34 51.77,14.32 51.77,14.32 51.75))"
    expected_ids = [r[0] for r in pg.execute(
        "SELECT device_id FROM twin.tree_sensors WHERE ST_Intersects(geom, ST_Transform("
        "ST_GeomFromText(%s, 4326), 25833)) ORDER BY 1", [polygon])]
    assert expected_ids == ["tree-a", "tree-b"]
    window = f"{_iso(START)}/{_iso(START + timedelta(days=1))}"
    for path, params in (("area", {"coords": polygon}),
                         ("cube", {"bbox": "14.32,51.75,14.34,51.77"})):
        r = edr_server.get(f"/collections/tree-sensors/{path}",
                           params={**params, "datetime": window})
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["type"] == "CoverageCollection" and doc["domainType"] == "PointSeries"
        assert doc["parameters"]["soil_moisture"]["unit"]["symbol"]["value"] == "%"
        assert [c["id"] for c in doc["coverages"]] == expected_ids
        for cov in doc["coverages"]:
            _check_coverage(cov, set(UNITS) - {"water_level_cm"}, standalone=False)
            _close(_series(cov, "soil_temperature"),
                   _sql_series(pg, cov["id"], "soil_temperature", START,
                               START + timedelta(days=1)))


def test_locations_are_geojson(edr_server: Server) -> None:
    r = edr_server.get("/collections/tree-sensors/locations")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/geo+json")
    doc = r.json()
    assert [f["id"] for f in doc["features"]] == ["tree-a", "tree-b", "tree-c"]
    assert doc["features"][2]["geometry"]["coordinates"] == [14.4, 51.76]


def test_collection_and_conformance_declare_edr(edr_server: Server) -> None:
    conf = edr_server.get("/conformance").json()["conformsTo"]
    for cls in ("core", "collections", "covjson", "queries"):
        assert EDR_CONF + cls in conf
    coll = edr_server.get("/collections/tree-sensors").json()
    assert set(coll["data_queries"]) == {"position", "area", "cube", "locations"}
    params = coll["parameter_names"]
    assert {k: v["unit"]["symbol"]["value"] for k, v in params.items()} == \
        {k: v for k, v in UNITS.items() if k != "water_level_cm"}
    # Not offered anywhere, or not on a collection without time series.
    assert edr_server.get("/collections/tree-sensors/radius").status_code == 404
    assert edr_server.get("/collections/parcels/position",
                          params={"coords": "POINT(14.33 51.76)"}).status_code == 404


@pytest.mark.parametrize(("path", "params", "status", "words"), [
    ("/collections/tree-sensors/locations/tree-a", {"parameter-name": "rain"}, 400,
     "valid: soil_moisture, soil_temperature, battery"),
    ("/collections/tree-sensors/locations/tree-a", {"resolution": "PT5M"}, 400,
     "must be one of raw, PT1H, P1D"),
    ("/collections/tree-sensors/locations/tree-a", {"f": "html"}, 400, "CoverageJSON"),
    ("/collections/tree-sensors/locations/tree-a", {"datetime": "20260320"}, 400, "datetime"),
    ("/collections/tree-sensors/locations/tree-a", {"limit": "5"}, 400, "unknown query"),
    ("/collections/tree-sensors/locations/nope", {}, 404, "no station 'nope'"),
    ("/collections/tree-sensors/locations/tree-a", {"datetime": "2020-01-01"}, 404,
     "no observations"),
    ("/collections/tree-sensors/position", {}, 400, "coords"),
    ("/collections/tree-sensors/position", {"coords": "POINT(14.33"}, 400, "coords"),
    ("/collections/tree-sensors/area", {"coords": "POINT(14.33 51.76)"}, 400, "POLYGON"),
    ("/collections/tree-sensors/cube", {"bbox": "14.4,51.7,14.3,51.8"}, 400, "lower corner"),
])
def test_errors_in_our_json_style(edr_server: Server, path: str, params: dict, status: int,
                                  words: str) -> None:
    r = edr_server.get(path, params=params)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) >= {"code", "description"}
    assert words in body["description"]


# -- thresholds and alerts ------------------------------------------------------------------

THRESHOLDS = """
gauges:
  gauge-a: {alarm_levels_cm: [230, 260, 290, 320]}
  gauge-b: {alarm_levels_cm: [190, 220, 250, 280]}
trees:
  default_wilting_point_pct: 8.0
  wilting_point_pct: {tree-b: 9.0}
"""


class Subscriber:
    """A dashboard: paho, subscribed to the alerts before they are sent."""

    def __init__(self, broker, topic: str = "twin/alerts/#") -> None:
        self.messages: list[tuple[str, dict]] = []
        self.got = threading.Event()
        self.client = mqtt_client.Client(mqtt_client.CallbackAPIVersion.VERSION2,
                                         client_id="test-dashboard")
        self.client.username_pw_set("dashboard", broker.passwords["dashboard"])
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)

        def on_message(c, userdata, msg) -> None:
            self.messages.append((msg.topic, json.loads(msg.payload)))
            self.got.set()

        self.client.on_message = on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert subscribed.wait(10)

    def wait_for(self, n: int, timeout: float = 10.0) -> list[tuple[str, dict]]:
        deadline = datetime.now() + timedelta(seconds=timeout)
        while len(self.messages) < n and datetime.now() < deadline:
            self.got.wait(0.1)
            self.got.clear()
        return self.messages

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _add(conn: psycopg.Connection, device: str, column: str,
         values: list[tuple[datetime, float]]) -> None:
    conn.execute("SELECT twin.sensor_ensure_partitions(%s, %s)",
                 [values[0][0], values[-1][0]])
    for i, (t, v) in enumerate(values):
        conn.execute(sql.SQL("INSERT INTO twin.sensor_observations (device_id, observed_at, "
                             "f_cnt, {}, source) VALUES (%s, %s, %s, %s, 'test')").format(
                                 sql.Identifier(column)), [device, t, 100000 + i, v])
    conn.execute("SELECT twin.sensor_refresh_stations(%s)", [[device]])


def test_crossings_become_alert_rows_and_mqtt_messages(sensors: Settings, mqtt_broker,
                                                        tmp_path: Path) -> None:
    (tmp_path / "thresholds.yml").write_text(THRESHOLDS)
    settings = sensors.model_copy(update={"sensor_thresholds_path": tmp_path / "thresholds.yml"})
    sub = Subscriber(mqtt_broker)
    try:
        with psycopg.connect(settings.dsn, autocommit=True) as conn:
            # The history the fixture wrote is inside every band: evaluating it alerts nothing.
            assert after_batch(conn, None, settings=settings,
                               publish_url=mqtt_broker.url("twin")) == []
            # Recent values: older ones would make the stations 'stale', not 'ok' or 'dry'.
            t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
            # Inside the band again: still nothing.
            _add(conn, "gauge-a", "water_level_cm", [(t0, 150.0), (t0 + STEP, 229.9)])
            assert after_batch(conn, ["gauge-a"], settings=settings,
                               publish_url=mqtt_broker.url("twin")) == []
            # Rise to level 1, jump to 3 in one uplink, stay, then fall below 1;
            # a tree dries out.
            _add(conn, "gauge-a", "water_level_cm", [
                (t0 + 2 * STEP, 231.0), (t0 + 3 * STEP, 300.0), (t0 + 4 * STEP, 295.0),
                (t0 + 5 * STEP, 200.0)])
            _add(conn, "tree-b", "soil_moisture", [(t0, 9.5), (t0 + STEP, 8.5)])
            alerts = after_batch(conn, ["gauge-a", "tree-b"], settings=settings,
                                 publish_url=mqtt_broker.url("twin"))
            assert [(a.device_id, a.previous_state, a.state, a.threshold) for a in alerts] == [
                ("gauge-a", "ok", "alarm_1", 230.0),
                ("gauge-a", "alarm_1", "alarm_3", 290.0),
                ("gauge-a", "alarm_3", "ok", 230.0),
                ("tree-b", "ok", "dry", 9.0)]
            rows = conn.execute(
                "SELECT alert_id, state, direction, value FROM twin.sensor_alerts "
                "ORDER BY device_id, observed_at").fetchall()
            assert [(r[1], r[2], r[3]) for r in rows] == [
                ("alarm_1", "rising", 231.0), ("alarm_3", "rising", 300.0),
                ("ok", "falling", 200.0), ("dry", "rising", 8.5)]
            assert rows[0][0] == f"gauge-a/{_iso(t0 + 2 * STEP)}"
            # Again: nothing twice.
            assert after_batch(conn, None, settings=settings,
                               publish_url=mqtt_broker.url("twin")) == []
            assert conn.execute("SELECT count(*) FROM twin.sensor_alerts").fetchone()[0] == 4
            states = dict(conn.execute(
                "SELECT device_id, state FROM twin.tree_sensors UNION ALL "
                "SELECT device_id, state FROM twin.water_gauges").fetchall())
            assert states["tree-b"] == "dry" and states["gauge-a"] == "ok"
        messages = sub.wait_for(4)
    finally:
        sub.close()
    assert len(messages) == 4
    topics = {t for t, _ in messages}
    assert topics == {"twin/alerts/collections/sensor-alerts"}
    events = sorted((m for _, m in messages), key=lambda m: m["data"]["id"])
    assert all(e["specversion"] == "1.0" and e["type"] == "org.ogc.api.collection.item.create"
               for e in events)
    first = events[0]["data"]
    assert first["id"] == rows[0][0]
    assert first["properties"]["state"] == "alarm_1"
    assert first["geometry"]["coordinates"] == [14.3445, 51.759]


def test_anonymous_cannot_read_alerts(mqtt_broker) -> None:
    client = mqtt_client.Client(mqtt_client.CallbackAPIVersion.VERSION2)
    done = threading.Event()
    result = {}

    def on_connect(c, userdata, flags, reason, props) -> None:
        result["reason"] = reason
        done.set()

    client.on_connect = on_connect
    client.connect(mqtt_broker.host, mqtt_broker.port)
    client.loop_start()
    try:
        assert done.wait(10)
        assert result["reason"].is_failure
    finally:
        client.loop_stop()


# -- end to end: the simulator, the broker, the intake, the alert ---------------------------

def test_simulated_flood_reaches_the_api_and_the_dashboard(loaded_settings: Settings,
                                                          mqtt_broker, tmp_path: Path) -> None:
    """`twin simulate sensors` publishes a flood wave as the network server (user lns);
    `twin ingest mqtt` stores it; the crossing of Alarmstufe 1 at both gauges arrives at a
    dashboard over MQTT and is an item of `sensor-alerts`; the stations' values moved."""
    import subprocess

    from tests.conftest import TWIN, twin_env
    from twin.simulator import run

    env = twin_env(loaded_settings)
    with psycopg.connect(loaded_settings.dsn, autocommit=True) as conn:
        before = conn.execute("SELECT count(*) FROM twin.sensor_observations").fetchone()[0]
        alerts_before = conn.execute("SELECT count(*) FROM twin.sensor_alerts").fetchone()[0]
    sub = Subscriber(mqtt_broker)
    log = (tmp_path / "intake.log").open("w")
    intake = subprocess.Popen([TWIN, "ingest", "mqtt", "--url", mqtt_broker.url("twin"),
                               "--client-id", "test-e2e"], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        # Uplinks sent before the intake's first subscription have no session to wait in.
        deadline = datetime.now() + timedelta(seconds=30)
        while "connected" not in (tmp_path / "intake.log").read_text() and \
                datetime.now() < deadline:
            threading.Event().wait(0.1)
        threading.Event().wait(1.0)  # the SUBACK follows the CONNACK
        # 12 rounds 0.2 s apart; the wave peaks 250 cm above the mean after 1.2 s.
        sent = run(mqtt_broker.url("lns"), Path("data/samples/sensors/sensor_devices.csv"),
                   interval_s=0.2, flood_peak_cm=250, flood_period_s=2.4, count=12)
        assert sent == 12 * 22
        messages = sub.wait_for(2, timeout=30)
        with psycopg.connect(loaded_settings.dsn, autocommit=True) as conn:
            deadline = datetime.now() + timedelta(seconds=30)
            while datetime.now() < deadline:  # the intake catches up with what was sent
                after = conn.execute(
                    "SELECT count(*) FROM twin.sensor_observations").fetchone()[0]
                if after - before >= 12 * 22:
                    break
                threading.Event().wait(0.2)
    finally:
        sub.close()
        intake.terminate()
        intake.wait(timeout=30)
    assert after - before == 12 * 22, (tmp_path / "intake.log").read_text()
    with psycopg.connect(loaded_settings.dsn, autocommit=True) as conn:
        rising = conn.execute(
            # The wave's phase against the rounds decides whether a round lands between
            # Alarmstufe 1 and 2 or jumps past 1: a rising alert of some Alarmstufe is certain.
            "SELECT DISTINCT device_id FROM twin.sensor_alerts WHERE state LIKE 'alarm_%' "
            "AND direction = 'rising' ORDER BY device_id").fetchall()
        total = conn.execute("SELECT count(*) FROM twin.sensor_alerts").fetchone()[0]
    assert [d for (d,) in rising] == ["gauge-grosses-spreewehr", "gauge-sandower-bruecke"]
    assert len(messages) >= 2 and total > alerts_before
    gauges = {m["data"]["properties"]["device_id"] for _, m in messages
              if m["data"]["properties"]["kind"] == "gauge"}
    assert gauges == {"gauge-grosses-spreewehr", "gauge-sandower-bruecke"}


def test_viewer_colours_sensors_and_charts_their_last_7_days(server: Server,
                                                             loaded_settings: Settings) -> None:
    """The 3D viewer: the gauges layer switched on, hovering the Sandower Brücke shows its
    tooltip with a chart of the last 7 days (hourly means from the EDR series), offline."""
    from urllib.parse import urlsplit

    from tests.browser import chromium, watch

    gauge = "gauge-sandower-bruecke"
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with psycopg.connect(loaded_settings.dsn, autocommit=True) as conn:
        _add(conn, gauge, "water_level_cm",
             [(now - timedelta(hours=h), 100 + 10 * math.sin(h / 10)) for h in range(72, 0, -1)])
        lon, lat = conn.execute(
            "SELECT ST_X(p), ST_Y(p) FROM twin.water_gauges, ST_Transform(geom, 4326) p "
            "WHERE device_id = %s", [gauge]).fetchone()
    with chromium() as browser:
        page = browser.new_page()
        errors, seen = watch(page)
        page.goto(f"{server.url}/viewer/?view={lon:.6f},{lat:.6f},16,0,0")
        page.wait_for_selector("body[data-first-frame]", state="attached", timeout=120_000)
        page.locator("input[data-layer='water-gauges']").check()
        lift = page.evaluate("() => JSON.parse(document.getElementById('deck-json')"
                             ".textContent).layers.find(l => l.id === 'water-gauges')"
                             ".modelMatrix[14]")
        x, y = page.evaluate("(p) => twinViewer.deck.getViewports()[0].project(p).slice(0, 2)",
                             [lon, lat, lift])
        # Until the layer's tiles have loaded and the gauge can be picked there.
        page.wait_for_function(
            "([x, y]) => { const o = twinViewer.deck.pickObject({x, y, radius: 4}); "
            "return o && o.layer.id === 'water-gauges'; }", arg=[x, y], timeout=60_000)
        page.mouse.move(x + 3, y + 3)
        page.mouse.move(x, y)
        tip = page.locator(".twin-tooltip")
        tip.wait_for(state="visible", timeout=30_000)
        page.locator(".twin-tooltip svg.twin-spark").wait_for(timeout=30_000)
        text = tip.inner_text()
    host = urlsplit(server.url).netloc
    assert "Sandower Brücke" in text and "letzte 7 Tage" in text, text
    assert errors == []
    assert any(f"/collections/water-gauges/locations/{gauge}" in u for u in seen)
    assert [u for u in seen if urlsplit(u).scheme in ("http", "https")
            and urlsplit(u).netloc != host] == []


def test_asyncapi_describes_the_alert_channel(edr_server: Server) -> None:
    """The landing page links the broker (rel hub) and the AsyncAPI document, which has the
    one channel that carries messages, and resolves without network."""
    landing = edr_server.get("/").json()
    hub = [link for link in landing["links"] if link["rel"] == "hub"]
    assert hub and hub[0]["href"].startswith("mqtt://") and hub[0]["channel"] == "twin/alerts"
    assert "@" not in hub[0]["href"]  # no credentials
    r = edr_server.get("/asyncapi", params={"f": "json"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["asyncapi"] == "3.0.0"
    assert [c["address"] for c in doc["channels"].values()] == \
        ["twin/alerts/collections/sensor-alerts"]
    assert "http" not in json.dumps(doc["channels"])  # no schema fetched from the internet
    page = edr_server.get("/asyncapi", params={"f": "html"})
    assert page.status_code == 200 and b"unpkg" not in page.content
