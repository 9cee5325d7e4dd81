"""The notebooks in notebooks/ run top to bottom against a real server, so they cannot rot."""

from __future__ import annotations

import html
import re

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import Server
from twin.settings import PROJECT_ROOT

# Reads the samples only: the session's shared database and server (tests/conftest.py).
pytestmark = pytest.mark.samples_read_only

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))
#: One notebook per user group, each with a map (notebooks/offline_map.py).
USER_GROUPS = ("planning", "heritage", "street_space", "economic_development")


def test_every_user_group_has_a_notebook() -> None:
    assert set(USER_GROUPS) <= {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(server: Server, path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWIN_API", server.url)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # A map's page loads every script and style from the twin itself: it works offline.
    pages = [html.unescape(o["data"]["text/html"] if isinstance(o["data"]["text/html"], str)
                           else "".join(o["data"]["text/html"]))
             for o in outputs if "text/html" in o.get("data", {})]
    if path.stem in USER_GROUPS:
        assert pages, f"{path.name} draws no map"
    for page in pages:
        sources = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert sources and all(s.startswith(server.url + "/") for s in sources), sources
        assert "deck-json" in page
