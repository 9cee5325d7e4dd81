"""The served application: pygeoapi's Flask app behind a thin WSGI layer, run by gunicorn.

The layer fixes what pygeoapi gets wrong for our users without forking it: unknown or empty
query parameters are refused (400) instead of ignored, CQL2 JSON works by GET as well as POST,
GeoJSON is labelled ``application/geo+json``, server errors never leak an HTML page or a
database detail, client mistakes pygeoapi or PostgreSQL would find late (a bbox outside its
CRS, paging past bigint, a body that is not UTF-8) are refused first in our words
(twin/request_checks.py), werkzeug's HTML error pages become JSON, what pygeoapi offers and we
do not (STAC, tiles, jobs) answers 404, and every write method is refused except OGC API
Features Part 4 on street-damage, behind API keys (twin/transactions.py); the one other POST
besides CQL2 JSON queries runs a process synchronously (/processes/{id}/execution), which
reads and never writes.

It also gives each request a budget (:class:`twin.query_context.RequestState`): one deadline
for all its statements, and whether it is *expensive* (a page over ``expensive_limit`` items,
or a filter with a spatial predicate or geometry); the provider makes an expensive request take
a slot, per client and for everyone, and the answer to a refused one states the limit. Filters
are bounded in length and nesting before they are parsed; CSV cells that a spreadsheet would
run as a formula are escaped.

How it is served, and why so. gunicorn's sync workers read a request in the worker itself, so
two clients trickling header lines held both workers until gunicorn killed them at 120 s. Now
gunicorn only supervises processes (``--workers``); each runs uvicorn's event loop
(:class:`twin.front.TwinWorker`), where a connection costs a coroutine until its headers and
body are complete, within ``read_timeout_s`` each and the body within ``max_body_bytes``
(:mod:`twin.front`). Only a complete request takes one of ``threads`` threads, which run this
WSGI app through a2wsgi. We chose this over gevent (it would need monkey-patching under
psycopg's pool and still read requests inside the application's worker) and over waitress
(it buffers requests too, but in one process, with no supervisor to use both cores).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from time import monotonic
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from twin import logsafe, request_checks, transactions
from twin.amend import amend
from twin.errors import ConfigurationError
from twin.processes import PROCESSORS
from twin.query_context import (
    CRS84,
    FILTER_CRS,
    FILTER_JSON,
    RAW_BBOX,
    REQUEST,
    RawBBox,
    RequestState,
)
from twin.registry import COLLECTIONS
from twin.settings import Settings, get_settings
from twin.viewer import routes as viewer_routes

LOGGER = logging.getLogger(__name__)
PACKAGE_DIR = Path(__file__).resolve().parent

#: Conformance classes this service really implements (checked by tests), replacing
#: pygeoapi's list, which claims its own writes (Part 4) and omits the filter classes.
CONFORMANCE_FEATURES = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-common-3/1.0/conf/schemas",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/property-property",
    "http://www.opengis.net/spec/cql2/1.0/conf/arithmetic",
    # Part 4, on street-damage only (twin/transactions.py; the other collections answer 405).
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
]

#: Query parameters of /collections/{id}/items besides the collection's own properties.
ITEMS_PARAMS = frozenset({
    "f", "lang", "limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "resulttype",
    "sortby", "properties", "skipGeometry", "filter", "filter-lang", "filter-crs",
})
ITEM_PARAMS = frozenset({"f", "lang", "crs"})
#: Parameters for which an empty value is a client mistake, not "no value".
NON_EMPTY = frozenset({"limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "sortby",
                       "properties", "filter", "filter-lang", "filter-crs", "resulttype"})
#: Parameters whose value is one of a few words (OGC API Features Part 1 and Part 3).
CHOICES = {"skipGeometry": ("true", "false"), "resulttype": ("results", "hits")}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CQL_JSON_TYPES = ("application/query-cql-json", "application/cql2+json", "application/json")
# Keys may hold a slash (traffic observations: "1201/2024-04-05T11:00:00Z").
ITEMS_PATH = re.compile(r"^/collections/(?P<cid>[^/]+)/items(?:/(?P<fid>.+?))?/?$")
PROPERTIES = {c.id: frozenset(f.name for f in c.all_fields if f.queryable) for c in COLLECTIONS}
#: Processes a client may execute by POST (synchronously; they read, never write).
EXECUTION_PATHS = frozenset(f"/processes/{pid}/execution" for pid in PROCESSORS)
#: OGC API Processes classes we implement; pygeoapi also claims callbacks, which we refuse.
CONFORMANCE_PROCESSES = [
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/ogc-process-description",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/oas30",
]

#: A filter that needs a slot: a spatial predicate, a BBOX or a geometry literal.
SPATIAL_FILTER = re.compile(r"\b(s_[a-z]+|bbox|envelope|point|linestring|polygon|multi[a-z]+"
                            r"|geometrycollection)\b", re.IGNORECASE)
#: A cell a spreadsheet would run as a formula (OWASP "CSV injection"), unless a plain number.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
#: How long a refused expensive request should wait before trying again.
RETRY_AFTER_S = 2
#: Paths pygeoapi would serve but we do not offer: no STAC, no tiles, no jobs (processes run
#: synchronously). Each answers 404 in JSON with the reason.
NOT_SERVED = {
    "/stac": "this service offers no STAC API; the data is at /collections",
    "/stac-api": "this service offers no STAC API; the data is at /collections",
    "/TileMatrixSets": "this service serves no tiles, so it has no tile matrix sets",
    "/jobs": "this service keeps no jobs: processes run synchronously and answer with "
             "their result",
}
#: Landing page links to what :data:`NOT_SERVED` refuses.
UNSERVED_RELS = frozenset({"http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes",
                           "http://www.opengis.net/def/rel/ogc/1.0/job-list"})
#: How werkzeug's own error pages begin (pygeoapi's pages use its templates instead).
WERKZEUG_PAGE = b"<!doctype html>\n<html lang=en>\n<title>"

StartResponse = Callable[..., Any]


def _json_error(start_response: StartResponse, status: HTTPStatus, code: str,
                description: str) -> list[bytes]:
    body = json.dumps({"code": code, "description": description}).encode()
    start_response(f"{status.value} {status.phrase}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class TwinMiddleware:
    """WSGI layer in front of pygeoapi's Flask app; see the module docstring."""

    def __init__(self, app: Callable, settings: Settings | None = None) -> None:
        self.app = app
        self.settings = settings or get_settings()

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "")
        match = ITEMS_PATH.match(path)
        content_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip()
        is_query_post = (method == "POST" and match is not None and match["fid"] is None
                         and content_type in CQL_JSON_TYPES)
        is_execution = method == "POST" and path in EXECUTION_PATHS
        # -- Part 4 writes on street-damage only (twin/transactions.py) --------------------
        if transactions.is_write(environ, method, match):
            return transactions.handle_write(environ, start_response, self.settings)
        # -- /viewer/ and /collections/buildings/3dtiles/ (twin/viewer/routes.py) -------------
        if (answer := viewer_routes.handle(environ, start_response, self.settings)) is not None:
            return answer
        start_response = transactions.with_etag(start_response)  # ETag of a GET item
        # ------------------------------------------------------------------------------------
        if method not in SAFE_METHODS and not is_query_post and not is_execution:
            return _json_error(start_response, HTTPStatus.METHOD_NOT_ALLOWED, "MethodNotAllowed",
                               "This service is read-only.")
        root = "/" + path.strip("/").split("/", 1)[0]
        if root in NOT_SERVED:
            return _json_error(start_response, HTTPStatus.NOT_FOUND, "NotFound",
                               NOT_SERVED[root])
        if is_execution and (problem := _execution_body_problem(environ, self.settings)):
            return _json_error(start_response, HTTPStatus.BAD_REQUEST, "InvalidParameterValue",
                               problem)
        moved_filter = None
        tokens: list = []
        expensive = False
        if match and match["cid"] in PROPERTIES:
            params = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            problem = self._check_params(params, match["cid"], single=match["fid"] is not None)
            given = dict(params)
            filter_text = given.get("filter")
            if is_query_post:
                body = _query_body(environ)
                problem = problem or request_checks.utf8_problem(body, "the CQL2 JSON body")
                filter_text = body.decode("utf-8", errors="replace")
            json_filter = is_query_post or given.get("filter-lang") == "cql2-json"
            problem = problem or _filter_problem(filter_text, json_filter, self.settings)
            bbox = _bbox_values(given.get("bbox"))
            bbox_crs = given.get("bbox-crs", CRS84)
            if bbox and not problem:
                problem = request_checks.bbox_problem(bbox, bbox_crs)
            if problem:
                return _json_error(start_response, HTTPStatus.BAD_REQUEST,
                                   "InvalidParameterValue", problem)
            limit = given.get("limit", "")
            expensive = match["fid"] is None and (
                (limit.isdigit() and int(limit) > self.settings.expensive_limit)
                or bool(filter_text and SPATIAL_FILTER.search(filter_text)))
            tokens = [FILTER_CRS.set(given.get("filter-crs")), FILTER_JSON.set(json_filter)]
            if bbox:
                tokens.append(RAW_BBOX.set(RawBBox(bbox, bbox_crs)))
            if given.get("filter-lang") == "cql2-json" and "filter" in given:
                moved_filter = given["filter"]
                self._move_filter_to_body(environ, params, moved_filter)
        timeout = self.settings.request_timeout_s
        state = RequestState(deadline=monotonic() + timeout, timeout_s=timeout,
                             client=environ.get("REMOTE_ADDR", "unknown"), expensive=expensive)
        tokens.append(REQUEST.set(state))
        try:
            return self._forward(environ, start_response, match, moved_filter, state)
        finally:
            state.finish()  # after the body is rendered: the slot covers the formatting too
            for token in reversed(tokens):
                token.var.reset(token)

    @staticmethod
    def _check_params(params: list[tuple[str, str]], cid: str, *, single: bool) -> str | None:
        allowed = ITEM_PARAMS if single else ITEMS_PARAMS | PROPERTIES[cid]
        for key, value in params:
            if key not in allowed:
                return (f"unknown query parameter '{key}'; valid: "
                        f"{', '.join(sorted(allowed))}")
            if key in NON_EMPTY and not value.strip():
                return f"query parameter '{key}' is empty"
            if key in ("limit", "offset") and \
                    (problem := request_checks.whole_number_problem(key, value)):
                return problem
            # pygeoapi reads 'yes', 'on', 't', '1' as true and ignores an unknown resulttype.
            if key in CHOICES and value not in CHOICES[key]:
                return (f"query parameter '{key}' must be one of "
                        f"{', '.join(CHOICES[key])}, not '{value}'")
        seen = [k for k, _ in params]
        dup = next((k for k in seen if seen.count(k) > 1), None)
        if dup:
            return f"query parameter '{dup}' is given more than once"
        return None

    @staticmethod
    def _move_filter_to_body(environ: dict, params: list[tuple[str, str]], text: str) -> None:
        # pygeoapi parses CQL2 JSON only from a request body, so hand it over as one.
        body = text.encode()
        environ["QUERY_STRING"] = urlencode([(k, v) for k, v in params if k != "filter"])
        environ["wsgi.input"] = BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["CONTENT_TYPE"] = "application/query-cql-json"

    def _forward(self, environ: dict, start_response: StartResponse, match: re.Match | None,
                 moved_filter: str | None, state: RequestState) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        try:
            result = self.app(environ, capture)
            try:
                body = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        except Exception:  # noqa: BLE001 - last line of defence: never an HTML trace
            LOGGER.exception("unhandled error")
            return _json_error(start_response, HTTPStatus.INTERNAL_SERVER_ERROR, "ServerError",
                               "Internal server error.")
        if state.refusal is not None:
            status, description = HTTPStatus(state.refusal[0]), state.refusal[1]
            body = json.dumps({"code": status.phrase.replace(" ", ""),
                               "description": description}).encode()
            start_response(f"{status.value} {status.phrase}", [
                ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                ("Retry-After", str(RETRY_AFTER_S))])
            return [body]
        status_code = int(captured["status"].split()[0])
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        ctype = next((v for k, v in headers if k.lower() == "content-type"), "")

        if status_code >= 400 and body.startswith(WERKZEUG_PAGE):
            return _werkzeug_as_json(start_response, HTTPStatus(status_code), headers,
                                     environ.get("REQUEST_METHOD", "GET"))
        if environ.get("PATH_INFO", "") in ("", "/") and status_code == 200 and \
                ctype.startswith("application/json"):
            body = _drop_unserved_links(body)
        if status_code >= 500:
            status = HTTPStatus(status_code)
            description = ("The service is temporarily unavailable. Please try again later."
                           if status is HTTPStatus.SERVICE_UNAVAILABLE
                           else "Internal server error.")
            code = "ServiceUnavailable" if status is HTTPStatus.SERVICE_UNAVAILABLE \
                else "ServerError"
            return _json_error(start_response, status, code, description)

        if match and status_code == 200 and ctype.startswith("application/json"):
            headers = [(k, "application/geo+json") if k.lower() == "content-type" else (k, v)
                       for k, v in headers]
            if moved_filter is not None:
                body = _restore_filter_in_links(body, moved_filter)
        if status_code == 200 and "json" in ctype:  # next past the end, queryables, extent
            body = amend(environ.get("PATH_INFO", ""),
                         dict(parse_qsl(environ.get("QUERY_STRING", ""))), body,
                         self.settings.config_path)
        if status_code == 200 and ctype.startswith("application/json"):  # tileset, viewer
            body = viewer_routes.link_tileset(environ.get("PATH_INFO", ""), body,
                                              self.settings.url)
        if ctype.startswith("text/csv") and status_code == 200:
            body = escape_csv_formulas(body)
        if ctype.startswith(("text/html", "text/csv")) and "charset" not in ctype:
            # pygeoapi writes UTF-8 but does not say so; clients would guess Latin-1.
            headers = [(k, f"{v}; charset=utf-8") if k.lower() == "content-type" else (k, v)
                       for k, v in headers]
        headers.append(("Content-Length", str(len(body))))
        start_response(captured["status"], headers)
        return [body]


