"""How time and memory grow with the number of parcels: the scale table and its sentence.

    .venv/bin/python bench/scale_report.py          # from the newest record of each size

Reads the newest bench/results/peers-COUNT-*.json of each size (bench/peers.py writes them) and
writes the scale section of bench/RESULTS.md and the sentence in README.md (between markers in
both; the sentence is generated here and nowhere else). Pure functions of the records, so a
test can feed made-up ones (tests/test_bench_helpers.py).
"""

from __future__ import annotations

import json
import math
import sys
import textwrap
from pathlib import Path

from peers_report import replace_block

START, END = "<!-- scale:start -->", "<!-- scale:end -->"
README_START, README_END = "<!-- bench scale:start -->", "<!-- bench scale:end -->"
#: The query whose latency should not grow with the table (issue 11: "stay flat").
BBOX = "bbox 100 CRS84"


def query_name(name: str) -> str:
    """A query's name across record versions: 'deep page (offset 5000)' -> 'deep page',
    'z12 tile' -> 'tile z12'."""
    name = name.split(" (", 1)[0]
    if name.endswith(" tile"):
        return "tile " + name.removesuffix(" tile")
    return name


def latest(results: Path) -> dict[int, dict]:
    """The newest peers record of each size, by its `when`."""
    found: dict[int, dict] = {}
    for path in sorted(results.glob("peers-*.json")):
        rec = json.loads(path.read_text())
        if "api" not in rec:
            continue
        rec.setdefault("raw", str(path))
        if rec["count"] not in found or rec["when"] > found[rec["count"]]["when"]:
            found[rec["count"]] = rec
    return dict(sorted(found.items()))


def exponent(n0: int, v0: float, n1: int, v1: float) -> float:
    """k in value ~ count^k between two sizes: 1 is linear, 0 flat."""
    return math.log(v1 / v0) / math.log(n1 / n0)


def growth_word(k: float) -> str:
    """A word for a growth exponent (the sentence's vocabulary)."""
    if abs(k) < 0.15:
        return "flat"
    if k < 0:
        return "falling"
    if k < 0.8:
        return "sublinear"
    if k <= 1.2:
        return "linear"
    return "superlinear"


#: How the sentence says each growth word.
PHRASE = {"flat": "stays flat", "falling": "falls", "linear": "grows linearly",
          "sublinear": "grows less than linearly", "superlinear": "grows faster than linearly"}


def growth(points: list[tuple[int, float | None]]) -> tuple[float, str] | None:
    """Exponent and word between the two largest sizes that have a figure (the smallest file's
    fixed costs, start-up and catalog reads, would otherwise pass for sublinear growth)."""
    have = [(n, v) for n, v in points if v]
    if len(have) < 2:
        return None
    (n0, v0), (n1, v1) = have[-2], have[-1]
    k = exponent(n0, v0, n1, v1)
    return k, growth_word(k)


def _api(rec: dict) -> dict[str, dict]:
    return {query_name(k): v for k, v in rec["api"].items()}


def _fig(rec: dict, query: str, key: str, server: str) -> float | None:
    return _api(rec).get(query, {}).get(key, {}).get(server)


def _etl(rec: dict, tool: str, phase: str, key: str) -> float | None:
    return rec.get("etl", {}).get(f"{tool}_{phase}", {}).get(key)


def _per_1000(rec: dict, tool: str, phase: str) -> float | None:
    s = _etl(rec, tool, phase, "seconds")
    return None if s is None else s * 1000 / (rec["count"] / 1000)


def _pair(a: float | None, b: float | None, digits: int = 1) -> str:
    return " / ".join("-" if x is None else f"{x:,.{digits}f}" for x in (a, b))


def _growth_cell(points: list[tuple[int, float | None]]) -> str:
    g = growth(points)
    if g is None:
        return "-"
    have = [v for _, v in points if v]
    return f"x{have[-1] / have[0]:.2g} overall, k={g[0]:.2f} ({g[1]})"


def table(records: dict[int, dict]) -> list[str]:
    """The scale table: one column per size, one row per figure, and how the twin's grows."""
    sizes = list(records)
    lines = ["| figure | " + " | ".join(f"{n:,}" for n in sizes) + " | growth of the twin's "
             "figure (k: figure ~ parcels^k between the two largest sizes) |",
             "|---|" + "---|" * len(sizes) + "---|",
             "| run (UTC, twin version, load average) | " + " | ".join(
                 f"{r['when'][:16]}, {r['versions']['twin']}, {r['load_before'][0]:.1f}"
                 for r in records.values()) + " | |"]
    queries: list[str] = []
    for rec in records.values():
        queries += [q for q in _api(rec) if q not in queries]
    for q in queries:
        for key, label, digits in (("rps", "req/s", 1), ("p50_ms", "p50 ms (wrk -c4)", 1)):
            cells = [_pair(_fig(r, q, key, "twin"), _fig(r, q, key, "tipg"), digits)
                     for r in records.values()]
            points = [(n, _fig(r, q, key, "twin")) for n, r in records.items()]
            lines.append(f"| {q}, {label} twin / tipg | " + " | ".join(cells)
                         + f" | {_growth_cell(points)} |")
    for phase, label in (("first", "first load"), ("reload", "reload")):
        rows = [(f"{label} s", "seconds", 1), (f"{label} ms per 1,000 parcels", None, 0)]
        for text, key, digits in rows:
            def val(rec: dict, tool: str, key: str | None = key,
                    phase: str = phase) -> float | None:
                return _etl(rec, tool, phase, key) if key else _per_1000(rec, tool, phase)
            cells = [_pair(val(r, "twin"), val(r, "ogr2ogr"), digits) for r in records.values()]
            points = [(n, val(r, "twin")) for n, r in records.items()]
            lines.append(f"| {text}, twin / ogr2ogr | " + " | ".join(cells)
                         + f" | {_growth_cell(points)} |")
    cells = [_pair(_etl(r, "twin", "first", "peak_mb"), _etl(r, "ogr2ogr", "first", "peak_mb"),
                   0) for r in records.values()]
    points = [(n, _etl(r, "twin", "first", "peak_mb")) for n, r in records.items()]
    lines.append("| first load peak MB, twin / ogr2ogr | " + " | ".join(cells)
                 + f" | {_growth_cell(points)} |")
    return lines


