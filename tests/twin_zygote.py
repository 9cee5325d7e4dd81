"""`twin` commands forked from a warm parent, for the test suite's ~320 runs of them.

A small load takes 0.8 s of CPU as a fresh `twin` process, 0.55 s of that importing what the
command needs (psycopg, Arrow, GDAL, shapely, the sources); a child forked from a process that
imported them once starts in milliseconds. The child is still a process of its own with the
environment, arguments, exit status, stdout and stderr of the console script's run
(``twin = "twin.cli:app"``), and it exits through the interpreter's normal shutdown (atexit
handlers, thread joins, flushing). Nothing is imported that reads the environment or settings:
those belong to each run. Tests that signal, kill or serve a `twin` start the console script
itself, so the real entry point stays covered.

Protocol, one JSON object per line: the test sends ``{"args", "env", "cwd", "out", "err"}``,
the zygote answers ``{"pid"}`` when the child runs and ``{"rc"}`` (as
:attr:`subprocess.Popen.returncode`: negative for a signal) when it has ended.
"""

from __future__ import annotations

import json
import os
import sys

#: What a command imports on its way; imported here once, for every forked child.
WARM = ("twin.cli", "twin.db", "twin.derive", "twin.messages", "twin.redact", "etl.core",
        "etl.sources", "etl.sensor_load", "pyogrio", "shapely", "pyarrow.compute", "pyproj",
        "rasterio", "openpyxl")


def _child(request: dict) -> None:
    """Become the `twin` run of ``request``; returns only by raising SystemExit."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, path in ((1, request["out"]), (2, request["err"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.argv = ["twin", *request["args"]]
    from twin.cli import app

    app(prog_name="twin")


def main() -> None:
    import importlib

    for name in WARM:
        importlib.import_module(name)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)  # raises SystemExit: the child's interpreter ends with it
            raise SystemExit(0)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"rc": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    main()
