"""The section of bench/RESULTS.md that bench/peers.py writes: figures, ratios, goals.

Pure functions of the raw record (bench/results/peers-*.json), so a record can be reported again:
    .venv/bin/python bench/peers_report.py bench/results/peers-200000-....json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: Issue 11's goals: the twin's requests per second over tipg's, its load time over ogr2ogr's.
API_GOAL = 1.2
ETL_GOAL = 1.0
MEMORY_GOAL_MB = 1024
SQL_GOAL = 2.0


def api_goal(ratio: float | None) -> str:
    """One goal line's verdict for a rps ratio (twin / tipg, higher is better)."""
    if ratio is None:
        return "not measured"
    if ratio >= API_GOAL:
        return f"met ({ratio:.2f}x)"
    return f"not met: {ratio:.2f}x, needs {API_GOAL / ratio - 1:+.0%} requests per second"


def etl_goal(ratio: float) -> str:
    """One goal line's verdict for a time ratio (twin / ogr2ogr, lower is better)."""
    if ratio <= ETL_GOAL:
        return f"met ({ratio:.2f}x)"
    return f"not met: {ratio:.2f}x, {1 - ETL_GOAL / ratio:.0%} of the time to cut"


def _markers(count: int) -> tuple[str, str]:
    return f"<!-- peers count={count}:start -->", f"<!-- peers count={count}:end -->"


def section(rec: dict) -> str:
    m, v = rec["machine"], rec["versions"]
    lines = [
        f"## Against the peers, {rec['count']:,} parcels ({rec['when']}, "
        f"`bench/peers.py --count {rec['count']}`)", "",
        f"Written by bench/peers.py; raw record: {rec.get('raw', '-')}. File "
        f"{rec['file']} ({rec['file_mb']} MB, bench/parcel_files.py). Machine: {m['cpu']}, "
        f"{m['cpus']} CPUs, {m['memory_gb']} GB, shared with other work: load average "
        f"{rec['load_before'][0]:.1f} before, {rec['load_after'][0]:.1f} after (1 min). "
        f"Versions: twin {v['twin']}, pygeoapi {v['pygeoapi']}, Python {v['python']}, "
        f"tipg {v['tipg']}, PostgreSQL {v['postgresql']}, PostGIS {v['postgis']}, "
        f"{v['gdal']}, {v['wrk']}.", "",
        f"API: `wrk -t1 -c4`, {rec['rounds']} rounds of {rec['seconds']} s per query and "
        "server, alternating which server goes first; both with two workers over the same "
        "table. Ours answers `f=json`, tipg `f=geojson` (its `f=json` is rows with WKT). tipg "
        "has no `bbox-crs`/`crs`: for the EPSG:25833 row it gets the same area in CRS84.", "",
        "| query | twin req/s | tipg req/s | ratio (goal >= 1.2) | per round | "
        "p50 ms twin / tipg (wrk -c4) | p50 ms twin / tipg (one client) | "
        "bytes twin / tipg |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, e in rec["api"].items():
        rps, p50, probe = e.get("rps", {}), e.get("p50_ms", {}), e["probe"]
        cell = {s: (f"{rps[s]:.1f}" if s in rps else f"status {probe[s]['status']}")
                for s in ("twin", "tipg")}
        ratio = f"{e['ratio']:.2f}" if "ratio" in e else "-"
        rounds = " / ".join(f"{r:.2f}" for r in e.get("round_ratios", [])) or "-"
        lat = " / ".join(f"{p50[s]:.1f}" if s in p50 else "-" for s in ("twin", "tipg"))
        serial = e.get("serial_p50_ms", {})
        one = " / ".join(f"{serial[s]:.1f}" if s in serial else "-" for s in ("twin", "tipg"))
        size = " / ".join(str(probe[s]["bytes"]) for s in ("twin", "tipg"))
        lines.append(f"| {name} | {cell['twin']} | {cell['tipg']} | {ratio} | {rounds} | "
                     f"{lat} | {one} | {size} |")
    goals = [f"- API >= 1.2x tipg, {name}: {api_goal(e.get('ratio'))}"
             for name, e in rec["api"].items() if name != "z12 tile"]
    sql_ms = rec["sql"]["bbox 100 median_ms"]
    bbox = rec["api"]["bbox 100 CRS84"].get("serial_p50_ms", {}).get("twin")
    if bbox is not None:
        verdict = "met" if bbox <= SQL_GOAL * sql_ms else "not met"
        goals.append(f"- bbox page p50 within 2x the bare SQL: {verdict} ({bbox:.1f} ms, one "
                     f"client, vs {sql_ms:.1f} ms for the statement in psycopg, GeoJSON built "
                     f"in PostgreSQL: {bbox / sql_ms:.1f}x)")
    tile = rec["api"].get("z12 tile")
    if tile:
        goals.append(f"- vector tiles >= 1.2x tipg at z12: {api_goal(tile.get('ratio'))}"
                     + ("" if "ratio" in tile else
                        f" (ours answers {tile['probe']['twin']['status']})"))
    if "etl" in rec:
        etl = rec["etl"]
        lines += ["", "Loads: `twin load parcels` (every check, repair, the swap, the record "
                  "and the derive steps) vs `ogr2ogr -f PostgreSQL` with PG_USE_COPY=YES and "
                  "`-lco SPATIAL_INDEX=GIST`, interleaved, wall time and peak RSS from "
                  "`/usr/bin/time -v`.", "",
                  "| load | twin s | ogr2ogr s | ratio (goal <= 1.0) | twin peak MB | "
                  "ogr2ogr peak MB |", "|---|---|---|---|---|---|"]
        for phase in ("first", "reload"):
            ours, theirs = etl[f"twin_{phase}"], etl[f"ogr2ogr_{phase}"]
            ratio = ours["seconds"] / theirs["seconds"]
            lines.append(f"| {phase} | {ours['seconds']:.1f} | {theirs['seconds']:.1f} | "
                         f"{ratio:.2f} | {ours['peak_mb']} | {theirs['peak_mb']} |")
            label = "first load" if phase == "first" else "reload of unchanged data"
            goals.append(f"- ETL <= 1.0x ogr2ogr, {label} of {rec['count']:,}: "
                         f"{etl_goal(ratio)}")
        peak = max(etl["twin_first"]["peak_mb"], etl["twin_reload"]["peak_mb"])
        verdict = "met" if peak < MEMORY_GOAL_MB else "not met"
        goals.append(f"- load peak memory under 1 GB: {verdict} ({peak} MB)")
    lines += ["", "Goals (issue 11), this run:", *goals]
    return "\n".join(lines)


def update(results_md: Path, rec: dict) -> None:
    """Replace (or append) this count's section in bench/RESULTS.md."""
    replace_block(results_md, *_markers(rec["count"]), section(rec))


def replace_block(results_md: Path, start: str, end: str, body: str) -> None:
    """Put ``body`` between the markers ``start`` and ``end``, appending them when absent."""
    text = results_md.read_text() if results_md.exists() else "# Benchmark results\n"
    block = f"{start}\n{body}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    results_md.write_text(text)


if __name__ == "__main__":
    record = json.loads(Path(sys.argv[1]).read_text())
    record.setdefault("raw", sys.argv[1])
    update(Path(__file__).resolve().parent / "RESULTS.md", record)
    print(section(record))
