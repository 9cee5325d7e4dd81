"""`make demo`'s live part: a broker, the intake and the simulator around `twin serve`.

:func:`run` starts Debian's mosquitto on a port of its own (``--broker-port``, 1884; never the
1883 a host may run) with a password file and ACL (twin/broker.py, files in
``<data_dir>/mosquitto``, new passwords each start), then `twin ingest mqtt` as user ``twin``
and `twin simulate sensors` as user ``lns`` (the network server), then serves the API in the
foreground. When the server stops (Ctrl-C), the others are stopped too. A first start (no
observation of the last 7 days) has the simulator send the past 7 days first, so the EDR
series and the viewer's charts are not empty.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from twin.settings import Settings

TWIN = str(Path(sys.executable).with_name("twin"))


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "TWIN_DATABASE_URL": settings.dsn,
            "TWIN_CONFIG_PATH": str(settings.config_path),
            "TWIN_DATA_DIR": str(settings.data_dir),
            "TWIN_MQTT_PUBLIC_URL": settings.mqtt_public_url}


def _recent_observations(settings: Settings) -> bool:
    from twin.db import connect

    with connect(settings) as conn:
        return conn.execute("SELECT EXISTS (SELECT 1 FROM twin.sensor_observations "
                            "WHERE observed_at > now() - interval '7 days')").fetchone()[0]


def run(settings: Settings, *, broker_port: int = 1884, interval_s: float = 5.0,
        history_days: float = 7.0, flood_cm: float = 0.0, say=print) -> None:
    """Broker, intake and simulator, then the API in the foreground (see the module)."""
    from twin.broker import Broker
    from twin.front import run as serve

    settings = settings.model_copy(
        update={"mqtt_public_url": f"mqtt://127.0.0.1:{broker_port}"})
    broker = Broker(settings.data_dir / "mosquitto", port=broker_port).start()
    env = _env(settings)
    logs = settings.data_dir
    children: list[subprocess.Popen] = []
    try:
        intake_log = logs / "demo-intake.log"
        children.append(subprocess.Popen(
            [TWIN, "ingest", "mqtt", "--url", broker.url("twin"), "--client-id",
             "twin-demo-intake"], env=env, stdout=intake_log.open("w"),
            stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 30
        while "connected" not in intake_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)  # uplinks sent before the intake subscribed would be lost
        time.sleep(0.5)
        history = 0.0 if _recent_observations(settings) else history_days
        children.append(subprocess.Popen(
            [TWIN, "simulate", "sensors", "--url", broker.url("lns"), "--interval",
             str(interval_s), "--history-days", str(history), "--flood", str(flood_cm)],
            env=env, stdout=(logs / "demo-simulator.log").open("w"),
            stderr=subprocess.STDOUT))
        first = f"sending the past {history:g} days first; " if history else ""
        say(f"sensors: mosquitto on 127.0.0.1:{broker_port}, intake and simulator running "
            f"(logs in {logs}); {first}new values every {interval_s:g} s")
        say(f"  watch the alerts: mosquitto_sub -h 127.0.0.1 -p {broker_port} -u dashboard "
            f"-P {broker.passwords['dashboard']} -t 'twin/alerts/#' -v")
        say(f"  time series: {settings.url}/collections/water-gauges/locations/"
            "gauge-sandower-bruecke?resolution=PT1H")
        serve(settings)
    finally:
        for child in reversed(children):
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        broker.stop()
