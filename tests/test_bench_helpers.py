"""The pure helpers of `make bench` (no database, nothing timed): tiled parcel keys, goal
verdicts and report lines, the scale table's sentence, tile choice and profile summaries."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def bench_modules():
    sys.path.insert(0, str(BENCH))
    try:
        import parcel_files
        import peers_report
        yield parcel_files, peers_report
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def helpers():
    """bench/'s report, scale, tile and profile modules (scripts beside each other there)."""
    sys.path.insert(0, str(BENCH))
    try:
        import peers_report
        import profiles
        import scale_report
        import tile_choice
        yield SimpleNamespace(report=peers_report, scale=scale_report, tiles=tile_choice,
                              profiles=profiles)
    finally:
        sys.path.remove(str(BENCH))


def test_tile_zero_is_the_sample(bench_modules):
    parcel_files, _ = bench_modules
    assert parcel_files.tile_key("12416000100002______", 1, 2, 0) == (
        "12416000100002______", 1, 2)
    assert parcel_files.tile_offset(0) == (0.0, 0.0)


def test_tiled_keys_are_unique_and_agree_with_their_fields(bench_modules):
    parcel_files, _ = bench_modules
    tiles = 1_000_000 // 3800 + 1
    keys = set()
    for t in range(tiles):
        key, flur, zae = parcel_files.tile_key("124160011007630002__", 11, 763, t)
        assert len(key) == 20 and key[6:9] == f"{flur:03d}" and key[9:14] == f"{zae:05d}"
        keys.add(key)
    assert len(keys) == tiles


