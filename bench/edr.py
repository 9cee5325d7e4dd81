"""EDR query time for one station-month and one station-year, against the bare SQL (issue 12).

    .venv/bin/python bench/edr.py [--repeat 7]      (make bench-edr)

A scratch database with the sample device registry (22 devices) and one year of 15-minute
observations for every device (770,880 rows in twelve monthly partitions, written by SQL
``generate_series``), then `twin serve` (2 workers) over it. For one gauge it times, interleaved,
the HTTP answer of ``/collections/water-gauges/locations/{id}`` (CoverageJSON, parsed by the
client) and the same rows read by psycopg with the SQL twin/edr.py builds (``series_sql``),
for a month and a year, raw, hourly means (``resolution=PT1H``) and daily means (``P1D``).
The median of ``--repeat`` runs each; the load average is recorded (the machine is shared).
Figures go to bench/results/edr-WHEN.json and a section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)

from peers_report import replace_block  # noqa: E402
from scratch import drop_scratch, scratch_settings  # noqa: E402

from etl.sensor_load import load_sensor_devices  # noqa: E402
from tests.conftest import Server  # noqa: E402
from twin.edr import SERIES, Resolution, series_sql  # noqa: E402

SCRATCH = "twin_bench_edr"
DEVICES = ROOT / "data" / "samples" / "sensors" / "sensor_devices.csv"
GAUGE = "gauge-sandower-bruecke"
YEAR = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
CASES = [  # name, datetime, resolution
    ("station-month raw", "2025-06-01T00:00:00Z/2025-06-30T23:59:59Z", Resolution.RAW),
    ("station-month PT1H", "2025-06-01T00:00:00Z/2025-06-30T23:59:59Z", Resolution.HOUR),
    ("station-year raw", "2025-01-01T00:00:00Z/2025-12-31T23:59:59Z", Resolution.RAW),
    ("station-year PT1H", "2025-01-01T00:00:00Z/2025-12-31T23:59:59Z", Resolution.HOUR),
    ("station-year P1D", "2025-01-01T00:00:00Z/2025-12-31T23:59:59Z", Resolution.DAY),
]

FILL = """
INSERT INTO twin.sensor_observations (device_id, observed_at, f_cnt, soil_moisture,
    soil_temperature, battery, water_level_cm, source)
SELECT d.device_id, t, extract(epoch FROM t)::bigint,
       CASE WHEN d.kind = 'tree' THEN 20 + 8 * sin(extract(epoch FROM t) / 86400.0) END,
       CASE WHEN d.kind = 'tree' THEN 12 + 4 * sin(extract(epoch FROM t) / 43200.0) END,
       CASE WHEN d.kind = 'tree' THEN 3.6 END,
       CASE WHEN d.kind = 'gauge' THEN 100 + 30 * sin(extract(epoch FROM t) / 604800.0)
                                       + random() * 3 END,
       'bench'
FROM twin.sensor_devices d,
     generate_series(%s::timestamptz, %s::timestamptz - interval '15 minutes',
                     interval '15 minutes') t
