"""The twin against its peers on the same data: tipg for the API, ogr2ogr for the load.

    make bench-quick                      # 10,000 parcels, about two minutes
    make bench-peers PEERS_COUNT=200000   # the issue's figures (issue 11)
    .venv/bin/python bench/peers.py --count 200000 [--rounds 3] [--seconds 10]

One scratch database. The parcel file (bench/parcel_files.py) is loaded by `ogr2ogr -f
PostgreSQL` (PG_USE_COPY=YES, a GiST index) into public.ogr_parcels and by `twin load parcels`
into the twin's table, first load and reload of the unchanged file, each under
`/usr/bin/time -v` for its peak memory, interleaved. Then `twin serve --workers 2` and tipg
(`uvicorn --workers 2`, from .venv-tipg) serve the twin's own table, and `wrk -t1 -c4` runs
rounds of the same queries against both, alternating which goes first, so that a machine
shared with other work loads both alike: the ratio of the two in one run is the figure. The
queries include vector tiles at z12, z14 and z16, each the densest tile of the loaded parcels
(bench/tile_choice.py); until the twin serves tiles its rows say what it answered. Each round
also reads the CPU the server's processes and PostgreSQL's backends spent per request (/proc).
Every goal the run misses is profiled in the run, after its measured rounds
(bench/profiles.py: py-spy on `twin serve` during one more wrk round; one more reload under
py-spy or pyinstrument), raw profiles to bench/results/profiles/COUNT/. The raw record goes to
bench/results/peers-COUNT-WHEN.json, a section of bench/RESULTS.md is rewritten
(bench/peers_report.py), then the scale table across sizes and the README's sentence
(bench/scale_report.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import requests
from pyproj import Transformer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
# The `twin` subprocesses run this checkout's code, not whichever one the venv was made from.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)

import numpy as np  # noqa: E402
import parcel_files  # noqa: E402
import peers_report  # noqa: E402
import profiles  # noqa: E402
import scale_report  # noqa: E402
import tile_choice  # noqa: E402
from scratch import TMP, drop_scratch, scratch_settings  # noqa: E402

from tests.conftest import TWIN, Server, free_port, twin_env  # noqa: E402
from twin.settings import Settings  # noqa: E402

SCRATCH = "twin_bench_peers"
TIPG = ROOT / ".venv-tipg" / "bin"
RESULTS = ROOT / "bench" / "results"
#: A square around Cottbus Mitte (EPSG:25833) that holds well over 100 parcels at every size:
#: tile 0 of every file is the sample itself.
BOX_25833 = (453_400.0, 5_734_000.0, 454_600.0, 5_735_200.0)
#: Requests one after another per query and server, for the single-client p50.
SERIAL = 15
EPSG_25833 = "http://www.opengis.net/def/crs/EPSG/0/25833"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000, help="parcels in the file")
    parser.add_argument("--rounds", type=int, default=3, help="wrk rounds per query and server")
    parser.add_argument("--seconds", type=int, default=10, help="length of one wrk run")
    parser.add_argument("--skip-etl", action="store_true",
                        help="load with the twin only once (no timing, no ogr2ogr)")
    parser.add_argument("--no-profile", action="store_true",
                        help="do not profile the goals this run does not meet")
    parser.add_argument("--load-profiler", choices=("py-spy", "pyinstrument"), default="py-spy",
                        help="profiler of the load (bench/profiles.py says which shows what)")
    args = parser.parse_args()
    path = parcel_files.write(args.count)
    record: dict = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
                    "count": args.count, "file": str(path.relative_to(ROOT)),
                    "file_mb": round(path.stat().st_size / 1e6),
                    "rounds": args.rounds, "seconds": args.seconds,
                    "argv": " ".join(["bench/peers.py", *sys.argv[1:]]),
                    "machine": machine(), "load_before": os.getloadavg()}
    profile_dir = None if args.no_profile else RESULTS / "profiles" / str(args.count)
    settings = scratch_settings(SCRATCH)
    try:
        record["versions"] = versions(settings)
        if args.skip_etl:
            run_load(["twin"], settings, path)
        else:
            record["etl"] = time_loads(settings, path)
            if profile_dir and not peers_report.etl_met(record["etl"]):
                try:
                    record["etl"]["profile"] = profile_load(settings, path, profile_dir,
                                                            args.load_profiler)
                except subprocess.CalledProcessError as exc:
                    record["etl"]["profile_error"] = (exc.stderr or b"")[-300:].decode()
        record["commands"] = commands(settings, path, args.seconds, args.load_profiler)
        record["sql"] = bare_sql(settings)
        record["tiles"] = choose_tiles(settings)
        record["api"] = compare_api(settings, args.count, args.rounds, args.seconds,
                                    record["tiles"], profile_dir,
                                    record["sql"]["bbox 100 median_ms"])
    finally:
        drop_scratch(SCRATCH)
    record["load_after"] = os.getloadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    raw = RESULTS / f"peers-{args.count}-{record['when'][:19].replace(':', '')}.json"
    raw.write_text(json.dumps(record, indent=2) + "\n")
    record["raw"] = str(raw.relative_to(ROOT))
    peers_report.update(ROOT / "bench" / "RESULTS.md", record)
    print(peers_report.section(record))
    print(scale_report.update(RESULTS, ROOT / "bench" / "RESULTS.md", ROOT / "README.md"))


# --- the machine and the versions ------------------------------------------------------------


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    mem = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    return {"cpu": cpu, "cpus": os.cpu_count(), "memory_gb": round(int(mem) / 1024 ** 2, 1),
            "platform": platform.platform()}


def versions(settings: Settings) -> dict:
    def out(cmd: list[str]) -> str:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()

    with psycopg.connect(settings.dsn) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
        postgis = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
    from importlib.metadata import version
    return {
        "twin": out(["git", "-C", str(ROOT), "describe", "--always", "--dirty"]),
        "pygeoapi": version("pygeoapi"), "python": platform.python_version(),
        "tipg": out([str(TIPG / "python"), "-c",
                     "from importlib.metadata import version; print(version('tipg'))"]),
        "postgresql": pg, "postgis": postgis,
        "gdal": out(["ogr2ogr", "--version"]), "wrk": out(["wrk", "--version"]).split("\n")[0]
        or subprocess.run(["wrk", "--version"], capture_output=True, text=True,
                          check=False).stderr.split("\n")[0],
    }


# --- loads -----------------------------------------------------------------------------------


def load_cmd(tool: str, settings: Settings, path: Path) -> list[str]:
    """The command line of one load: `twin load parcels` or ogr2ogr with COPY and GiST."""
    if tool == "twin":
        return [TWIN, "load", "parcels", str(path)]
    db = settings.dsn.rsplit("/", 1)[1]
    return ["ogr2ogr", "-f", "PostgreSQL", f"PG:host=127.0.0.1 user=postgres dbname={db}",
            str(path), "-nln", "ogr_parcels", "-overwrite", "-lco", "GEOMETRY_NAME=geom",
            "-lco", "SPATIAL_INDEX=GIST", "--config", "PG_USE_COPY", "YES"]


def commands(settings: Settings, path: Path, seconds: int, load_profiler: str
             ) -> dict[str, str]:
    """The commands the report prints, so a reader can run any figure again by hand."""
    rel = path.relative_to(ROOT)

    def show(cmd: list[str]) -> str:
        return " ".join(str(rel) if c == str(path) else Path(c).name if c == TWIN else c
                        for c in cmd)

    return {"twin load": show(load_cmd("twin", settings, path)),
            "ogr2ogr": show(load_cmd("ogr2ogr", settings, path)),
            "wrk": f"wrk -t1 -c4 -d{seconds}s --timeout 30s --latency URL",
            "twin serve": "twin serve --workers 2",
            "tipg": "uvicorn tipg.main:app --workers 2 (TIPG_DB_TABLES='[\"twin.parcels\"]')",
            "py-spy": "py-spy record --pid PID --subprocesses --nonblocking --rate 200 "
                      "--format speedscope --duration SECONDS (during one more wrk round)",
            "load profile": (f"py-spy record --idle --subprocesses --nonblocking --rate 100 "
                             f"--format speedscope -- twin load parcels {rel} (one more reload)"
                             if load_profiler == "py-spy" else
                             f"pyinstrument -r json twin load parcels {rel} (one more reload)")}


def profile_load(settings: Settings, path: Path, out_dir: Path, profiler: str) -> dict:
    """One more reload of the unchanged file under a profiler: where the load's time goes."""
    load = load_cmd("twin", settings, path)
    if profiler == "py-spy":
        out = out_dir / "load-reload.speedscope.json"
        cmd = profiles.spy_cmd(load, out)
    else:
        out = out_dir / "load-reload.pyinstrument.json"
        cmd = profiles.pyinstrument_cmd(load, out)
    started = time.perf_counter()
    subprocess.run(cmd, env=twin_env(settings), check=True, capture_output=True)
    wall = round(time.perf_counter() - started, 2)
    doc = json.loads(out.read_text())
    summary = (profiles.summarise_speedscope(doc) if profiler == "py-spy"
               else profiles.summarise_pyinstrument(doc))
    print(f"profile of the reload: {summary}", flush=True)
    return {"raw": str(out.relative_to(ROOT)), "profiler": profiler, "seconds": wall,
            **summary}


