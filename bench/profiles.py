"""Where the time goes: profiles captured during a benchmark run, and their summaries.

Capture (bench/peers.py calls these for every goal a run does not meet):
  - py-spy (`record --subprocesses --format speedscope`) attached to `twin serve` while one more
    `wrk` round runs against it: the Python stacks of the workers, CPU time only (a worker
    waiting for PostgreSQL or a socket is not sampled);
  - py-spy (`record --idle --subprocesses`) running one more `twin load parcels`: wall-clock
    samples of the load and any process it starts, waits for PostgreSQL included (they show
    under the psycopg call that waited), without slowing it down; or pyinstrument (`-r json`,
    bench/peers.py --load-profiler pyinstrument): an exact call tree of the main process, at
    the price of a load about 1.7x slower under it;
  - CPU seconds of process trees from /proc (the servers' workers, PostgreSQL's backends), so a
    row can say how much of a request is Python and how much PostgreSQL.
Summaries are pure functions of the profile documents (tests/test_bench_helpers.py): the top
frames by own time, and our own functions (twin/, etl/) by inclusive time.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

#: Path fragments that mark our own code (not a library's).
OURS = ("/twin/", "/etl/")
_TICKS = os.sysconf("SC_CLK_TCK")
#: A sample without a Python frame: the interpreter starting, or native code with none above.
NO_FRAME = "no Python frame (native)"


def short_path(path: str) -> str:
    """A file path as a reader wants it: from the package down (site-packages and the checkout
    prefix dropped)."""
    for marker in ("site-packages/", "dist-packages/"):
        if marker in path:
            return path.split(marker, 1)[1]
    for marker in OURS:
        if marker in path:
            return marker.strip("/") + "/" + path.split(marker, 1)[1]
    if "/lib/python" in path:  # the standard library
        return path.split("/lib/python", 1)[1].split("/", 1)[-1]
    return path


def is_ours(path: str) -> bool:
    return any(m in path for m in OURS) and "-packages/" not in path


def _label(name: str, path: str) -> str:
    return f"{name} ({short_path(path)})"


def package(label: str) -> str:
    """The package a frame label's file belongs to: ``twin``, ``pyproj``, ``json``..."""
    path = label.rsplit(" (", 1)[-1].rstrip(")")
    if path.startswith("<frozen "):  # <frozen importlib._bootstrap>: importing modules
        return path.removeprefix("<frozen ").split(".", 1)[0].rstrip(">")
    head = path.split("/", 1)[0]
    return head.removesuffix(".py") or "?"


def _packages(own: Counter) -> Counter:
    out: Counter = Counter()
    for label, v in own.items():
        out[package(label)] += v
    return out


def _top(counter: Counter, total: float, n: int) -> list[dict]:
    return [{"frame": k, "share": round(v / total, 3)} for k, v in counter.most_common(n)
            if total > 0]


def summarise_speedscope(doc: dict, *, top: int = 8) -> dict:
    """Top frames of a py-spy speedscope document (sampled profiles, one per thread).

    ``self``: the function on top of the stack (where the CPU was), by share of all samples;
    ``ours``: each sample charged to the deepest of our own functions (twin/, etl/) on its
    stack, i.e. that function's time including the libraries it calls (samples with none of
    ours on the stack, such as the server's own loop, are left out).
    """
    frames = doc["shared"]["frames"]
    keys = [(f["name"], f.get("file") or "") for f in frames]
    # --subprocesses puts a "process PID:command" frame at the root of each stack: not a function.
    marker = {i for i, (name, path) in enumerate(keys) if not path and name.startswith("process ")}
    own: Counter = Counter()
    charged: Counter = Counter()
    total = 0.0
    for profile in doc["profiles"]:
        weights = profile.get("weights") or [1] * len(profile["samples"])
        for stack, weight in zip(profile["samples"], weights, strict=True):
            stack = [i for i in stack if i not in marker]
            total += weight
            if not stack:
                own[NO_FRAME] += weight
                continue
            name, path = keys[stack[-1]]
            own[_label(name, path)] += weight
            deepest = next((keys[i] for i in reversed(stack) if is_ours(keys[i][1])), None)
            if deepest:
                charged[_label(*deepest)] += weight
    samples = sum(len(p["samples"]) for p in doc["profiles"])
    return {"samples": samples, "self": _top(own, total, top), "ours": _top(charged, total, top),
            "packages": _top(_packages(own), total, top)}


