"""OGC API Features Part 4 (create, replace, update, delete) on ``street-damage``, and nowhere else.

Field crews mark damage repaired from a tablet or QGIS. The WSGI layer (twin/pygeoapi/wsgi.py) hands
this module every write request on ``/collections/street-damage/items[/{id}]`` (and their
OPTIONS, which tell QGIS what it may do); every other collection stays read-only (405).

A write is, in this order: authenticated (``X-API-Key`` or ``Authorization: Bearer``; 401 with
``WWW-Authenticate`` without a valid key, 403 without the ``street-damage:write`` scope), its
body size checked (413), its body checked (twin/write_body.py: 400, 415), then done in one
transaction: the row locked, ``If-Match`` compared with its version (412 when stale; 428 when
missing and the key requires it), the row written, ``traffic_dtv``/``repair_priority``
re-derived (twin/sql/derive_street_damage.sql), and the write recorded in
``twin.write_audit`` (who, when, method, id, before, after). Replace replaces: a property the
body leaves out becomes NULL (``status``: ``open``); update merges (JSON Merge Patch). The id
of a PUT, PATCH or DELETE is the URL's; a created record gets ``field-<uuid>`` and
``source = 'field'``. Positions are reprojected from ``Content-Crs`` to the storage CRS and
refused outside Brandenburg.

The ETag of an item is its row version (PostgreSQL ``xmin``): the provider reads it with the
row on GET (twin/pygeoapi/context.py ITEM_VERSION), writes compare it under a row lock.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from http import HTTPStatus
from io import BytesIO
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from etl.geometry import BRANDENBURG_25833
from twin.auth import ApiKey, store_for, token_of
from twin.db import connect, packaged_sql
from twin.errors import UNAVAILABLE, TwinError
from twin.pygeoapi.context import ITEM_VERSION
from twin.registry import STREET_DAMAGE
from twin.settings import STORAGE_SRID, Settings
from twin.write_body import (
    Edit,
    WriteError,
    bad,
    content_crs,
    parse_json,
    rating_of,
    read_feature,
)

LOGGER = logging.getLogger(__name__)
StartResponse = Callable[..., Any]

COLLECTION = STREET_DAMAGE
SCOPE = f"{COLLECTION.id}:write"
#: ``source`` and id prefix of records created through the API.
FIELD_SOURCE = "field"
ITEMS_ALLOW = "GET, HEAD, OPTIONS, POST"
ITEM_ALLOW = "GET, HEAD, OPTIONS, PUT, PATCH, DELETE"
FEATURE_TYPES = ("application/geo+json", "application/json")
PATCH_TYPES = ("application/merge-patch+json", *FEATURE_TYPES)
REALM = 'Bearer realm="cottbus-twin"'

_TABLE = sql.Identifier(COLLECTION.schema, COLLECTION.table)
_ID = sql.Identifier(COLLECTION.id_field.name)
#: The row as the audit keeps it (geometry as GeoJSON, storage CRS), its version, and the
#: feature as a client gets it back (CRS84).
_ROW = sql.SQL(
    "SELECT t.xmin::text AS version, "
    "to_jsonb(t) - {geom} || jsonb_build_object({geom}, ST_AsGeoJSON(t.{g})::jsonb) AS doc, "
    "ST_AsGeoJSON(ST_Transform(t.{g}, 4326), 7) AS wgs84 "
    "FROM {table} t WHERE t.{id} = %s"
).format(geom=sql.Literal(COLLECTION.geometry_column),
         g=sql.Identifier(COLLECTION.geometry_column), table=_TABLE, id=_ID)


# -- the hooks twin/pygeoapi/wsgi.py calls ---------------------------------------------------------
def is_write(environ: dict, method: str, match: Any) -> bool:
    """Whether this module answers the request (``match``: the server's ITEMS_PATH match).

    A POST of a GeoJSON Feature to street-damage items is a create; a POST of a CQL2 JSON
    filter there stays a query (the WSGI layer's). A CORS preflight is not ours either.
    """
    if match is None or match["cid"] != COLLECTION.id:
        return False
    if method == "OPTIONS":
        return not environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD")
    if method in ("PUT", "PATCH", "DELETE"):
        return True
    if method != "POST":
        return False
    if match["fid"] is not None:
        return True  # answered 405 with Allow
    ctype = _content_type(environ)
    if ctype == "application/geo+json":
        return True
    if ctype != "application/json":
        return False
    # application/json is both a CQL2 JSON query and a Feature (OWSLib sends it): look.
    body = _peek(environ, 1 << 20)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and doc.get("type") == "Feature"


def with_etag(start_response: StartResponse) -> StartResponse:
    """``start_response`` adding the ETag of the single item the provider read, if any."""
    ITEM_VERSION.set(None)

    def start(status: str, headers: list, exc_info: Any = None) -> Any:
        version = ITEM_VERSION.get()
        if version is not None and status.startswith("200"):
            headers = [*headers, ("ETag", _etag(version))]
        return start_response(status, headers, exc_info) if exc_info else \
            start_response(status, headers)

    return start


def handle_write(environ: dict, start_response: StartResponse,
                 settings: Settings) -> list[bytes]:
    """Answer a write request (see the module docstring)."""
    method = environ.get("REQUEST_METHOD", "GET").upper()
    from twin.pygeoapi.wsgi import ITEMS_PATH  # the one definition of the item paths

    match = ITEMS_PATH.match(environ.get("PATH_INFO", ""))
    fid = match["fid"] if match else None
    try:
        status, headers, body = _dispatch(environ, method, fid, settings)
    except WriteError as exc:
        status, headers = exc.status, exc.headers
        body = json.dumps({"code": exc.code, "description": exc.message}).encode()
        headers = [*headers, ("Content-Type", "application/json")]
    except psycopg.OperationalError as exc:
        LOGGER.error("write: database unavailable: %s", type(exc).__name__)
        status, headers = HTTPStatus.SERVICE_UNAVAILABLE, [("Content-Type", "application/json")]
        body = json.dumps({"code": "ServiceUnavailable", "description": UNAVAILABLE}).encode()
    except (psycopg.Error, TwinError):
        LOGGER.exception("write failed")
        status, headers = HTTPStatus.INTERNAL_SERVER_ERROR, [("Content-Type",
                                                              "application/json")]
        body = json.dumps({"code": "ServerError",
                           "description": "Internal server error."}).encode()
    start_response(f"{status.value} {status.phrase}",
                   [*headers, ("Content-Length", str(len(body)))])
    return [body] if method != "HEAD" else [b""]


# -- the request ----------------------------------------------------------------------------
def _dispatch(environ: dict, method: str, fid: str | None,
              settings: Settings) -> tuple[HTTPStatus, list[tuple[str, str]], bytes]:
    allow = ITEMS_ALLOW if fid is None else ITEM_ALLOW
    if method == "OPTIONS":
        return HTTPStatus.NO_CONTENT, [("Allow", allow)], b""
    if method not in allow.split(", "):
        raise WriteError(HTTPStatus.METHOD_NOT_ALLOWED,
                         f"{method} is not allowed here; allowed: {allow}",
                         "MethodNotAllowed", [("Allow", allow)])
    if environ.get("QUERY_STRING"):
        raise bad("write requests take no query parameters")
    key = _authenticate(environ, settings)
    if method == "DELETE":
        return _delete(environ, key, fid, settings)
    body = _read_body(environ, settings.max_write_body)
    ctype = _content_type(environ)
    accepted = PATCH_TYPES if method == "PATCH" else FEATURE_TYPES
    if ctype not in accepted:
        raise WriteError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                         f"Content-Type '{ctype or '(none)'}' is not accepted; send "
                         f"{' or '.join(accepted)}", "UnsupportedMediaType")
    crs = content_crs(environ.get("HTTP_CONTENT_CRS"))
    edit = read_feature(parse_json(body), crs, partial=method == "PATCH")
    if method == "POST":
        return _create(key, edit, settings)
    return _change(environ, method, key, fid, edit, settings)


def _authenticate(environ: dict, settings: Settings) -> ApiKey:
    token = token_of(environ)
    if token is None:
        raise WriteError(HTTPStatus.UNAUTHORIZED,
                         "writing needs an API key: send 'X-API-Key: <key>' or "
                         "'Authorization: Bearer <key>'", "Unauthorized",
                         [("WWW-Authenticate", REALM)])
    try:
        key = store_for(settings.keys_path).authenticate(token)
    except TwinError:
        LOGGER.exception("the keys file is unusable")
        raise
    if key is None:
        raise WriteError(HTTPStatus.UNAUTHORIZED, "the API key is not valid (or was revoked)",
                         "Unauthorized",
                         [("WWW-Authenticate", f'{REALM}, error="invalid_token"')])
    if not key.allows(SCOPE):
        raise WriteError(HTTPStatus.FORBIDDEN,
                         f"the key '{key.name}' has no scope '{SCOPE}'", "Forbidden",
                         [("WWW-Authenticate",
                           f'{REALM}, error="insufficient_scope", scope="{SCOPE}"')])
    return key


def _content_type(environ: dict) -> str:
    return environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()


def _peek(environ: dict, limit: int) -> bytes:
    """Up to ``limit`` + 1 bytes of the body, left readable for whoever reads it next."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        return b""
    data = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = BytesIO(data)
    return data


def _read_body(environ: dict, limit: int) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise bad("invalid Content-Length") from None
    too_large = WriteError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                           f"the body is larger than the {limit} bytes accepted",
                           "PayloadTooLarge")
    if length > limit:
        raise too_large
    if not environ.get("CONTENT_LENGTH") and \
            "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        body = environ["wsgi.input"].read(limit + 1)  # no length given: read one byte more
        if len(body) > limit:
            raise too_large
        environ["wsgi.input"] = BytesIO(body)
        return body
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = BytesIO(body)
    return body


def _etag(version: str) -> str:
    return f'"v{version}"'


def _check_if_match(environ: dict, key: ApiKey, version: str) -> None:
    header = environ.get("HTTP_IF_MATCH")
    if header is None:
        if key.require_if_match:
            raise WriteError(HTTPStatus.PRECONDITION_REQUIRED,
                             "send If-Match with the ETag of the item as you read it (GET "
                             "the item first), so that no one else's change is overwritten",
                             "PreconditionRequired")
        return
    tags = [t.strip() for t in header.split(",")]
    # Strong comparison (RFC 9110 13.1.1): a weak tag never matches.
    if "*" not in tags and _etag(version) not in tags:
        raise WriteError(HTTPStatus.PRECONDITION_FAILED,
                         "the item changed since you read it (If-Match does not match its "
                         "ETag); GET it again and redo your change", "PreconditionFailed")


# -- the database ---------------------------------------------------------------------------
def _row(conn: psycopg.Connection, fid: str, *, lock: bool = False) -> dict | None:
    query = _ROW + sql.SQL(" FOR UPDATE") if lock else _ROW
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, [fid]).fetchone()


