"""A LoRaWAN network server in miniature: The Things Stack v3 uplinks of the city's sensors.

`twin simulate sensors` publishes, for every device of the registry CSV (20 trees, 2 Spree
gauges in the samples), one uplink per ``interval`` seconds to
``v3/<application>@ttn/devices/<device>/up`` (QoS 1), as the network server forwards them, so
that `make demo` shows values move. It needs a broker user allowed to write uplinks (``lns``
in twin/broker.py's ACL). ``--history-days`` first sends the past days at ``--history-step``
spacing (their own ``received_at``), so the EDR series and the viewer's 7-day charts have
something to show from the start.

The values are plausible, not measured: soil moisture dries out by day and jumps after rain,
some trees start near their wilting point (so dry-tree alerts happen); soil temperature follows
the day; batteries slowly drain; the Spree's water level wanders around its mean, and
``--flood`` sends a flood wave through both gauges (so alarm levels are crossed). The frame
counter is the Unix time in whole seconds: it only grows, also across restarts of the
simulator (a counter restarted at 0 would be quarantined as going backwards).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

LOGGER = logging.getLogger(__name__)
APPLICATION_ID = "cottbus-sensors"
#: Mean water level (cm at the gauge) where the Spree runs normally, per gauge; others 100.
MEAN_LEVEL_CM = {"gauge-sandower-bruecke": 100.0, "gauge-grosses-spreewehr": 60.0}


@dataclass
class Device:
    """One simulated sensor and its evolving state."""

    device_id: str
    kind: str
    rng: random.Random
    moisture: float = 20.0
    battery: float = 3.6
    level: float = 100.0
    state: dict[str, Any] = field(default_factory=dict)

    def decoded(self, t: datetime, step_s: float, flood: float) -> dict[str, float]:
        """The decoded payload at ``t``, ``step_s`` seconds after the previous one."""
        hours = step_s / 3600
        if self.kind == "gauge":
            mean = MEAN_LEVEL_CM.get(self.device_id, 100.0)
            # Mean-reverting wander, plus the flood wave on top.
            self.level += (mean - self.level) * min(1.0, 0.1 * hours) \
                + self.rng.gauss(0, 1.5 * math.sqrt(max(hours, 1e-3)))
            return {"water_level_cm": round(self.level + flood, 1)}
        hour = t.hour + t.minute / 60
        # Drying by day (evaporation), a little at night; rain now and then.
        self.moisture -= hours * (0.25 if 8 <= hour <= 20 else 0.05)
        if self.rng.random() < 0.01 * hours * 6:  # about one shower per ~17 h
            self.moisture += self.rng.uniform(4, 12)
        self.moisture = min(40.0, max(2.0, self.moisture + self.rng.gauss(0, 0.1)))
        self.battery = max(3.0, self.battery - hours * 0.0005)
        temperature = 12 + 4 * math.sin((hour - 9) / 24 * 2 * math.pi) + self.rng.gauss(0, 0.2)
        return {"soil_moisture": round(self.moisture, 1),
                "soil_temperature": round(temperature, 1),
                "battery": round(self.battery, 3)}


def read_devices(path: Path, seed: int = 12) -> list[Device]:
    """Devices of a registry CSV (columns ``device_id`` and ``kind``), each with its own
    random stream so a run is reproducible."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        dialect = csv.Sniffer().sniff(sample, delimiters=",;")
        rows = list(csv.DictReader(fh, dialect=dialect))
    devices = []
    for i, row in enumerate(rows):
        rng = random.Random(seed * 1000 + i)
        d = Device(row["device_id"].strip(), row["kind"].strip(), rng)
        # Some trees start dry-ish: a newcomer sees a wilting-point alert within the hour.
        d.moisture = rng.uniform(8.5, 11) if i % 5 == 0 else rng.uniform(14, 30)
        d.level = MEAN_LEVEL_CM.get(d.device_id, 100.0)
        devices.append(d)
    return devices


