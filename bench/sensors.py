"""Sustained sensor ingest (issue 12): generated uplinks through mosquitto into PostGIS.

    .venv/bin/python bench/sensors.py [--rate 6000] [--seconds 20] [--devices 1000]

A scratch database with the schema and a registry of DEVICES tree sensors; Debian's mosquitto
on a free port (twin/broker.py: password file, ACL); `twin ingest mqtt` as a user runs it.
Publisher processes send The Things Stack uplinks (QoS 1) at RATE messages/s for SECONDS.
A probe thread publishes 20 uplinks/s of its own device alongside and polls the table every
5 ms: the end-to-end delay is from the probe's publish to its row being visible to a reader
(committed), p50/p99. Ingest rate: rows stored over the time from the first publish to the
last row visible; also the publishers' achieved rate (the offered load).

Writes bench/results/sensors-WHEN.json and the section between the `sensors` markers of
bench/RESULTS.md. The machine is shared: the load average is recorded with the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)

from bench.peers_report import replace_block  # noqa: E402
from twin.broker import Broker  # noqa: E402

ADMIN = os.environ.get("TWIN_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TWIN = str(Path(sys.executable).with_name("twin"))
START, END = "<!-- sensors:start -->", "<!-- sensors:end -->"


def _publisher(host: str, port: int, password: str, index: int, devices: list[str],
               rate: float, seconds: float, start_at: float, out: mp.Queue) -> None:
    """One publisher process: pre-built payloads, paced in 10 ms slices."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from twin.sensors.messages import tts_topic, tts_uplink

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{index}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set("lns", password)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    total = int(rate * seconds)
    base = datetime.now(UTC) - timedelta(hours=1)
    messages = []
    for n in range(total):
        device = devices[n % len(devices)]
        f_cnt = n // len(devices) + 1
        messages.append((tts_topic(device), json.dumps(tts_uplink(
            device, f_cnt, base + timedelta(milliseconds=n), {
                "soil_moisture": 20 + n % 50 / 10, "soil_temperature": 8.5,
                "battery": 3.6}))))
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.perf_counter()
    infos = []
    for n, (topic, payload) in enumerate(messages):
        due = t0 + n / rate
        if (lag := due - time.perf_counter()) > 0.002:
            time.sleep(lag)
        infos.append(client.publish(topic, payload, qos=1))
    sent_s = time.perf_counter() - t0
    for info in infos[-1000:]:
        info.wait_for_publish(timeout=60)
    acked_s = time.perf_counter() - t0
    client.disconnect()
    client.loop_stop()
    out.put({"index": index, "sent": total, "sent_s": sent_s, "acked_s": acked_s})


def _devices_csv(path: Path, n: int) -> list[str]:
    ids = [f"bench-{i:05d}" for i in range(n)] + ["probe-0001"]
    lines = ["device_id;kind;name;x;y"]
    for i, d in enumerate(ids):
        lines.append(f"{d};tree;Bench {i};{452000 + (i % 100) * 40};{5733000 + (i // 100) * 40}")
    path.write_text("\n".join(lines) + "\n")
    return ids[:-1]