def summarise_pyinstrument(doc: dict, *, top: int = 8) -> dict:
    """Top frames of a pyinstrument JSON document (a call tree with wall-clock times).

    ``self``: time spent in a function itself, not in its children, by share of the duration
    (pyinstrument's synthetic ``[self]``/``[await]`` nodes count as their parent's own time);
    ``ours``: each function's own time charged to the deepest of our own functions (twin/,
    etl/) above it, i.e. that function's time including the libraries it calls.
    """
    own: Counter = Counter()
    charged: Counter = Counter()

    def walk(node: dict, owner: str | None) -> None:
        path = node.get("file_path") or ""
        label = _label(node["function"], path)
        if is_ours(path):
            owner = label
        children = [c for c in node.get("children", []) if not c["function"].startswith("[")]
        mine = max(0.0, node["time"] - sum(c["time"] for c in children))
        own[label] += mine
        if owner:
            charged[owner] += mine
        for child in children:
            walk(child, owner)

    root = doc["root_frame"]
    walk(root, None)
    total = doc.get("duration") or root["time"]
    return {"seconds": round(total, 2), "self": _top(own, total, top),
            "ours": _top(charged, total, top), "packages": _top(_packages(own), total, top)}


def summary_lines(summary: dict, *, top: int = 5) -> list[str]:
    """Markdown list items for a profile summary: own time first, then our functions."""
    def fmt(rows: list[dict]) -> str:
        return "; ".join(f"`{r['frame']}` {r['share']:.0%}" for r in rows[:top]) or "-"

    return [f"  - by package (own time): {fmt(summary.get('packages', []))}",
            f"  - top frames by own time: {fmt(summary['self'])}",
            f"  - by our deepest function (its time with the libraries it calls): "
            f"{fmt(summary['ours'])}"]


# --- capture ---------------------------------------------------------------------------------


def spy_during(pid: int, seconds: int, out: Path, run: Callable[[], Any]) -> Any:
    """Record ``pid`` and its children with py-spy while ``run()`` runs; return what it returns.

    py-spy samples without stopping the workers (--nonblocking), so the round it watches runs
    at nearly full speed; the round is not one of the measured ones anyway.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = subprocess.Popen(
        [_tool("py-spy"), "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
         "--duration", str(seconds), "--rate", "200", "--format", "speedscope", "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # attached before the load starts
    try:
        result = run()
    finally:
        _, err = spy.communicate(timeout=seconds + 60)
    if spy.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed: {err[-2000:]}")
    return result


def spy_cmd(cmd: list[str], out: Path) -> list[str]:
    """``cmd`` run under py-spy: wall clock (--idle), its subprocesses too, speedscope out."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return [_tool("py-spy"), "record", "--idle", "--subprocesses", "--nonblocking", "--rate",
            "100", "--format", "speedscope", "-o", str(out), "--", *cmd]


def pyinstrument_cmd(cmd: list[str], out: Path) -> list[str]:
    """``cmd`` (a Python console script and its arguments) run under pyinstrument, JSON out."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return [_tool("pyinstrument"), "-r", "json", "-o", str(out), *cmd]


def _tool(name: str) -> str:
    """A console script of this virtualenv (py-spy, pyinstrument), beside the interpreter."""
    import sys
    return str(Path(sys.executable).with_name(name))


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants, from /proc."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                pass
    return found


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """User plus system CPU seconds of each process still alive, from /proc/PID/stat."""
    out = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[pid] = (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two :func:`cpu_seconds` readings (new processes from 0)."""
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())