def flood_offset(elapsed_s: float, period_s: float, peak_cm: float) -> float:
    """A flood wave: rises to ``peak_cm`` over half a period, falls back over the other."""
    if peak_cm <= 0:
        return 0.0
    phase = (elapsed_s % period_s) / period_s
    return peak_cm * math.sin(math.pi * phase) ** 2


def uplinks(devices: list[Device], times: Iterator[datetime], step_s: float, *,
            flood_peak_cm: float = 0.0, flood_period_s: float = 600.0,
            start: datetime | None = None) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) of every device at every time of ``times``."""
    from twin.sensors.messages import tts_topic, tts_uplink

    last_cnt: dict[str, int] = {}
    for t in times:
        elapsed = (t - start).total_seconds() if start else 0.0
        flood = flood_offset(elapsed, flood_period_s, flood_peak_cm)
        for d in devices:
            # Monotonic across restarts (see the module); +1 when two uplinks share a second.
            cnt = max(int(t.timestamp()), last_cnt.get(d.device_id, -1) + 1)
            last_cnt[d.device_id] = cnt
            doc = tts_uplink(d.device_id, cnt, t, d.decoded(t, step_s, flood),
                             application_id=APPLICATION_ID)
            yield tts_topic(d.device_id, APPLICATION_ID), json.dumps(doc).encode()


def connect(url: str, client_id: str) -> Any:
    """A paho client connected to ``url`` (mqtt://user:password@host:port), loop running."""
    from paho.mqtt import client as mqtt_client

    u = urlparse(url)
    client = mqtt_client.Client(mqtt_client.CallbackAPIVersion.VERSION2, client_id=client_id)
    if u.username:
        client.username_pw_set(u.username, u.password)
    ready = threading.Event()
    result: dict[str, Any] = {}

    def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        result["reason"] = reason
        ready.set()

    client.on_connect = on_connect
    client.connect(u.hostname or "127.0.0.1", u.port or 1883, keepalive=30)
    client.loop_start()
    if not ready.wait(10) or result["reason"].is_failure:
        client.loop_stop()
        raise ConnectionError(f"broker {u.hostname}:{u.port} refused the simulator: "
                              f"{result.get('reason', 'no answer')}")
    return client


def run(url: str, devices_csv: Path, *, interval_s: float = 5.0, history_days: float = 0.0,
        history_step_s: float = 900.0, flood_peak_cm: float = 0.0,
        flood_period_s: float = 600.0, count: int | None = None,
        stop: threading.Event | None = None) -> int:
    """Publish history (if asked), then live uplinks every ``interval_s`` until ``stop`` is
    set or ``count`` rounds were sent. Returns the number of messages published."""
    devices = read_devices(devices_csv)
    client = connect(url, f"twin-simulator-{int(time.time())}")
    stop = stop or threading.Event()
    sent = 0
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        if history_days > 0:
            start = now - timedelta(days=history_days)
            steps = int(history_days * 86400 // history_step_s)
            times = (start + timedelta(seconds=i * history_step_s) for i in range(steps))
            for topic, payload in uplinks(devices, times, history_step_s):
                client.publish(topic, payload, qos=1).wait_for_publish(10)
                sent += 1
            LOGGER.info("history: %d uplinks of %d devices over %g days", sent, len(devices),
                        history_days)
        rounds = 0

        def live() -> Iterator[datetime]:
            nonlocal rounds
            while not stop.is_set() and (count is None or rounds < count):
                rounds += 1
                yield datetime.now(UTC)
                stop.wait(interval_s)

        for topic, payload in uplinks(devices, live(), interval_s, flood_peak_cm=flood_peak_cm,
                                      flood_period_s=flood_period_s, start=now):
            client.publish(topic, payload, qos=1).wait_for_publish(10)
            sent += 1
    finally:
        client.loop_stop()
        client.disconnect()
    return sent
