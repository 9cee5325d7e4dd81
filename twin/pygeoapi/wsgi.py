"""The WSGI layer in front of pygeoapi's Flask app (built by :mod:`twin.pygeoapi.app`).

The layer fixes what pygeoapi gets wrong for our users without forking it: unknown or empty
query parameters are refused (400) instead of ignored, CQL2 JSON works by GET as well as POST,
GeoJSON is labelled ``application/geo+json``, server errors never leak an HTML page or a
database detail, client mistakes pygeoapi or PostgreSQL would find late (a bbox outside its
CRS, paging past bigint, a body that is not UTF-8) are refused first in our words
(twin/request_checks.py), werkzeug's HTML error pages become JSON, what pygeoapi offers and we
do not (STAC, maps, EDR beyond the sensors, jobs, admin) answers 404 (vector tiles
are ours: twin/tiles.py), and every write method is refused except OGC API Features
Part 4 on street-damage, behind API keys (twin/transactions.py); the one other POST
besides CQL2 JSON queries runs a process synchronously (/processes/{id}/execution),
which reads and never writes.

It also gives each request a budget (:class:`twin.pygeoapi.context.RequestState`): one deadline
for all its statements, and whether it is *expensive* (a page over ``expensive_limit`` items,
or a filter with a spatial predicate or geometry); the provider makes an expensive request take
a slot, per client and for everyone, and the answer to a refused one states the limit. Filters
are bounded in length and nesting before they are parsed; CSV cells that a spreadsheet would
run as a formula are escaped.

How the layer is served (gunicorn, uvicorn workers, threads) is told in :mod:`twin.front`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from io import BytesIO
from time import monotonic
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from twin import coverage, csv_dialect, docs, edr, request_checks, tiles, transactions
from twin.amend import amend
from twin.analysis import ranking_output
from twin.processes import PROCESSORS
from twin.pygeoapi.context import (
    CRS84,
    FILTER_CRS,
    FILTER_JSON,
    PROCESS_MEDIA_TYPE,
    RAW_BBOX,
    REQUEST,
    RawBBox,
    RequestState,
)
from twin.registry import COLLECTIONS
from twin.settings import Settings, get_settings
from twin.viewer import routes as viewer_routes

LOGGER = logging.getLogger(__name__)

#: Query parameters of /collections/{id}/items besides the collection's own properties.
ITEMS_PARAMS = frozenset({
    "f", "lang", "limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "resulttype",
    "sortby", "properties", "skipGeometry", "filter", "filter-lang", "filter-crs",
    csv_dialect.PARAMETER,
})
ITEM_PARAMS = frozenset({"f", "lang", "crs", csv_dialect.PARAMETER})
#: Parameters for which an empty value is a client mistake, not "no value".
NON_EMPTY = frozenset({"limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "sortby",
                       "properties", "filter", "filter-lang", "filter-crs", "resulttype"})
#: Parameters whose value is one of a few words (OGC API Features Part 1 and Part 3).
CHOICES = {"skipGeometry": ("true", "false"), "resulttype": ("results", "hits"),
           csv_dialect.PARAMETER: tuple(d.value for d in csv_dialect.Dialect)}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CQL_JSON_TYPES = ("application/query-cql-json", "application/cql2+json", "application/json")
# Keys may hold a slash (traffic observations: "1201/2024-04-05T11:00:00Z").
ITEMS_PATH = re.compile(r"^/collections/(?P<cid>[^/]+)/items(?:/(?P<fid>.+?))?/?$")
PROPERTIES = {c.id: frozenset(f.name for f in c.all_fields if f.queryable) for c in COLLECTIONS}
#: Processes a client may execute by POST (synchronously; they read, never write).
EXECUTION_PATHS = frozenset(f"/processes/{pid}/execution" for pid in PROCESSORS)
#: A filter that needs a slot: a spatial predicate, a BBOX or a geometry literal.
SPATIAL_FILTER = re.compile(r"\b(s_[a-z]+|bbox|envelope|point|linestring|polygon|multi[a-z]+"
                            r"|geometrycollection)\b", re.IGNORECASE)
#: A cell a spreadsheet would run as a formula (OWASP "CSV injection"), unless a plain number.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
#: How long a refused expensive request should wait before trying again.
RETRY_AFTER_S = 2
#: Paths pygeoapi would serve but we do not offer: no STAC, no jobs (processes run
#: synchronously). Each answers 404 in JSON with the reason. (Tiles: twin/tiles.py.)
NOT_SERVED = {
    "/stac": "this service offers no STAC API; the data is at /collections",
    "/stac-api": "this service offers no STAC API; the data is at /collections",
    "/jobs": "this service keeps no jobs: processes run synchronously and answer with "
             "their result",
    "/admin": "this service has no admin API",
}
_NO_EDR = ("this service offers OGC API - EDR queries (position, area, cube, locations) only "
           "on the sensor collections (water-gauges, tree-sensors); features are at .../items")
#: Parts of a collection pygeoapi would route but none of ours has (it would answer 400
#: "invalid provider type"): no maps, no EDR. Each answers 404 in JSON.
NOT_SERVED_PARTS = {
    "map": "this service renders no maps; features are at .../items",
    "styles": "this service renders no maps; features are at .../items",
    **{part: _NO_EDR for part in ("position", "area", "cube", "radius", "trajectory",
                                  "corridor", "locations", "instances")},
}
COLLECTION_PART = re.compile(r"^/collections/[^/]+/(?P<part>[^/]+)")
#: Landing page links to what :data:`NOT_SERVED` refuses, and pygeoapi's to its
#: /TileMatrixSets (twin/tiles.py adds ours to /tileMatrixSets).
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
        if method in ("GET", "HEAD") and (text := docs.page(path)) is not None:
            # The pages that define the derived fields' formulas (queryables link them).
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                                      ("Content-Length", str(len(text)))])
            return [b"" if method == "HEAD" else text]
        # -- vector tiles and tile matrix sets (twin/tiles.py) --------------------------------
        if (answer := tiles.handle(environ, start_response, self.settings)) is not None:
            return answer
        if reason := not_served(path):
            return _json_error(start_response, HTTPStatus.NOT_FOUND, "NotFound", reason)
        if is_execution and (problem := _execution_body_problem(environ, self.settings)):
            return _json_error(start_response, HTTPStatus.BAD_REQUEST, "InvalidParameterValue",
                               problem)
        moved_filter = None
        bbox_shown: tuple[str, str] | None = None  # the client's bbox, pygeoapi's stand-in
        tokens: list = []
        expensive = False
        # -- coverages (the terrain): their parameters, checked in twin/coverage.py --------
        problem, scaling = coverage.check_request(path, environ.get("QUERY_STRING", ""))
        if problem:
            return _json_error(start_response, HTTPStatus.BAD_REQUEST, "InvalidParameterValue",
                               problem)
        if scaling is not None:
            tokens.append(scaling)
        # -- EDR on the sensor collections: their parameters, checked in twin/edr.py -------
        problem, resolution = edr.check_request(path, environ.get("QUERY_STRING", ""))
        if problem:
            return _json_error(start_response, HTTPStatus.BAD_REQUEST, "InvalidParameterValue",
                               problem)
        if resolution is not None:
            tokens.append(resolution)
        # -- CSV dialect of the answer, and the format of a process's result ---------------
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        dialect = query.get(csv_dialect.PARAMETER)
        if is_execution:
            problem, media_type = _execution_format(environ, query)
            if problem:
                return _json_error(start_response, HTTPStatus.BAD_REQUEST,
                                   "InvalidParameterValue", problem)
            tokens.append(PROCESS_MEDIA_TYPE.set(media_type))
        if dialect in CHOICES[csv_dialect.PARAMETER] or not dialect:
            tokens.append(csv_dialect.CSV_DIALECT.set(csv_dialect.choose(
                query.get("lang"), environ.get("HTTP_ACCEPT_LANGUAGE"), dialect)))
        # ------------------------------------------------------------------------------------
        if match and match["cid"] in PROPERTIES:
            params = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            params = self._open_year_zero(environ, params)
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
            if given.get("datetime") and not problem:  # pygeoapi's parser says it in its words
                problem = request_checks.datetime_problem(given["datetime"])
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
            if bbox and (stand_in := _bbox_stand_in(given["bbox"])):
                bbox_shown = (given["bbox"], stand_in)
                environ["QUERY_STRING"] = urlencode([
                    (k, stand_in if k == "bbox" else v)
                    for k, v in parse_qsl(environ["QUERY_STRING"], keep_blank_values=True)])
        timeout = self.settings.request_timeout_s
        state = RequestState(deadline=monotonic() + timeout, timeout_s=timeout,
                             client=environ.get("REMOTE_ADDR", "unknown"), expensive=expensive)
        tokens.append(REQUEST.set(state))
        try:
            return self._forward(environ, start_response, match, moved_filter, state,
                                 bbox_shown)
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
    def _open_year_zero(environ: dict, params: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """`datetime` with a start in the year 0000 (QGIS 3.22) as an open start, for
        pygeoapi cannot parse that year."""
        changed = [(k, request_checks.open_year_zero_start(v) if k == "datetime" else v)
                   for k, v in params]
        if changed != params:
            environ["QUERY_STRING"] = urlencode(changed)
        return changed

    @staticmethod
    def _move_filter_to_body(environ: dict, params: list[tuple[str, str]], text: str) -> None:
        # pygeoapi parses CQL2 JSON only from a request body, so hand it over as one.
        body = text.encode()
        environ["QUERY_STRING"] = urlencode([(k, v) for k, v in params if k != "filter"])
        environ["wsgi.input"] = BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["CONTENT_TYPE"] = "application/query-cql-json"

    def _forward(self, environ: dict, start_response: StartResponse, match: re.Match | None,
                 moved_filter: str | None, state: RequestState,
                 bbox_shown: tuple[str, str] | None = None) -> Iterable[bytes]:
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
        if bbox_shown is not None and status_code == 200:  # links in JSON and HTML
            body = _restore_bbox_in_links(body, *bbox_shown)
        if status_code == 200 and "json" in ctype:  # next past the end, queryables, extent
            body = amend(environ.get("PATH_INFO", ""),
                         dict(parse_qsl(environ.get("QUERY_STRING", ""))), body,
                         self.settings.config_path,
                         language=environ.get("HTTP_ACCEPT_LANGUAGE"),
                         base_url=self.settings.url)
        if status_code == 200 and ctype.startswith("application/json"):  # tileset, viewer
            body = viewer_routes.link_tileset(environ.get("PATH_INFO", ""), body,
                                              self.settings.url)
            body = tiles.add_links(environ.get("PATH_INFO", ""), body, self.settings.url)
        if status_code == 200 and edr.EDR_PATH.match(environ.get("PATH_INFO", "")) and \
                environ.get("PATH_INFO", "").rstrip("/").endswith("/locations"):
            # pygeoapi labels every EDR answer CoverageJSON; the list of locations is GeoJSON.
            headers = [(k, "application/geo+json") if k.lower() == "content-type" else (k, v)
                       for k, v in headers]
        if ctype.startswith("text/csv") and status_code == 200:
            body = escape_csv_formulas(body)
        if ctype.startswith(("text/html", "text/csv")) and "charset" not in ctype:
            # pygeoapi writes UTF-8 but does not say so; clients would guess Latin-1.
            headers = [(k, f"{v}; charset=utf-8") if k.lower() == "content-type" else (k, v)
                       for k, v in headers]
        headers.append(("Content-Length", str(len(body))))
        start_response(captured["status"], headers)
        return [body]


def not_served(path: str) -> str | None:
    """Why ``path`` is something pygeoapi offers and we do not (answered 404), or None."""
    root = "/" + path.strip("/").split("/", 1)[0]
    if edr.is_edr_path(path):  # the sensor collections' EDR queries (twin/edr.py)
        return None
    if root in NOT_SERVED:
        return NOT_SERVED[root]
    if (part := COLLECTION_PART.match(path)) and part["part"] in NOT_SERVED_PARTS:
        return NOT_SERVED_PARTS[part["part"]]
    return None


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

    Plain numbers (``-3.5``; ``-3,5`` in the German dialect) are left alone: a spreadsheet
    reads them as numbers, not code. The German dialect (twin/csv_dialect.py) keeps its BOM
    and ``;``.
    """
    text, delimiter = csv_dialect.reading_args(body)
    german = delimiter == ";"
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter)
    for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
        writer.writerow([f"'{cell}" if cell.startswith(FORMULA_START)
                         and not PLAIN_NUMBER.fullmatch(cell.replace(",", ".") if german
                                                        else cell) else cell for cell in row])
    return ((csv_dialect.BOM if german else "") + out.getvalue()).encode("utf-8")


