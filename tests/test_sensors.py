"""Sensors (issue 12) against the real parts: Debian's mosquitto with its password file and ACL
on a port of its own, `twin ingest mqtt` as a user starts it, PostGIS.

Proof asked by the issue: both message formats; every kind of bad message quarantined with its
reason while the subscriber goes on; a replay stored once; broker restart, database outage and
intake kill while messages flow: every message the broker acknowledged stored exactly once;
file loads across the clock changes; the ACL.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from psycopg import sql

from tests.conftest import ADMIN_DSN, TWIN, free_port, twin_env
from tests.helpers import assert_refused, run_twin
from twin.broker import Broker
from twin.sensors.messages import chirpstack_topic, chirpstack_up, tts_topic, tts_uplink
from twin.settings import PROJECT_ROOT, Settings

pytestmark = pytest.mark.timeout(300)

SAMPLES = PROJECT_ROOT / "data" / "samples" / "sensors"
DEVICES = SAMPLES / "sensor_devices.csv"
TREE_EUI = "70b3d57ed0051001"  # tree-001
GAUGE_EUI = "70b3d57ed0050001"  # gauge-sandower-bruecke (calibration offset -2.5 cm)


@pytest.fixture(scope="module")
def settings(empty_settings: Settings) -> Settings:
    """A fresh database with the sample device registry."""
    result = run_twin(empty_settings, "load", "sensor-devices", str(DEVICES))
    assert result.returncode == 0, result.stderr
    return empty_settings


class IntakeProcess:
    """`twin ingest mqtt` in a subprocess."""

    def __init__(self, settings: Settings, broker: Broker, log: Path,
                 client_id: str = "twin-intake-test") -> None:
        self.args = [TWIN, "ingest", "mqtt", "--url", broker.url("twin"),
                     "--topic", "v3/+/devices/+/up",
                     "--topic", "application/+/device/+/event/up",
                     "--client-id", client_id, "--max-wait", "0.1"]
        self.env = twin_env(settings)
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> IntakeProcess:
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=self.log.open("a"))
        deadline = time.monotonic() + 30
        while "connected to" not in self.log.read_text():
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.1)
        return self

    def stop(self, *, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"the intake ignored SIGTERM: {self.log.read_text()}") \
                    from None
        self.proc = None


@pytest.fixture
def intake(settings: Settings, mqtt_broker: Broker, tmp_path: Path) -> Iterator[IntakeProcess]:
    proc = IntakeProcess(settings, mqtt_broker, tmp_path / "intake.log").start()
    yield proc
    proc.stop()


def publisher(broker: Broker, user: str = "lns", client_id: str = "lns-test",
              persistent: bool = False) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(user, broker.passwords[user])
    client.reconnect_delay_set(1, 2)
    props = Properties(PacketTypes.CONNECT)
    if persistent:
        props.SessionExpiryInterval = 3600
    client.connect(broker.host, broker.port, clean_start=not persistent, properties=props)
    client.loop_start()
    return client


def publish(client: mqtt.Client, topic: str, payload: dict | str | bytes) -> None:
    body = json.dumps(payload) if isinstance(payload, dict) else payload
    info = client.publish(topic, body, qos=1)
    info.wait_for_publish(timeout=10)
    assert info.is_published()


def rows(settings: Settings, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(settings.dsn) as conn:
        return conn.execute(query, params).fetchall()


def wait_for(predicate, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def observation_count(settings: Settings, source: str | None = None) -> int:
    if source:
        return rows(settings, "SELECT count(*) FROM twin.sensor_observations WHERE source = %s",
                    (source,))[0][0]
    return rows(settings, "SELECT count(*) FROM twin.sensor_observations")[0][0]


def quarantine(settings: Settings) -> list[tuple]:
    return rows(settings, "SELECT reason, device_id, topic, detail FROM twin.sensor_quarantine "
                          "ORDER BY id")


@pytest.fixture
def clean(settings: Settings) -> Settings:
    """No live observations, no quarantine, no counters: each test starts from the registry."""
    with psycopg.connect(settings.dsn) as conn:
        conn.execute("DELETE FROM twin.sensor_observations WHERE source IN ('tts', "
                     "'chirpstack')")
        conn.execute("DELETE FROM twin.sensor_quarantine")
        conn.execute("DELETE FROM twin.sensor_device_state")
    return settings


# -- happy path --------------------------------------------------------------------------------

def test_both_formats_stored_with_calibration_and_allow_list(clean: Settings, intake,
                                                             mqtt_broker: Broker) -> None:
    now = datetime.now(UTC).replace(microsecond=123456)
    client = publisher(mqtt_broker)
    publish(client, tts_topic("tree-001"), tts_uplink(
        "tree-001", 41, now, {"soil_moisture": 23.4, "soil_temperature": 9.5, "battery": 3.61,
                              "firmware": "1.2.0"}))
    publish(client, chirpstack_topic(GAUGE_EUI), chirpstack_up(
        GAUGE_EUI, "Pegel Sandow", 7, now, {"water_level_cm": 101.0, "battery": 3.4}))
    # f_cnt 0 is omitted by both servers (zero values are not sent) and still stored.
    publish(client, tts_topic("tree-002"), tts_uplink("tree-002", 0, now,
                                                      {"soil_moisture": 30}))
    client.loop_stop()
    wait_for(lambda: len(rows(clean, "SELECT 1 FROM twin.sensor_observations WHERE source IN "
                                     "('tts', 'chirpstack')")) == 3, what="3 rows")
    got = {r[0]: r[1:] for r in rows(
        clean, "SELECT device_id, observed_at, f_cnt, soil_moisture, soil_temperature, battery, "
               "water_level_cm, extra, source FROM twin.sensor_observations "
               "WHERE source IN ('tts', 'chirpstack')")}
    assert got["tree-001"] == (now, 41, 23.4, 9.5, 3.61, None, None, "tts")
    # Calibrated (offset -2.5 cm); found by DevEUI, not by ChirpStack's device name.
    assert got["gauge-sandower-bruecke"] == (now, 7, None, None, 3.4, 98.5, None, "chirpstack")
    assert got["tree-002"][1] == 0
    # Nothing beyond the allow-list: no firmware, no gateway id, RSSI or position anywhere.
    assert all(r[6] is None for r in got.values())
    # The published station shows the newest value.
    station = rows(clean, "SELECT water_level_cm, latest_at, state FROM twin.water_gauges "
                          "WHERE device_id = 'gauge-sandower-bruecke'")[0]
    assert station == (98.5, now, "ok")
    assert quarantine(clean) == []


# -- bad messages ------------------------------------------------------------------------------

def test_every_bad_message_quarantined_with_its_reason(clean: Settings, intake,
                                                       mqtt_broker: Broker) -> None:
    now = datetime.now(UTC)
    client = publisher(mqtt_broker)
    publish(client, tts_topic("tree-003"), tts_uplink("tree-003", 10, now - timedelta(minutes=5),
                                                      {"soil_moisture": 20}))
    bad = [
        ("not_json", tts_topic("tree-003"), b"\x00\xffnot json at all"),
        ("unknown_format", tts_topic("tree-003"), {"hello": "world"}),
        ("unknown_device", tts_topic("tree-999"), tts_uplink("tree-999", 1, now,
                                                              {"soil_moisture": 20})),
        ("unknown_device", chirpstack_topic("0011223344556677"),
         chirpstack_up("0011223344556677", "tree-003", 3, now, {"soil_moisture": 20})),
        ("missing_field", tts_topic("tree-003"), tts_uplink("tree-003", 11, now,
                                                             {"battery": 3.3})),
        ("missing_field", tts_topic("tree-003"), {"end_device_ids": {"device_id": "tree-003"},
                                                  "received_at": now.isoformat()}),
        ("out_of_range", tts_topic("tree-003"), tts_uplink("tree-003", 12, now,
                                                            {"soil_moisture": 140.0})),
        ("out_of_range", chirpstack_topic(GAUGE_EUI),
         chirpstack_up(GAUGE_EUI, "x", 9, now, {"water_level_cm": 99999})),
        ("counter_backwards", tts_topic("tree-003"), tts_uplink("tree-003", 4, now,
                                                                 {"soil_moisture": 20})),
        ("bad_time", tts_topic("tree-003"), tts_uplink("tree-003", 13, now + timedelta(days=2),
                                                        {"soil_moisture": 20})),
    ]
    for _, topic, payload in bad:
        publish(client, topic, payload)
    # The subscriber goes on: a good message after all the bad ones is stored.
    publish(client, tts_topic("tree-003"), tts_uplink("tree-003", 14, now,
                                                      {"soil_moisture": 21}))
    client.loop_stop()
    wait_for(lambda: len(quarantine(clean)) == len(bad), what="quarantine")
    wait_for(lambda: rows(clean, "SELECT count(*) FROM twin.sensor_observations WHERE "
                                 "device_id = 'tree-003' AND source = 'tts'")[0][0] == 2,
             what="good rows")
    assert sorted(q[0] for q in quarantine(clean)) == sorted(b[0] for b in bad)
    assert all(q[2] and q[3] for q in quarantine(clean))  # topic and detail for the operator
    raw = rows(clean, "SELECT raw FROM twin.sensor_quarantine WHERE reason = 'not_json'")[0][0]
    assert bytes(raw) == b"\x00\xffnot json at all"
    assert intake.proc.poll() is None
    assert "quarantined" in intake.log.read_text()


def test_a_late_message_is_stored_not_quarantined(clean: Settings, intake,
                                                  mqtt_broker: Broker) -> None:
    """A broker may deliver a message behind newer ones (redelivered after a restart): an older
    counter with an older time is a late message, kept; an older counter with a time at or
    after the newest one goes backwards (the quarantine test above)."""
    now = datetime.now(UTC)
    client = publisher(mqtt_broker)
    publish(client, tts_topic("tree-004"), tts_uplink("tree-004", 301, now,
                                                      {"soil_moisture": 22}))
    publish(client, tts_topic("tree-004"), tts_uplink("tree-004", 300, now - timedelta(minutes=1),
                                                      {"soil_moisture": 23}))
    client.loop_stop()
    wait_for(lambda: rows(clean, "SELECT count(*) FROM twin.sensor_observations WHERE device_id "
                                 "= 'tree-004' AND f_cnt IN (300, 301)")[0][0] == 2,
             what="both rows")
    assert quarantine(clean) == []


def test_replay_stored_once(clean: Settings, intake, mqtt_broker: Broker) -> None:
    now = datetime.now(UTC)
    client = publisher(mqtt_broker)
    first = tts_uplink("tree-004", 100, now - timedelta(minutes=2), {"soil_moisture": 25})
    second = tts_uplink("tree-004", 101, now, {"soil_moisture": 24})
    for message in (first, first, second, first, second):
        publish(client, tts_topic("tree-004"), message)
    client.loop_stop()
    wait_for(lambda: "replayed 3" in intake.log.read_text()
             or rows(clean, "SELECT count(*) FROM twin.sensor_observations WHERE device_id = "
                            "'tree-004' AND source = 'tts'")[0][0] == 2, what="rows")
    time.sleep(1)
    assert rows(clean, "SELECT f_cnt FROM twin.sensor_observations WHERE device_id = "
                       "'tree-004' AND source = 'tts' ORDER BY f_cnt") == [(100,), (101,)]
    assert quarantine(clean) == []


# -- restarts while messages flow --------------------------------------------------------------

def _published(info: mqtt.MQTTMessageInfo) -> bool:
    """Whether the broker acknowledged the message; one published while the client was
    disconnected (paho queues it) counts as not known to be acknowledged."""
    try:
        return info.is_published()
    except RuntimeError:
        return False


class Flow:
    """Publishes uplinks of all 20 trees at a steady rate from a thread; knows every message
    the broker acknowledged (PUBACK: paho marks its MessageInfo published)."""

    def __init__(self, broker: Broker, rate: float = 200.0) -> None:
        self.rate = rate
        self.sent: list[tuple[tuple[str, int], mqtt.MQTTMessageInfo]] = []
        self._stop = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="lns-flow",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set("lns", broker.passwords["lns"])
        self.client.reconnect_delay_set(1, 2)
        self.client.max_queued_messages_set(0)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect(broker.host, broker.port, clean_start=False, properties=props)
        self.client.loop_start()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def acked(self) -> set[tuple[str, int]]:
        return {key for key, info in self.sent if _published(info)}

    def _run(self) -> None:
        f_cnt = 0
        start = datetime.now(UTC) - timedelta(minutes=30)
        while not self._stop.is_set():
            f_cnt += 1
            for i in range(1, 21):
                device = f"tree-{i:03d}"
                msg = tts_uplink(device, f_cnt, start + timedelta(seconds=f_cnt),
                                 {"soil_moisture": 20 + i / 10, "battery": 3.5})
                info = self.client.publish(tts_topic(device), json.dumps(msg), qos=1)
                self.sent.append(((device, f_cnt), info))
            time.sleep(20 / self.rate)

    def start(self) -> Flow:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.thread.join()
        deadline = time.monotonic() + 30
        while (len(self.acked) < sum(1 for _, i in self.sent if i.rc == 0)
               and time.monotonic() < deadline):
            time.sleep(0.2)
        self.client.disconnect()
        self.client.loop_stop()


def _block_database(settings: Settings, seconds: float) -> None:
    """A database outage for the intake: its sessions killed, new ones refused for a while.
    (The shared PostgreSQL server itself is not restarted: other work runs on it.)"""
    dbname = psycopg.conninfo.conninfo_to_dict(settings.dsn)["dbname"]
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(
            sql.Identifier(dbname)))
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND application_name = 'twin-intake'", (dbname,))
            time.sleep(seconds)
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(
                sql.Identifier(dbname)))


def test_restarts_while_messages_flow_store_every_acknowledged_message_once(
        clean: Settings, mqtt_broker: Broker, tmp_path: Path) -> None:
    intake = IntakeProcess(clean, mqtt_broker, tmp_path / "intake.log",
                           client_id="twin-intake-restarts").start()
    flow = Flow(mqtt_broker).start()
    try:
        time.sleep(2)
        mqtt_broker.restart()  # SIGTERM: mosquitto saves sessions and queues
        time.sleep(3)
        _block_database(clean, 4)
        time.sleep(3)
        intake.stop(kill=True)  # no goodbye: unacknowledged messages stay with the broker
        time.sleep(2)
        intake.start()
        time.sleep(2)
        mqtt_broker.restart()
        time.sleep(2)
    finally:
        flow.stop()
    try:
        wait_for(lambda: rows(clean, "SELECT count(*) FROM twin.sensor_observations WHERE "
                                     "source = 'tts'")[0][0] >= len(flow.acked),
                 timeout=60, what="every acknowledged message")
        time.sleep(1.5)
        stored = rows(clean, "SELECT device_id, f_cnt, count(*) FROM twin.sensor_observations "
                             "WHERE source = 'tts' GROUP BY 1, 2")
    finally:
        intake.stop()
    counts = {(d, f): n for d, f, n in stored}
    assert len(flow.acked) > 500, (len(flow.sent), len(flow.acked))
    missing = flow.acked - set(counts)
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"
    assert all(n == 1 for n in counts.values()), "a message stored twice"
    log = intake.log.read_text()
    assert "database unavailable" in log and "disconnected from the broker" in log
    assert "session resumed" in log
    # Redelivered messages were recognised as replays, not quarantined as going backwards.
    assert quarantine(clean) == []


# -- the ACL -------------------------------------------------------------------------------------

def _connect_result(broker: Broker, user: str | None, password: str | None) -> mqtt.ReasonCode:
    result: list = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if user:
        client.username_pw_set(user, password)
    client.on_connect = lambda c, u, f, reason, p: result.append(reason)
    client.connect(broker.host, broker.port)
    client.loop_start()
    wait_for(lambda: result, timeout=10, what="CONNACK")
    client.disconnect()
    client.loop_stop()
    return result[0]


#: Per reader, a topic it may read and who may write it: published after the message under
#: test, it says that message was routed (mosquitto routes a message before it acknowledges
#: it, in order), so a refusal is seen without waiting out a guess.
_SENTINELS = {"twin": (tts_topic("sentinel"), "lns"),
              "dashboard": ("twin/alerts/sentinel", "twin")}


def _received(broker: Broker, user: str, topic_filter: str, sender: str, topic: str
              ) -> list[str]:
    got: list[str] = []
    subscribed = threading.Event()
    sentinel, sentinel_sender = _SENTINELS[user]
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.username_pw_set(user, broker.passwords[user])
    sub.on_message = lambda c, u, m: got.append(m.topic)
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    sub.subscribe([(topic_filter, 1), (sentinel, 1)])
    assert subscribed.wait(10), "no SUBACK"
    pubs = [publisher(broker, sender, client_id=f"acl-{sender}"),
            publisher(broker, sentinel_sender, client_id=f"acl-sentinel-{sentinel_sender}")]
    pubs[0].publish(topic, b"{}", qos=1).wait_for_publish(timeout=5)
    pubs[1].publish(sentinel, b"{}", qos=1).wait_for_publish(timeout=5)
    wait_for(lambda: sentinel in got, timeout=10, what=f"the sentinel {sentinel}")
    for c in (sub, *pubs):
        c.disconnect()
        c.loop_stop()
    return [t for t in got if t != sentinel]


def test_acl_refuses_anonymous_and_forbidden_topics(mqtt_broker: Broker) -> None:
    assert _connect_result(mqtt_broker, None, None).is_failure
    assert _connect_result(mqtt_broker, "twin", "wrong").is_failure
    assert not _connect_result(mqtt_broker, "twin", mqtt_broker.passwords["twin"]).is_failure
    up = tts_topic("tree-001")
    # What each role may do works ...
    assert _received(mqtt_broker, "twin", "v3/+/devices/+/up", "lns", up) == [up]
    assert _received(mqtt_broker, "dashboard", "twin/alerts/#", "twin",
                     "twin/alerts/water-gauges/x") == ["twin/alerts/water-gauges/x"]
    # ... and nothing else: the twin reads no other topic and writes no uplink, the network
    # server writes no alert, the dashboard reads no uplink.
    assert _received(mqtt_broker, "twin", "#", "lns", "city/other") == []
    assert _received(mqtt_broker, "twin", "v3/+/devices/+/up", "twin", up) == []
    assert _received(mqtt_broker, "dashboard", "twin/alerts/#", "lns",
                     "twin/alerts/water-gauges/x") == []
    assert _received(mqtt_broker, "dashboard", "#", "lns", up) == []


# -- files -------------------------------------------------------------------------------------

def test_water_levels_across_both_clock_changes(settings: Settings) -> None:
    path = SAMPLES / "gauge-sandower-bruecke.csv"
    result = run_twin(settings, "load", "water-levels", str(path))
    assert result.returncode == 0, result.stderr
    times = [r[0] for r in rows(settings, "SELECT observed_at FROM twin.sensor_observations "
                                          "WHERE source = %s ORDER BY 1", (f"file:{path.name}",))]
    assert len(times) == 64
    # October: the local night 00:00-03:45 repeats 02:00-02:45, yet UTC runs on in 15 minutes.
    october = [t for t in times if t.month == 10]
    assert october[0] == datetime(2025, 10, 25, 22, tzinfo=UTC)
    assert all(b - a == timedelta(minutes=15) for a, b in zip(october, october[1:],
                                                              strict=False))
    march = [t for t in times if t.month == 3]
    assert all(b - a == timedelta(minutes=15) for a, b in zip(march, march[1:], strict=False))
    # Loading it again changes nothing.
    again = run_twin(settings, "load", "water-levels", str(path))
    assert again.returncode == 0 and "inserted 0" in again.stderr


def test_water_levels_refuse_a_time_in_the_march_gap_and_impossible_values(
        settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "pegel.csv"
    path.write_text("Datum;Uhrzeit;W [cm]\n29.03.2026;01:45;90\n29.03.2026;02:15;91\n"
                    "29.03.2026;03:00;5000\n29.03.2026;03:15;---\n", encoding="utf-8")
    before = observation_count(settings)
    result = run_twin(settings, "load", "water-levels", "--device", "gauge-sandower-bruecke",
                      str(path))
    assert_refused(result, path, ["row 3", "Uhrzeit", "does not exist", "row 4", "W [cm]",
                                  "outside"])
    assert observation_count(settings) == before


def test_soil_moisture_export_loads_once_and_checks_counters(settings: Settings,
                                                             tmp_path: Path) -> None:
    path = SAMPLES / "soil_moisture_2026-11-20.csv"
    result = run_twin(settings, "load", "soil-moisture", str(path))
    assert result.returncode == 0, result.stderr
    assert observation_count(settings, f"file:{path.name}") == 480
    again = run_twin(settings, "load", "soil-moisture", str(path))
    assert again.returncode == 0 and "inserted 0" in again.stderr
    bad = tmp_path / "export.csv"
    bad.write_text("device_id;received_at;f_cnt;soil_moisture\n"
                   "tree-005;2026-11-21T01:00:00Z;20;22.0\n"
                   "tree-005;2026-11-21T02:00:00Z;19;22.0\n"
                   "tree-777;2026-11-21T02:00:00Z;1;22.0\n"
                   "tree-006;2026-11-21T02:00:00Z;1;-3\n", encoding="utf-8")
    result = run_twin(settings, "load", "soil-moisture", str(bad))
    assert_refused(result, bad, ["row 3", "frame counter", "row 4", "not registered",
                                 "row 5", "soil_moisture"])


def test_device_registry_refuses_bad_rows(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "devices.csv"
    path.write_text("device_id;kind;name;x;y\nOK-Not;tree;a;454000;5735000\n"
                    "tree-x;shrub;b;454000;5735000\ntree-y;tree;c;14.3;51.7\n",
                    encoding="utf-8")
    result = run_twin(settings, "load", "sensor-devices", str(path))
    assert_refused(result, path, ["row 2", "device_id", "row 3", "kind"])
    assert rows(settings, "SELECT count(*) FROM twin.sensor_devices")[0][0] == 22


def test_retention_drops_whole_months(settings: Settings) -> None:
    with psycopg.connect(settings.dsn) as conn:
        conn.execute("SELECT twin.sensor_ensure_partitions('2020-01-01', '2020-02-01')")
        dropped = [r[0] for r in conn.execute(
            "SELECT * FROM twin.sensor_drop_partitions('2020-03-01')")]
    assert dropped == ["sensor_observations_2020m01", "sensor_observations_2020m02"]


# -- published ---------------------------------------------------------------------------------

def test_stations_published_like_the_other_collections(server, pg) -> None:
    gauges = server.get("/collections/water-gauges/items?f=json").json()
    names = sorted(f["properties"]["station"] for f in gauges["features"])
    assert names == ["Großes Spreewehr", "Sandower Brücke"]
    trees = server.get("/collections/tree-sensors/items?f=json&limit=50").json()
    assert len(trees["features"]) == 20
    one = trees["features"][0]["properties"]
    assert {"device_id", "species", "planting_year", "soil_moisture", "latest_at",
            "state"} <= set(one)
    # Only what the registry publishes: no DevEUI, calibration or field map.
    assert not {"dev_eui", "calibration", "fields"} & set(one)
    filtered = server.get("/collections/tree-sensors/items?f=json&species=Tilia%20cordata")
    assert {f["properties"]["species"] for f in filtered.json()["features"]} == {
        "Tilia cordata"}


# -- a real database restart -------------------------------------------------------------------

def _sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert not check or result.returncode == 0, f"{' '.join(args)}: {result.stderr}"
    return result


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[tuple[str, str, int]]:
    """A PostgreSQL cluster of this test's own (as bench/soak.py makes one), so that restarting
    it harms no other work on the shared server. Needs root, like `make soak`."""
    major = sorted((p.name for p in Path("/usr/lib/postgresql").iterdir()
                    if Path(f"/usr/share/postgresql/{p.name}/extension/postgis.control")
                    .exists()), key=int)[-1]
    name, port = f"twin_sensors_{os.getpid()}", free_port()
    _sh("pg_dropcluster", "--stop", major, name, check=False)
    _sh("pg_createcluster", "--start-conf=manual", "-p", str(port), major, name, "--",
        "--auth=trust")
    try:
        _sh("pg_ctlcluster", "--skip-systemctl-redirect", major, name, "start")
        wait_for(lambda: _sh("pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port),
                             check=False).returncode == 0, what="the cluster")
        yield major, name, port
    finally:
        _sh("pg_dropcluster", "--stop", major, name, check=False)


def test_database_restart_while_messages_flow(own_cluster: tuple[str, str, int],
                                              mqtt_broker: Broker, tmp_path: Path) -> None:
    major, name, port = own_cluster
    settings = Settings(database_url=f"postgresql://postgres@127.0.0.1:{port}/twin",
                        config_path=tmp_path / "pygeoapi.yml",
                        openapi_path=tmp_path / "openapi.yml", data_dir=tmp_path / "data")
    for args in (("db", "init"), ("load", "sensor-devices", str(DEVICES))):
        result = run_twin(settings, *args)
        assert result.returncode == 0, result.stderr
    intake = IntakeProcess(settings, mqtt_broker, tmp_path / "intake.log",
                           client_id="twin-intake-pg-restart").start()
    flow = Flow(mqtt_broker).start()
    try:
        time.sleep(3)
        _sh("pg_ctlcluster", "--skip-systemctl-redirect", major, name, "restart")
        time.sleep(4)
    finally:
        flow.stop()
    try:
        wait_for(lambda: rows(settings, "SELECT count(*) FROM twin.sensor_observations")[0][0]
                 >= len(flow.acked), timeout=60, what="every acknowledged message")
        time.sleep(1.5)
        stored = rows(settings, "SELECT device_id, f_cnt, count(*) FROM "
                                "twin.sensor_observations GROUP BY 1, 2")
    finally:
        intake.stop()
    counts = {(d, f): n for d, f, n in stored}
    assert len(flow.acked) > 300
    assert not flow.acked - set(counts)
    assert all(n == 1 for n in counts.values())
    assert "database unavailable" in intake.log.read_text()
    assert quarantine(settings) == []
