"""The test suite's time on this machine, and where it goes (issue 11: under 5 minutes on two
cores).

    .venv/bin/python bench/suite.py [--workers 3]

Runs the suite as `make test` does (``pytest -n WORKERS --dist loadfile``, lint aside) with a
JUnit report, and measures the wall time, the CPU time of pytest and everything it started
(the `twin` runs, servers, Chromium, QGIS, schemathesis: ``RUSAGE_CHILDREN``), the CPU time of
PostgreSQL's backends (the postmaster's reaped children, from /proc) and a CPU reference: a
fixed pure-Python loop, best of three, so that runs on different machines compare. Writes
bench/results/suite-WHEN.json and the "Test suite" section of bench/RESULTS.md: the figures,
one line for the goal, and where the time goes (modules and tests by time).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from peers import machine  # noqa: E402
from peers_report import replace_block  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
GOAL_S = 300
TICK = os.sysconf("SC_CLK_TCK")


def reference_s() -> float:
    """Seconds of one fixed pure-Python loop, best of three (0.45-0.7 s on a current x86 core)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        sum(i * i for i in range(10_000_000))
        best = min(best, time.perf_counter() - start)
    return round(best, 3)


def postgres_cpu_s() -> float | None:
    """CPU seconds of the postmaster and its reaped children (backends that have ended)."""
    out = subprocess.run(["pgrep", "-o", "-x", "postgres"], capture_output=True, text=True)
    if not out.stdout.strip():
        return None
    fields = Path(f"/proc/{out.stdout.split()[0]}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / TICK  # utime stime cutime cstime


def per_test(junit: Path) -> list[tuple[str, str, float]]:
    """(module, test, seconds: setup, call and teardown) of every test case."""
    out = []
    for case in ET.parse(junit).iter("testcase"):
        module = case.get("classname", "").split(".")[1] if "." in case.get("classname", "") \
            else case.get("classname", "")
        out.append((module, case.get("name", ""), float(case.get("time", 0))))
    return out


def run(workers: int) -> dict:
    junit = Path(tempfile.mkdtemp(prefix="twin-suite-")) / "junit.xml"
    reference = reference_s()
    pg_before, load_before = postgres_cpu_s(), os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pytest"), "-n", str(workers), "--dist", "loadfile",
         "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"],
        cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    pg_after = postgres_cpu_s()
    reference_after = reference_s()
    tests = per_test(junit)
    modules: collections.Counter[str] = collections.Counter()
    for module, _, seconds in tests:
        modules[module] += seconds
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
        "workers": workers, "reference_s": reference, "reference_after_s": reference_after,
        "load_before": load_before,
        "exit_code": result.returncode, "summary": summary, "wall_s": round(wall, 1),
        "cpu_pytest_s": round(after.ru_utime + after.ru_stime - before.ru_utime
                              - before.ru_stime, 1),
        "cpu_postgres_s": None if pg_before is None or pg_after is None
        else round(pg_after - pg_before, 1),
        "tests": len(tests), "test_seconds": round(sum(s for *_, s in tests), 1),
        "modules": [[m, round(s, 1)] for m, s in modules.most_common()],
        "slowest": [[m, t, round(s, 1)] for m, t, s in
                    sorted(tests, key=lambda x: -x[2])[:15]],
    }


def section(record: dict) -> str:
    wall, cpus = record["wall_s"], record["machine"]["cpus"]
    cpu = record["cpu_pytest_s"] + (record["cpu_postgres_s"] or 0)
    goal = "met" if wall <= GOAL_S and record["exit_code"] == 0 else \
        f"not met: {wall / 60:.1f} min, {wall / GOAL_S:.2f}x the goal"
    lines = [
        f"## Test suite ({record['when']}, `bench/suite.py --workers {record['workers']}`)",
        "",
        f"Raw record: {record['raw']}. `pytest -n {record['workers']} --dist loadfile` as "
        f"`make test` runs it; {record['machine']['cpus']} CPUs ({record['machine']['cpu']}), "
        f"CPU reference {record['reference_s']} s before the run and "
        f"{record.get('reference_after_s', '-')} s after (a fixed pure-Python loop, best of "
        "three: compare machines and runs by it; a shared host makes it vary); load average "
        f"{record['load_before'][0]:.1f} before.",
        "",
        f"**Goal: the whole suite under 5 minutes on two cores: {goal}** "
        f"({record['summary']}).",
        "",
        "| figure | value |", "|---|---|",
        f"| wall | {wall:.0f} s ({wall / 60:.1f} min) |",
        f"| CPU of pytest and what it started | {record['cpu_pytest_s']:.0f} s |",
        f"| CPU of PostgreSQL's backends | {record['cpu_postgres_s'] or 0:.0f} s |",
        f"| CPU busy (of {cpus} x wall) | {cpu / (cpus * wall):.0%} |",
        f"| sum of the test times (setup, call, teardown) | {record['test_seconds']:.0f} s "
        f"over {record['tests']} tests |",
        "",
        "Where the time goes, by module (sum of its tests' times; the workers run modules "
        "side by side):",
        "",
        "| module | s | module | s | module | s |", "|---|---|---|---|---|---|",
    ]
    top = record["modules"][:18]
    for i in range(0, len(top), 3):
        cells = [f"{m} | {s:.0f}" for m, s in top[i:i + 3]]
        lines.append("| " + " | ".join(cells + [" | "] * (3 - len(cells))) + " |")
    lines += ["", "The slowest tests:", "", "| test | s |", "|---|---|"]
    lines += [f"| {m}::{t} | {s:.1f} |" for m, t, s in record["slowest"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3,
                        help="xdist workers (make passes make test's TEST_WORKERS)")
    args = parser.parse_args()
    record = run(args.workers)
    stamp = datetime.fromisoformat(record["when"]).strftime("%Y-%m-%dT%H%M%S")
    raw = ROOT / "bench" / "results" / f"suite-{stamp}.json"
    record["raw"] = str(raw.relative_to(ROOT))
    raw.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    body = section(record)
    replace_block(RESULTS, "<!-- suite:start -->", "<!-- suite:end -->", body)
    print(body)
    sys.exit(0 if record["exit_code"] == 0 else 1)


if __name__ == "__main__":
    main()