def _query_body(environ: dict) -> bytes:
    """The body of a POST query; it stays readable for pygeoapi."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = BytesIO(body)
    return body


def nesting_depth(text: str, *, json_text: bool) -> int:
    """Deepest bracket nesting of a JSON document or a CQL2 text, strings not counted."""
    strings = r'"(?:[^"\\]|\\.)*"' if json_text else r"'(?:[^']|'')*'"
    brackets = re.sub(r"[^\[\]{}()]", "", re.sub(strings, "", text))
    depth = deepest = 0
    for char in brackets:
        depth += 1 if char in "[{(" else -1
        deepest = max(deepest, depth)
    return deepest


def _filter_problem(text: str | None, json_text: bool, settings: Settings) -> str | None:
    """Why a filter is refused before it is parsed (length, nesting), or None."""
    if not text:
        return None
    if len(text) > settings.max_filter_chars:
        return (f"the filter has {len(text)} characters; the limit is "
                f"{settings.max_filter_chars}")
    if nesting_depth(text, json_text=json_text) > settings.max_json_depth:
        return f"the filter is nested deeper than the limit of {settings.max_json_depth} levels"
    return None


def escape_csv_formulas(body: bytes) -> bytes:
    """CSV with every cell that starts like a formula prefixed by a single quote (OWASP).

    Plain numbers (``-3.5``) are left alone: a spreadsheet reads them as numbers, not code.
    """
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    for row in csv.reader(io.StringIO(body.decode("utf-8"), newline="")):
        writer.writerow([f"'{cell}" if cell.startswith(FORMULA_START)
                         and not PLAIN_NUMBER.fullmatch(cell) else cell for cell in row])
    return out.getvalue().encode("utf-8")


def _execution_body_problem(environ: dict, settings: Settings) -> str | None:
    """Why a process execution body is unusable, or None; the body stays readable."""
    # pygeoapi 0.24 answers 500 to a body that is valid JSON but not an object.
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return "invalid Content-Length"
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = BytesIO(body)
    if problem := request_checks.utf8_problem(body, "the execution request"):
        return problem
    if nesting_depth(body.decode("utf-8", errors="replace"), json_text=True) > \
            settings.max_json_depth:
        return f"the JSON body is nested deeper than the limit of {settings.max_json_depth} levels"
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        return "the execution request is not valid JSON"
    if not isinstance(document, dict):
        return 'the execution request must be a JSON object, e.g. {"inputs": {...}}'
    return None


def _bbox_values(text: str | None) -> tuple[float, ...]:
    """The numbers of a ``bbox`` parameter; empty when it is malformed (pygeoapi says how)."""
    try:
        values = tuple(float(v) for v in (text or "").split(","))
    except ValueError:
        return ()
    return values if len(values) in (4, 6) else ()


def _werkzeug_as_json(start_response: StartResponse, status: HTTPStatus, headers: list,
                      method: str) -> list[bytes]:
    """Flask's own HTML error page (an unknown path, a method the route lacks) as JSON."""
    allow = [(k, v) for k, v in headers if k.lower() == "allow"]
    description = {
        HTTPStatus.NOT_FOUND: "nothing is served at this path; the API starts at /",
        HTTPStatus.METHOD_NOT_ALLOWED: f"{method} is not allowed here; allowed: "
                                       + (allow[0][1] if allow else "none"),
    }.get(status, status.phrase)
    body = json.dumps({"code": status.phrase.replace(" ", ""),
                       "description": description}).encode()
    start_response(f"{status.value} {status.phrase}", [
        ("Content-Type", "application/json"), ("Content-Length", str(len(body))), *allow])
    return [body]