def _storage_point(conn: psycopg.Connection, edit: Edit) -> tuple[float, float] | None:
    """The edit's position in the storage CRS; refused outside Brandenburg."""
    p = edit.position
    if p is None:
        return None
    try:
        with conn.transaction():  # a failed transform leaves the write's transaction usable
            x, y = conn.execute(
                "SELECT ST_X(g), ST_Y(g) FROM (SELECT ST_Transform(ST_SetSRID("
                "ST_MakePoint(%s, %s), %s), %s) AS g) s",
                [p.x, p.y, p.srid, STORAGE_SRID]).fetchone()
    except (psycopg.DataError, psycopg.InternalError):
        raise bad("the position cannot be transformed to the storage CRS "
                  f"EPSG:{STORAGE_SRID}") from None
    xmin, ymin, xmax, ymax = BRANDENBURG_25833
    if not (xmin <= x <= xmax and ymin <= y <= ymax):
        raise bad(f"the position ({p.x}, {p.y} in EPSG:{p.srid}) lies outside Brandenburg; "
                  "check the axis order and the Content-Crs header")
    return x, y


def _point_sql() -> sql.Composable:
    return sql.SQL("ST_SetSRID(ST_MakePoint(%s, %s), {})").format(sql.Literal(STORAGE_SRID))