def test_tiles_stay_in_brandenburg(bench_modules):
    parcel_files, _ = bench_modules
    offsets = [parcel_files.tile_offset(t) for t in range(1_000_000 // 3800 + 1)]
    # The sample spans 451.5-457.5 km E, 5731.5-5737.5 km N; Brandenburg 250-500, 5680-5950.
    assert min(451_500 + dx for dx, _ in offsets) >= 250_000
    assert 5_680_000 <= min(5_731_500 + dy for _, dy in offsets)
    assert max(5_737_500 + dy for _, dy in offsets) <= 5_950_000
    assert len(set(offsets)) == len(offsets)


def test_goal_verdicts(bench_modules):
    _, report = bench_modules
    assert report.api_goal(1.25) == "met (1.25x)"
    assert report.api_goal(0.8) == "not met: 0.80x, needs +50% requests per second"
    assert report.api_goal(None) == "not measured"
    assert report.etl_goal(1.0) == "met (1.00x)"
    assert report.etl_goal(4.0) == "not met: 4.00x, 75% of the time to cut"


# --- goal lines and the report ---------------------------------------------------------------


def _entry(twin_rps, tipg_rps, *, tile=False, twin_status=200, twin_bytes=800, tipg_bytes=1000,
           p50=(20.0, 25.0)):
    path = "/tiles/WebMercatorQuad/12/1/2" if tile else "/items?f=json"
    e = {"paths": {"twin": "/collections/parcels" + path, "tipg": "/x" + path}, "note": "",
         "probe": {"twin": {"status": twin_status, "bytes": twin_bytes},
                   "tipg": {"status": 200, "bytes": tipg_bytes}},
         "serial_p50_ms": {"tipg": 10.0}, "rps": {"tipg": tipg_rps},
         "p50_ms": {"tipg": p50[1]}}
    if twin_status == 200:
        e["rps"]["twin"], e["p50_ms"]["twin"] = twin_rps, p50[0]
        e["serial_p50_ms"]["twin"] = 5.0
        e["ratio"] = round(twin_rps / tipg_rps, 2)
    return e


def _record(count, *, api=None, reload_s=(2.0, 1.0), peak=200, when="2026-11-30T22:00:00"):
    api = api or {"bbox 100 CRS84": _entry(150, 100), "feature by id": _entry(50, 100),
                  "tile z12": _entry(0, 10, tile=True, twin_status=404)}
    load = {"seconds": reload_s[0], "peak_mb": peak}
    return {"count": count, "when": when, "file": f"bench/data/parcels_{count}.gpkg",
            "file_mb": 1, "rounds": 2, "seconds": 3, "argv": f"bench/peers.py --count {count}",
            "machine": {"cpu": "cpu", "cpus": 2, "memory_gb": 8.0, "platform": "linux"},
            "versions": {"twin": "abc1234", "pygeoapi": "0.24", "python": "3.12", "tipg": "1.6",
                         "postgresql": "15", "postgis": "3.3", "gdal": "GDAL 3.6", "wrk": "wrk"},
            "load_before": [1.0, 1.0, 1.0], "load_after": [2.0, 1.0, 1.0],
            "sql": {"bbox 100 median_ms": 4.0}, "api": api,
            "etl": {"twin_first": load, "twin_reload": load,
                    "ogr2ogr_first": {"seconds": reload_s[1], "peak_mb": 56},
                    "ogr2ogr_reload": {"seconds": reload_s[1], "peak_mb": 56}}}


def test_goal_lines_say_met_or_by_how_much(helpers):
    lines = helpers.report.goal_lines(_record(10_000))
    assert "- API >= 1.2x tipg, bbox 100 CRS84: met (1.50x)" in lines
    assert ("- API >= 1.2x tipg, feature by id: not met: 0.50x, needs +140% requests per second"
            in lines)
    assert ("- vector tiles >= 1.2x tipg req/s, tile z12: not measured (twin answers 404)"
            in lines)
    assert "- vector tiles <= 1.0x tipg bytes, tile z12: not measured (twin answers 404)" in lines
    assert any(line.startswith("- bbox page p50 within 2x the bare SQL: met (1.2x)")
               for line in lines)
    assert ("- ETL <= 1.0x ogr2ogr, reload of unchanged data of 10,000: not met: 2.00x, 50% of "
            "the time to cut") in lines
    assert "- load peak memory under 1 GB: met (200 MB)" in lines


def test_the_bare_sql_goal_compares_the_pairs_timed_in_turns(helpers):
    # 5 ms against 4 ms timed apart (met), but the pairs timed in turns say 2.5x: not met.
    rec = _record(10_000)
    rec["api"]["bbox 100 CRS84"]["paired_sql"] = {
        "turns": 5, "client": "wrk -t1 -c1 -d2s", "twin_p50_ms": 10.0, "sql_p50_ms": 4.0}
    assert not helpers.report.sql_met(rec["api"]["bbox 100 CRS84"], 4.0)
    line = next(x for x in helpers.report.goal_lines(rec) if "bare SQL" in x)
    assert line.startswith("- bbox page p50 within 2x the bare SQL: not met: 2.5x, 20% of ")
    assert "(wrk -t1 -c1 -d2s) and the statement timed in turns, 5 of each" in line


def test_tile_goals_count_bytes_too(helpers):
    r = helpers.report
    small, big = _entry(130, 100, tile=True), _entry(130, 100, tile=True, twin_bytes=1500)
    assert r.api_met(small) and not r.api_met(big)
    assert r.bytes_goal(r.bytes_ratio(big)) == "not met: 1.50x, 33% of the bytes to cut"
    assert r.bytes_goal(0.8) == "met (0.80x)"
    assert not r.api_met(_entry(0, 10, tile=True, twin_status=404))


def test_section_has_figures_goals_profiles_and_commands(helpers):
    rec = _record(200_000)
    rec["api"]["feature by id"]["profile"] = {
        "raw": "bench/results/profiles/200000/feature-by-id.speedscope.json", "rps": 40.0,
        "samples": 100, "self": [{"frame": "f (pyproj/transformer.py)", "share": 0.5}],
        "ours": [{"frame": "get (twin/provider.py)", "share": 0.3}],
        "packages": [{"frame": "pyproj", "share": 0.5}]}
    rec["commands"] = {"wrk": "wrk -t1 -c4 -d3s URL"}
    text = helpers.report.section(rec)
    assert text.startswith("## Against the peers, 200,000 parcels")
    assert "| feature by id | 50.0 | 100.0 | 0.50 |" in text
    assert "| tile z12 | status 404 | 10.0 | - |" in text
    assert "`f (pyproj/transformer.py)` 50%" in text
    assert "- tile z12: nothing to profile (twin answers 404)" in text
    assert "- wrk: `wrk -t1 -c4 -d3s URL`" in text


def test_replace_block_keeps_the_rest(helpers, tmp_path):
    md = tmp_path / "R.md"
    md.write_text("# R\n\nbefore\n<!-- a -->\nold\n<!-- b -->\nafter\n")
    helpers.report.replace_block(md, "<!-- a -->", "<!-- b -->", "new")
    assert md.read_text() == "# R\n\nbefore\n<!-- a -->\nnew\n<!-- b -->\nafter\n"


# --- the scale table and its sentence --------------------------------------------------------


@pytest.mark.parametrize(("k", "word"), [(0.0, "flat"), (0.1, "flat"), (-0.5, "falling"),
                                         (0.5, "sublinear"), (1.0, "linear"),
                                         (1.15, "linear"), (1.6, "superlinear")])
def test_growth_words(helpers, k, word):
    assert helpers.scale.growth_word(k) == word


def test_growth_uses_the_two_largest_sizes(helpers):
    # 10,000 carries a fixed start-up cost; from 200,000 to 1,000,000 time grows 5x: linear.
    k, word = helpers.scale.growth([(10_000, 2.0), (200_000, 10.0), (1_000_000, 50.0)])
    assert word == "linear" and k == pytest.approx(1.0)
    assert helpers.scale.growth([(10_000, 2.0), (200_000, None)]) is None


def test_query_names_across_record_versions(helpers):
    assert helpers.scale.query_name("deep page (offset 5000)") == "deep page"
    assert helpers.scale.query_name("z12 tile") == "tile z12"
    assert helpers.scale.query_name("tile z14") == "tile z14"


def test_scale_sentence_and_table_from_figures(helpers):
    records = {n: _record(n, reload_s=(n / 20_000, n / 100_000), peak=210)
               for n in (10_000, 200_000, 1_000_000)}
    text = helpers.scale.sentence(records)
    assert text.startswith("From 10,000 to 1,000,000 parcels (100x")
    assert "(reload of unchanged data) grows linearly (k=1.00" in text
    assert "50 ms per 1,000 parcels at 1,000,000" in text
    assert "peak memory stays flat (210 MB to 210 MB)" in text
    assert "bbox page of 100 (bbox 100 CRS84, `wrk -c4`) stays flat" in text
    table = helpers.scale.table(records)
    assert table[0].startswith("| figure | 10,000 | 200,000 | 1,000,000 |")
    assert "| reload ms per 1,000 parcels, twin / ogr2ogr | 50 / 10 | 50 / 10 | 50 / 10 |" \
        in "\n".join(table)
    assert "met different loads" not in text
    records[200_000]["load_before"] = [9.0, 5.0, 3.0]
    assert text.removesuffix(".") in helpers.scale.sentence(records)
    assert ("The runs met different loads (1-minute load average 1.0, 9.0, 1.0 on 2 CPUs)"
            in helpers.scale.sentence(records))
    assert helpers.scale.sentence({10_000: records[10_000]}).startswith("Only 10,000 parcels")


def test_latest_record_of_each_size(helpers, tmp_path):
    import json
    for when in ("2026-11-30T20:00:00", "2026-11-30T21:00:00"):
        rec = _record(10_000, when=when)
        (tmp_path / f"peers-10000-{when.replace(':', '')}.json").write_text(json.dumps(rec))
    (tmp_path / "peers-5-old.json").write_text(json.dumps({"count": 5, "when": "x"}))
    found = helpers.scale.latest(tmp_path)
    assert list(found) == [10_000] and found[10_000]["when"] == "2026-11-30T21:00:00"


# --- tile choice -----------------------------------------------------------------------------


def test_tile_of_matches_the_tile_bounds(helpers):
    t = helpers.tiles
    lon, lat = 14.334, 51.757  # Cottbus
    for z in (12, 14, 16):
        x, y = (int(v[0]) for v in t.tile_of(np.array([lon]), np.array([lat]), z))
        west, south, east, north = t.tile_bounds(z, x, y)
        assert west <= lon < east and south <= lat < north
    assert [int(v[0]) for v in t.tile_of(np.array([-180.0]), np.array([89.9]), 3)] == [0, 0]


def test_densest_tile_is_deterministic(helpers):
    t = helpers.tiles
    rng = np.random.default_rng(1)
    # 300 points in one z16 tile in Cottbus, 100 in another, 50 spread wide.
    west, south, east, north = t.tile_bounds(16, 35377, 21750)
    dense = np.column_stack([rng.uniform(west, east, 300), rng.uniform(south, north, 300)])
    west, south, east, north = t.tile_bounds(16, 35380, 21752)
    other = np.column_stack([rng.uniform(west, east, 100), rng.uniform(south, north, 100)])
    wide = np.column_stack([rng.uniform(13, 15, 50), rng.uniform(51, 52, 50)])
    pts = np.vstack([wide, other, dense])
    assert t.densest_tile(pts[:, 0], pts[:, 1], 16)[:3] == (16, 35377, 21750)
    shuffled = pts[rng.permutation(len(pts))]
    assert t.densest_tiles(shuffled[:, 0], shuffled[:, 1]) == t.densest_tiles(pts[:, 0],
                                                                               pts[:, 1])
    # A tie goes to the lower row, then the lower column, whatever the order.
    a, b = t.tile_bounds(12, 2210, 1360), t.tile_bounds(12, 2209, 1361)
    tie = np.array([[(a[0] + a[2]) / 2, (a[1] + a[3]) / 2], [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]])
    for order in (tie, tie[::-1]):
        assert t.densest_tile(order[:, 0], order[:, 1], 12) == (12, 2210, 1360, 1)
    with pytest.raises(ValueError, match="no points"):
        t.densest_tile(np.array([]), np.array([]), 12)


# --- profile summaries -----------------------------------------------------------------------


def test_speedscope_summary(helpers):
    frames = [{"name": "serve", "file": "/w/twin/cli.py"},
              {"name": "query", "file": "/w/twin/provider.py"},
              {"name": "__call__", "file": "/v/lib/python3.12/site-packages/pyproj/transformer.py"},
              {"name": "select", "file": "/p/lib/python3.12/selectors.py"}]
    doc = {"shared": {"frames": frames}, "profiles": [
        {"type": "sampled", "samples": [[0, 1, 2], [0, 1, 2], [0, 1], [0, 3]],
         "weights": [1, 1, 1, 1]}]}
    out = helpers.profiles.summarise_speedscope(doc)
    assert out["samples"] == 4
    assert out["self"][0] == {"frame": "__call__ (pyproj/transformer.py)", "share": 0.5}
    # The deepest of ours charged: query for three samples (two in pyproj), serve for one.
    assert out["ours"] == [{"frame": "query (twin/provider.py)", "share": 0.75},
                           {"frame": "serve (twin/cli.py)", "share": 0.25}]
    assert out["packages"][0] == {"frame": "pyproj", "share": 0.5}
    lines = helpers.profiles.summary_lines(out)
    assert "`pyproj` 50%" in lines[0] and "`query (twin/provider.py)` 75%" in lines[2]


def test_pyinstrument_summary(helpers):
    def node(function, path, time, *children):
        return {"function": function, "file_path": path, "time": time,
                "children": list(children)}

    doc = {"duration": 10.0, "root_frame": node(
        "<module>", "/w/twin/cli.py", 10.0,
        node("load", "/w/etl/core.py", 8.0,
             node("execute", "/v/site-packages/psycopg/cursor.py", 5.0),
             node("[self]", "", 1.0)),
        node("import", "/p/lib/python3.12/importlib/__init__.py", 2.0))}
    out = helpers.profiles.summarise_pyinstrument(doc)
    assert out["seconds"] == 10.0
    assert out["self"][0] == {"frame": "execute (psycopg/cursor.py)", "share": 0.5}
    assert {"frame": "load (etl/core.py)", "share": 0.3} in out["self"]  # [self] folded in
    assert out["ours"] == [{"frame": "load (etl/core.py)", "share": 0.8},
                           {"frame": "<module> (twin/cli.py)", "share": 0.2}]


def test_cpu_delta_counts_new_processes_from_zero(helpers):
    assert helpers.profiles.cpu_delta({1: 1.0, 2: 5.0}, {1: 1.5, 3: 0.25}) == pytest.approx(0.75)


def test_speedscope_process_frames_are_not_functions(helpers):
    # py-spy --subprocesses roots each stack in a "process PID:command" frame without a file.
    frames = [{"name": 'process 7:"twin load parcels x.gpkg"', "file": ""},
              {"name": "_prepare", "file": "/w/etl/core.py"}]
    doc = {"shared": {"frames": frames},
           "profiles": [{"type": "sampled", "samples": [[0, 1], [0]], "weights": [1, 1]}]}
    out = helpers.profiles.summarise_speedscope(doc)
    assert out["self"] == [{"frame": "_prepare (etl/core.py)", "share": 0.5},
                           {"frame": "no Python frame (native)", "share": 0.5}]
    assert helpers.profiles.package("_find_and_load (<frozen importlib._bootstrap>)") == \
        "importlib"
