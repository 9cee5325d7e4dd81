"""The soak's record and report: requests and phases in, bar and figures out (bench/soak.py).

Every time is on the monotonic clock of the soak; figures are written to bench/RESULTS.md (one
section per number of slow clients) and the raw record to bench/results/soak-*.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
#: bench/RESULTS.md keeps the latest soak of each number of slow clients between markers.
MARK = "<!-- soak slow-clients={n}:{end} -->"


# -- the record ------------------------------------------------------------------------------

@dataclass
class Hit:
    """One request: when, what kind, how it ended."""

    kind: str  # cheap, expensive
    what: str  # method and path, shortened
    start: float
    end: float
    status: str  # "200", "503", ..., or "timeout", "connection"
    db_down: bool = False  # the 503 said the database is unavailable


class Timeline:
    """Phases and the times the database was down, on the monotonic clock."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.phases: list[tuple[str, float]] = []
        self.outages: list[list[float]] = []  # [down from, back at]
        self.lock = threading.Lock()

    def phase(self, name: str) -> None:
        with self.lock:
            self.phases.append((name, time.monotonic()))
        print(f"soak: {time.monotonic() - self.t0:6.1f} s  phase {name}", flush=True)

    def phase_at(self, t: float) -> str:
        name = self.phases[0][0]
        for n, since in self.phases:
            if since <= t:
                name = n
        return name

    def down(self) -> None:
        self.outages.append([time.monotonic(), float("inf")])

    def back(self) -> None:
        self.outages[-1][1] = time.monotonic()

    def overlaps_outage(self, start: float, end: float) -> bool:
        return any(start <= back and end >= down for down, back in self.outages)


def _pct(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 \
        else [values[0]] * 99
    return {"n": len(values), "p50_ms": round(q[49] * 1000, 1), "p95_ms": round(q[94] * 1000, 1),
            "p99_ms": round(q[98] * 1000, 1), "max_ms": round(max(values) * 1000, 1)}


def summarise(settings: dict, tl: Timeline, hits: list[Hit], loads: list[dict],
               slow: list[dict], status: subprocess.CompletedProcess, n_modified: int) -> dict:
    outcomes = Counter()
    runs_running = 0
    for line in status.stdout.splitlines():
        cols = line.split("\t")
        if len(cols) > 4 and cols[0].isdigit():
            outcomes[cols[3]] += 1
            runs_running += cols[3] == "running"
    statuses = Counter(h.status for h in hits)
    during_outage = [h for h in hits if tl.overlaps_outage(h.start, h.end)]
    outside = [h for h in hits if not tl.overlaps_outage(h.start, h.end)]
    # Started after the database came back and still told it was unavailable: a stale pool.
    backs = [back for _, back in tl.outages]
    stale = [h for h in outside if any(h.start >= b for b in backs)
             and (h.db_down or h.status in ("500", "connection"))]
    # A cheap request answers 200 (or 429, the server's fair share) unless the database was
    # down while it ran; then "unavailable" (503) is the right answer too.
    bad_cheap = [h for h in hits if h.kind == "cheap" and h.status not in ("200", "429")
                 and not (h.db_down and tl.overlaps_outage(h.start, h.end))]
    db_down_outside = [h for h in outside if h.db_down]
    server_errors = [h for h in hits if h.status == "500"]
    cheap_ok = [h.end - h.start for h in hits if h.kind == "cheap" and h.status == "200"]
    per_phase = {}
    for name, _ in tl.phases[:-1]:
        per_phase[name] = {
            "latency_cheap_200": _pct([h.end - h.start for h in hits if h.kind == "cheap"
                                       and h.status == "200" and tl.phase_at(h.start) == name]),
            "statuses": dict(Counter(h.status for h in hits if tl.phase_at(h.start) == name))}
    loads_after = [ld for ld in loads if any(ld["start"] >= b for b in backs)
                   and not tl.overlaps_outage(ld["start"], ld["end"])]
    loads_hit = [ld for ld in loads if tl.overlaps_outage(ld["start"], ld["end"])]
    bar = {
        "no 500": not server_errors,
        "every cheap request 200 (429 aside; 503 only while the database was down)":
            not bad_cheap,
        "no 'database unavailable' while the database was up": not db_down_outside,
        "no stale-connection failure after the database was back": not stale,
        "no load run left running": runs_running == 0 and status.returncode == 0,
        "loads after the database was back succeeded": bool(loads_after)
        and all(ld["exit"] == 0 for ld in loads_after),
    }
    when = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        "when": when,
        "file": f"soak-{when[:19].replace(':', '')}.json",
        "settings": settings,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "requests": len(hits),
        "statuses": dict(statuses),
        "by_kind": {k: dict(Counter(h.status for h in hits if h.kind == k))
                    for k in ("cheap", "expensive")},
        "during_outages": {"requests": len(during_outage),
                           "statuses": dict(Counter(h.status for h in during_outage)),
                           "503_database_unavailable": sum(h.db_down for h in during_outage)},
        "outside_outages": {"requests": len(outside),
                            "statuses": dict(Counter(h.status for h in outside)),
                            "503": sum(h.status == "503" for h in outside),
                            "503_database_unavailable": len(db_down_outside)},
        "429": statuses.get("429", 0),
        "500": len(server_errors),
        "stale_connection_failures": len(stale),
        "cheap_failures": len(bad_cheap),
        "cheap_failures_first": [asdict(h) for h in bad_cheap[:50]],
        "stale_first": [asdict(h) for h in stale[:20]],
        "latency_cheap_200": _pct(cheap_ok),
        "per_phase": per_phase,
        "outages_s": [[round(d - tl.t0, 1), round(b - tl.t0, 1)] for d, b in tl.outages],
        "phases_s": [[n, round(t - tl.t0, 1)] for n, t in tl.phases],
        "loads": {"count": len(loads), "exit_codes": dict(Counter(str(ld["exit"])
                                                                  for ld in loads)),
                  "after_database_back": len(loads_after),
                  "while_database_down": {"count": len(loads_hit), "exit_codes": dict(
                      Counter(str(ld["exit"]) for ld in loads_hit))},
                  "modified_file_parcels": n_modified},
        "load_runs": dict(outcomes),
        "slow_clients": {"connections": len(slow), "ended": dict(Counter(s["ended"]
                                                                         for s in slow))},
        "bar": bar,
        "passed": all(bar.values()),
    }


