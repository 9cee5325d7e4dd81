"""The section of bench/RESULTS.md that bench/peers.py writes: figures, ratios, goals.

Pure functions of the raw record (bench/results/peers-*.json), so a record can be reported again:
    .venv/bin/python bench/peers_report.py bench/results/peers-200000-....json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import profiles

#: Issue 11's goals: the twin's requests per second over tipg's, its load time over ogr2ogr's.
API_GOAL = 1.2
ETL_GOAL = 1.0
MEMORY_GOAL_MB = 1024
SQL_GOAL = 2.0
BYTES_GOAL = 1.0
#: The query the bare-SQL goal is about.
BBOX = "bbox 100 CRS84"


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


def bytes_goal(ratio: float | None) -> str:
    """One goal line's verdict for a size ratio (twin / tipg bytes of a tile, lower is better)."""
    if ratio is None:
        return "not measured"
    if ratio <= BYTES_GOAL:
        return f"met ({ratio:.2f}x)"
    return f"not met: {ratio:.2f}x, {1 - BYTES_GOAL / ratio:.0%} of the bytes to cut"


def api_met(entry: dict) -> bool:
    """Whether a query's row meets its goal (a tile also on bytes); False when ours failed."""
    if "ratio" not in entry or entry["ratio"] < API_GOAL:
        return False
    ratio = bytes_ratio(entry)
    return not is_tile(entry) or (ratio is not None and ratio <= BYTES_GOAL)


def sql_met(entry: dict, sql_ms: float) -> bool:
    """Whether the bbox page's one-client p50 is within 2x the bare SQL's time: both timed
    in turns where the run did (``paired_sql``), else the p50 against ``sql_ms``."""
    p50, floor = sql_pair(entry, sql_ms)
    return p50 is not None and p50 <= SQL_GOAL * floor


def sql_pair(entry: dict, sql_ms: float) -> tuple[float | None, float]:
    """The bbox page's one-client p50 and the bare SQL's ms the goal compares."""
    paired = entry.get("paired_sql")
    if paired:
        return paired["twin_p50_ms"], paired["sql_p50_ms"]
    return entry.get("serial_p50_ms", {}).get("twin"), sql_ms


def etl_met(etl: dict) -> bool:
    """Whether both loads (first, reload) are within the goal of ogr2ogr's time."""
    return all(etl[f"twin_{p}"]["seconds"] <= ETL_GOAL * etl[f"ogr2ogr_{p}"]["seconds"]
               for p in ("first", "reload"))


def is_tile(entry: dict) -> bool:
    return "/tiles/" in entry["paths"]["twin"]


def bytes_ratio(entry: dict) -> float | None:
    probe = entry["probe"]
    if probe["twin"]["status"] != 200 or probe["tipg"]["status"] != 200 \
            or not probe["tipg"]["bytes"]:
        return None
    return round(probe["twin"]["bytes"] / probe["tipg"]["bytes"], 2)


def _markers(count: int) -> tuple[str, str]:
    return f"<!-- peers count={count}:start -->", f"<!-- peers count={count}:end -->"


def _cpu(entry: dict) -> str:
    """CPU ms per request, server + PostgreSQL, twin / tipg."""
    cpu = entry.get("cpu_ms_per_req", {})
    return " / ".join(f"{cpu[s]['server']:.1f} + {cpu[s]['postgresql']:.1f}" if s in cpu
                      else "-" for s in ("twin", "tipg"))


def _not_served(entry: dict) -> str:
    """Why a row has no ratio: which server did not answer 200."""
    bad = [f"{s} answers {entry['probe'][s]['status']}" for s in ("twin", "tipg")
           if entry["probe"][s]["status"] != 200]
    return ", ".join(bad)


