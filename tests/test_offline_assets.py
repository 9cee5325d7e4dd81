"""Offline first: nothing we serve names a CDN or an online tile host."""

from __future__ import annotations

import re

import pytest

from twin.settings import PROJECT_ROOT

ONLINE_HOSTS = re.compile(
    rb"cdn\.jsdelivr|unpkg\.com|cdnjs|fonts\.googleapis|fonts\.gstatic|basemaps\.cartocdn"
    rb"|tile\.openstreetmap|api\.mapbox")
SERVED = [p for d in ("twin/static", "twin/templates", "twin/viewer", "notebooks")
          for p in sorted((PROJECT_ROOT / d).rglob("*")) if p.is_file()]


@pytest.mark.parametrize("path", SERVED, ids=[str(p.relative_to(PROJECT_ROOT)) for p in SERVED])
def test_served_file_names_no_online_host(path) -> None:
    match = ONLINE_HOSTS.search(path.read_bytes())
    assert match is None, f"{path} names {match.group().decode()}"