# -- the report ------------------------------------------------------------------------------

def markdown(r: dict) -> str:
    lat = r["latency_cheap_200"]
    n_slow = r["settings"]["slow_clients"]
    lines = [
        MARK.format(n=n_slow, end="start"),
        f"## Soak with {n_slow} slow clients ({r['when']}, `bench/soak.py --seconds "
        f"{r['settings']['seconds']} --slow-clients {n_slow}`)",
        "",
        f"Written by bench/soak.py; raw record: bench/results/{r['file']}. "
        f"{r['settings']['readers']} readers, 1 client of expensive filters, "
        f"{r['settings']['slow_clients']} slow clients, `--workers "
        f"{r['settings']['workers']}`, {r['machine']['cpus']} CPUs (shared).",
        "",
        f"**Bar {'met' if r['passed'] else 'MISSED'}**: "
        + "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in r["bar"].items()) + ".",
        "",
        "| figure | value |", "|---|---|",
        f"| requests | {r['requests']} |",
        f"| statuses | {_counts(r['statuses'])} |",
        f"| cheap / expensive | {_counts(r['by_kind']['cheap'])} / "
        f"{_counts(r['by_kind']['expensive'])} |",
        f"| 500 | {r['500']} |",
        f"| 429 (fair share) | {r['429']} |",
        f"| while the database was down | {r['during_outages']['requests']} requests: "
        f"{_counts(r['during_outages']['statuses'])} |",
        f"| 503 outside outages (of which 'database unavailable') | "
        f"{r['outside_outages']['503']} ({r['outside_outages']['503_database_unavailable']}) |",
        f"| cheap requests failed (not 200/429, not 503 in an outage) | {r['cheap_failures']} |",
        f"| stale-connection failures after restart | {r['stale_connection_failures']} |",
        f"| cheap 200s p50 / p95 / p99 | {lat.get('p50_ms')} / {lat.get('p95_ms')} / "
        f"{lat.get('p99_ms')} ms (n={lat['n']}) |",
        f"| loads (exit codes) | {r['loads']['count']} ({_counts(r['loads']['exit_codes'])}); "
        f"hit by an outage: {r['loads']['while_database_down']['count']} "
        f"({_counts(r['loads']['while_database_down']['exit_codes'])}); after: "
        f"{r['loads']['after_database_back']} |",
        f"| load runs recorded | {_counts(r['load_runs'])} |",
        f"| slow-client connections | {r['slow_clients']['connections']} "
        f"({_counts(r['slow_clients']['ended'])}) |",
        "",
        "| phase | cheap 200s p50 / p95 / p99 (ms) | statuses |", "|---|---|---|",
    ]
    for name, p in r["per_phase"].items():
        q = p["latency_cheap_200"]
        lines.append(f"| {name} | {q.get('p50_ms', '-')} / {q.get('p95_ms', '-')} / "
                     f"{q.get('p99_ms', '-')} (n={q['n']}) | {_counts(p['statuses'])} |")
    lines += ["", MARK.format(n=n_slow, end="end")]
    return "\n".join(lines)


def _counts(c: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(c.items())) or "-"


def write_results(r: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in (r["file"], "soak-latest.json"):
        (RESULTS / name).write_text(json.dumps(r, indent=1) + "\n")
    text = RESULTS_MD.read_text() if RESULTS_MD.exists() else (
        "# Benchmark and soak results\n\nFigures depend on the machine; compare runs on the "
        "same one.\n\n")
    section = markdown(r)
    start = MARK.format(n=r["settings"]["slow_clients"], end="start")
    if start in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(
            MARK.format(n=r["settings"]["slow_clients"], end="end"), 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS_MD.write_text(text)