def run_load(tool: list[str], settings: Settings, path: Path) -> dict:
    """One load under /usr/bin/time -v: wall seconds and peak RSS."""
    cmd = load_cmd(tool[0], settings, path)
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *cmd], env=twin_env(settings),
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return {"seconds": round(seconds, 2), "peak_mb": round(int(rss[1]) / 1024) if rss else None,
            "load": os.getloadavg()[0]}


def time_loads(settings: Settings, path: Path) -> dict:
    """First load and reload of the unchanged file, ogr2ogr and the twin interleaved."""
    result: dict = {}
    for phase in ("first", "reload"):
        result[f"ogr2ogr_{phase}"] = run_load(["ogr2ogr"], settings, path)
        result[f"twin_{phase}"] = run_load(["twin"], settings, path)
        print(f"load {phase}: ogr2ogr {result[f'ogr2ogr_{phase}']}, "
              f"twin {result[f'twin_{phase}']}", flush=True)
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS public.ogr_parcels")
    return result


# --- the API ---------------------------------------------------------------------------------


class Tipg:
    """tipg over the twin's parcels table, two uvicorn workers."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DATABASE_URL": settings.dsn, "TIPG_DB_SCHEMAS": '["twin"]',
               "TIPG_DB_TABLES": '["twin.parcels"]', "TIPG_DB_FUNCTIONS": "[]"}
        self.proc = subprocess.Popen(
            [str(TIPG / "uvicorn"), "tipg.main:app", "--host", "127.0.0.1", "--port",
             str(self.port), "--workers", "2", "--log-level", "warning", "--no-access-log"],
            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=TMP)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tipg exited: {log.read_text()}")
            try:
                if requests.get(self.url + "/collections/twin.parcels", timeout=5).ok:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"tipg did not answer in 60 s: {log.read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def choose_tiles(settings: Settings) -> list[dict]:
    """The densest tile at z12, z14 and z16 of the loaded parcels (bench/tile_choice.py)."""
    with psycopg.connect(settings.dsn) as conn:
        rows = conn.execute("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Transform(ST_Centroid("
                            "geom), 4326) AS c FROM twin.parcels) s").fetchall()
    lonlat = np.asarray(rows, dtype=float)
    return [{"z": z, "x": x, "y": y, "centroids": n}
            for z, x, y, n in tile_choice.densest_tiles(lonlat[:, 0], lonlat[:, 1], TILE_ZOOMS)]


#: Zoom levels of the tile rows (issue 11: z12, z14 and z16 against tipg).
TILE_ZOOMS = (12, 14, 16)


def queries(settings: Settings, count: int, tiles: list[dict]) -> dict[str, dict]:
    """Each query as the twin's path and tipg's path (the same question to both) and a note."""
    to_lonlat = Transformer.from_crs(25833, 4326, always_xy=True)
    lon0, lat0, lon1, lat1 = to_lonlat.transform_bounds(*BOX_25833)
    crs84 = f"{lon0:.6f},{lat0:.6f},{lon1:.6f},{lat1:.6f}"
    utm = ",".join(f"{v:.0f}" for v in BOX_25833)
    with psycopg.connect(settings.dsn) as conn:
        key = conn.execute("SELECT flstkennz FROM twin.parcels ORDER BY flstkennz "
                           "OFFSET %s LIMIT 1", (count // 2,)).fetchone()[0]
        pk = conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'twin.parcels'::regclass "
            "AND i.indisprimary").fetchone()[0]
        tipg_id = conn.execute(f'SELECT "{pk}" FROM twin.parcels WHERE flstkennz = %s',  # noqa: S608
                               (key,)).fetchone()[0]
    deep = min(100_000, count // 2)
    ours, theirs = "/collections/parcels", "/collections/twin.parcels"
    cql = "filter-lang=cql2-text&filter=gemarkung%3D%27Sandow%27%20AND%20flaeche%3E1000"
    # f=json is ours; tipg's f=json is a list of rows with WKT, its GeoJSON is f=geojson.
    out = {
        "bbox 100 CRS84": (f"{ours}/items?f=json&limit=100&bbox={crs84}",
                           f"{theirs}/items?f=geojson&limit=100&bbox={crs84}", ""),
        # tipg has no bbox-crs/crs: it gets the same area in CRS84 and answers in CRS84.
        "bbox 100 EPSG:25833": (
            f"{ours}/items?f=json&limit=100&bbox={utm}&bbox-crs={EPSG_25833}&crs={EPSG_25833}",
            f"{theirs}/items?f=geojson&limit=100&bbox={crs84}", "tipg: the same area in CRS84"),
        "page of 1000": (f"{ours}/items?f=json&limit=1000",
                         f"{theirs}/items?f=geojson&limit=1000", ""),
        "feature by id": (f"{ours}/items/{key}?f=json", f"{theirs}/items/{tipg_id}?f=geojson",
                          ""),
        "CQL2 filter": (f"{ours}/items?f=json&limit=100&{cql}",
                        f"{theirs}/items?f=geojson&limit=100&{cql}", ""),
        "deep page": (f"{ours}/items?f=json&limit=100&offset={deep}",
                      f"{theirs}/items?f=geojson&limit=100&offset={deep}", f"offset {deep}"),
    }
    for t in tiles:
        # OGC API Tiles orders {tileMatrix}/{tileRow}/{tileCol}; tipg takes {z}/{x}/{y}.
        z, x, y = t["z"], t["x"], t["y"]
        out[f"tile z{z}"] = (f"{ours}/tiles/WebMercatorQuad/{z}/{y}/{x}",
                             f"{theirs}/tiles/WebMercatorQuad/{z}/{x}/{y}",
                             f"x {x}, y {y}: {t['centroids']:,} parcel centroids")
    return {name: {"twin": a, "tipg": b, "note": note} for name, (a, b, note) in out.items()}


def probe(url: str, session: requests.Session | None = None) -> dict:
    """One request: status, bytes as sent (no compression asked, as wrk), features, time;
    over ``session``'s kept-alive connection, or a new connection."""
    started = time.perf_counter()
    r = (session or requests).get(url, timeout=120, headers={"Accept-Encoding": "identity"})
    out = {"status": r.status_code, "bytes": len(r.content),
           "ms": round((time.perf_counter() - started) * 1000, 1),
           "type": r.headers.get("content-type", "")}
    if r.headers.get("content-encoding"):  # sent compressed though not asked: say so
        out["encoding"] = r.headers["content-encoding"]
    if r.ok and "json" in out["type"]:
        body = r.json()
        out["features"] = len(body["features"]) if "features" in body else 1
        if "numberMatched" in body:
            out["matched"] = body["numberMatched"]
    return out


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def wrk(url: str, seconds: int, connections: int = 4) -> dict:
    """`wrk -t1 -c4` (or ``connections``) for ``seconds``: requests per second, latency
    percentiles, errors."""
    done = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
                           "--latency", url], capture_output=True, text=True, check=True)
    text = done.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1])
    requests_done = re.search(r"(\d+) requests in", text)
    pct = {f"p{m[1]}_ms": round(float(m[2]) * _UNITS[m[3]], 2)
           for m in re.finditer(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    return {"rps": rps, "requests": int(requests_done[1]) if requests_done else 0, **pct,
            "non_2xx": int(non2xx[1]) if non2xx else 0,
            "socket_errors": errors[1] if errors else None, "load": os.getloadavg()[0]}


def backend_pids(settings: Settings) -> list[int]:
    """PostgreSQL's server processes of the scratch database (both servers' pools)."""
    with psycopg.connect(settings.dsn) as conn:
        return [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()")]


def measured_wrk(url: str, seconds: int, server_pid: int, settings: Settings) -> dict:
    """A wrk round plus the CPU it cost: the server's processes and PostgreSQL's backends,
    in milliseconds per request (the other server idles meanwhile)."""
    tree, backends = profiles.tree_pids(server_pid), backend_pids(settings)
    before = profiles.cpu_seconds(tree), profiles.cpu_seconds(backends)
    out = wrk(url, seconds)
    backends = sorted(set(backends) | set(backend_pids(settings)))
    spent = (profiles.cpu_delta(before[0], profiles.cpu_seconds(profiles.tree_pids(server_pid))),
             profiles.cpu_delta(before[1], profiles.cpu_seconds(backends)))
    if out["requests"]:
        out["cpu_ms_per_req"] = {"server": round(spent[0] * 1000 / out["requests"], 2),
                                 "postgresql": round(spent[1] * 1000 / out["requests"], 2)}
    return out


def compare_api(settings: Settings, count: int, rounds: int, seconds: int, tiles: list[dict],
                profile_dir: Path | None, sql_ms: float) -> dict:
    ours = Server(settings, TMP / "twin-serve.log")
    try:
        theirs = Tipg(settings, TMP / "tipg.log")
    except Exception:
        ours.stop()
        raise
    pids = {"twin": ours.proc.pid, "tipg": theirs.proc.pid}
    try:
        result: dict = {}
        for name, q in queries(settings, count, tiles).items():
            urls = {"twin": ours.url + q["twin"], "tipg": theirs.url + q["tipg"]}
            entry: dict = {"paths": {"twin": q["twin"], "tipg": q["tipg"]}, "note": q["note"],
                           "probe": {s: probe(u) for s, u in urls.items()}, "runs": {}}
            entry["probe"] = {s: probe(u) for s, u in urls.items()}  # warm, then probe
            servers = [s for s in urls if entry["probe"][s]["status"] == 200]
            # One client, one request at a time: the latency the bare SQL is held to. Over
            # one kept-alive connection, as psql and psycopg keep theirs (the bare SQL is
            # timed on an open connection) and as QGIS keeps its; a new connection per
            # request (requests.get) is recorded beside it.
            entry["serial_p50_ms"], entry["serial_p50_new_conn_ms"] = {}, {}
            for s in servers:
                with requests.Session() as session:
                    probe(urls[s], session)  # the connection, opened
                    entry["serial_p50_ms"][s] = round(statistics.median(
                        probe(urls[s], session)["ms"] for _ in range(SERIAL)), 1)
                entry["serial_p50_new_conn_ms"][s] = round(statistics.median(
                    probe(urls[s])["ms"] for _ in range(SERIAL)), 1)
            if name == peers_report.BBOX and "twin" in servers:
                entry["paired_sql"] = paired_with_bare_sql(urls["twin"], settings)
            entry["runs"] = {s: [] for s in servers}
            for r in range(rounds):
                for s in (servers if r % 2 == 0 else servers[::-1]):
                    entry["runs"][s].append(measured_wrk(urls[s], seconds, pids[s], settings))
            entry["rps"] = {s: round(statistics.mean(x["rps"] for x in runs), 1)
                            for s, runs in entry["runs"].items()}
            entry["p50_ms"] = {s: round(statistics.median(x["p50_ms"] for x in runs), 1)
                               for s, runs in entry["runs"].items()}
            entry["cpu_ms_per_req"] = {s: {k: round(statistics.median(
                x["cpu_ms_per_req"][k] for x in runs), 2) for k in ("server", "postgresql")}
                for s, runs in entry["runs"].items()
                if all("cpu_ms_per_req" in x for x in runs)}
            if len(servers) == 2 and entry["rps"]["tipg"] > 0:
                entry["ratio"] = round(entry["rps"]["twin"] / entry["rps"]["tipg"], 2)
                entry["round_ratios"] = [round(a["rps"] / b["rps"], 2) if b["rps"] else None
                                         for a, b in zip(entry["runs"]["twin"],
                                                         entry["runs"]["tipg"], strict=True)]
            elif len(servers) == 2:
                # The peer finished no request within a round (a deep page on a busy machine):
                # the ratio of the one-client latencies says the same thing, measurably.
                serial = entry["serial_p50_ms"]
                entry["ratio"] = round(serial["tipg"] / serial["twin"], 2)
                entry["ratio_from"] = "one-client p50 (tipg finished no request in a round)"
            # The bbox page is also held to the bare SQL's time: profiled when either misses.
            missed = not peers_report.api_met(entry) or (
                name == peers_report.BBOX and not peers_report.sql_met(entry, sql_ms))
            if profile_dir and "twin" in servers and missed:
                out = profile_dir / f"{slug(name)}.speedscope.json"
                try:
                    spied = profiles.spy_during(pids["twin"], seconds, out,
                                                lambda u=urls["twin"]: wrk(u, seconds))
                except RuntimeError as exc:  # no ptrace here, say: the figures still count
                    entry["profile_error"] = str(exc)[-300:]
                else:
                    entry["profile"] = {
                        "raw": str(out.relative_to(ROOT)), "rps": spied["rps"],
                        **profiles.summarise_speedscope(json.loads(out.read_text()))}
            print(f"{name}: rps {entry['rps']}, ratio {entry.get('ratio')}, "
                  f"cpu {entry['cpu_ms_per_req']}, probe {entry['probe']}", flush=True)
            result[name] = entry
        return result
    finally:
        ours.stop()
        theirs.stop()


def slug(name: str) -> str:
    """A file name for a query's profile: ``bbox 100 CRS84`` -> ``bbox-100-crs84``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


#: The bbox page of 100 as one SQL statement, GeoJSON built in PostgreSQL: the floor the
#: API's p50 is held to (within 2x).
BARE_SQL = (
    "SELECT json_build_object('type', 'FeatureCollection', 'features', "
    "coalesce(json_agg(ST_AsGeoJSON(t.*, 'geom')::json), '[]')) FROM ("
    "SELECT p.flstkennz, p.land, p.gemarkung, p.gemaschl, p.flur, p.flstnrzae, "
    "p.flstnrnen, p.flaeche, p.lagebeztxt, p.tntxt, p.kreis, p.kreisschl, p.gemeinde, "
    "p.gmdschl, p.aktualit, p.idflurst, p.heritage, p.denkmalnummern, "
    "ST_Transform(p.geom, 4326) AS geom FROM twin.parcels p "
    "WHERE p.geom && ST_MakeEnvelope(%s, %s, %s, %s, 25833) "
    "ORDER BY p.flstkennz LIMIT 100) t")


def _bare_ms(conn: psycopg.Connection) -> float:
    """One run of the bare statement on ``conn``, in ms."""
    started = time.perf_counter()
    conn.execute(BARE_SQL, BOX_25833).fetchone()
    return (time.perf_counter() - started) * 1000


def bare_sql(settings: Settings, repeat: int = 20) -> dict:
    """The bare statement's median ms on an open connection, and its text."""
    with psycopg.connect(settings.dsn) as conn:
        times = [_bare_ms(conn) for _ in range(repeat + 2)]
    return {"bbox 100 median_ms": round(statistics.median(times[2:]), 2),
            "statement": BARE_SQL % BOX_25833}


def paired_with_bare_sql(url: str, settings: Settings, turns: int = 5,
                         seconds: int = 2) -> dict:
    """The bbox page's one-client p50 and the bare statement's, timed in turns (``turns``
    times: one client for ``seconds``, then the statement as often as that client's
    requests), so that on a shared machine whose speed moves within minutes both meet the
    same moments; their ratio is the goal's.

    The client is wrk with one connection, kept alive: a client in C, as psql and psycopg's
    libpq are, so that the figure is the server's and not the client's (requests' own
    parsing of 75 KB adds 1-1.5 ms; its p50 is recorded beside, as ``serial_p50_ms``).
    """
    ours, bare = [], []
    with psycopg.connect(settings.dsn) as conn:
        _bare_ms(conn)
        for _ in range(turns):
            one = wrk(url, seconds, connections=1)
            ours.append(one["p50_ms"])
            bare += [_bare_ms(conn) for _ in range(max(10, min(one["requests"], 500)))]
    return {"turns": turns, "client": f"wrk -t1 -c1 -d{seconds}s", "twin_p50_ms":
            round(statistics.median(ours), 2), "turn_p50s_ms": ours,
            "sql_p50_ms": round(statistics.median(bare), 2)}


if __name__ == "__main__":
    main()