def _transaction(settings: Settings):
    return connect(settings, for_api=True)


def _begin(conn: psycopg.Connection) -> None:
    # One writer at a time: the derive step below rewrites any row whose priority changes.
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('twin.write.street_damage'))")
    # The derive SQL's correlated subqueries cost enough to trigger JIT compilation, which
    # took 3-4 s per write for an update that runs in 10 ms (measured on the samples).
    conn.execute("SET LOCAL jit = off")


def _finish(conn: psycopg.Connection, key: ApiKey, method: str, fid: str,
            before: dict | None) -> dict | None:
    """Derive, audit, and return the row as it is now."""
    if method != "DELETE":
        conn.execute(packaged_sql("derive_street_damage.sql"))
    after = _row(conn, fid) if method != "DELETE" else None
    conn.execute(
        "INSERT INTO twin.write_audit (who, method, collection, item_id, before, after) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        [key.name, method, COLLECTION.id, fid,
         psycopg.types.json.Jsonb(before["doc"]) if before else None,
         psycopg.types.json.Jsonb(after["doc"]) if after else None])
    return after


def _feature(row: dict) -> bytes:
    props = {k: v for k, v in row["doc"].items() if k != COLLECTION.geometry_column}
    return json.dumps({"type": "Feature", "id": props[COLLECTION.id_field.name],
                       "geometry": json.loads(row["wgs84"]), "properties": props}).encode()


