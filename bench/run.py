"""Benchmarks of the twin: ETL throughput and API latency on the committed samples.

    make bench            # or: .venv/bin/python bench/run.py [--repeat 20]

Loads the parcel sample into a scratch database through the real ETL, serves it with
`twin serve`, times item requests, and writes the figures to bench/results/latest.json (and a
dated copy). Numbers depend on the machine; compare runs on the same one.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch import TMP, drop_scratch, scratch_settings  # noqa: E402

from etl.core import LoadOptions, load_file  # noqa: E402
from etl.sources.parcels import ParcelsSource  # noqa: E402
from tests.conftest import Server  # noqa: E402

SCRATCH = "twin_bench"
SAMPLE = ROOT / "data" / "samples" / "parcels" / "flurstuecke_cottbus_mitte.gpkg"
REQUESTS = {
    "items limit=10": "/collections/parcels/items?limit=10",
    "items limit=1000": "/collections/parcels/items?limit=1000",
    "items bbox CRS84": "/collections/parcels/items?bbox=14.32,51.75,14.34,51.77&limit=1000",
    "items CQL2 filter": "/collections/parcels/items?filter=gemarkung%3D%27Sandow%27&limit=1000",
    "item by key": "/collections/parcels/items/12416600100399______",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="requests per endpoint")
    args = parser.parse_args()
    settings = scratch_settings(SCRATCH)
    tmp = TMP
    results: dict = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
                     "machine": platform.platform(), "python": platform.python_version()}
    try:
        started = time.perf_counter()
        report = load_file(ParcelsSource(), SAMPLE, LoadOptions(progress=False), settings)
        seconds = time.perf_counter() - started
        again = time.perf_counter()
        load_file(ParcelsSource(), SAMPLE, LoadOptions(progress=False), settings)
        results["etl"] = {
            "features": report.read, "first_load_s": round(seconds, 3),
            "features_per_s": round(report.read / seconds),
            "unchanged_reload_s": round(time.perf_counter() - again, 3),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
        server = Server(settings, tmp / "server.log")
        try:
            results["api"] = {name: _time(server, path, args.repeat)
                              for name, path in REQUESTS.items()}
        finally:
            server.stop()
    finally:
        drop_scratch(SCRATCH)
    text = json.dumps(results, indent=2)
    out = ROOT / "bench" / "results"
    (out / "latest.json").write_text(text + "\n")
    (out / f"bench-{results['when'][:19].replace(':', '')}.json").write_text(text + "\n")
    print(text)


def _time(server: Server, path: str, repeat: int) -> dict:
    requests.get(server.url + path, timeout=60).raise_for_status()  # warm the pool
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        r = requests.get(server.url + path, timeout=60)
        times.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return {"median_ms": round(statistics.median(times), 1),
            "p90_ms": round(sorted(times)[int(0.9 * (len(times) - 1))], 1),
            "bytes": len(r.content)}


if __name__ == "__main__":
    main()
