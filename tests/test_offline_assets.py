"""Offline first: nothing we serve names a CDN or an online tile host.

The pages pygeoapi renders from its own templates (we keep only the ones we change) are
checked too: each either names no online host or belongs to a page we never serve.
"""

from __future__ import annotations

import pytest
from pygeoapi.util import TEMPLATESDIR

from twin.pygeoapi import TEMPLATES_DIR
from twin.pygeoapi.compat import (
    ONLINE_HOSTS,
    OVERRIDDEN_TEMPLATES,
    effective_templates,
    page_of,
)
from twin.settings import PROJECT_ROOT

SERVED = [p for d in ("twin/static", "twin/pygeoapi/templates", "twin/viewer", "notebooks")
          for p in sorted((PROJECT_ROOT / d).rglob("*")) if p.is_file()]
RENDERED = {name: path for name, path in effective_templates().items() if page_of(name) is None}


@pytest.mark.parametrize("path", SERVED, ids=[str(p.relative_to(PROJECT_ROOT)) for p in SERVED])
def test_served_file_names_no_online_host(path) -> None:
    match = ONLINE_HOSTS.search(path.read_bytes())
    assert match is None, f"{path} names {match.group().decode()}"


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_template_of_a_served_page_names_no_online_host(name: str) -> None:
    # Resolved as pygeoapi's loader does: ours first, then pygeoapi's own.
    path = RENDERED[name]
    match = ONLINE_HOSTS.search(path.read_bytes())
    assert match is None, f"{name} ({path}) names {match.group().decode()}"


def test_we_keep_only_templates_we_change() -> None:
    ours = sorted(p.relative_to(TEMPLATES_DIR).as_posix()
                  for p in TEMPLATES_DIR.rglob("*.html"))
    assert ours == sorted(OVERRIDDEN_TEMPLATES)
    for name in ours:
        assert (TEMPLATES_DIR / name).read_bytes() != (TEMPLATESDIR / name).read_bytes(), (
            f"{name} is pygeoapi's own unchanged: delete it, pygeoapi falls back to its own")
    readme = (TEMPLATES_DIR / "README.md").read_text(encoding="utf-8")
    for name in ours:
        assert f"`{name}`" in readme, f"the templates' README does not say why {name} differs"