def _drop_unserved_links(body: bytes) -> bytes:
    """The landing page without links to what :data:`NOT_SERVED` refuses."""
    doc = json.loads(body)
    doc["links"] = [link for link in doc.get("links", []) if link.get("rel") not in UNSERVED_RELS]
    return json.dumps(doc).encode()


def _restore_filter_in_links(body: bytes, filter_text: str) -> bytes:
    """Put a GET CQL2 JSON filter back into the paging links pygeoapi built without it."""
    doc = json.loads(body)
    for link in doc.get("links", []):
        if link.get("rel") in ("self", "alternate", "next", "prev") and "/items" in link["href"]:
            link["href"] += "&filter=" + quote(filter_text, safe="")
    return json.dumps(doc).encode()


def prepare_environment(settings: Settings) -> None:
    """Environment that pygeoapi and the config's placeholders read."""
    if not settings.config_path.exists():
        raise ConfigurationError(f"{settings.config_path} does not exist; run `twin config`")
    os.environ.update({
        "PYGEOAPI_CONFIG": str(settings.config_path),
        "PYGEOAPI_OPENAPI": str(settings.openapi_path),
        "TWIN_DATABASE_URL": settings.dsn,
        "TWIN_PUBLIC_URL": settings.url,
        "TWIN_TEMPLATES_DIR": str(PACKAGE_DIR / "templates"),
        "TWIN_STATIC_DIR": str(PACKAGE_DIR / "static"),
    })


