"""What PostgreSQL's JIT costs the street-damage derive step (issue 11), measured.

    .venv/bin/python bench/jit.py [--repeat 3]

Loads the samples (`twin load-samples`) into a scratch database, then runs EXPLAIN (ANALYZE) of
twin/sql/derive_street_damage.sql with `jit` on and off, alternating, each on a fresh
connection (as a load opens one) and rolled back: once as a load finds the table (nothing to
change), once after clearing the derived columns (every row rewritten), and the same for the
statement as it was before issue 10 rewrote it (--also), which is what issue 11 measured.
Then times an unchanged reload with PGOPTIONS='-c jit=on' and '-c jit=off'. Writes the figures
to bench/results/jit-WHEN.json and a section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
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

from tests.conftest import TWIN, twin_env  # noqa: E402
from twin.db import packaged_sql  # noqa: E402
from twin.settings import Settings  # noqa: E402

SCRATCH = "twin_bench_jit"
#: The statement as issue 11 measured it: before issue 10 rewrote it (same-road stations).
BEFORE_ISSUE_10 = "2d0c06e"
PARCELS = ROOT / "data" / "samples" / "parcels" / "flurstuecke_cottbus_mitte.gpkg"
RESET = ("UPDATE twin.street_damage SET traffic_dtv = NULL, traffic_basis = NULL, "
         "traffic_station = NULL, repair_priority = NULL")


def explain(dsn: str, statement: str, *, jit: bool, reset: bool) -> dict:
    """One EXPLAIN ANALYZE in a transaction that is rolled back."""
    with psycopg.connect(dsn) as conn:
        conn.execute(f"SET jit = {'on' if jit else 'off'}")  # a literal of two, not input
        if reset:
            conn.execute(RESET)
        plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement).fetchone()[0][0]
        conn.rollback()
    top = plan["Plan"]
    out = {"execution_ms": round(plan["Execution Time"], 1),
           "planning_ms": round(plan["Planning Time"], 1), "total_cost": top["Total Cost"],
           # ModifyTable reports no rows; its input holds the rows it updated.
           "rows_updated": sum(p.get("Actual Rows", 0) for p in top.get("Plans", [])
                               if p.get("Parent Relationship") == "Outer")}
    if "JIT" in plan:
        out["jit_functions"] = plan["JIT"]["Functions"]
        out["jit_ms"] = round(plan["JIT"]["Timing"]["Total"], 1)
    return out


def time_reload(settings: Settings, *, jit: bool) -> float:
    """Seconds of `twin load parcels` of the unchanged sample: every derive step runs."""
    env = {**twin_env(settings), "PGOPTIONS": f"-c jit={'on' if jit else 'off'}"}
    started = time.perf_counter()
    subprocess.run([TWIN, "load", "parcels", str(PARCELS)], env=env, check=True,
                   capture_output=True)
    return round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--also", default=BEFORE_ISSUE_10, metavar="COMMIT",
                        help="also measure the statement as it was at this commit")
    args = parser.parse_args()
    settings = scratch_settings(SCRATCH)
    statement = packaged_sql("derive_street_damage.sql")
    older = subprocess.run(["git", "-C", str(ROOT), "show",
                            f"{args.also}:twin/sql/derive_street_damage.sql"],
                           capture_output=True, text=True, check=False).stdout
    record: dict = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
                    "load_before": os.getloadavg()}
    try:
        subprocess.run([TWIN, "load-samples"], env=twin_env(settings), check=True,
                       capture_output=True)
        with psycopg.connect(settings.dsn) as conn:
            record["settings"] = {k: conn.execute(f"SHOW {k}").fetchone()[0] for k in (
                "jit", "jit_above_cost", "jit_inline_above_cost", "jit_optimize_above_cost",
                "server_version")}
            record["damage_rows"] = conn.execute(
                "SELECT count(*) FROM twin.street_damage").fetchone()[0]
        cases = [("unchanged", statement, False), ("all rows rewritten", statement, True)]
        if older:
            cases.append((f"statement at {args.also[:7]}, all rows rewritten", older, True))
        record["cases"] = [name for name, _, _ in cases]
        for case, text, reset in cases:
            runs: dict[str, list[dict]] = {"on": [], "off": []}
            for i in range(args.repeat):
                for jit in ((True, False) if i % 2 == 0 else (False, True)):
                    runs["on" if jit else "off"].append(
                        explain(settings.dsn, text, jit=jit, reset=reset))
            record[case] = {k: {"median_execution_ms": statistics.median(
                r["execution_ms"] for r in v), "runs": v} for k, v in runs.items()}
        loads: dict[str, list[float]] = {"on": [], "off": []}
        for i in range(args.repeat):
            for jit in ((True, False) if i % 2 == 0 else (False, True)):
                loads["on" if jit else "off"].append(time_reload(settings, jit=jit))
        record["reload_s"] = loads
    finally:
        drop_scratch(SCRATCH)
    record["load_after"] = os.getloadavg()
    when = record["when"][:19].replace(":", "")
    raw = ROOT / "bench" / "results" / f"jit-{when}.json"
    raw.write_text(json.dumps(record, indent=2) + "\n")
    body = section(record, str(raw.relative_to(ROOT)))
    replace_block(ROOT / "bench" / "RESULTS.md", "<!-- jit:start -->", "<!-- jit:end -->", body)
    print(body)


def section(rec: dict, raw: str) -> str:
    s = rec["settings"]
    lines = [f"## JIT and the street-damage derive step ({rec['when']}, `bench/jit.py`)", "",
             f"Raw record: {raw}. EXPLAIN (ANALYZE) of twin/sql/derive_street_damage.sql on "
             f"the samples ({rec['damage_rows']} damage rows), fresh connection each, rolled "
             f"back; PostgreSQL {s['server_version']}, jit_above_cost {s['jit_above_cost']}, "
             f"jit_optimize_above_cost {s['jit_optimize_above_cost']}, jit_inline_above_cost "
             f"{s['jit_inline_above_cost']}; load average {rec['load_before'][0]:.1f}.", "",
             "| case | jit | execution ms (each run) | of which JIT ms | JIT functions | "
             "plan cost | rows updated |", "|---|---|---|---|---|---|---|"]
    for case in rec["cases"]:
        for jit in ("on", "off"):
            runs = rec[case][jit]["runs"]
            lines.append(
                f"| {case} | {jit} | {' / '.join(str(r['execution_ms']) for r in runs)} | "
                f"{' / '.join(str(r.get('jit_ms', '-')) for r in runs)} | "
                f"{runs[0].get('jit_functions', '-')} | {runs[0]['total_cost']:.0f} | "
                f"{runs[0]['rows_updated']} |")
    lines += ["", "`twin load parcels` of the unchanged sample (every derive step runs), "
              f"PGOPTIONS='-c jit=on': {' / '.join(map(str, rec['reload_s']['on']))} s; "
              f"'-c jit=off': {' / '.join(map(str, rec['reload_s']['off']))} s."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
