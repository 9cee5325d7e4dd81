"""The start-up check of what twin/pygeoapi relies on in pygeoapi (twin/pygeoapi/compat.py).

It passes on the installed pygeoapi, and it fails loudly, before anything listens, when one
relied-on thing moves. Each breakage is made in a subprocess of its own, by changing the
installed pygeoapi in that process's memory only (or, for templates, pointing it at a changed
copy of its templates directory), then running `twin serve` or the app factory as a user
would; the message must name what moved and the pygeoapi version.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pygeoapi
import pytest
from packaging.requirements import Requirement

from tests.conftest import free_port
from twin.pygeoapi import compat
from twin.settings import PROJECT_ROOT, Settings

CONFIG = PROJECT_ROOT / "config" / "pygeoapi.yml"

#: Copies pygeoapi's templates to {tmp}, lets {change} alter the copy, and points pygeoapi
#: at it: as if an upgrade had shipped those templates.
_TEMPLATES = """
import shutil, pathlib, pygeoapi.util as util
copy = pathlib.Path({tmp!r}) / "templates"
shutil.copytree(util.TEMPLATESDIR, copy)
{change}
util.TEMPLATESDIR = copy
"""

#: name -> (code run first in the subprocess, words the refusal must contain)
BREAKAGES = {
    "conformance-list-gone": (
        "import pygeoapi.api.itemtypes as m\ndel m.CONFORMANCE_CLASSES_FEATURES",
        ["pygeoapi.api.itemtypes.CONFORMANCE_CLASSES_FEATURES", "gone"]),
    "manager-signature-changed": (
        "from pygeoapi.process.manager.dummy import DummyManager\n"
        "def execute_process(self, process_id, data_dict, execution_mode=None,\n"
        "                    requested_outputs=None, subscriber=None, requested_response=None,\n"
        "                    callback_timeout=None):\n"
        "    pass\n"
        "DummyManager.execute_process = execute_process",
        ["DummyManager.execute_process(", "callback_timeout", "twin/pygeoapi/manager.py"]),
    "error-hook-signature-changed": (
        "from pygeoapi.api import API\n"
        "def get_exception(self, headers, status, format_, code, description):\n"
        "    pass\n"
        "API.get_exception = get_exception",
        ["pygeoapi.api.API.get_exception(self, headers, status"]),
    "provider-keyword-unread": (
        # As if pygeoapi had renamed the filter keyword: our query() would swallow it.
        "import twin.provider as p\n"
        "def query(self, offset=0, limit=10, resulttype='results', bbox=None, datetime_=None,\n"
        "          properties=None, sortby=None, select_properties=None, skip_geometry=False,\n"
        "          q=None, crs_transform_spec=None, **kwargs):\n"
        "    pass\n"
        "p.TwinPostgreSQLProvider.query = query",
        ["passes filterq to query()"]),
    "version-outside-range": (
        "import pygeoapi\npygeoapi.__version__ = '0.25.0'",
        ["pygeoapi 0.25.0 is outside the tested range"]),
    "template-gone": (
        _TEMPLATES.replace("{change}", "(copy / 'collections/items/index.html').unlink()"),
        ["no template collections/items/index.html"]),
    "template-changed": (
        _TEMPLATES.replace("{change}", "with (copy / '_base.html').open('a') as f:\n"
                                       "    f.write('<!-- changed -->')"),
        ["template _base.html changed since ours was made from it"]),
    "fallback-template-names-a-cdn": (
        _TEMPLATES.replace("{change}", "with (copy / 'conformance.html').open('a') as f:\n"
                                       "    f.write('<script src=\"https://unpkg.com/x.js\">"
                                       "</script>')"),
        ["the pygeoapi template conformance.html names an online host"]),
}
#: The two ways the app is built: `twin serve`, and the app factory behind it.
ENTRY_POINTS = {
    "twin-serve": "from twin.cli import app\napp(['serve', '--port', '{port}'])",
    "create_app": "from twin.pygeoapi.app import create_app\ncreate_app()",
}


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT),
           "TWIN_CONFIG_PATH": str(CONFIG), "TWIN_OPENAPI_PATH": str(tmp_path / "openapi.yml"),
           # Never reached: the check comes first.
           "TWIN_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)


def test_check_passes_on_the_installed_pygeoapi() -> None:
    compat.check(Settings(config_path=CONFIG))


def test_tested_range_is_the_one_pyproject_pins() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = [Requirement(d) for d in project["project"]["dependencies"]
            if Requirement(d).name == "pygeoapi"]
    assert [p.specifier for p in pins] == [compat.TESTED]
    assert compat.TESTED.contains(pygeoapi.__version__)


#: Every breakage through `twin serve`; two through the app factory as well.
CASES = [(b, "twin-serve") for b in sorted(BREAKAGES)] + [
    ("conformance-list-gone", "create_app"), ("template-changed", "create_app")]


@pytest.mark.parametrize(("breakage", "entry"), CASES)
def test_start_up_fails_loudly_when_pygeoapi_moves(breakage: str, entry: str,
                                                  tmp_path: Path) -> None:
    change, words = BREAKAGES[breakage]
    code = change.replace("{tmp!r}", repr(str(tmp_path))) + "\n" + \
        ENTRY_POINTS[entry].replace("{port}", str(free_port()))
    result = _run(code, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Serving the Cottbus twin" not in output  # refused before it listens
    assert "lacks what twin/pygeoapi relies on" in output, output
    version = "0.25.0" if breakage == "version-outside-range" else pygeoapi.__version__
    for word in [*words, f"pygeoapi {version} lacks"]:
        assert word in output, (word, output)


def test_the_unchanged_pygeoapi_starts_in_the_same_harness(tmp_path: Path) -> None:
    # The same subprocess without a breakage builds the app: the failures above are the
    # check's, not the harness's.
    result = _run("from twin.pygeoapi.app import create_app, write_openapi\n"
                  "from twin.settings import get_settings\n"
                  "write_openapi(get_settings())\n"
                  "print(type(create_app()).__name__)", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("TwinMiddleware")
