"""What :mod:`twin.pygeoapi` relies on in pygeoapi, in one list.

Templates: pygeoapi renders a page from the first directory that has the template, ours
(``server.templates.path`` in the config) before its own (``pygeoapi.util.TEMPLATESDIR``), so
we keep only the templates we change (see the README beside them). Each was made from a
version of pygeoapi's own, recorded in :data:`OVERRIDDEN_TEMPLATES`. pygeoapi's own templates
may name CDNs only where the page is one we never serve (:data:`TEMPLATE_PAGES`).
"""

from __future__ import annotations

import re
from pathlib import Path

#: Hosts no page may load anything from (offline first); also checked over every served file.
ONLINE_HOSTS = re.compile(
    rb"cdn\.jsdelivr|unpkg\.com|cdnjs|fonts\.googleapis|fonts\.gstatic|basemaps\.cartocdn"
    rb"|tile\.openstreetmap|api\.mapbox")

#: The templates we change (in twin/pygeoapi/templates/), each with the sha256 of pygeoapi's
#: own template it was made from (pygeoapi 0.24.0). When pygeoapi changes one, ours must be
#: made again from the new one: the README beside the templates says what we change.
OVERRIDDEN_TEMPLATES = {
    "_base.html": "b91b7d6472fc317cca72969714839c6856483486970f155590a58c75bb45cc3f",
    "collections/collection.html":
        "245c96b34b0b4f0c8c74ff70787f5a0f3bb4947331f25e2a42ebc6caa2dbbf15",
    "collections/coverage/index.html":
        "a5e016a0f09a22cd0f5bb3f5e8ac25062b5363be3b3640adb154b408be740e60",
    "collections/items/index.html":
        "b9f63e39f71e613f9332ef1ff86f13b0b6a7741ffc50a75c58a74bfb335158be",
    "collections/items/item.html":
        "5506c736a70f36eecbd544ae731495127ba56206df7e23abac587c8de847a19d",
    "landing_page.html": "3985a6d640347ab92a8f471d160ac45b0747567aff82b1927dc103c2125b4cc7",
    "openapi/redoc.html": "6a2adfe57df8dd93362144aabe13cbbdc1cbc87016b904fafb5fd5f42c543595",
    "openapi/swagger.html": "c509c8d78c453b2a9be67e6393a3e4bfd0df0830557d86ab6757464f92bbe470",
}

#: pygeoapi templates (a name or a directory/) of pages we never serve, and a path of that
#: page (``{id}``: any collection); the WSGI layer answers each with 404
#: (:func:`twin.pygeoapi.wsgi.not_served`), so these are never rendered.
TEMPLATE_PAGES = {
    "admin/": "/admin/config",
    "asyncapi.html": "/asyncapi",
    "jobs/": "/jobs",
    "stac/": "/stac",
    "tilematrixsets/": "/TileMatrixSets",
    "collections/tiles/": "/collections/{id}/tiles",
    "collections/map/": "/collections/{id}/map",
    "collections/edr/": "/collections/{id}/position",
}


def templates_dir() -> Path:
    """Our templates directory (``server.templates.path``)."""
    return Path(__file__).resolve().parent / "templates"


def _template_names(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*")
            if p.is_file() and p.suffix in (".html", ".jsonld")}


def effective_templates(upstream: Path | None = None) -> dict[str, Path]:
    """Every template pygeoapi can render for us, and the file it renders it from: ours
    where we have one, else pygeoapi's own (``upstream``, by default its package's)."""
    if upstream is None:
        from pygeoapi.util import TEMPLATESDIR

        upstream = Path(TEMPLATESDIR)
    ours = templates_dir()
    names = _template_names(ours) | _template_names(upstream)
    return {n: ours / n if (ours / n).is_file() else upstream / n for n in sorted(names)}


def page_of(template: str) -> str | None:
    """The path of the page we never serve that ``template`` belongs to, or None."""
    for prefix, page in TEMPLATE_PAGES.items():
        if template == prefix or (prefix.endswith("/") and template.startswith(prefix)):
            return page
    return None
