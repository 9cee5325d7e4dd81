"""The viewer's paths in the WSGI layer: /viewer/ and the buildings' 3D Tiles.

``handle`` answers what is ours and returns None for everything else, so the server's hook is
one line (twin/pygeoapi/wsgi.py). Served here:

- ``/viewer/``: the page (twin/viewer/page.py), built per request from the stored tileset;
- ``/viewer/static/<file>``: the viewer's own script and style sheet;
- ``/viewer/vendor/pydeck-<version>/deck.js``: deck.gl as pydeck's wheel bundles it, gzipped
  once per process for clients that accept it;
- ``/collections/buildings/3dtiles/<path>``: the rows of twin.building_tiles
  (twin/tiles3d/serve.py); ``/collections/buildings/3dtiles`` redirects to its tileset.json.

``link_tileset`` adds the tileset to the buildings collection's links (and ``content``, in the
manner of OGC API - 3D GeoVolumes) and the viewer to the landing page's links.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from http import HTTPStatus
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from twin.pools import refuse_if_down
from twin.settings import Settings
from twin.tiles3d.serve import PREFIX, Answer, tile_answer, tileset_link
from twin.viewer.page import (
    DECK_BUNDLE,
    DECK_BUNDLE_PATH,
    PACKAGE_DIR,
    render_page,
    tileset_summary,
)

LOGGER = logging.getLogger(__name__)
STATIC = {p.name: p for p in (PACKAGE_DIR / "static").iterdir() if p.is_file()}
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
READ_METHODS = ("GET", "HEAD")
StartResponse = Callable[..., Any]

_POOLS: dict[str, ConnectionPool] = {}
_POOLS_LOCK = threading.Lock()


def _pool(settings: Settings) -> ConnectionPool:
    """One small pool per database per process, opened on first use (after gunicorn forks)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(settings.dsn)
        if pool is None:
            pool = ConnectionPool(
                settings.dsn, min_size=1, max_size=4, open=False, name="twin-viewer",
                check=ConnectionPool.check_connection,
                kwargs={"autocommit": True, "application_name": "twin-viewer",
                        "options": f"-c statement_timeout={settings.statement_timeout_ms}"})
            pool.open(wait=False)
            _POOLS[settings.dsn] = pool
        return pool


@contextmanager
def _connection(settings: Settings) -> Iterator[psycopg.Connection]:
    pool = _pool(settings)
    refuse_if_down(pool)
    with pool.connection(timeout=5) as conn:
        yield conn


def _json(status: HTTPStatus, description: str, extra: list[tuple[str, str]] | None = None
          ) -> Answer:
    body = json.dumps({"code": status.phrase.replace(" ", ""),
                       "description": description}).encode()
    return Answer(status.value, [("Content-Type", "application/json"), *(extra or [])], body)


def _redirect(location: str, status: HTTPStatus = HTTPStatus.FOUND) -> Answer:
    return Answer(status.value, [("Location", location), ("Content-Type", "text/plain")],
                  f"see {location}\n".encode())


@cache
def _bundle() -> tuple[bytes, bytes, str]:
    """The deck.gl bundle, gzipped, and its ETag (read once per process)."""
    raw = DECK_BUNDLE.read_bytes()
    return raw, gzip.compress(raw, 6, mtime=0), f'"{hashlib.sha256(raw).hexdigest()[:16]}"'


def _file(environ: dict, raw: bytes, zipped: bytes | None, content_type: str, etag: str,
          cache_control: str) -> Answer:
    headers = [("ETag", etag), ("Cache-Control", cache_control), ("Vary", "Accept-Encoding")]
    if environ.get("HTTP_IF_NONE_MATCH") == etag:
        return Answer(304, headers, b"")
    headers.append(("Content-Type", content_type))
    if zipped is not None and "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
        return Answer(200, [*headers, ("Content-Encoding", "gzip")], zipped)
    return Answer(200, headers, raw)