def _probe(host: str, port: int, password: str, dsn: str, stop: threading.Event,
           delays: list[float]) -> None:
    """20 probe uplinks a second; each one's publish-to-visible delay."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from twin.sensors.messages import tts_topic, tts_uplink

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-probe",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set("lns", password)
    client.connect(host, port)
    client.loop_start()
    sent: dict[int, float] = {}
    seen = 0
    f_cnt = 0
    next_send = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set() or (sent and seen < f_cnt and time.perf_counter()
                                    < next_send + 30):
            now = time.perf_counter()
            if now >= next_send and not stop.is_set():
                f_cnt += 1
                sent[f_cnt] = time.perf_counter()
                client.publish(tts_topic("probe-0001"), json.dumps(tts_uplink(
                    "probe-0001", f_cnt, datetime.now(UTC), {"soil_moisture": 20})), qos=1)
                next_send = now + 0.05
            rows = conn.execute("SELECT f_cnt FROM twin.sensor_observations WHERE device_id "
                                "= 'probe-0001' AND f_cnt > %s", (seen,)).fetchall()
            t = time.perf_counter()
            for (f,) in rows:
                delays.append(t - sent[f])
                seen = max(seen, f)
            time.sleep(0.005)
    client.disconnect()
    client.loop_stop()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def run(rate: float, seconds: float, n_devices: int, publishers: int) -> dict:
    dbname = f"bench_sensors_{os.getpid()}"
    dsn = ADMIN.rsplit("/", 1)[0] + f"/{dbname}"
    env = {**os.environ, "TWIN_DATABASE_URL": dsn}
    tmp = Path(tempfile.mkdtemp(prefix="bench-sensors-"))
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    broker = intake = None
    try:
        subprocess.run([TWIN, "db", "init"], env=env, check=True, capture_output=True)
        devices = _devices_csv(tmp / "devices.csv", n_devices)
        subprocess.run([TWIN, "load", "sensor-devices", str(tmp / "devices.csv")], env=env,
                       check=True, capture_output=True)
        broker = Broker(tmp / "mosquitto").start()
        log = tmp / "intake.log"
        intake = subprocess.Popen([TWIN, "ingest", "mqtt", "--url", broker.url("twin"),
                                   "--client-id", "bench-intake", "--batch-size", "5000",
                                   "--max-wait", "0.1"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=log.open("w"))
        deadline = time.monotonic() + 30
        while "connected to" not in log.read_text():
            assert intake.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        load_before = os.getloadavg()
        cpu_before = {"intake": _cpu_seconds(intake.pid), "mosquitto": _cpu_seconds(
            broker.proc.pid)}
        out: mp.Queue = mp.Queue()
        start_at = time.time() + 3 + 0.2 * publishers  # after the payloads are built
        share = [devices[i::publishers] for i in range(publishers)]
        procs = [mp.Process(target=_publisher, args=(
            broker.host, broker.port, broker.passwords["lns"], i, share[i], rate / publishers,
            seconds, start_at, out)) for i in range(publishers)]
        for p in procs:
            p.start()
        stop = threading.Event()
        delays: list[float] = []
        while time.time() < start_at:
            time.sleep(0.01)
        wall0 = time.perf_counter()
        probe = threading.Thread(target=_probe, args=(
            broker.host, broker.port, broker.passwords["lns"], dsn, stop, delays))
        probe.start()
        expected = int(rate / publishers * seconds) * publishers
        counts = []
        with psycopg.connect(dsn, autocommit=True) as conn:
            stored = 0
            last_change = time.perf_counter()
            while stored < expected and time.perf_counter() - last_change < 30:
                time.sleep(0.25)
                now_stored = conn.execute(
                    "SELECT count(*) FROM twin.sensor_observations WHERE device_id LIKE "
                    "'bench-%'").fetchone()[0]
                counts.append((time.perf_counter() - wall0, now_stored))
                if now_stored != stored:
                    stored, last_change = now_stored, time.perf_counter()
            done_s = last_change - wall0
        load_after = os.getloadavg()
        cpu = {k: round(_cpu_seconds(pid) - cpu_before[k], 1) for k, pid in (
            ("intake", intake.pid), ("mosquitto", broker.proc.pid))}
        # The intake's PostgreSQL backend: connected at its first batch, so all its CPU time
        # is this run's (the database server runs on this machine).
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            backends = [r[0] for r in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = "
                "'twin-intake'", (dbname,))]
        cpu["postgres"] = round(sum(_cpu_seconds(b) for b in backends), 1)
        stop.set()
        probe.join()
        pubs = [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join()
        # Steady state: the rate between 20 % and 80 % of the rows stored.
        lo = next(c for c in counts if c[1] >= 0.2 * expected)
        hi = next(c for c in counts if c[1] >= 0.8 * expected)
        steady = (hi[1] - lo[1]) / (hi[0] - lo[0]) if hi[0] > lo[0] else None
        offered = expected / max(p["sent_s"] for p in pubs)
        with psycopg.connect(dsn) as conn:
            dupes = conn.execute("SELECT count(*) - count(DISTINCT (device_id, f_cnt)) FROM "
                                 "twin.sensor_observations").fetchone()[0]
            quarantined = conn.execute("SELECT count(*) FROM twin.sensor_quarantine"
                                       ).fetchone()[0]
        return {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "rate_target": rate, "seconds": seconds, "devices": n_devices,
            "publishers": publishers, "messages": expected, "stored": stored,
            "duplicates": dupes, "quarantined": quarantined,
            "offered_rate": round(offered), "ingest_rate": round(stored / done_s),
            "steady_rate": round(steady) if steady else None,
            "delay_p50_ms": round(1000 * statistics.median(delays), 1) if delays else None,
            "delay_p99_ms": round(1000 * _pct(delays, 99), 1) if delays else None,
            "delay_max_ms": round(1000 * max(delays), 1) if delays else None,
            "probes": len(delays), "cpu_seconds": cpu,
            "per_intake_cpu_second": round(stored / cpu["intake"]) if cpu["intake"] else None,
            "per_cpu_second_all": round(stored / sum(cpu.values())) if sum(cpu.values())
            else None,
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in load_after], "cpus": os.cpu_count(),
        }
    finally:
        if intake is not None:
            intake.terminate()
            intake.wait(timeout=30)
        if broker is not None:
            broker.remove()
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(dbname)))


def section(rec: dict) -> str:
    ok = "met" if rec["ingest_rate"] >= 5000 and rec["stored"] == rec["messages"] else "NOT met"
    return "\n".join([
        f"## Sensor ingest (issue 12), {rec['when']}",
        "",
        f"`make bench-sensors`: {rec['messages']:,} The Things Stack uplinks of "
        f"{rec['devices']:,} devices, QoS 1, from {rec['publishers']} publisher processes "
        f"at {rec['rate_target']:,.0f}/s for {rec['seconds']:g} s, through Debian's mosquitto "
        "(password file, ACL) into `twin ingest mqtt` (batches of up to 5,000, COPY, "
        "acknowledged after commit) on PostgreSQL 15 + PostGIS. Machine: "
        f"{rec['cpus']} cores shared with other work; load average "
        f"{rec['load_before'][0]} before, {rec['load_after'][0]} after.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| offered (publishers' achieved rate) | {rec['offered_rate']:,} msg/s |",
        f"| ingest, first publish to last row visible | {rec['ingest_rate']:,} msg/s |",
        f"| ingest, steady state (20-80 % of rows) | "
        f"{rec['steady_rate'] or 0:,} msg/s |",
        f"| stored / published | {rec['stored']:,} / {rec['messages']:,} "
        f"(duplicates {rec['duplicates']}, quarantined {rec['quarantined']}) |",
        f"| end-to-end delay publish -> queryable, p50 | {rec['delay_p50_ms']} ms |",
        f"| end-to-end delay, p99 (max) | {rec['delay_p99_ms']} ms "
        f"({rec['delay_max_ms']} ms) |",
        f"| probes (20/s under the load) | {rec['probes']} |",
        f"| CPU seconds: intake / its PostgreSQL backend / mosquitto | "
        f"{rec['cpu_seconds']['intake']} / {rec['cpu_seconds'].get('postgres', '?')} / "
        f"{rec['cpu_seconds']['mosquitto']} |",
        f"| messages per CPU-second of all three together | "
        f"{rec.get('per_cpu_second_all') or 0:,} |",
        f"| messages per CPU-second of the intake (paho, checks, COPY client side) | "
        f"{rec['per_intake_cpu_second'] or 0:,} |",
        "",
        f"Goal (issue 12): at least 5,000 messages/s with batching: **{ok}** in this run. "
        "The delay is bounded below by the batch window (`--max-wait 0.1` s) and the 5 ms "
        "poll of the probe; when the offered load exceeds what is ingested, the broker queues "
        "and the delay grows with the queue. The CPU seconds say what one message costs "
        "whatever else the machine runs: the intake's per-CPU-second figure is its ceiling "
        "on one free core (PostgreSQL's and mosquitto's work come on top, on other cores).",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=6000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--publishers", type=int, default=2)
    args = ap.parse_args()
    rec = run(args.rate, args.seconds, args.devices, args.publishers)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    path = results / f"sensors-{datetime.now(UTC):%Y-%m-%dT%H%M%S}.json"
    path.write_text(json.dumps(rec, indent=2) + "\n")
    replace_block(ROOT / "bench" / "RESULTS.md", START, END, section(rec))
    print(section(rec))
    print(f"\n(raw: {path})")


if __name__ == "__main__":
    main()