def _item_url(settings: Settings, fid: str) -> str:
    return f"{settings.url}/collections/{COLLECTION.id}/items/{quote(fid, safe='')}"


def _create(key: ApiKey, edit: Edit, settings: Settings
            ) -> tuple[HTTPStatus, list[tuple[str, str]], bytes]:
    fid = f"{FIELD_SOURCE}-{uuid.uuid4()}"
    values = edit.full()
    with _transaction(settings) as conn:
        _begin(conn)
        x, y = _storage_point(conn, edit)
        names = [COLLECTION.id_field.name, "source", *values, "condition_rating",
                 "updated_at", COLLECTION.geometry_column]
        conn.execute(sql.SQL(
            "INSERT INTO {t} ({cols}) VALUES (%s, %s, {vals}, %s, now(), {point})").format(
                t=_TABLE, cols=sql.SQL(", ").join(map(sql.Identifier, names)),
                vals=sql.SQL(", ").join(
                    sql.SQL("coalesce(%s, now())") if n == "reported_at" else sql.SQL("%s")
                    for n in values),
                point=_point_sql()),
            [fid, FIELD_SOURCE, *values.values(), rating_of(values), x, y])
        after = _finish(conn, key, "POST", fid, None)
    return HTTPStatus.CREATED, [
        ("Location", _item_url(settings, fid)), ("ETag", _etag(after["version"])),
        ("Content-Type", "application/geo+json")], _feature(after)


def _change(environ: dict, method: str, key: ApiKey, fid: str, edit: Edit,
            settings: Settings) -> tuple[HTTPStatus, list[tuple[str, str]], bytes]:
    with _transaction(settings) as conn:
        _begin(conn)
        before = _row(conn, fid, lock=True)
        if before is None:
            raise WriteError(HTTPStatus.NOT_FOUND, f"no {COLLECTION.id} item '{fid}' (a PUT "
                             "replaces an existing item; create with POST)", "NotFound")
        _check_if_match(environ, key, before["version"])
        point = _storage_point(conn, edit)
        if method == "PUT":
            values = edit.full()
        else:
            values = dict(edit.values)
            if "status" in values and values["status"] is None:
                values["status"] = "open"
        if "condition_class" in values:
            values["condition_rating"] = rating_of(values)
        sets = [sql.SQL("{} = %s").format(sql.Identifier(n)) for n in values]
        params: list[Any] = list(values.values())
        sets.append(sql.SQL("updated_at = now()"))
        if point is not None:
            sets.append(sql.SQL("{} = {}").format(sql.Identifier(COLLECTION.geometry_column),
                                                 _point_sql()))
            params += point
        conn.execute(sql.SQL("UPDATE {t} SET {sets} WHERE {id} = %s").format(
            t=_TABLE, sets=sql.SQL(", ").join(sets), id=_ID), [*params, fid])
        after = _finish(conn, key, method, fid, before)
    return HTTPStatus.OK, [("ETag", _etag(after["version"])),
                           ("Content-Type", "application/geo+json")], _feature(after)


def _delete(environ: dict, key: ApiKey, fid: str, settings: Settings
            ) -> tuple[HTTPStatus, list[tuple[str, str]], bytes]:
    with _transaction(settings) as conn:
        _begin(conn)
        before = _row(conn, fid, lock=True)
        if before is None:
            raise WriteError(HTTPStatus.NOT_FOUND, f"no {COLLECTION.id} item '{fid}'",
                             "NotFound")
        _check_if_match(environ, key, before["version"])
        conn.execute(sql.SQL("DELETE FROM {t} WHERE {id} = %s").format(t=_TABLE, id=_ID),
                     [fid])
        _finish(conn, key, "DELETE", fid, before)
    return HTTPStatus.NO_CONTENT, [], b""