def sentence(records: dict[int, dict]) -> str:
    """How time and memory grow, in words, from the figures (README and RESULTS.md)."""
    sizes = list(records)
    if len(sizes) < 2:
        return (f"Only {', '.join(f'{n:,}' for n in sizes) or 'no size'} parcels measured so "
                "far: `make bench` measures 10,000, 200,000 and 1,000,000.")
    n0, n1 = sizes[0], sizes[-1]
    first, last = records[n0], records[n1]
    runs = sorted({r["when"][:10] for r in records.values()})
    versions = list(dict.fromkeys(r["versions"]["twin"] for r in records.values()))
    parts = [f"From {n0:,} to {n1:,} parcels ({n1 / n0:,.0f}x; runs of {', '.join(runs)}, "
             f"twin {', '.join(versions)})"]
    load = [(n, _etl(r, "twin", "reload", "seconds")) for n, r in records.items()]
    peer = [(n, _etl(r, "ogr2ogr", "reload", "seconds")) for n, r in records.items()]
    g, gp = growth(load), growth(peer)
    if g:
        per, per_peer = _per_1000(last, "twin", "reload"), _per_1000(last, "ogr2ogr", "reload")
        s0, s1 = _etl(first, "twin", "reload", "seconds"), _etl(last, "twin", "reload", "seconds")
        parts.append(
            f", the time of `twin load parcels` (reload of unchanged data) {PHRASE[g[1]]} "
            f"(k={g[0]:.2f} between the two largest sizes; {s0:.1f} s to {s1:.1f} s, "
            f"{per:.0f} ms per 1,000 parcels at {n1:,})")
        if gp:
            parts.append(f" and ogr2ogr's: {gp[1]} (k={gp[0]:.2f}, {per_peer:.0f} ms per 1,000)")
    mem = [(n, _etl(r, "twin", "first", "peak_mb")) for n, r in records.items()]
    gm = growth(mem)
    if gm:
        have = [v for _, v in mem if v]
        parts.append(f"; the load's peak memory {PHRASE[gm[1]]} ({have[0]:.0f} MB to "
                     f"{have[-1]:.0f} MB)")
    bbox = [(n, _fig(r, BBOX, "p50_ms", "twin")) for n, r in records.items()]
    gb = growth(bbox)
    if gb:
        tipg = [(n, _fig(r, BBOX, "p50_ms", "tipg")) for n, r in records.items()]
        gt = growth(tipg)
        have = [v for _, v in bbox if v]
        parts.append(f"; the p50 of a bbox page of 100 ({BBOX}, `wrk -c4`) {PHRASE[gb[1]]} "
                     f"({have[0]:.1f} ms to {have[-1]:.1f} ms"
                     + (f"; tipg's: {gt[1]}" if gt else "") + ")")
    others = []
    for q in _api(last):
        if q == BBOX:
            continue
        gq = growth([(n, _fig(r, q, "p50_ms", "twin")) for n, r in records.items()])
        if gq:
            others.append(f"{q} {gq[1]} (k={gq[0]:.2f})")
    if others:
        parts.append("; the other queries' p50: " + ", ".join(others))
    loads = [r["load_before"][0] for r in records.values()]
    if max(loads) > 2 * max(min(loads), 1.0):
        parts.append(f". The runs met different loads (1-minute load average "
                     f"{', '.join(f'{v:.1f}' for v in loads)} on {records[n0]['machine']['cpus']} "
                     "CPUs): growth between sizes is only as good as the runs are alike")
    return "".join(parts) + "."


def section(records: dict[int, dict]) -> str:
    lines = ["## Scale: 10,000, 200,000 and 1,000,000 parcels (`bench/scale_report.py`)", "",
             "The newest run of each size (bench/results/peers-COUNT-*.json; each column names "
             "its run: sizes measured at different times or versions compare only roughly, the "
             "ratios within a column are the figures that count). Growth k is the exponent of "
             "figure ~ parcels^k between the two largest sizes measured: about 1 is linear, "
             "about 0 flat. The deep page's offset is min(100,000, half the parcels), so "
             "it is a different query at 10,000.", "", *table(records), "", sentence(records)]
    return "\n".join(lines)


def update(results: Path, results_md: Path, readme: Path) -> str:
    """Rewrite the scale section of RESULTS.md and the sentence in the README."""
    records = latest(results)
    body = section(records)
    replace_block(results_md, START, END, body)
    replace_block(readme, README_START, README_END, textwrap.fill(
        sentence(records) + " (Generated by bench/scale_report.py from the newest `make bench` "
        "figures; the table is in bench/RESULTS.md.)", width=100, break_on_hyphens=False))
    return body


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "bench"))
    print(update(root / "bench" / "results", root / "bench" / "RESULTS.md", root / "README.md"))
