"""Denial-of-service figures: a normal request's latency beside slow clients, and a cheap
request's latency beside twelve clients asking for `limit=10000`.

    .venv/bin/python bench/dos.py

Loads the samples into a scratch database, serves them with `twin serve --workers 2` (the
default limits, and 127.0.0.1 trusted as a proxy so that each load client has an address of
its own) and writes the figures to bench/results/dos.json. The measuring code is the one of
tests/test_dos.py. Numbers depend on the machine; compare runs on the same one.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch import TMP, scratch_settings  # noqa: E402

from etl.samples import load_samples  # noqa: E402
from tests.conftest import Server  # noqa: E402
from tests.test_dos import ITEMS, _expensive, _slow_clients, _timed_get  # noqa: E402

SCRATCH = "twin_bench_dos"
CHEAP = ITEMS + "?limit=5&skipGeometry=true"


def _latencies(url: str, seconds: float, pause: float = 0.1) -> list[float]:
    out: list[float] = []
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        out.append(_timed_get(url)[0])
        time.sleep(pause)
    return out


def _figures(latencies: list[float]) -> dict:
    return {"n": len(latencies), "median_s": round(statistics.median(latencies), 3),
            "max_s": round(max(latencies), 3)}


def slow_clients(srv: Server) -> dict:
    partial = [(b"GET /collections HTTP/1.1\r\nHost: x\r\n",
                [f"X-Slow-{i}: y\r\n".encode() for i in range(10)]) for _ in range(6)]
    threads, _ = _slow_clients(srv.port, partial)
    time.sleep(1.5)
    latencies = _latencies(srv.url + "/collections?f=json", 6, pause=0.5)
    for t in threads:
        t.join(timeout=20)
    return _figures(latencies)


def expensive_load(srv: Server) -> dict:
    idle = _latencies(srv.url + CHEAP, 3)
    stop = time.monotonic() + 12
    codes: list[int] = []

    def hammer(client: str) -> None:
        while time.monotonic() < stop:
            codes.append(_expensive(srv, client).status_code)

    threads = [threading.Thread(target=hammer, args=(f"203.0.113.{i}",)) for i in range(12)]
    for t in threads:
        t.start()
    time.sleep(1)
    loaded = _latencies(srv.url + CHEAP, 10)
    for t in threads:
        t.join(timeout=120)
    return {"cheap_idle": _figures(idle), "cheap_under_12_expensive_clients": _figures(loaded),
            "expensive_answers": {str(c): codes.count(c) for c in sorted(set(codes))}}


def main() -> None:
    settings = scratch_settings(SCRATCH)
    tmp = TMP
    load_samples(settings)
    os.environ["TWIN_TRUSTED_PROXIES"] = "127.0.0.1"
    srv = Server(settings, tmp / "server-dos.log")
    try:
        results = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
                   "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                   "normal_get_beside_6_slow_header_clients": slow_clients(srv),
                   **expensive_load(srv)}
    finally:
        srv.stop()
    out = ROOT / "bench" / "results" / "dos.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
