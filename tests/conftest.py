"""Real parts only: a PostGIS database per test module, cloned from a template built once, data
loaded through the real ETL, and `twin serve` started as a real HTTP server.

A skipped test fails the run: tests that need PostGIS or the server must run, in CI too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import requests
from psycopg import sql

from etl.samples import load_samples
from twin import db
from twin.broker import Broker
from twin.pygeoapi_config import write_config
from twin.settings import PROJECT_ROOT, Settings

ADMIN_DSN = os.environ.get("TWIN_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# Per run, so two runs on one machine do not drop each other's databases.
RUN = f"{os.getpid()}"
TEMPLATE = f"twin_test_template_{RUN}"
PARCELS_SAMPLE = PROJECT_ROOT / "data" / "samples" / "parcels" / "flurstuecke_cottbus_mitte.gpkg"
TWIN = str(Path(sys.executable).with_name("twin"))


#: The longest modules, longest first (their times in bench/suite.py's run, issue 11), started
#: first: xdist hands out whole modules (--dist loadfile) in collection order (with
#: --no-loadscope-reorder, pyproject.toml; by default it would order them by their number of
#: tests, and schemathesis' and the privacy search's few long tests came last, leaving one
#: worker busy and the other idle at the end). Only the order changes, nothing is skipped.
LONG_MODULES = ("test_sensors.py", "test_buildings.py", "test_privacy.py",
                "test_schemathesis.py", "test_clients.py", "test_viewer.py", "test_heritage.py",
                "test_street_damage.py", "test_traffic.py", "test_dos.py",
                "test_pygeoapi_compat.py", "test_terrain.py", "test_commercial_land.py",
                "test_sensor_publish.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONG_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order within


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and exitstatus == 0:
        reporter.write_line(f"FAILED: {skipped} test(s) skipped; no test may be skipped here.",
                            red=True)
        session.exitstatus = 1


def _admin() -> psycopg.Connection:
    return psycopg.connect(ADMIN_DSN, autocommit=True)


def _drop(conn: psycopg.Connection, name: str) -> None:
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _url(dbname: str) -> str:
    base = ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base}/{dbname}"


@contextmanager
def _database(name: str, template: str | None = None) -> Iterator[str]:
    """A database created afresh (from ``template`` if given), dropped afterwards.

    Every connection to it runs without JIT, whoever opens it (the tests' own psycopg
    connections, the API's pool, GDAL, QGIS): the samples are tiny, but PostGIS's function
    costs put some plans above ``jit_above_cost``, and compiling them took longer than running
    them (issue 11). Set on each database: CREATE DATABASE ... TEMPLATE does not copy
    ALTER DATABASE settings. A test that is about JIT turns it on in its own session.
    """
    with _admin() as conn:
        _drop(conn, name)
        conn.execute(sql.SQL("CREATE DATABASE {}{}").format(
            sql.Identifier(name),
            sql.SQL(" TEMPLATE {}").format(sql.Identifier(template)) if template
            else sql.SQL("")))
        conn.execute(sql.SQL("ALTER DATABASE {} SET jit = off").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with _admin() as conn:
            _drop(conn, name)


@contextmanager
def _module_copy(template: str, tmp_path_factory,
                 data_dir: Path | None = None) -> Iterator[Settings]:
    """Settings of a module's own copy of ``template``, with its own config files, and its
    own data directory (the terrain's file) unless ``data_dir`` is shared."""
    tmp = tmp_path_factory.mktemp("cfg")
    with _database(f"twin_test_{uuid.uuid4().hex[:10]}", template) as name:
        yield Settings(database_url=_url(name), config_path=tmp / "pygeoapi.yml",
                       openapi_path=tmp / "openapi.yml", data_dir=data_dir or tmp / "data")


@pytest.fixture(scope="session")
def template_db() -> Iterator[str]:
    """A database with the schema, built once; modules clone it."""
    with _database(TEMPLATE) as name:
        db.init_schema(Settings(database_url=_url(name)))
        yield name


@pytest.fixture(scope="module")
def empty_settings(template_db: str, tmp_path_factory) -> Iterator[Settings]:
    """Settings of a fresh database with the schema and no data."""
    with _module_copy(template_db, tmp_path_factory) as settings:
        yield settings


@pytest.fixture(scope="session")
def samples_data_dir(tmp_path_factory) -> Path:
    """The data directory the samples are loaded into (the terrain's file), shared read-only
    by every module's loaded database: a test that loads terrain uses a directory of its own."""
    return tmp_path_factory.mktemp("samples_data")


@pytest.fixture(scope="session")
def samples_db(template_db: str, samples_data_dir: Path) -> Iterator[str]:
    """A template database with every sample of data/samples/ loaded through the real ETL."""
    with _database(f"twin_test_samples_{RUN}", template_db) as name:
        load_samples(Settings(database_url=_url(name), data_dir=samples_data_dir))
        yield name


#: Marks a module that only reads the sample data: no load, no write through the API or SQL,
#: no lock, no killed connection. Its ``loaded_settings``, ``server`` and ``pg`` are then the
#: session's one shared copy and server instead of a copy and a `twin serve` of its own (a
#: server's start costs seconds, most of a short module). Without the mark a module keeps
#: its own, so a new module that writes is safe by default.
READ_ONLY = "samples_read_only"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{READ_ONLY}: the module only reads the sample data; it shares the "
        "session's loaded database and server (tests/conftest.py)")


def _reads_only(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker(READ_ONLY) is not None


@pytest.fixture(scope="session")
def shared_loaded_settings(samples_db: str, samples_data_dir: Path,
                           tmp_path_factory) -> Iterator[Settings]:
    """Settings of the one copy of the sample-loaded database that read-only modules share."""
    with _module_copy(samples_db, tmp_path_factory, samples_data_dir) as settings:
        yield settings


@pytest.fixture(scope="module")
def loaded_settings(request: pytest.FixtureRequest, samples_db: str, samples_data_dir: Path,
                    tmp_path_factory) -> Iterator[Settings]:
    """Settings of a module's own copy of the sample-loaded database (the shared copy for a
    module marked ``samples_read_only``)."""
    if _reads_only(request):
        yield request.getfixturevalue("shared_loaded_settings")
        return
    with _module_copy(samples_db, tmp_path_factory, samples_data_dir) as settings:
        yield settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def twin_env(settings: Settings) -> dict[str, str]:
    """Environment under which the `twin` command uses ``settings``."""
    return {**os.environ, "TWIN_DATABASE_URL": settings.dsn,
            "TWIN_CONFIG_PATH": str(settings.config_path),
            "TWIN_OPENAPI_PATH": str(settings.openapi_path),
            "TWIN_DATA_DIR": str(settings.data_dir), "TWIN_LAND_KEY": settings.land_key}


class Server:
    """`twin serve` in a process of its own: the console script, as a user starts it (and as
    the benchmarks measure it), or with ``forked=True`` forked from the warm parent of
    tests/twin_zygote.py (the tests' servers: 2 s less per start)."""

    def __init__(self, settings: Settings, log: Path, *, forked: bool = False) -> None:
        from tests.helpers import spawn_twin

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        write_config(settings.config_path, settings)
        env = {**twin_env(settings), "TWIN_PUBLIC_URL": self.url}
        self.log = log
        args = ["serve", "--port", str(self.port), "--workers", "2"]
        self.proc = spawn_twin(env, *args, log=log) if forked else subprocess.Popen(
            [TWIN, *args], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"twin serve exited: {log.read_text()}")
            try:
                requests.get(self.url + "/", timeout=5)
                return
            # A first answer slower than the timeout (a busy machine) is not a dead server.
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"twin serve did not answer in 60 s: {log.read_text()}")

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.url + path, timeout=60, **kw)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def shared_server(shared_loaded_settings: Settings, tmp_path_factory) -> Iterator[Server]:
    """The API over the shared sample database, for modules marked ``samples_read_only``."""
    # The console script, as `make demo` starts it; the tests' other servers are forked.
    srv = Server(shared_loaded_settings, tmp_path_factory.mktemp("srv") / "server.log")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, loaded_settings: Settings,
           tmp_path_factory) -> Iterator[Server]:
    """The API over the module's sample data, on a free port."""
    if _reads_only(request):
        yield request.getfixturevalue("shared_server")
        return
    srv = Server(loaded_settings, tmp_path_factory.mktemp("srv") / "server.log", forked=True)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def pg(loaded_settings: Settings) -> Iterator[psycopg.Connection]:
    """A connection to the module's sample database, for expected values."""
    with psycopg.connect(loaded_settings.dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def mqtt_broker(tmp_path_factory) -> Iterator[Broker]:
    """Debian's mosquitto on a free port of its own, with a password file and an ACL
    (twin/broker.py: users ``twin``, ``lns``, ``dashboard``; anonymous refused). Never the
    broker a host may run on 1883. ``mqtt_broker.url("twin")`` is the intake's URL;
    ``.restart()`` and ``.stop()``/``.start()`` keep port and persistence."""
    broker = Broker(tmp_path_factory.mktemp("mosquitto")).start()
    yield broker
    broker.remove()
