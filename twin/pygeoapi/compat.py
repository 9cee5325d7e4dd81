"""What :mod:`twin.pygeoapi` relies on in pygeoapi, checked at start-up by :func:`check`.

:func:`check` runs when the app is built (:func:`twin.pygeoapi.app.create_app`) and in
``twin serve`` before it listens. It verifies, against the installed pygeoapi:

- the version is in the tested range (:data:`TESTED`, as pinned in pyproject.toml);
- the module attributes :mod:`twin.pygeoapi.conformance` overwrites exist and are read;
- the signatures we override or wrap (``DummyManager.execute_process`` and its 5-tuple result,
  ``API.get_exception``), and that pygeoapi still calls them with arguments we take;
- every keyword pygeoapi passes to a provider's ``query()`` and ``get()`` is one
  ``twin/provider.py`` reads (a renamed one would vanish into ``**kwargs``);
- a CQL2 JSON filter is still read from the request body (the WSGI layer moves a GET
  filter there), and a configured CSV formatter still replaces pygeoapi's own;
- the templates: see below; and that ``twin/static`` holds pygeoapi's static files, current.

Templates: pygeoapi renders a page from the first directory that has the template, ours
(``server.templates.path`` in the config) before its own (``pygeoapi.util.TEMPLATESDIR``), so
we keep only the templates we change (see the README beside them). Each was made from a
version of pygeoapi's own, recorded in :data:`OVERRIDDEN_TEMPLATES`. A template a served page
renders may name no online host; pygeoapi's own may only where the page is one we never serve
(:data:`TEMPLATE_PAGES`).

Every problem found is named in one :class:`~twin.errors.ConfigurationError`, with the
pygeoapi version.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import inspect
import re
import textwrap
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

from packaging.specifiers import SpecifierSet

from twin.errors import ConfigurationError
from twin.pygeoapi import STATIC_DIR, TEMPLATES_DIR
from twin.settings import Settings, get_settings

#: pygeoapi versions this package is tested with: the range pyproject.toml pins.
TESTED = SpecifierSet(">=0.24,<0.25")
#: Keywords pygeoapi passes to a provider's ``query()``/``get()`` that ours has no use for.
IGNORED_PROVIDER_KEYWORDS = frozenset({"language"})

#: Hosts no page may load anything from (offline first); also checked over every served file.
ONLINE_HOSTS = re.compile(
    rb"cdn\.jsdelivr|unpkg\.com|cdn[j]s|fonts\.googleapis|fonts\.gstatic|basemaps\.cartocdn"
    rb"|tile\.openstreetmap|api\.mapbox")

#: The templates we change (in twin/pygeoapi/templates/), each with the sha256 of pygeoapi's
#: own template it was made from (pygeoapi 0.24.0). When pygeoapi changes one, ours must be
#: made again from the new one: the README beside the templates says what we change.
OVERRIDDEN_TEMPLATES = {
    "_base.html": "b91b7d6472fc317cca72969714839c6856483486970f155590a58c75bb45cc3f",
    "asyncapi.html": "ee19a79a9ccf73d7c11167fcded71e8850fdc2518982213d41fa9b10c0a8a1cd",
    "collections/collection.html":
        "245c96b34b0b4f0c8c74ff70787f5a0f3bb4947331f25e2a42ebc6caa2dbbf15",
    "collections/coverage/index.html":
        "a5e016a0f09a22cd0f5bb3f5e8ac25062b5363be3b3640adb154b408be740e60",
    "collections/items/index.html":
        "b9f63e39f71e613f9332ef1ff86f13b0b6a7741ffc50a75c58a74bfb335158be",
    "collections/items/item.html":
        "5506c736a70f36eecbd544ae731495127ba56206df7e23abac587c8de847a19d",
    "collections/queryables.html":
        "569458a184da0ca238fd8b55e75396ca8cc1f3573af446fda7be48dd533141d3",
    "landing_page.html": "3985a6d640347ab92a8f471d160ac45b0747567aff82b1927dc103c2125b4cc7",
    "openapi/redoc.html": "6a2adfe57df8dd93362144aabe13cbbdc1cbc87016b904fafb5fd5f42c543595",
    "openapi/swagger.html": "c509c8d78c453b2a9be67e6393a3e4bfd0df0830557d86ab6757464f92bbe470",
}

#: pygeoapi templates (a name or a directory/) of pages we never serve, and a path of that
#: page (``{id}``: any collection); the WSGI layer answers each with 404
#: (:func:`twin.pygeoapi.wsgi.not_served`) or itself (tiles: :func:`twin.tiles.is_ours`, JSON
#: only), so these are never rendered.
TEMPLATE_PAGES = {
    "admin/": "/admin/config",
    "jobs/": "/jobs",
    "stac/": "/stac",
    "tilematrixsets/": "/TileMatrixSets",
    "collections/tiles/": "/collections/{id}/tiles",
    "collections/map/": "/collections/{id}/map",
    "collections/edr/": "/collections/{id}/radius",  # EDR answers only CoverageJSON here
}


def _template_names(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*")
            if p.is_file() and p.suffix in (".html", ".jsonld")}


def effective_templates(upstream: Path | None = None) -> dict[str, Path]:
    """Every template pygeoapi can render for us, and the file it renders it from: ours
    where we have one, else pygeoapi's own (``upstream``, by default its package's)."""
    if upstream is None:
        from pygeoapi.util import TEMPLATESDIR

        upstream = Path(TEMPLATESDIR)
    ours = TEMPLATES_DIR
    names = _template_names(ours) | _template_names(upstream)
    return {n: ours / n if (ours / n).is_file() else upstream / n for n in sorted(names)}


def page_of(template: str) -> str | None:
    """The path of the page we never serve that ``template`` belongs to, or None."""
    for prefix, page in TEMPLATE_PAGES.items():
        if template == prefix or (prefix.endswith("/") and template.startswith(prefix)):
            return page
    return None


# -- the check ---------------------------------------------------------------------------------
def check(settings: Settings | None = None) -> None:
    """Fail loudly unless the installed pygeoapi has everything this package relies on.

    Parameters
    ----------
    settings
        For the configuration (its CSV formatters); the environment its placeholders read
        should be prepared (:func:`twin.pygeoapi.app.prepare_environment`).

    Raises
    ------
    ConfigurationError
        Naming every attribute, signature, call or template that moved, and the version.
    """
    settings = settings or get_settings()
    problems: list[str] = []
    for probe in CHECKS:
        try:
            problems.extend(probe(settings))
        except ConfigurationError as exc:
            problems.append(exc.message)
        except Exception as exc:  # noqa: BLE001 - what moved is reported, with the rest
            problems.append(f"{probe.__doc__} failed: {type(exc).__name__}: {exc}")
    if problems:
        raise ConfigurationError(
            f"pygeoapi {_version()} lacks what twin/pygeoapi relies on (tested with pygeoapi"
            f"{TESTED}); a pygeoapi upgrade?\n" + "\n".join(f"  - {p}" for p in problems))


def _version() -> str:
    try:
        import pygeoapi
    except ImportError:
        return "(not importable)"
    return str(getattr(pygeoapi, "__version__", "(unknown version)"))


def _check_version(settings: Settings) -> Iterator[str]:
    """the version"""
    version = _version()
    if not TESTED.contains(version, prereleases=True):
        yield f"pygeoapi {version} is outside the tested range {TESTED} (pyproject.toml)"


def _check_conformance(settings: Settings) -> Iterator[str]:
    """the conformance lists"""
    import pygeoapi.api as api

    read = _attributes(api.conformance)
    for module, name in (("pygeoapi.api.itemtypes", "CONFORMANCE_CLASSES_FEATURES"),
                         ("pygeoapi.api.processes", "CONFORMANCE_CLASSES"),
                         ("pygeoapi.api.coverages", "CONFORMANCE_CLASSES"),
                         ("pygeoapi.api.environmental_data_retrieval", "CONFORMANCE_CLASSES")):
        value = getattr(importlib.import_module(module), name, None)
        if not isinstance(value, list):
            yield (f"{module}.{name}, the list twin/pygeoapi/conformance.py replaces, is "
                   f"{'gone' if value is None else type(value).__name__}")
        if name not in read:
            yield (f"pygeoapi.api.conformance() no longer reads {name}: our conformance "
                   "classes would not be declared")


def _check_manager(settings: Settings) -> Iterator[str]:
    """the process manager"""
    import pygeoapi.api.processes as processes
    from pygeoapi.process.manager.base import BaseManager
    from pygeoapi.process.manager.dummy import DummyManager

    from twin.pygeoapi.manager import SynchronousManager

    theirs = _parameters(DummyManager.execute_process)
    ours = _parameters(SynchronousManager.execute_process)
    if theirs != ours:
        yield (f"pygeoapi.process.manager.dummy.DummyManager.execute_process({', '.join(theirs)})"
               f" is not the signature twin/pygeoapi/manager.py overrides ({', '.join(ours)})")
    result = inspect.signature(DummyManager.execute_process).return_annotation
    if len(typing.get_args(result)) != 5:
        yield (f"DummyManager.execute_process now returns {result}, not the 5-tuple (job id, "
               "media type, outputs, status, headers) twin/pygeoapi/manager.py returns")
    yield from _passed_keywords(processes.execute_process, "execute_process", None, set(ours),
                                "pygeoapi.api.processes.execute_process()",
                                "twin/pygeoapi/manager.py")
    for method, expected in (("__init__", ["self", "manager_def"]),
                             ("get_processor", ["self", "process_id"]),
                             ("get_job", ["self", "job_id"])):
        found = _parameters(getattr(BaseManager, method))
        if found != expected:
            yield (f"pygeoapi.process.manager.base.BaseManager.{method}({', '.join(found)}) is "
                   f"not ({', '.join(expected)}) as twin/pygeoapi/manager.py uses it")


def _check_get_exception(settings: Settings) -> Iterator[str]:
    """the error hook"""
    from pygeoapi.api import API

    found = _parameters(API.get_exception)  # through our wrapper to pygeoapi's own
    if found[:2] != ["self", "status"]:
        yield (f"pygeoapi.api.API.get_exception({', '.join(found)}) no longer takes the status "
               "first; twin/pygeoapi/app.py wraps it to keep client errors out of the log")


def _check_provider(settings: Settings) -> Iterator[str]:
    """the provider calls"""
    import pygeoapi.api.itemtypes as itemtypes

    from twin.provider import TwinPostgreSQLProvider

    for method in ("query", "get"):
        params = inspect.signature(getattr(TwinPostgreSQLProvider, method)).parameters
        named = {n for n, p in params.items()
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        yield from _passed_keywords(itemtypes, method, "p", named | IGNORED_PROVIDER_KEYWORDS,
                                    "pygeoapi.api.itemtypes",
                                    f"{method}() of twin/provider.py (it would be ignored)")


def _check_filter_body(settings: Settings) -> Iterator[str]:
    """the CQL2 JSON body"""
    import pygeoapi.api.itemtypes as itemtypes

    read = itemtypes.get_collection_items
    if "data" not in _attributes(read) or "parse_cql2_json" not in _names(read):
        yield ("pygeoapi.api.itemtypes.get_collection_items() no longer parses CQL2 JSON from "
               "the request body (request.data), where twin/pygeoapi/wsgi.py puts a GET filter")


def _check_validators(settings: Settings) -> Iterator[str]:
    """pygeoapi's bbox and datetime validators"""
    from pygeoapi.api import validate_bbox, validate_datetime

    # twin/pygeoapi/wsgi.py shows pygeoapi a stand-in for an EPSG:4326 box across the
    # antimeridian, sorted as pygeoapi wants it; the provider reads the client's own box.
    if validate_bbox("51.0,-170,52.0,14.0") != [51.0, -170.0, 52.0, 14.0]:
        yield ("pygeoapi.api.validate_bbox() no longer accepts a box with its 2nd number below "
               "its 4th, the stand-in twin/pygeoapi/wsgi.py shows it")
    # twin/pygeoapi_config.py shows pygeoapi an open temporal extent so that a datetime
    # outside the data's span is an empty answer, not pygeoapi's 400.
    open_extent = {"extents": {"temporal": {"begin": None, "end": None}}}
    if validate_datetime(open_extent, "1000-01-01/1000-01-02") != "1000-01-01/1000-01-02":
        yield ("pygeoapi.api.validate_datetime() refuses a datetime under an open temporal "
               "extent, which twin/pygeoapi_config.py relies on")