def write_openapi(settings: Settings) -> Path:
    """Generate the OpenAPI document pygeoapi serves, from the current config."""
    import yaml
    from pygeoapi.openapi import generate_openapi_document

    from twin.openapi_bundle import bundle
    from twin.openapi_writes import add_write_operations
    from twin.pygeoapi_config import OFFERED_CRS

    prepare_environment(settings)
    doc = yaml.safe_load(generate_openapi_document(settings.config_path, "yaml"))
    doc = add_write_operations(doc)  # street-damage's writes (twin/transactions.py)
    doc = bundle(doc, OFFERED_CRS)  # no reference leaves the document (twin/openapi_ogc/)
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    settings.openapi_path.parent.mkdir(parents=True, exist_ok=True)
    settings.openapi_path.write_text(text, encoding="utf-8")
    return settings.openapi_path


def create_app(settings: Settings | None = None) -> TwinMiddleware:
    """The WSGI application: pygeoapi's Flask app wrapped in :class:`TwinMiddleware`."""
    settings = settings or get_settings()
    prepare_environment(settings)
    import pygeoapi.api.itemtypes as itemtypes
    import pygeoapi.api.processes as processes

    itemtypes.CONFORMANCE_CLASSES_FEATURES[:] = CONFORMANCE_FEATURES
    processes.CONFORMANCE_CLASSES[:] = CONFORMANCE_PROCESSES
    from pygeoapi.api import API
    from pygeoapi.flask_app import APP, CONFIG

    from twin.csv_format import check_in_use

    check_in_use(CONFIG["resources"])  # fails loudly if pygeoapi picks its own CSV again

    _quiet_client_errors(API)
    logsafe.install(settings.log_value_chars)
    return TwinMiddleware(APP, settings)


