"""`twin` commands forked from a warm parent, for the test suite's ~320 runs of them.

A small load takes 0.8 s of CPU as a fresh `twin` process, 0.55 s of that importing what the
command needs (psycopg, Arrow, GDAL, shapely, the sources); a child forked from a process that
imported them once starts in milliseconds. The child is still a process of its own with the
environment, arguments, exit status, stdout and stderr of the console script's run
(``twin = "twin.cli:app"``), and it exits through the interpreter's normal shutdown (atexit
handlers, thread joins, flushing). Nothing is imported that reads the environment or settings:
those belong to each run. Tests that signal, kill or serve a `twin` start the console script
itself, so the real entry point stays covered.

`twin serve` is forked too (its start imported pygeoapi, Flask, gunicorn and uvicorn, 1.5 s
of each of ~27 server starts); pygeoapi's app module, which reads the config when imported, is
not imported here but in each server, as in a fresh process. The session's shared server
still starts the console script.

Protocol, one JSON object per line: the test sends ``{"args", "env", "cwd", "out", "err"}``,
the zygote answers ``{"pid"}`` when the child runs and ``{"rc"}`` (as
:attr:`subprocess.Popen.returncode`: negative for a signal) when it has ended. With
``"detach": true`` (a server) only ``{"pid"}`` is answered; ``{"wait": pid, "timeout": s}``
then answers ``{"rc"}``, null while the child still runs after ``s`` seconds. When the test
process goes, children still running are stopped as a server is (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import warnings

#: What a command imports on its way; imported here once, for every forked child.
WARM = ("twin.cli", "twin.db", "twin.derive", "twin.messages", "twin.redact", "etl.core",
        "etl.sources", "etl.sensor_load", "pyogrio", "shapely", "pyarrow.compute", "pyproj",
        "rasterio", "openpyxl", "twin.front", "twin.pygeoapi.app", "twin.processes",
        "gunicorn.app.base", "gunicorn.arbiter", "uvicorn.workers")


def _child(request: dict) -> None:
    """Become the `twin` run of ``request``; returns only by raising SystemExit."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    out = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    # One file for both (a server's log) is one open file, so neither overwrites the other.
    os.dup2(out if request["err"] == request["out"] else
            os.open(request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.argv = ["twin", *request["args"]]
    from twin.cli import app

    app(prog_name="twin")


def _wait(pid: int, timeout: float) -> int | None:
    """The child's exit code, or None while it still runs after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


def _stop(pids: set[int]) -> None:
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        for pid in pids:
            os.kill(pid, sig)
        pids = {pid for pid in pids if _wait(pid, grace) is None}


def main() -> None:
    import gc
    import importlib

    from twin.settings import get_settings

    for name in WARM:
        importlib.import_module(name)
    # What a child inherits must not depend on this process' environment, nor hold threads.
    assert "pygeoapi.flask_app" not in sys.modules
    assert get_settings.cache_info().currsize == 0
    assert threading.active_count() == 1, threading.enumerate()
    # Python's warning counts OS threads: OpenBLAS' (numpy) and Arrow's pools, which have
    # fork handlers of their own; no Python thread runs here (asserted above).
    warnings.filterwarnings("ignore", r"This process \(pid=\d+\) is multi-threaded",
                            DeprecationWarning)
    # Out of the collector's sight: a child's collections would otherwise walk (and so copy)
    # every object it inherited; with the server's imports, 0.5 s of every `twin db status`.
    gc.freeze()
    detached: set[int] = set()
    for line in sys.stdin:
        request = json.loads(line)
        if "wait" in request:
            rc = _wait(request["wait"], request["timeout"])
            if rc is not None:
                detached.discard(request["wait"])
            print(json.dumps({"rc": rc}), flush=True)
            continue
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)  # raises SystemExit: the child's interpreter ends with it
            raise SystemExit(0)
        print(json.dumps({"pid": pid}), flush=True)
        if request.get("detach"):
            detached.add(pid)
            continue
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"rc": os.waitstatus_to_exitcode(status)}), flush=True)
    _stop(detached)


if __name__ == "__main__":
    main()
