"""What many test modules ask of a database or a `twin` run, written once.

Tables and keys come from the registry, so a helper cannot drift from the schema.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from tests.conftest import twin_env
from twin.registry import get_collection
from twin.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def run_twin(settings: Settings, *args: str, timeout: float = 300
             ) -> subprocess.CompletedProcess:
    """`twin ARGS` as a user runs it, against the database of ``settings``: a process of its
    own, forked from a warm parent (tests/twin_zygote.py) to spare it the imports."""
    return _zygote().run([os.fspath(a) for a in args], twin_env(settings), timeout)


def spawn_twin(env: dict[str, str], *args: str, log: Path) -> Spawned:
    """`twin ARGS` started and left running (a server), stdout and stderr into ``log``;
    forked like :func:`run_twin`'s runs."""
    return _zygote().spawn([os.fspath(a) for a in args], env, log)


class Spawned:
    """A `twin` run of :func:`spawn_twin`: what the tests use of :class:`subprocess.Popen`."""

    def __init__(self, zygote: _Zygote, pid: int) -> None:
        self.zygote, self.pid = zygote, pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.wait(0) if self.returncode is None else self.returncode

    def wait(self, timeout: float) -> int | None:
        """The exit code; raises TimeoutExpired while it runs after ``timeout`` (0: None)."""
        if self.returncode is None:
            self.returncode = self.zygote.wait(self.pid, timeout)
            if self.returncode is None and timeout > 0:
                raise subprocess.TimeoutExpired(f"twin (pid {self.pid})", timeout)
        return self.returncode

    def terminate(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)


class _Zygote:
    """This test process' tests/twin_zygote.py."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.twin_zygote"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.fd = self.proc.stdout.fileno()
        self.buffer = b""
        self.work = Path(tempfile.mkdtemp(prefix="twin-runs-"))

    def run(self, args: list[str], env: dict[str, str], timeout: float
            ) -> subprocess.CompletedProcess:
        out, err = self.work / "out", self.work / "err"
        request = {"args": args, "env": env, "cwd": os.getcwd(), "out": str(out),
                   "err": str(err)}
        self._send(request)
        pid = self._answer(60)["pid"]
        try:
            rc = self._answer(timeout)["rc"]
        except subprocess.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
            self._answer(60)
            raise
        return subprocess.CompletedProcess(
            ["twin", *args], rc, out.read_text(encoding="utf-8", errors="replace"),
            err.read_text(encoding="utf-8", errors="replace"))

    def spawn(self, args: list[str], env: dict[str, str], log: Path) -> Spawned:
        self._send({"args": args, "env": env, "cwd": os.getcwd(), "out": str(log),
                    "err": str(log), "detach": True})
        return Spawned(self, self._answer(60)["pid"])

    def wait(self, pid: int, timeout: float) -> int | None:
        self._send({"wait": pid, "timeout": timeout})
        return self._answer(timeout + 60)["rc"]

    def _send(self, request: dict) -> None:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()

    def _answer(self, timeout: float) -> dict:
        # Read off the pipe's descriptor: a buffered reader could hold both answers of a
        # quick run while select() waits for a second that has already arrived.
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.fd], [], [], max(0, deadline - time.monotonic()))
            if not ready:
                raise subprocess.TimeoutExpired("twin", timeout)
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise RuntimeError(f"tests/twin_zygote.py ended (status {self.proc.wait()})")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.work, ignore_errors=True)


@functools.cache
def _zygote() -> _Zygote:
    zygote = _Zygote()
    atexit.register(zygote.close)
    return zygote


def last_run(settings: Settings) -> dict:
    """The newest row of twin.load_run."""
    with psycopg.connect(settings.dsn, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT * FROM twin.load_run ORDER BY id DESC LIMIT 1").fetchone()


def _per_collection(settings: Settings, ids: tuple[str, ...], template: str) -> tuple:
    out: list = []
    with psycopg.connect(settings.dsn) as conn:
        for cid in ids:
            c = get_collection(cid)
            row = conn.execute(sql.SQL(template).format(
                table=sql.Identifier(c.schema, c.table),
                key=sql.Identifier(c.id_field.name))).fetchone()
            out.extend(row)
    return tuple(out)


def published_of(*ids: str) -> Callable[[Settings], tuple]:
    """A function giving row count and digest of every published row of the collections:
    what a reader sees."""
    return lambda settings: _per_collection(
        settings, ids, "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY "
                       "t.{key})), '') FROM {table} t")


def xmins_of(*ids: str) -> Callable[[Settings], tuple]:
    """A function giving the row versions of the collections: equal when no row was
    rewritten."""
    return lambda settings: _per_collection(
        settings, ids, "SELECT string_agg(xmin::text, ',' ORDER BY {key}) FROM {table}")


def assert_refused(result: subprocess.CompletedProcess, path: Path, words: list[str]) -> None:
    """A refused load: non-zero exit, and a message naming the file and saying ``words``."""
    assert result.returncode != 0
    assert str(path) in result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)
