"""Benchmark of the 3D viewer: tiles for a Cottbus-sized model, first frames in Chromium.

    make bench            # or: .venv/bin/python bench/viewer.py [--buildings 50000]

Generates a town of LoD2 houses (bench/lod2_town.py: gable and flat roofs, 10 % listed,
20 % in a heritage area) in a scratch database, times ``write_building_tiles`` (goal: under
60 s for 50,000 buildings), serves it with `twin serve`, and opens /viewer/ in headless
Chromium with software GL (tests/browser.py), fresh profile each time, at a street-level and
a city-wide view. First frame: from the start of navigation until the buildings' tileset has
drawn every tile it selected and stays so (window.twinViewer.firstFrameMs; goal ≤ 5 s).
Bytes: what the page fetched (Resource Timing, transfer sizes, gzip included). Results go to
bench/results/viewer-latest.json and a section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import lod2_town  # noqa: E402
from scratch import TMP, drop_scratch, scratch_settings  # noqa: E402

from tests.browser import chromium  # noqa: E402
from tests.conftest import Server  # noqa: E402
from twin.tiles3d import write_building_tiles  # noqa: E402
from twin.tiles3d.geometry import lonlat  # noqa: E402
from twin.viewer.page import DECK_BUNDLE  # noqa: E402

SCRATCH = "twin_bench_viewer"
RESULTS = ROOT / "bench" / "results"
MARK = "viewer"
BYTES_JS = """() => performance.getEntriesByType('navigation').concat(
  performance.getEntriesByType('resource')).reduce((sum, e) => sum + (e.transferSize || 0), 0)"""


def first_frame(url: str, timeout_s: float = 120.0) -> dict:
    """Open ``url`` in a fresh Chromium; the first frame, requests and bytes."""
    with chromium() as browser:
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("body[data-first-frame]", state="attached",
                               timeout=timeout_s * 1000)
        wall = time.perf_counter() - started
        figures = page.evaluate("() => ({ms: twinViewer.firstFrameMs, "
                                "tiles: twinViewer.selectedTiles})")
        transferred = page.evaluate(BYTES_JS)
        requests = page.evaluate("() => performance.getEntriesByType('resource').length")
        return {"first_frame_s": round(figures["ms"] / 1000, 2), "wall_s": round(wall, 2),
                "tiles_drawn": figures["tiles"], "requests": requests + 1,
                "bytes": int(transferred), "console_errors": len(errors)}


def _view_row(name: str, v: dict) -> str:
    return (f"| {name}: first frame | {v['first_frame_s']:.2f} s ({v['tiles_drawn']} tiles "
            f"drawn, {v['requests']} requests, {v['bytes'] / 2**20:.2f} MB transferred) |")


def write_markdown(results: dict) -> None:
    t, s, c = results["tiles"], results["street"], results["city"]
    met = t["seconds"] < 60 and s["first_frame_s"] <= 5 and c["first_frame_s"] <= 5
    tiles_row = (f"| tiles built (`write_building_tiles`, in the load's transaction) | "
                 f"{t['seconds']:.1f} s ({t['detail_tiles']} detailed + {t['coarse_tiles']} "
                 f"coarse tiles, {t['triangles']:,} triangles, {t['bytes'] / 2**20:.1f} MB) |")
    text = f"""<!-- {MARK}:start -->
## 3D viewer ({results['when']}, `bench/viewer.py --buildings {results['buildings']}`)

Written by bench/viewer.py; raw record: bench/results/viewer-latest.json. A generated town of
{results['buildings']:,} LoD2 houses (gable and flat roofs, {results['faces']:,} faces) in a
scratch database; headless Chromium {results['chromium']} with SwiftShader (software GL),
1280×800, a fresh profile per view; `twin serve --workers 2`; {os.cpu_count()} CPUs shared
with whatever else ran (load average {results['load']}).

**Goals** (tiles < 60 s, first frame ≤ 5 s in both views): {"met" if met else "not met"}.

| figure | value |
|---|---|
{tiles_row}
{_view_row("street level", s)}
{_view_row("city-wide", c)}
| console errors | {s['console_errors'] + c['console_errors']} |

First frame: from the start of navigation until the GPU has finished the first frame with
every tile the view selected, so it includes loading and compiling deck.gl
({results['bundle_mb']:.1f} MB, {results['bundle_gzip_mb']:.1f} MB gzipped).
<!-- {MARK}:end -->
"""
    path = ROOT / "bench" / "RESULTS.md"
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(rf"<!-- {MARK}:start -->.*?<!-- {MARK}:end -->\n", re.S)
    current = pattern.sub(lambda _: text, current) if pattern.search(current) \
        else current.rstrip("\n") + "\n\n" + text
    path.write_text(current, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=50_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    settings = scratch_settings(SCRATCH)
    results: dict = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
                     "machine": platform.platform(), "buildings": args.buildings}
    server = None
    try:
        houses = lod2_town.town(args.buildings)
        with psycopg.connect(settings.dsn) as conn:
            started = time.perf_counter()
            lod2_town.insert_houses(conn, houses)
            results["insert_s"] = round(time.perf_counter() - started, 1)
            conn.commit()
            results["faces"] = conn.execute(
                "SELECT count(*) FROM twin.building_surfaces").fetchone()[0]
            stats = write_building_tiles(conn, progress=lambda m: print("  tiles:", m))
            conn.commit()
        results["tiles"] = {k: getattr(stats, k) for k in (
            "seconds", "detail_tiles", "coarse_tiles", "triangles", "bytes", "skipped_faces")}
        print(f"tiles built in {stats.seconds:.1f} s: {stats}")
        server = Server(settings, TMP / "viewer-server.log")
        xs = [h.cx for h in houses]
        ys = [h.cy for h in houses]
        lon, lat = lonlat([sum(xs) / len(xs)], [sum(ys) / len(ys)])
        street = f"{lon[0]:.5f},{lat[0]:.5f},17.3,50,-15"
        results["street"] = first_frame(f"{server.url}/viewer/?view={street}")
        print("street level:", results["street"])
        results["city"] = first_frame(f"{server.url}/viewer/")  # the page's own fitted view
        print("city-wide:", results["city"])
        raw = DECK_BUNDLE.read_bytes()
        results["bundle_mb"] = len(raw) / 2**20
        results["bundle_gzip_mb"] = len(gzip.compress(raw, 6)) / 2**20
        results["load"] = ", ".join(f"{v:.1f}" for v in os.getloadavg())
        results["chromium"] = subprocess.run(
            ["/usr/bin/chromium", "--version"], capture_output=True, text=True
        ).stdout.split()[1] if Path("/usr/bin/chromium").exists() else "?"
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            drop_scratch(SCRATCH)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "viewer-latest.json").write_text(json.dumps(results, indent=2) + "\n")
    write_markdown(results)
    print(f"written to bench/RESULTS.md and {RESULTS / 'viewer-latest.json'}")
    if not math.isfinite(results["street"]["first_frame_s"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