def _check_csv(settings: Settings) -> Iterator[str]:
    """the CSV formatter"""
    from pygeoapi.util import yaml_load

    from twin.csv_format import check_in_use

    with settings.config_path.open(encoding="utf-8") as fh:
        check_in_use(yaml_load(fh)["resources"])  # raises ConfigurationError, collected
    return iter(())


def _check_templates(settings: Settings) -> Iterator[str]:
    """the templates"""
    from pygeoapi.util import TEMPLATESDIR, render_j2_template

    from twin import tiles
    from twin.pygeoapi.wsgi import not_served
    from twin.registry import COLLECTIONS

    upstream = Path(TEMPLATESDIR)
    if not {"TEMPLATESDIR", "FileSystemLoader"} <= _names(render_j2_template):
        yield ("pygeoapi.util.render_j2_template() no longer loads templates from our "
               "directory, then from its own TEMPLATESDIR: it would not fall back to its own")
    ours = _template_names(TEMPLATES_DIR)
    for name in sorted(ours - set(OVERRIDDEN_TEMPLATES)):
        yield (f"twin/pygeoapi/templates/{name} has no entry in OVERRIDDEN_TEMPLATES (the "
               "sha256 of the pygeoapi template it was made from)")
    for name, digest in OVERRIDDEN_TEMPLATES.items():
        theirs = upstream / name
        if name not in ours:
            yield f"OVERRIDDEN_TEMPLATES names {name}, which twin/pygeoapi/templates/ lacks"
        elif not theirs.is_file():
            yield f"pygeoapi has no template {name} any more: ours overrides nothing"
        elif hashlib.sha256(theirs.read_bytes()).hexdigest() != digest:
            yield (f"the pygeoapi template {name} changed since ours was made from it: apply our "
                   "changes (twin/pygeoapi/templates/README.md) to its new version and record "
                   "its sha256 in OVERRIDDEN_TEMPLATES")
    for name, path in effective_templates(upstream).items():
        page = page_of(name)
        if page is not None and (not_served(page.format(id=COLLECTIONS[0].id))
                                 or tiles.is_ours(page.format(id=COLLECTIONS[0].id))):
            continue  # never rendered
        if host := ONLINE_HOSTS.search(path.read_bytes()):
            whose = "our" if path.is_relative_to(TEMPLATES_DIR) else "the pygeoapi"
            yield (f"{whose} template {name} names an online host ({host.group().decode()}) "
                   "and renders a page we serve; keep an offline copy in "
                   "twin/pygeoapi/templates/ (offline first)")