def _execution_format(environ: dict, query: dict[str, str]) -> tuple[str | None, str | None]:
    """A problem with the execution URL's format parameters, and the media type asked for
    by ``f=`` or ``Accept`` (None: the process's default).

    pygeoapi refuses ``f=csv`` on any path whose format it does not know (and ignores
    ``Accept`` for processes), so ``f=`` of the ranking's formats is taken off the query
    here and handed to the process (twin/processes.py).
    """
    dialect = query.get(csv_dialect.PARAMETER)
    if dialect is not None and dialect not in CHOICES[csv_dialect.PARAMETER]:
        return (f"query parameter '{csv_dialect.PARAMETER}' must be one of "
                f"{', '.join(CHOICES[csv_dialect.PARAMETER])}, not '{dialect}'"), None
    f = query.get("f")
    if f is not None:
        if f.lower() not in ranking_output.F_VALUES:
            return (f"query parameter 'f' must be one of "
                    f"{', '.join(ranking_output.F_VALUES)}, not '{f}'"), None
        environ["QUERY_STRING"] = urlencode([
            (k, v) for k, v in parse_qsl(environ.get("QUERY_STRING", ""),
                                         keep_blank_values=True) if k != "f"])
        return None, ranking_output.F_VALUES[f.lower()]
    for item in environ.get("HTTP_ACCEPT", "").split(","):
        media_type = item.split(";")[0].strip().lower()
        if media_type in ranking_output.MEDIA_TYPES:
            return None, media_type
    return None, None


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


def _bbox_stand_in(text: str) -> str | None:
    """What pygeoapi is shown of a valid ``bbox`` it would refuse, or None if it would not.

    pygeoapi reads the 2nd and 4th numbers (of six: 2nd and 5th) as south and north and
    refuses a box where the first is larger ("miny should be less than maxy"); in EPSG:4326,
    latitude first, those are the longitudes, and such a box crosses the antimeridian. The
    stand-in has them swapped: the provider reads the client's box (RAW_BBOX), and the links
    of the answer get it back (:func:`_restore_bbox_in_links`).
    """
    parts = text.split(",")
    west, east = (1, 3) if len(parts) == 4 else (1, 4)
    if float(parts[west]) <= float(parts[east]):
        return None
    parts[west], parts[east] = parts[east], parts[west]
    return ",".join(parts)


def _restore_bbox_in_links(body: bytes, original: str, stand_in: str) -> bytes:
    """The answer with the client's ``bbox`` in its links (JSON or HTML) in place of the
    stand-in pygeoapi was shown; pygeoapi writes parameters into links quoted so."""
    return body.replace(f"bbox={quote(stand_in, safe=',')}".encode(),
                        f"bbox={quote(original, safe=',')}".encode())


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