"""


def fill(settings) -> int:
    load_sensor_devices(DEVICES, settings)
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute("SELECT twin.sensor_ensure_partitions(%s, %s)", YEAR)
        conn.execute(FILL, YEAR)
        conn.execute("VACUUM ANALYZE twin.sensor_observations")
        return conn.execute("SELECT count(*) FROM twin.sensor_observations").fetchone()[0]


def time_http(server: Server, when: str, resolution: Resolution) -> tuple[float, int, int]:
    params = {"datetime": when}
    if resolution is not Resolution.RAW:
        params["resolution"] = resolution.value
    t0 = time.perf_counter()
    r = server.get(f"/collections/water-gauges/locations/{GAUGE}", params=params)
    doc = r.json()
    elapsed = time.perf_counter() - t0
    r.raise_for_status()
    return elapsed, len(doc["domain"]["axes"]["t"]["values"]), len(r.content)


def time_sql(dsn: str, when: str, resolution: Resolution) -> tuple[float, int]:
    series = SERIES["water-gauges"]
    query, args = series_sql(series, [GAUGE], list(series.parameters), when, resolution)
    t0 = time.perf_counter()
    with psycopg.connect(dsn, options="-c TimeZone=UTC") as conn:
        rows = conn.execute(query, args).fetchall()
    return time.perf_counter() - t0, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    record: dict = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
                    "load_before": os.getloadavg(), "repeat": args.repeat, "cases": {}}
    settings = scratch_settings(SCRATCH)
    server = None
    try:
        t0 = time.perf_counter()
        record["rows"] = fill(settings)
        record["fill_s"] = round(time.perf_counter() - t0, 1)
        server = Server(settings, ROOT / "bench" / "results" / "tmp" / "edr-server.log")
        for _name, when, resolution in CASES:  # warm both paths once
            time_http(server, when, resolution)
            time_sql(settings.dsn, when, resolution)
        runs: dict[str, dict[str, list[float]]] = {n: {"http": [], "sql": []} for n, *_ in CASES}
        for i in range(args.repeat):
            for name, when, resolution in (CASES if i % 2 == 0 else CASES[::-1]):
                http_s, steps, size = time_http(server, when, resolution)
                sql_s, rows = time_sql(settings.dsn, when, resolution)
                assert steps == rows, (name, steps, rows)
                runs[name]["http"].append(http_s)
                runs[name]["sql"].append(sql_s)
                record["cases"][name] = {"steps": steps, "bytes": size}
        for name, r in runs.items():
            http_ms = statistics.median(r["http"]) * 1000
            sql_ms = statistics.median(r["sql"]) * 1000
            record["cases"][name].update(http_ms=round(http_ms, 1), sql_ms=round(sql_ms, 1),
                                         ratio=round(http_ms / sql_ms, 1),
                                         runs={k: [round(v * 1000, 1) for v in vs]
                                               for k, vs in r.items()})
    finally:
        if server is not None:
            server.stop()
        drop_scratch(SCRATCH)
    record["load_after"] = os.getloadavg()
    when = record["when"][:19].replace(":", "")
    raw = ROOT / "bench" / "results" / f"edr-{when}.json"
    raw.write_text(json.dumps(record, indent=2) + "\n")
    body = section(record, str(raw.relative_to(ROOT)))
    replace_block(ROOT / "bench" / "RESULTS.md", "<!-- edr:start -->", "<!-- edr:end -->", body)
    print(body)


def section(rec: dict, raw: str) -> str:
    lines = [f"## EDR: one station-month and one station-year (issue 12; {rec['when']}, "
             "`bench/edr.py`)", "",
             f"Raw record: {raw}. {rec['rows']:,} observations (22 devices, one year at 15 "
             f"minutes, monthly partitions; written in {rec['fill_s']} s). One gauge's series "
             "by `/collections/water-gauges/locations/{id}` through `twin serve` (2 workers; "
             "CoverageJSON received and parsed) against the same SQL run by psycopg on a new "
             f"connection (rows fetched); median of {rec['repeat']} interleaved runs; load "
             f"average {rec['load_before'][0]:.1f} before, {rec['load_after'][0]:.1f} after "
             "(a shared machine: compare the ratio, not the milliseconds).", "",
             "| case | time steps | answer bytes | EDR ms | bare SQL ms | EDR / SQL |",
             "|---|---|---|---|---|---|"]
    for name, c in rec["cases"].items():
        lines.append(f"| {name} | {c['steps']:,} | {c['bytes']:,} | {c['http_ms']} | "
                     f"{c['sql_ms']} | {c['ratio']} |")
    lines += ["", "A raw station-year (35,040 steps) is within the default budget "
              "(`TWIN_EDR_MAX_STEPS`, 100,000 steps per answer); beyond it the answer is refused "
              "with a hint to ask for `resolution=PT1H` or `P1D`, never cut."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