def _answer(environ: dict, path: str, settings: Settings) -> Answer | None:
    base = settings.url
    if path == "/viewer":
        return _redirect(f"{base}/viewer/", HTTPStatus.MOVED_PERMANENTLY)
    if path == "/viewer/":
        with _connection(settings) as conn:
            summary = tileset_summary(conn)
        body = render_page(settings, summary).encode("utf-8")
        return Answer(200, [("Content-Type", "text/html; charset=utf-8"),
                            ("Cache-Control", "no-cache")], body)
    if path == f"/viewer/{DECK_BUNDLE_PATH}":
        raw, zipped, etag = _bundle()
        return _file(environ, raw, zipped, "text/javascript; charset=utf-8", etag,
                     "public, max-age=31536000, immutable")
    if path.startswith("/viewer/static/"):
        name = path.removeprefix("/viewer/static/")
        if name not in STATIC:
            return _json(HTTPStatus.NOT_FOUND, f"no viewer file '{name}'")
        raw = STATIC[name].read_bytes()
        etag = f'"{hashlib.sha256(raw).hexdigest()[:16]}"'
        return _file(environ, raw, None, STATIC_TYPES.get(STATIC[name].suffix,
                                                          "application/octet-stream"),
                     etag, "no-cache")
    if path.startswith("/viewer/"):
        return _json(HTTPStatus.NOT_FOUND, "nothing is served at this path; the viewer is at "
                                           "/viewer/")
    if path in (PREFIX.rstrip("/"), PREFIX):
        return _redirect(f"{base}{PREFIX}tileset.json")
    if path.startswith(PREFIX):
        with _connection(settings) as conn:
            return tile_answer(conn, path.removeprefix(PREFIX),
                               environ.get("HTTP_IF_NONE_MATCH"),
                               "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""))
    return None


def is_ours(path: str) -> bool:
    """True for the paths :func:`handle` answers."""
    return path == "/viewer" or path.startswith("/viewer/") or path == PREFIX.rstrip("/") \
        or path.startswith(PREFIX)


def handle(environ: dict, start_response: StartResponse, settings: Settings
           ) -> Iterable[bytes] | None:
    """Answer a request for the viewer or the 3D Tiles, or None when the path is not ours."""
    path = environ.get("PATH_INFO", "")
    if not is_ours(path):
        return None
    method = environ.get("REQUEST_METHOD", "GET").upper()
    if method == "OPTIONS":
        answer = Answer(204, [("Allow", "GET, HEAD, OPTIONS")], b"")
    elif method not in READ_METHODS:
        answer = _json(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} is not allowed here; "
                       "allowed: GET, HEAD, OPTIONS", [("Allow", "GET, HEAD, OPTIONS")])
    else:
        try:
            answer = _answer(environ, path, settings)
        except (PoolTimeout, psycopg.OperationalError) as exc:
            LOGGER.warning("viewer: database unavailable: %s", exc)
            answer = _json(HTTPStatus.SERVICE_UNAVAILABLE, "The service is temporarily "
                           "unavailable. Please try again later.", [("Retry-After", "2")])
        except psycopg.Error:
            LOGGER.exception("viewer: database error")
            answer = _json(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error.")
    assert answer is not None  # is_ours() and _answer() agree on the paths
    body = b"" if method == "HEAD" else answer.body
    status = HTTPStatus(answer.status)
    start_response(f"{status.value} {status.phrase}",
                   [*answer.headers, ("Content-Length", str(len(answer.body)))])
    return [body]


def link_tileset(path: str, body: bytes, base_url: str) -> bytes:
    """A JSON answer of pygeoapi with the links to the tileset and the viewer added."""
    path = path.rstrip("/") or "/"
    if path not in ("/", "/collections", "/collections/buildings"):
        return body
    try:
        doc = json.loads(body)
    except ValueError:
        return body
    if not isinstance(doc, dict):
        return body
    link = tileset_link(base_url)
    if path == "/":
        doc.setdefault("links", []).append({
            "rel": "related", "type": "text/html", "title": "3D viewer (buildings, heritage)",
            "href": f"{base_url}/viewer/"})
    elif path == "/collections":
        for collection in doc.get("collections", []):
            if isinstance(collection, dict) and collection.get("id") == "buildings":
                collection.setdefault("links", []).append(link)
    else:
        doc.setdefault("links", []).append(link)
        doc["content"] = [link]  # OGC API - 3D GeoVolumes: a 3D container's content
    return json.dumps(doc).encode()
