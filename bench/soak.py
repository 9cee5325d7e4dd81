"""Soak test: faults under traffic, in a PostgreSQL cluster of its own.

    make soak                      # or: .venv/bin/python bench/soak.py --seconds 60
    make soak SOAK_SECONDS=20      # a short run

Creates a PostgreSQL cluster of its own (``pg_createcluster <major> twin_soak`` on a free port;
the shared cluster is never touched), creates the schema and loads data/samples/ into it,
serves it with ``twin serve`` and then, with concurrent readers across every collection (item
pages, single items, bbox, filters, CSV and HTML), slow clients and expensive filters alongside:

1. ``steady``: the parcels are replaced over and over (``twin load parcels``, the sample and a
   modified copy in turn) for ``--seconds``; from then on loads go on in the background, so the
   faults below hit some of them mid-way;
2. ``restart``: PostgreSQL is restarted under traffic (``pg_ctlcluster restart``), then
   traffic goes on;
3. ``quiet restart``: restarted again with the readers held, so every pooled connection dies
   idle and the first requests after it probe for stale connections;
4. ``stopped``: PostgreSQL is stopped for ``--stop-seconds`` (30) and started again, then
   traffic goes on (``recovered``).

The bar (exit status 1 when missed): no 500 at all; a cheap request answers 200 unless it
overlapped a time the database was down (then 503 is allowed) or the server refused it for
fairness (429, counted apart); no request started after the database was back fails (stale
pooled connections); no load run is left ``running``. Figures go to bench/RESULTS.md and
the raw record to bench/results/soak-*.json. The cluster is dropped at the end, also on
failure or Ctrl-C. Needs root (or the postgres user) for the cluster commands.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote, unquote

import pyarrow.compute as pc
import pyogrio
import requests
from soak_report import Hit, Timeline, markdown, summarise, write_results

ROOT = Path(__file__).resolve().parent.parent
TWIN = str(Path(sys.executable).with_name("twin"))
CLUSTER = "twin_soak"
PARCELS_SAMPLE = ROOT / "data" / "samples" / "parcels" / "flurstuecke_cottbus_mitte.gpkg"
#: What the API answers when the database is down (twin/errors.py UNAVAILABLE).
DB_DOWN_TEXT = "temporarily unavailable"
READERS, TIMEOUT_S = 6, 30
#: A request: path with query, and a CQL2 JSON body to POST (None: a GET).
Request = tuple[str, str | None]


# -- the cluster ------------------------------------------------------------------------------

def _sh(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result


def postgis_major() -> str:
    """The newest installed PostgreSQL major version that has PostGIS."""
    majors = sorted((p.name for p in Path("/usr/lib/postgresql").iterdir()
                     if Path(f"/usr/share/postgresql/{p.name}/extension/postgis.control")
                     .exists()), key=int)
    if not majors:
        raise SystemExit("soak: no PostgreSQL with PostGIS installed; run `make setup`")
    return majors[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """The soak's own PostgreSQL cluster, on loopback only."""

    def __init__(self, major: str, port: int) -> None:
        self.major, self.port = major, port
        self.dsn = f"postgresql://postgres@127.0.0.1:{port}/twin"

    def ctl(self, action: str) -> None:
        _sh("pg_ctlcluster", "--skip-systemctl-redirect", self.major, CLUSTER, action)

    def create(self) -> None:
        self.drop()  # a cluster left by a run that was killed
        _sh("pg_createcluster", "--start-conf=manual", "-p", str(self.port),
            "-o", "max_connections=60",
            self.major, CLUSTER, "--", "--auth=trust")
        self.ctl("start")
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _sh("pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port),
                   check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"the soak cluster is not ready after {timeout} s")

    def drop(self) -> None:
        _sh("pg_dropcluster", "--stop", self.major, CLUSTER, check=False)


# -- the files the loader alternates ---------------------------------------------------------

