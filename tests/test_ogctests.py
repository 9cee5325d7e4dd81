"""The OGC API - Features - Part 1: Core test suite of the PyPI package ``ogctests``, run
against `twin serve` on the samples: every abstract test passes, none is skipped (issue 7).

ogctests (pinned, with its pinned dependencies, in .venv-ogctests:
scripts/setup_conformance_tools.sh) runs its own pytest in a subprocess, with no setting of
ours: an empty ini file, a scratch working folder. tests/ogctests_plugins/ corrects how it
hands features to GDAL and shows it the feature collections only, not the coverage `terrain`
(see there); no assertion of the suite is changed.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.conftest import Server
from twin.settings import PROJECT_ROOT

# Reads the samples only: the session's shared database and server (tests/conftest.py).
pytestmark = pytest.mark.samples_read_only

PYTHON = PROJECT_ROOT / ".venv-ogctests" / "bin" / "python"
PLUGINS = PROJECT_ROOT / "tests" / "ogctests_plugins"
RUN = ("import sys; from ogctests.main import run_ogctests; "
       "sys.exit(run_ogctests('features/core', sys.argv[1], sys.argv[2:]))")
#: The abstract tests of Part 1 Core that ogctests 0.1.15 implements (ats/core, test_ast*).
AT_LEAST = 29


def test_ogc_api_features_core_suite_passes(server: Server, tmp_path) -> None:
    assert PYTHON.exists(), f"{PYTHON} missing: run `make test-tools`"
    ini = tmp_path / "pytest.ini"
    ini.write_text("[pytest]\n", encoding="utf-8")
    flags = ["-c", str(ini), "--rootdir", str(tmp_path), "-p", "no:cacheprovider",
             "-p", "inline_geojson", "-p", "feature_collections", "-rfEs", "-q"]
    env = {**os.environ, "PYTHONPATH": str(PLUGINS)}
    env.pop("CLIENT_OVERRIDDEN", None)
    run = subprocess.run([str(PYTHON), "-c", RUN, server.url, *flags], capture_output=True,
                         text=True, timeout=900, cwd=tmp_path, env=env)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-20000:]
    summary = out.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= AT_LEAST, summary
    assert not re.search(r"failed|skipped|error|xfail", summary), summary
    # ogctests only warns when an items operation does not declare datetime (ats/core/18).
    assert "parameter missing" not in out, out[-5000:]