def _quiet_client_errors(api: type) -> None:
    """pygeoapi logs every error answer with its traceback; keep those for faults only."""
    original = api.get_exception
    if getattr(original, "_twin", False):
        return

    def get_exception(self: Any, status: int, *args: Any, **kwargs: Any) -> Any:
        state = REQUEST.get()
        # A refused expensive request (503) is a limit at work, not a fault to debug either.
        quiet = int(status) < 500 or (state is not None and state.refusal is not None)
        token = logsafe.CLIENT_ERROR.set(quiet)
        try:
            return original(self, status, *args, **kwargs)
        finally:
            logsafe.CLIENT_ERROR.reset(token)

    get_exception._twin = True  # type: ignore[attr-defined]
    api.get_exception = get_exception


def run(settings: Settings | None = None) -> None:
    """Serve in the foreground until interrupted: gunicorn supervising ``workers`` processes
    of :class:`twin.front.TwinWorker` (see the module docstring)."""
    from gunicorn.app.base import BaseApplication

    from twin.front import TwinFront

    settings = settings or get_settings()
    write_openapi(settings)

    class _Gunicorn(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{settings.host}:{settings.port}")
            self.cfg.set("workers", settings.workers)
            self.cfg.set("worker_class", "twin.front.TwinWorker")
            # The event loop's heartbeat; requests have their own deadlines (twin.front).
            self.cfg.set("timeout", 60)
            self.cfg.set("keepalive", 5)
            # Load pygeoapi before binding: no client waits on a worker still importing it.
            # Database pools open lazily, in each worker after the fork.
            self.cfg.set("preload_app", True)
            self.cfg.set("accesslog", "-")
            self.cfg.set("errorlog", "-")
            self.cfg.set("loglevel", "warning")
            self.cfg.set("proc_name", "twin-api")

        def load(self) -> TwinFront:
            return TwinFront(create_app(settings), settings)

    url = settings.url
    print(f"Serving the Cottbus twin at {url}/\n"
          f"  collections: {url}/collections\n"
          + "".join(f"  {c.id}: {url}/collections/{c.id}/items\n" for c in COLLECTIONS)
          + "".join(f"  process {pid}: {url}/processes/{pid}\n" for pid in PROCESSORS)
          + f"  OpenAPI: {url}/openapi\n", flush=True)
    _Gunicorn().run()