def _check_static(settings: Settings) -> Iterator[str]:
    """the static files"""
    import pygeoapi

    upstream = Path(pygeoapi.__file__).parent / "static"
    for theirs in sorted(p for p in upstream.rglob("*") if p.is_file()):
        name = theirs.relative_to(upstream).as_posix()
        ours = STATIC_DIR / name
        if not ours.is_file() or ours.read_bytes() != theirs.read_bytes():
            yield (f"the pygeoapi file static/{name} differs from twin/static/{name}: copy it "
                   "(Flask serves only our static folder, with no fallback to the pygeoapi one)")


#: Every probe :func:`check` runs; each yields what it found missing or changed.
CHECKS: tuple[Callable[[Settings], Iterator[str]], ...] = (
    _check_version, _check_conformance, _check_manager, _check_get_exception, _check_provider,
    _check_filter_body, _check_validators, _check_csv, _check_templates, _check_static)


# -- reading pygeoapi's source ----------------------------------------------------------------
@functools.cache  # the same modules are read by several probes
def _tree(obj: Callable | ModuleType) -> ast.AST:
    return ast.parse(textwrap.dedent(inspect.getsource(obj)))


def _attributes(obj: Callable | ModuleType) -> set[str]:
    """Names read as attributes (``x.NAME``) in ``obj``'s source."""
    return {n.attr for n in ast.walk(_tree(obj)) if isinstance(n, ast.Attribute)}


def _names(obj: Callable | ModuleType) -> set[str]:
    """Plain names used in ``obj``'s source."""
    return {n.id for n in ast.walk(_tree(obj)) if isinstance(n, ast.Name)}


def _parameters(func: Callable) -> list[str]:
    return list(inspect.signature(func).parameters)


def _passed_keywords(obj: Callable | ModuleType, method: str, receiver: str | None,
                     accepted: set[str], where: str, whose: str) -> Iterator[str]:
    """What ``obj`` passes by keyword to ``<receiver>.<method>(...)`` that is not accepted."""
    calls = [n for n in ast.walk(_tree(obj)) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Attribute) and n.func.attr == method
             and (receiver is None or (isinstance(n.func.value, ast.Name)
                                       and n.func.value.id == receiver))]
    if not calls:
        yield f"{where} no longer calls {receiver or '...'}.{method}(...)"
    for call in calls:
        unknown = sorted({k.arg for k in call.keywords if k.arg} - accepted)
        if unknown:
            yield (f"{where} passes {', '.join(unknown)} to {method}(), which {whose} does "
                   "not take")