def goal_lines(rec: dict) -> list[str]:
    """One line per goal of issue 11 this run measured: met, or by how much not."""
    goals = []
    for name, e in rec["api"].items():
        why = f" ({_not_served(e)})" if "ratio" not in e and _not_served(e) else ""
        if is_tile(e):
            goals.append(f"- vector tiles >= 1.2x tipg req/s, {name}: "
                         f"{api_goal(e.get('ratio'))}{why}")
            goals.append(f"- vector tiles <= 1.0x tipg bytes, {name}: "
                         f"{bytes_goal(bytes_ratio(e))}{why}")
        else:
            goals.append(f"- API >= 1.2x tipg, {name}: {api_goal(e.get('ratio'))}{why}")
    bbox, sql_ms = sql_pair(rec["api"][BBOX], rec["sql"]["bbox 100 median_ms"])
    if bbox is not None:
        verdict = (f"met ({bbox / sql_ms:.1f}x)" if bbox <= SQL_GOAL * sql_ms else
                   f"not met: {bbox / sql_ms:.1f}x, {1 - SQL_GOAL * sql_ms / bbox:.0%} of the "
                   "time to cut")
        paired = rec["api"][BBOX].get("paired_sql")
        how = (f"the client ({paired['client']}) and the statement timed in turns, "
               f"{paired['turns']} of each" if paired
               else "the statement timed before the requests")
        serial = rec["api"][BBOX].get("serial_p50_ms", {}).get("twin")
        fresh = rec["api"][BBOX].get("serial_p50_new_conn_ms", {}).get("twin")
        requests_ms = [f"{ms:.1f} ms {how_}" for ms, how_ in (
            (serial, "kept alive"), (fresh, "with a new connection per request"))
            if ms is not None and (paired or how_ != "kept alive")]
        fresh_text = (f"; with Python's requests as the client {', '.join(requests_ms)}"
                      if requests_ms else "")
        goals.append(f"- bbox page p50 within 2x the bare SQL: {verdict} ({bbox:.1f} ms, one "
                     f"client on a kept-alive connection, vs {sql_ms:.1f} ms for the "
                     "statement in psycopg on an open connection, GeoJSON built in "
                     f"PostgreSQL; {how}{fresh_text})")
    if "etl" in rec:
        etl = rec["etl"]
        for phase in ("first", "reload"):
            ratio = etl[f"twin_{phase}"]["seconds"] / etl[f"ogr2ogr_{phase}"]["seconds"]
            label = "first load" if phase == "first" else "reload of unchanged data"
            goals.append(f"- ETL <= 1.0x ogr2ogr, {label} of {rec['count']:,}: "
                         f"{etl_goal(ratio)}")
        peak = max(etl["twin_first"]["peak_mb"], etl["twin_reload"]["peak_mb"])
        verdict = "met" if peak < MEMORY_GOAL_MB else \
            f"not met: {peak - MEMORY_GOAL_MB} MB over"
        goals.append(f"- load peak memory under 1 GB: {verdict} ({peak} MB)")
    return goals


def where_the_time_goes(rec: dict) -> list[str]:
    """The profiles of the goals this run did not meet, summarised (raw files named)."""
    lines = []
    sql_ms = rec["sql"]["bbox 100 median_ms"]
    for name, e in rec["api"].items():
        if api_met(e) and not (name == BBOX and not sql_met(e, sql_ms)):
            continue
        if "profile" not in e:
            reason = _not_served(e) or (f"profile failed: {e['profile_error']}"
                                        if "profile_error" in e else "not profiled (--no-profile)")
            lines.append(f"- {name}: nothing to profile ({reason})" if _not_served(e)
                         else f"- {name}: {reason}")
            continue
        prof, cpu = e["profile"], e.get("cpu_ms_per_req", {})
        split = ""
        if "twin" in cpu:
            t = cpu["twin"]
            split = (f"; CPU per request: twin workers {t['server']:.1f} ms, PostgreSQL "
                     f"{t['postgresql']:.1f} ms")
            if "tipg" in cpu:
                split += (f" (tipg {cpu['tipg']['server']:.1f} ms + PostgreSQL "
                          f"{cpu['tipg']['postgresql']:.1f} ms)")
        lines.append(f"- {name}: py-spy of `twin serve` during one more wrk round "
                     f"({prof['rps']:.1f} req/s while sampled, {prof['samples']} samples, "
                     f"{prof['raw']}){split}")
        lines += profiles.summary_lines(prof)
    if "profile_error" in rec.get("etl", {}):
        lines.append(f"- loads: profile failed: {rec['etl']['profile_error']}")
    prof = rec.get("etl", {}).get("profile")
    if prof:
        how = ("py-spy, wall clock, the load and its subprocesses" if
               prof.get("profiler", "py-spy") == "py-spy" and "samples" in prof else
               "pyinstrument, wall clock, main process")
        lines.append(f"- loads: one more reload under a profiler ({how}; {prof['seconds']:.1f} s "
                     f"under it; {prof['raw']})")
        lines += profiles.summary_lines(prof)
    return lines