def modified_parcels(path: Path, keep_keys: set[str]) -> tuple[Path, int]:
    """The parcel sample with every area changed and every 20th parcel left out, except the
    parcels in ``keep_keys`` (the readers ask for them by id)."""
    meta, table = pyogrio.read_arrow(PARCELS_SAMPLE)
    i = table.schema.get_field_index("flaeche")
    table = table.set_column(i, table.schema.field(i), pc.add(table["flaeche"], 1.0))
    keys = table["flstkennz"].to_pylist()
    table = table.take([k for k in range(table.num_rows) if k % 20 or keys[k] in keep_keys])
    pyogrio.write_arrow(table, path, layer="flurstueck", driver="GPKG", crs=meta["crs"],
                        geometry_type="Polygon", geometry_name=meta["geometry_name"])
    return path, table.num_rows


# -- traffic ---------------------------------------------------------------------------------

def cheap_requests(base: str) -> list[Request]:
    """Cheap requests across every collection, built from what the API lists."""
    paths: list[str] = []
    collections = requests.get(f"{base}/collections?f=json", timeout=TIMEOUT_S).json()
    for coll in collections["collections"]:
        cid = coll["id"]
        items = f"/collections/{cid}/items"
        paths += [f"{items}?f=json&limit=10", f"{items}?f=json&limit=10&offset=20",
                  f"{items}?f=csv&limit=50", f"{items}?f=html&limit=10"]
        page = requests.get(f"{base}{items}?f=json&limit=20", timeout=TIMEOUT_S).json()
        queryables = requests.get(f"{base}/collections/{cid}/queryables?f=json",
                                  timeout=TIMEOUT_S).json().get("properties", {})
        for feature in page["features"][:3]:
            fid = quote(str(feature["id"]), safe="")
            paths += [f"{items}/{fid}?f=json", f"{items}/{fid}?f=html"]
        feature = page["features"][0] if page["features"] else None
        if feature and feature.get("geometry"):
            x, y = _first_point(feature["geometry"]["coordinates"])
            paths.append(f"{items}?f=json&limit=50&bbox={x - 0.003:.5f},{y - 0.003:.5f},"
                         f"{x + 0.003:.5f},{y + 0.003:.5f}")
        for name, value in (feature or {}).get("properties", {}).items():
            if name in queryables and isinstance(value, str) and "'" not in value \
                    and 0 < len(value) < 40:
                paths.append(f"{items}?f=json&limit=10&{quote(name)}={quote(value)}")
                paths.append(f"{items}?f=json&limit=10&filter="
                             + quote(f"{name}='{value}'"))
                break
    return [(p, None) for p in paths]


def _first_point(coords: list) -> tuple[float, float]:
    while isinstance(coords[0], list):
        coords = coords[0]
    return float(coords[0]), float(coords[1])


def _ring(vertices: int) -> list[list[float]]:
    ring = [[round(14.334 + 0.02 * math.cos(a / vertices * math.tau), 6),
             round(51.76 + 0.012 * math.sin(a / vertices * math.tau), 6)]
            for a in range(vertices)]
    return [*ring, ring[0]]


def expensive_requests() -> list[Request]:
    """Filters of the kind that held workers for half a minute (issue 6): a many-vertex
    polygon by GET (as long as a request line may be) and by POST (CQL2 JSON), a big page."""
    polygon = "POLYGON((" + ",".join(f"{x} {y}" for x, y in _ring(60)) + "))"
    cql_json = json.dumps({"op": "s_intersects", "args": [
        {"property": "geometry"}, {"type": "Polygon", "coordinates": [_ring(190)]}]})
    items = "/collections/parcels/items"
    return [(f"{items}?f=json&limit=1000&filter=" + quote(f"S_TOUCHES(geometry,{polygon})"),
             None),
            (f"{items}?f=json&limit=1000", cql_json),
            (f"{items}?f=json&limit=10000", None)]


def _request(session: requests.Session, base: str, request: Request, kind: str) -> Hit:
    path, body = request
    start = time.monotonic()
    try:
        r = (session.get(base + path, timeout=TIMEOUT_S) if body is None else
             session.post(base + path, data=body, timeout=TIMEOUT_S,
                          headers={"Content-Type": "application/query-cql-json"}))
        status, down = str(r.status_code), (r.status_code == 503 and DB_DOWN_TEXT in r.text)
    except requests.Timeout:
        status, down = "timeout", False
    except requests.ConnectionError:
        status, down = "connection", False
    what = f"{'GET' if body is None else 'POST'} {path}"
    return Hit(kind, what if len(what) < 160 else what[:150] + "...", start, time.monotonic(),
               status, down)


class Gate:
    """Lets the readers' requests through, or holds them while nothing is in flight."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.active, self.closed = 0, False

    def enter(self, until: float) -> bool:
        with self.cond:
            while self.closed and time.monotonic() < until:
                self.cond.wait(0.2)
            self.active += 1
            return not self.closed

    def leave(self) -> None:
        with self.cond:
            self.active -= 1
            self.cond.notify_all()

    def close(self) -> None:
        """Hold new requests and wait (at most one request timeout) for those in flight."""
        deadline = time.monotonic() + TIMEOUT_S + 5
        with self.cond:
            self.closed = True
            while self.active and time.monotonic() < deadline:
                self.cond.wait(0.2)

    def open(self) -> None:
        with self.cond:
            self.closed = False
            self.cond.notify_all()


def reader(base: str, requests_: list[Request], kind: str, until: float, stop: threading.Event,
           gate: Gate, hits: list[Hit], seed: int) -> None:
    rng = random.Random(seed)
    with requests.Session() as session:
        while time.monotonic() < until and not stop.is_set():
            try:
                if gate.enter(until):
                    hits.append(_request(session, base, rng.choice(requests_), kind))
            finally:
                gate.leave()


def slow_client(port: int, until: float, stop: threading.Event, record: list[dict]) -> None:
    """Partial headers, one line every 5 s, for at most 30 s per connection."""
    while time.monotonic() < until and not stop.is_set():
        opened, ended = time.monotonic(), "held 30 s"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"GET /collections HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                while time.monotonic() - opened < 30 and not stop.wait(5):
                    s.sendall(b"X-Slow: 1\r\n")
        except OSError as exc:
            ended = f"closed by server ({type(exc).__name__})"
        record.append({"seconds": round(time.monotonic() - opened, 1), "ended": ended})


def loader(env: dict, files: list[Path], until: float, record: list[dict],
           stop: threading.Event | None = None) -> None:
    """`twin load parcels` with the files in turn until ``until`` (or ``stop``)."""
    n = 0
    while time.monotonic() < until and not (stop and stop.is_set()):
        path = files[n % len(files)]
        start = time.monotonic()
        result = subprocess.run([TWIN, "load", "parcels", str(path)], env=env,
                                capture_output=True, text=True, timeout=300)
        record.append({"start": start, "end": time.monotonic(), "file": path.name,
                       "exit": result.returncode,
                       "message": result.stderr.strip().splitlines()[-1:]})
        n += 1


# -- the run ---------------------------------------------------------------------------------

def run(args: argparse.Namespace, cluster: Cluster, work: Path) -> dict:
    env = {**os.environ, "TWIN_DATABASE_URL": cluster.dsn,
           "TWIN_CONFIG_PATH": str(work / "pygeoapi.yml"),
           "TWIN_OPENAPI_PATH": str(work / "openapi.yml"), "TWIN_DATA_DIR": str(work / "data"),
           "PYTHONPATH": str(ROOT)}
    for step in (["db", "init"], ["load-samples"], ["config", "--output", str(work /
                                                                            "pygeoapi.yml")]):
        subprocess.run([TWIN, *step], env=env, check=True, capture_output=True, timeout=600)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [TWIN, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers",
         str(args.workers)], env={**env, "TWIN_PUBLIC_URL": base},
        stdout=(work / "server.log").open("w"), stderr=subprocess.STDOUT)
    try:
        _wait_for_server(base, server)
        cheap = cheap_requests(base)
        keep = {unquote(path.split("/items/")[1].split("?")[0]) for path, _ in cheap
                if path.startswith("/collections/parcels/items/")}
        modified, n_modified = modified_parcels(work / "flurstuecke_geaendert.gpkg", keep)
        return _traffic(args, cluster, env, base, port, cheap, modified, n_modified)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def _wait_for_server(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("twin serve exited")
        try:
            requests.get(base + "/", timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.3)
    raise RuntimeError("twin serve did not answer in 60 s")


def _traffic(args: argparse.Namespace, cluster: Cluster, env: dict, base: str, port: int,
             cheap: list[Request], modified: Path, n_modified: int) -> dict:
    expensive = expensive_requests()
    after_s = max(10.0, args.seconds / 4)
    # Upper bound of the whole traffic; each phase ends its threads by the clock below.
    total = args.seconds + 4 * after_s + args.stop_seconds + 180
    tl = Timeline()
    until = tl.t0 + total
    stop = threading.Event()
    hits: list[Hit] = []
    loads: list[dict] = []
    slow: list[dict] = []

    def thread(fn, *a) -> threading.Thread:
        return threading.Thread(target=fn, args=a, daemon=True)

    gate = Gate()
    threads = [thread(reader, base, cheap, "cheap", until, stop, gate, hits, i)
               for i in range(READERS)]
    threads.append(thread(reader, base, expensive, "expensive", until, stop, gate, hits, 99))
    threads += [thread(slow_client, port, until, stop, slow) for _ in range(args.slow_clients)]
    tl.phase("steady")
    for t in threads:
        t.start()
    loader(env, [PARCELS_SAMPLE, modified], tl.t0 + args.seconds, loads)
    # From here on loads go on in the background: the restart and the stop hit them mid-way
    # (they fail, and their runs must end up `failed`, not `running`).
    threads.append(thread(loader, env, [PARCELS_SAMPLE, modified], until, loads, stop))
    threads[-1].start()
    time.sleep(2)  # a load under way: the process has started and connected

    tl.phase("restart")
    tl.down()
    cluster.ctl("restart")
    cluster.wait_ready()
    tl.back()
    tl.phase("after restart")
    time.sleep(after_s)

    # Under traffic, each worker meets its dead connections while the database is still
    # restarting (excused as an outage). Restarted with the readers held, every pooled
    # connection dies idle: the first requests after are the probe for stale connections.
    gate.close()
    tl.phase("quiet restart")
    tl.down()
    cluster.ctl("restart")
    cluster.wait_ready()
    tl.back()
    tl.phase("after quiet restart")
    gate.open()
    time.sleep(after_s)

    tl.phase("stopped")
    tl.down()
    cluster.ctl("stop")
    time.sleep(args.stop_seconds)
    tl.phase("starting")
    cluster.ctl("start")
    cluster.wait_ready()
    tl.back()
    tl.phase("recovered")
    time.sleep(after_s)
    stop.set()
    tl.phase("done")
    for t in threads:  # a request ends within TIMEOUT_S, a load of the samples in seconds
        t.join(timeout=TIMEOUT_S + 30)
    status = subprocess.run([TWIN, "db", "status", "--runs", "1000"], env=env,
                            capture_output=True, text=True, timeout=120)
    settings = {"seconds": args.seconds, "stop_seconds": args.stop_seconds,
                "workers": args.workers, "readers": READERS, "slow_clients": args.slow_clients,
                "request_timeout_s": TIMEOUT_S}
    return summarise(settings, tl, hits, loads, slow, status, n_modified)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="length of the steady phase")
    parser.add_argument("--stop-seconds", type=int, default=30,
                        help="how long PostgreSQL is stopped")
    parser.add_argument("--workers", type=int, default=2, help="`twin serve --workers`")
    parser.add_argument("--slow-clients", type=int, default=2,
                        help="clients sending partial headers, one line every 5 s")
    parser.add_argument("--drop-only", action="store_true",
                        help="only drop a soak cluster left behind (make soak's trap)")
    args = parser.parse_args()
    cluster = Cluster(postgis_major(), free_port())
    if args.drop_only:
        cluster.drop()
        return 0
    # Ctrl-C and SIGTERM unwind through `finally`, which drops the cluster.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with tempfile.TemporaryDirectory(prefix="twin-soak-") as tmp:
            print(f"soak: cluster {cluster.major}/{CLUSTER} on 127.0.0.1:{cluster.port}",
                  flush=True)
            cluster.create()
            result = run(args, cluster, Path(tmp))
    finally:
        cluster.drop()
        print(f"soak: dropped cluster {cluster.major}/{CLUSTER}", flush=True)
    write_results(result)
    print(markdown(result))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