def section(rec: dict) -> str:
    m, v = rec["machine"], rec["versions"]
    lines = [
        f"## Against the peers, {rec['count']:,} parcels ({rec['when']}, "
        f"`{rec.get('argv') or 'bench/peers.py --count ' + str(rec['count'])}`)", "",
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
        "has no `bbox-crs`/`crs`: for the EPSG:25833 row it gets the same area in CRS84. Tiles: "
        "the densest WebMercatorQuad tile of the loaded parcels at each zoom (most centroids, "
        "bench/tile_choice.py). CPU per request: the server's processes + PostgreSQL's "
        "backends during its wrk rounds (/proc), median of the rounds.", "",
        "| query | twin req/s | tipg req/s | ratio (goal >= 1.2) | per round | "
        "p50 ms twin / tipg (wrk -c4) | p50 ms twin / tipg (one client, kept-alive) | "
        "bytes twin / tipg | CPU ms per request twin / tipg (server + PostgreSQL) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in rec["api"].items():
        rps, p50, probe = e.get("rps", {}), e.get("p50_ms", {}), e["probe"]
        cell = {s: (f"{rps[s]:.1f}" if s in rps else f"status {probe[s]['status']}")
                for s in ("twin", "tipg")}
        ratio = f"{e['ratio']:.2f}" if "ratio" in e else "-"
        rounds = " / ".join("-" if r is None else f"{r:.2f}"
                            for r in e.get("round_ratios", [])) or "-"
        if "ratio_from" in e:
            ratio += f" ({e['ratio_from']})"
        lat = " / ".join(f"{p50[s]:.1f}" if s in p50 else "-" for s in ("twin", "tipg"))
        serial = e.get("serial_p50_ms", {})
        one = " / ".join(f"{serial[s]:.1f}" if s in serial else "-" for s in ("twin", "tipg"))
        size = " / ".join(str(probe[s]["bytes"]) for s in ("twin", "tipg"))
        if bytes_ratio(e) is not None and is_tile(e):
            size += f" ({bytes_ratio(e):.2f})"
        label = f"{name} ({e['note']})" if e.get("note") else name
        lines.append(f"| {label} | {cell['twin']} | {cell['tipg']} | {ratio} | {rounds} | "
                     f"{lat} | {one} | {size} | {_cpu(e)} |")
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
    lines += ["", "Goals (issue 11), this run:", *goal_lines(rec)]
    where = where_the_time_goes(rec)
    if where:
        lines += ["", "Where the time goes (goals not met; profiles taken in this run, after "
                  "the measured rounds; py-spy slows the round it watches. Wait frames are a "
                  "thread waiting: `Connection.wait` for PostgreSQL, `select` and "
                  "`Condition.wait` for a request or for work):", *where]
    if rec.get("commands"):
        lines += ["", "Commands:", *(f"- {k}: `{c}`" for k, c in rec["commands"].items())]
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
