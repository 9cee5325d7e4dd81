"""The fast lane: GeoJSON pages and single features answered in the event loop.

Most requests to the API are ``GET /collections/{id}/items?f=json`` (a bbox page, a filter,
a paging link) and ``GET /collections/{id}/items/{fid}?f=json``. Through pygeoapi each costs
a thread hop (a2wsgi), Flask's request objects, pygeoapi's parameter handling and provider
loading, four database round trips (BEGIN, the deadline, the statement, ROLLBACK), every
geometry parsed from PostGIS's GeoJSON into Python objects and written out again, and the
answer decoded once more by our corrections (twin/amend.py). The fast lane answers the same
requests from :class:`twin.front.TwinFront`'s event loop, on an asynchronous connection pool,
with one statement (the count and the page together, so they share one snapshot as
REPEATABLE READ gave them before), geometries passed through as the text PostGIS wrote, and
the envelope and links built as pygeoapi builds them.

It is a lane, not a second API: the SQL comes from the provider's own builders
(:class:`twin.provider.TwinPostgreSQLProvider` ``_where``, ``_select``, ``_order``; CQL2 through
pygeoapi's parser and twin/cql.py), the parameter checks are the WSGI layer's
(:class:`twin.pygeoapi.wsgi.TwinMiddleware`), CRS handling is pygeoapi's own functions, and
``related`` links are :func:`twin.item_links.item_links`. Whatever it does not take on is
handed to pygeoapi unchanged (:meth:`FastLane.plan` declines it): other formats (HTML,
CSV, JSON-LD, or an ``Accept`` that asks for one of them), HEAD, a body, ``datetime``,
``properties``, ``skipGeometry``, ``resulttype``, CQL2 JSON, ``filter-crs``, six-number
boxes and those pygeoapi is shown a stand-in for (twin/pygeoapi/wsgi.py), expensive
requests (they need a slot: a page over ``expensive_limit``, a spatial filter), a request
any check would refuse (pygeoapi and the WSGI layer say why, in their words), an unknown id
(pygeoapi's 404), and any database trouble but a timeout (the pygeoapi path has the retries
and the 503). ``tests/test_fastlane.py`` compares the two lanes' answers over a real server.

The deadline of a request is the connection's ``statement_timeout`` (the lane runs one
statement, started at once), and a statement that runs past it is answered 400 with the
message the provider gives.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl, quote

import psycopg
from psycopg import sql
from psycopg.adapt import Loader
from psycopg.rows import dict_row
from psycopg.types.datetime import DateLoader
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from twin.amend import _no_next_past_end
from twin.item_links import item_links
from twin.pools import has_idle, refuse_if_down
from twin.pygeoapi.context import CRS84, RAW_BBOX, RawBBox
from twin.pygeoapi.wsgi import (
    ITEMS_PATH,
    SPATIAL_FILTER,
    TwinMiddleware,
    _bbox_stand_in,
    _bbox_values,
    _filter_problem,
)
from twin.request_checks import bbox_problem
from twin.settings import Settings

LOGGER = logging.getLogger(__name__)

Send = Callable[[dict], Awaitable[None]]

#: Parameters the lane takes on, besides a collection's queryable properties; with any
#: other (``datetime``, ``properties``, ``lang``...) the request goes to pygeoapi.
ITEMS_KEYS = frozenset({"f", "lang", "limit", "offset", "bbox", "bbox-crs", "crs", "filter",
                        "filter-lang", "sortby"})
ITEM_KEYS = frozenset({"f", "lang", "crs"})
#: Filter languages pygeoapi reads from the ``filter`` parameter as text.
TEXT_FILTER_LANGS = (None, "cql2-text")
GEOJSON = "application/geo+json"


@dataclass
class Plan:
    """One request the lane answers: its statement and what the answer needs."""

    cid: str
    fid: str | None
    statement: sql.Composable | bytes
    params: list[Any]
    headers: list[tuple[bytes, bytes]]
    offset: int = 0
    limit: int = 0
    #: pygeoapi's ``serialized_query_params``: the query without f and offset, as its links
    #: carry it.
    link_query: str = ""
    query: dict[str, str] | None = None
    #: How pygeoapi's paging links name the format: "f=json&", or "" when it was negotiated
    #: from no Accept it knows.
    f_link: str = "f=json&"
    #: The collection's title in the answer's language (its ``collection`` link).
    title: str = ""


class _Fallback(Exception):  # noqa: N818 - a signal, not an error
    """The lane does not take this request on: pygeoapi answers it."""


class FastLane:
    """See the module docstring; :meth:`handle` is called by :class:`twin.front.TwinFront`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: AsyncConnectionPool | None = None
        self._ready = False
        self.providers: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._check: asyncio.Future | None = None
        self._crs_cache: dict[tuple[str, str | None], tuple[Any, str]] = {}
        self._item_sql: dict[tuple[str, str | None], bytes] = {}
        self._page_sqls: dict[tuple[str, str | None, bytes, bytes], tuple[bytes, str]] = {}
        self._locales: dict[tuple[str, str | None, str | None], tuple[str, str]] = {}

    # -- what pygeoapi knows ----------------------------------------------------------------
    def _prepare(self) -> None:
        """What the lane takes from pygeoapi's app (imported by then: the front wraps it)."""
        from pygeoapi import l10n
        from pygeoapi.flask_app import api_
        from pygeoapi.plugin import load_plugin
        from pygeoapi.util import filter_dict_by_key_value, get_dataset_formatters

        from twin.provider import TwinPostgreSQLProvider

        self.api = api_
        self.base_url = api_.base_url
        self.collections_url = api_.get_collections_url()
        self.locale = api_.default_locale
        self.language = l10n.locale2str(api_.default_locale)
        self.limits = api_.config["server"].get("limits", {})
        self.resources: dict[str, dict] = {}
        self.providers = {}
        self.formatters: dict[str, list[tuple[str, str, str]]] = {}
        self.titles: dict[str, str] = {}
        collections = filter_dict_by_key_value(api_.config["resources"], "type", "collection")
        for cid, resource in collections.items():
            defs = [p for p in resource.get("providers", []) if p.get("type") == "feature"]
            if not defs or defs[0].get("name") != "twin.provider.TwinPostgreSQLProvider":
                continue
            provider = load_plugin("provider", defs[0])
            if not isinstance(provider, TwinPostgreSQLProvider):
                continue
            self.resources[cid] = {**resource, "_provider_def": defs[0]}
            self.providers[cid] = provider
            self.formatters[cid] = [(v.mimetype, k, v.name)
                                    for k, v in get_dataset_formatters(resource).items()]
            self.titles[cid] = l10n.translate(resource["title"], self.locale)
        self.dsn = next(iter(self.providers.values())).dsn if self.providers else ""
        self._ready = True

    async def _get_pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    timeout_ms = min(self.settings.statement_timeout_ms,
                                     int(self.settings.request_timeout_s * 1000))
                    pool = AsyncConnectionPool(
                        self.dsn, min_size=1, max_size=self.settings.threads, open=False,
                        name="twin-fast",
                        kwargs={"connect_timeout": 3, "application_name": "twin-api",
                                # One statement per request: its timeout is the deadline.
                                # No JIT: compiling a bbox page's plan took 80 ms of 120.
                                # Custom plans only: psycopg prepares a statement on its fifth
                                # use, and PostgreSQL's generic plan for it then builds the
                                # bbox's envelopes for every row (ST_MakeEnvelope of
                                # parameters is no constant there) and guesses every row
                                # count: 1 ms more on a page of 100.
                                # ISO dates: what _IsoDate passes on as text.
                                "options": f"-c statement_timeout={timeout_ms} -c TimeZone=UTC"
                                           " -c DateStyle=ISO -c jit=off"
                                           " -c plan_cache_mode=force_custom_plan",
                                "autocommit": True},
                        configure=_configure, reconnect_timeout=5)
                    await pool.open(wait=False)
                    self._pool = pool
        return self._pool

    def _crs(self, cid: str, provider_def: dict, crs: str | None) -> tuple[Any, str]:
        """pygeoapi's transform spec and Content-Crs for ``crs`` (cached: pyproj's parsing
        costs more than the rest of a request)."""
        key = (cid, crs)
        if key not in self._crs_cache:
            from pygeoapi.crs import create_crs_transform_spec, set_content_crs_header
            headers: dict[str, str] = {}
            set_content_crs_header(headers, provider_def, crs)
            self._crs_cache[key] = (create_crs_transform_spec(provider_def, crs),
                                    headers["Content-Crs"])
        return self._crs_cache[key]

    def _checked(self, _task: asyncio.Future) -> None:
        self._check = None

    def _locale(self, cid: str, lang: str | None,
                accept_language: str | None) -> tuple[str, str]:
        """Content-Language and the collection's title for ``lang`` or ``Accept-Language``,
        as pygeoapi chooses among the configured languages (its provider has none of its
        own, so the answer's language is the request's)."""
        key = (cid, lang, accept_language)
        found = self._locales.get(key)
        if found is None:
            from types import SimpleNamespace

            from pygeoapi import l10n
            from pygeoapi.api import APIRequest

            request = SimpleNamespace(_args={} if lang is None else {"lang": lang})
            _, locale = APIRequest._get_locale(
                request, {} if accept_language is None else {"accept-language": accept_language},
                self.api.locales)
            found = (l10n.locale2str(locale),
                     l10n.translate(self.resources[cid]["title"], locale))
            if len(self._locales) < 1024:  # headers are the client's: bounded
                self._locales[key] = found
        return found

    def _negotiated(self, cid: str, accept: str | None, *, single: bool) -> str | None:
        """The format pygeoapi reads from ``Accept`` when there is no ``f`` (items pages
        also know the collection's formatters, CSV; a single item does not)."""
        from pygeoapi.formats import FORMAT_TYPES
        from pygeoapi.util import get_choice_from_headers

        if not accept:
            return None
        types = get_choice_from_headers({"accept": accept}, "accept", all=True)
        if not types:
            return None
        known = dict(FORMAT_TYPES)
        if not single:
            known.update({name.lower(): mimetype
                          for mimetype, _, name in self.formatters[cid]})
        mimes = [(m.split(";")[0], f) for f, m in known.items()]
        for type_ in types:
            for mime, f in mimes:
                if type_ == mime:
                    return f
        return None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close(timeout=1)

    # -- the lane ---------------------------------------------------------------------------
    async def handle(self, scope: dict, headers: dict[bytes, bytes], body: bytes,
                     send: Send) -> bool:
        """Answer the request and return True, or return False for pygeoapi to answer it."""
        if scope["method"] != "GET" or body:
            return False
        path = scope.get("path", "")
        match = ITEMS_PATH.match(path)
        if match is None or path.endswith("/"):
            return False
        if not self._ready:
            try:
                self._prepare()
            except Exception:  # noqa: BLE001 - a pygeoapi it does not know: all to pygeoapi
                LOGGER.exception("fast lane disabled: pygeoapi's app is not as expected")
                self.providers, self._ready = {}, True
        if match["cid"] not in self.providers:
            return False
        query_string = scope.get("query_string", b"").decode("latin-1")
        try:
            accept = headers.get(b"accept", b"").decode("latin-1") or None
            language = headers.get(b"accept-language", b"").decode("latin-1") or None
            plan = self.plan(match["cid"], match["fid"], query_string, accept, language)
            status, out_headers, payload = await self._answer(plan)
        except _Fallback:
            return False
        except Exception as exc:  # noqa: BLE001 - nothing is sent yet: pygeoapi answers
            # No traceback: a client could fill the log (pygeoapi fails on "q=0" too).
            LOGGER.warning("fast lane failed (%s: %s); pygeoapi answers",
                           type(exc).__name__, exc)
            return False
        out_headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        await send({"type": "http.response.body", "body": payload})
        return True

    def plan(self, cid: str, fid: str | None, query_string: str,
             accept: str | None = None, accept_language: str | None = None) -> Plan:
        """The statement for a request, or :class:`_Fallback`."""
        from pygeoapi.api import evaluate_limit, validate_bbox
        from pygeoapi.api.itemtypes import modify_pygeofilter, parse_cql2_text
        from pygeoapi.crs import get_supported_crs_list

        params = parse_qsl(query_string, keep_blank_values=True)
        allowed = ITEM_KEYS if fid is not None else ITEMS_KEYS
        if TwinMiddleware._check_params(params, cid, single=fid is not None):
            raise _Fallback
        provider = self.providers[cid]
        given = dict(params)
        if "f" in given:
            if given["f"] != "json":
                raise _Fallback
            f_link = "f=json&"
        else:
            # No f: pygeoapi reads the format from Accept; none it knows means JSON, and its
            # paging links then carry no f either.
            negotiated = self._negotiated(cid, accept, single=fid is not None)
            if negotiated not in (None, "json"):
                raise _Fallback
            f_link = "" if negotiated is None else "f=json&"
        for key in given:
            if key not in allowed and (fid is not None or key not in provider.fields):
                raise _Fallback
        provider_def = self.resources[cid]["_provider_def"]
        crs = given.get("crs")
        supported = get_supported_crs_list(provider_def)
        if crs is not None and crs not in supported:
            raise _Fallback
        spec, content_crs = self._crs(cid, provider_def, crs)
        language, title = self._locale(cid, given.get("lang"), accept_language)
        headers = [(b"content-type", GEOJSON.encode()),
                   (b"content-language", language.encode()),
                   (b"content-crs", content_crs.encode())]
        table = sql.Identifier(provider.collection.schema, provider.collection.table)
        if fid is not None:
            try:
                value = provider._typed_id(fid)
            except Exception:  # noqa: BLE001 - pygeoapi says it (404)
                raise _Fallback from None
            key = (cid, crs)
            if key not in self._item_sql:
                # The same text each time: psycopg prepares it on a connection's fifth use.
                self._item_sql[key] = sql.SQL(
                    "SELECT {cols}, xmin::text AS _version FROM {t} WHERE {id} = %s").format(
                    cols=provider._select([], False, spec), t=table,
                    id=sql.Identifier(provider.id_field)).as_bytes(None)
            return Plan(cid, fid, self._item_sql[key], [value], headers, title=title)

        # -- items: pygeoapi's checks, in its order ------------------------------------------
        offset_text = given.get("offset", "0")
        if not offset_text.isdigit():
            raise _Fallback
        offset = int(offset_text)
        try:
            limit = evaluate_limit(given.get("limit"), self.limits,
                                   self.resources[cid].get("limits", {}))
        except ValueError:
            raise _Fallback from None
        if limit > self.settings.expensive_limit:
            raise _Fallback  # it needs a slot
        filter_text = given.get("filter")
        if given.get("filter-lang") not in TEXT_FILTER_LANGS:
            raise _Fallback
        if filter_text is not None and (_filter_problem(filter_text, False, self.settings)
                                        or SPATIAL_FILTER.search(filter_text)):
            raise _Fallback
        bbox: tuple[float, ...] = ()
        bbox_crs = given.get("bbox-crs")
        if "bbox" in given:
            bbox = _bbox_values(given["bbox"])
            if len(bbox) != 4 or _bbox_stand_in(given["bbox"]) is not None \
                    or bbox_problem(bbox, bbox_crs or CRS84):
                raise _Fallback
            try:
                validate_bbox(given["bbox"])
            except ValueError:
                raise _Fallback from None
            if bbox_crs is not None and bbox_crs not in supported:
                raise _Fallback
        elif bbox_crs is not None:
            raise _Fallback
        properties = [(k, v) for k, v in given.items()
                      if k not in ITEMS_KEYS and k in provider.fields]
        sortby = []
        if "sortby" in given:
            for s in given["sortby"].split(","):
                order, prop = ("+", s)
                if s and s[0] in "+-":
                    order, prop = s[0], s[1:]
                if prop not in provider.fields:
                    raise _Fallback
                sortby.append({"property": prop, "order": order})
        filterq = None
        if filter_text is not None:
            try:
                filterq = modify_pygeofilter(
                    parse_cql2_text(filter_text), filter_crs_uri=CRS84,
                    storage_crs_uri=provider_def.get("storage_crs"),
                    geometry_column_name=provider_def.get("geom_field"))
            except Exception:  # noqa: BLE001 - pygeoapi answers 'Bad CQL text'
                raise _Fallback from None
        token = RAW_BBOX.set(RawBBox(bbox, bbox_crs or CRS84)) if bbox else None
        try:
            where, where_params = provider._where(
                list(bbox) or [], None, properties, filterq)
            order = provider._order(sortby)
        except Exception:  # noqa: BLE001 - the provider's 400, in pygeoapi's words
            raise _Fallback from None
        finally:
            if token is not None:
                RAW_BBOX.reset(token)
        statement, twice = self._page_sql(cid, crs, provider, spec, where, order,
                                          [s["property"] for s in sortby])
        # The statement reads the matches once or twice (the count's and the page's), each
        # with the parameters of ``where``.
        statement_params = ([*where_params, limit, offset, *where_params, limit, offset]
                            if twice == "scan" else
                            [*where_params, *where_params, limit, offset] if twice == "count"
                            else [*where_params, limit, offset])
        link_query = "".join(f"&{quote(k, safe='')}={quote(str(v), safe=',')}"
                             for k, v in given.items() if k not in ("f", "offset"))
        return Plan(cid, None, statement, statement_params, headers, offset=offset,
                    limit=limit, link_query=link_query, query=given, f_link=f_link,
                    title=title)

    def _page_sql(self, cid: str, crs: str | None, provider: Any, spec: Any,
                  where: sql.Composable, order: sql.Composable,
                  sort_fields: list[str]) -> tuple[bytes, str]:
        """The text of an items page's statement, and how it takes the parameters of
        ``where``: "scan" (the matches' keys, then the page, each with LIMIT and OFFSET),
        "count" (the count's, then the page's with LIMIT and OFFSET) or "page" (no count).

        Kept per shape of the request (collection, CRS, the text of ``where`` and ``order``):
        composing it cost 0.6 ms of a 5 ms page, and the same text lets psycopg prepare it.
        """
        where_text, order_text = where.as_bytes(None), order.as_bytes(None)
        key = (cid, crs, where_text, order_text)
        found = self._page_sqls.get(key)
        if found is not None:
            return found
        table = sql.Identifier(provider.collection.schema, provider.collection.table)
        where, order = sql.SQL(where_text.decode()), sql.SQL(order_text.decode())
        # The page's rows first, their GeoJSON after: PostgreSQL would otherwise write the
        # GeoJSON of every row an OFFSET skips (offset 100,000: 1.2 s instead of 0.24 s).
        bare = provider._select([], True, spec)
        geojson = sql.SQL("ST_AsGeoJSON({out}, {precision}, 0) AS _geojson").format(
            out=provider._output_geometry(spec),
            precision=sql.Literal(provider._precision(spec)))
        page = sql.SQL(
            "SELECT {bare}, {geojson} FROM ("
            "SELECT {bare}, {geom} FROM {t} WHERE {w} ORDER BY {o} LIMIT %s OFFSET %s) q"
        ).format(bare=bare, geojson=geojson, geom=sql.Identifier(provider.geom), t=table,
                 w=where, o=order)
        cap = self.settings.count_limit
        statement: sql.Composable
        if provider.count and cap and where_text != b"TRUE":
            # Count and page in one statement (one snapshot, one round trip), the matches
            # found once: the keys of at most cap + 1 of them (the provider's count, which
            # stops past count_limit, so both lanes give the same numberMatched), counted,
            # and the page taken from them when they are all; past the cap the page is
            # looked for in the table. A bbox in CRS84 tests the rows at the box's edges
            # with ST_Transform: twice (count, page) cost 1.5 ms of a page of 100. The
            # page's keys go in as an array (its rows by the key's index: with "IN" the
            # planner, blind to the CTE's size, hashed them against the whole table), made
            # only below the cap (each branch not taken is a one-time filter). Past the cap
            # the kept keys cost a few per cent over counting them (CQL2 page at 200,000).
            id_ = provider.id_field
            kept = sql.SQL(", ").join(sql.Identifier(n) for n in dict.fromkeys(
                [id_, *sort_fields]))
            statement = sql.SQL(
                "WITH m AS MATERIALIZED (SELECT {kept} FROM {t} WHERE {w} LIMIT {over}), "
                "c AS (SELECT count(*) AS n FROM m) "
                "SELECT c.n AS _n, p.* FROM c LEFT JOIN LATERAL ("
                "SELECT {bare}, {geojson} FROM {t} WHERE c.n <= {cap} AND {id} = ANY(ARRAY("
                "SELECT {id} FROM m WHERE c.n <= {cap} ORDER BY {o} LIMIT %s OFFSET %s)) "
                "UNION ALL SELECT * FROM ({page}) a WHERE c.n > {cap} "
                "ORDER BY {o}) p ON TRUE").format(
                kept=kept, t=table, w=where, over=sql.Literal(cap + 1),
                cap=sql.Literal(cap), bare=bare, geojson=geojson, id=sql.Identifier(id_),
                o=order, page=page)
            twice = "scan"
        elif provider.count:
            # Counted as the provider counts (stopping past count_limit); without a filter
            # the count reads no geometry and the page walks the key's index.
            counted = provider.count_statement(where, cap or None)
            statement = sql.SQL(
                "SELECT c.n AS _n, p.* FROM ({counted}) c "
                "LEFT JOIN LATERAL ({page}) p ON TRUE").format(counted=counted, page=page)
            twice = "count"
        else:
            statement = sql.SQL("SELECT NULL::bigint AS _n, p.* FROM ({page}) p").format(
                page=page)
            twice = "page"
        found = (statement.as_bytes(None), twice)
        if len(self._page_sqls) < 1024:  # the shapes of clients' filters: bounded
            self._page_sqls[key] = found
        return found

    async def _answer(self, plan: Plan) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        try:
            pool = await self._get_pool()
            if not has_idle(pool):  # the probe blocks: a thread only when it may run
                await asyncio.to_thread(refuse_if_down, pool)
            async with pool.connection(timeout=5) as conn:
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(plan.statement, plan.params)
                rows = await cur.fetchall()
        except psycopg.errors.QueryCanceled:
            from twin.provider import _timeout_message
            from twin.pygeoapi.context import RequestState
            state = RequestState(deadline=0, timeout_s=self.settings.request_timeout_s,
                                 client="")
            body = _to_json({"code": "InvalidQuery", "type": "InvalidQuery",
                             "description": _timeout_message(state)})
            return 400, [(b"content-type", b"application/json"), *plan.headers[1:]], body
        except (psycopg.Error, PoolTimeout, OSError) as exc:
            # pygeoapi's path retries a dead connection and says 503; or names the mistake.
            LOGGER.info("fast lane falls back: %s", type(exc).__name__)
            if isinstance(exc, psycopg.OperationalError) and self._pool is not None \
                    and self._check is None:
                # A restart killed every idle connection: drop them all at once.
                self._check = asyncio.ensure_future(self._pool.check())
                self._check.add_done_callback(self._checked)
            raise _Fallback from exc
        provider = self.providers[plan.cid]
        if plan.fid is not None:
            if not rows:
                raise _Fallback  # pygeoapi's 404
            row = rows[0]
            version = row.pop("_version")
            return 200, [*plan.headers, (b"etag", _etag(version).encode())], \
                self._item(plan, provider, row)
        return 200, plan.headers, self._page(plan, provider, rows)

    def _feature(self, provider: Any, row: dict) -> tuple[str, list[dict[str, str]]]:
        """A feature as the provider makes it, without its closing brace and links; and
        its ``related`` links."""
        geometry = row.pop("_geojson", None)
        head = ('{"type":"Feature","id":' + _dumps(row[provider.id_field]) + ',"geometry":'
                + (geometry or "null") + ',"properties":' + _dumps(row))
        return head, item_links(provider.collection, row, self.settings.url)

    def _item(self, plan: Plan, provider: Any, row: dict) -> bytes:
        head, links = self._feature(provider, row)
        uri = f"{self.collections_url}/{plan.cid}/items/{plan.fid}"
        links = [*links, {
            "type": "application/json", "rel": "root",
            "title": "The landing page of this server as JSON",
            "href": f"{self.base_url}?f=json"}, {
            "type": "text/html", "rel": "root",
            "title": "The landing page of this server as HTML",
            "href": f"{self.base_url}?f=html"}, {
            "rel": "self", "type": GEOJSON, "title": "This document as JSON",
            "href": f"{uri}?f=json"}, {
            "rel": "alternate", "type": "application/ld+json",
            "title": "This document as RDF (JSON-LD)", "href": f"{uri}?f=jsonld"}, {
            "rel": "alternate", "type": "text/html", "title": "This document as HTML",
            "href": f"{uri}?f=html"}, {
            "rel": "collection", "type": "application/json", "title": plan.title,
            "href": f"{self.collections_url}/{plan.cid}"}]
        return _escape(head + ',"links":' + _dumps(links) + "}")

    def _features(self, provider: Any, rows: list[dict]) -> tuple[str, int]:
        """The JSON array of a page's features, as the provider makes them (each geometry
        the text PostGIS wrote), and how many there are.

        One call of the JSON encoder for the page, not one per feature (0.5 ms of a page of
        100): each geometry is encoded as a placeholder, the string of one NUL, which no
        value of a published column can hold (PostgreSQL's text refuses NUL), then the
        array is cut at the placeholders and the geometries put in between.
        """
        features, geometries = [], []
        id_field, collection = provider.id_field, provider.collection
        # Fields that name other items: most rows name none, and then need no item_links.
        linking = [f.name for f in collection.all_fields if f.links_to]
        url = self.settings.url
        for row in rows:
            del row["_n"]
            geometry = row.pop("_geojson", None)
            if geometry is None and row.get(id_field) is None:
                continue  # the count's row of an empty page (LEFT JOIN)
            feature = {"type": "Feature", "id": row[id_field],
                       "geometry": _GEOMETRY if geometry else None, "properties": row}
            if geometry:
                geometries.append(geometry)
            for name in linking:
                if row.get(name):
                    if related := item_links(collection, row, url):
                        feature["links"] = related
                    break
            features.append(feature)
        parts = _dumps(features).split(_GEOMETRY_JSON)
        if len(parts) != len(geometries) + 1:  # not our placeholders alone: never cut
            raise RuntimeError("a NUL in a feature's values")
        text = [parts[0]]
        for geometry, part in zip(geometries, parts[1:], strict=True):
            text += (geometry, part)
        return "".join(text), len(features)

    def _page(self, plan: Plan, provider: Any, rows: list[dict]) -> bytes:
        matched = rows[0]["_n"] if rows else None
        features, returned = self._features(provider, rows)
        uri = f"{self.collections_url}/{plan.cid}/items"
        q = plan.link_query
        links = [
            {"type": GEOJSON, "rel": "self", "title": "This document as GeoJSON",
             "href": f"{uri}?f=json{q}"},
            {"rel": "alternate", "type": "application/ld+json",
             "title": "This document as RDF (JSON-LD)", "href": f"{uri}?f=jsonld{q}"},
            {"type": "text/html", "rel": "alternate", "title": "This document as HTML",
             "href": f"{uri}?f=html{q}"},
            *({"type": mimetype, "rel": "alternate", "title": f"This document as {key}",
               "href": f"{uri}?f={name}{q}"} for mimetype, key, name in self.formatters[plan.cid]),
        ]
        limit, offset = plan.limit, plan.offset
        cap = self.settings.count_limit
        if matched is not None and cap and matched > cap:
            # More than the cap: the provider's rule (twin/provider.py _matched) says how many
            # only when this page ends the matches.
            ends = returned < limit and (returned or offset == 0)
            matched = offset + returned if ends else None
        if (matched if matched is not None else -1) > limit + offset or returned == limit:
            next_link = True
        else:
            next_link = False
        if offset > 0:
            links.append({"type": GEOJSON, "rel": "prev", "title": "Items (prev)",
                          "href": f"{uri}?{plan.f_link}offset={max(0, offset - limit)}{q}"})
        if next_link:
            links.append({"type": GEOJSON, "rel": "next", "title": "Items (next)",
                          "href": f"{uri}?{plan.f_link}offset={offset + limit}{q}"})
        links.append({"type": "application/json", "title": plan.title,
                      "rel": "collection", "href": f"{self.collections_url}/{plan.cid}"})
        doc: dict[str, Any] = {"numberReturned": returned, "links": links}
        if matched is not None:
            doc["numberMatched"] = matched
        _no_next_past_end(doc, plan.query or {})  # twin/amend.py: no next past the end
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        text = ('{"type":"FeatureCollection","features":' + features
                + ',"numberReturned":' + str(returned)
                + (',"numberMatched":' + str(matched) if matched is not None else "")
                + ',"links":' + _dumps(doc["links"]) + ',"timeStamp":"' + stamp + '"}')
        return _escape(text)


class _IsoDate(Loader):
    """A date loaded as the text pygeoapi writes for it (``date.isoformat()``), which is
    PostgreSQL's in the ISO DateStyle the pool sets: no date object made only to be written
    back as text through the encoder's ``default`` (0.25 ms of a page of 100)."""

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        self._date = DateLoader(oid, context)

    def load(self, data: Any) -> str:
        if len(data) == 10:  # YYYY-MM-DD
            return bytes(data).decode()
        # Infinity, BC and years past 9999: refused as psycopg refuses them for pygeoapi.
        return self._date.load(data).isoformat()


async def _configure(conn: psycopg.AsyncConnection) -> None:
    conn.adapters.register_loader("date", _IsoDate)


def _json_default(obj: Any) -> Any:
    if type(obj) is date:  # the common case first: pygeoapi's json_serial writes isoformat
        return obj.isoformat()
    from pygeoapi.util import json_serial
    return json_serial(obj)


#: A geometry's place in the encoded features (see FastLane._features).
_GEOMETRY = "\0"
_GEOMETRY_JSON = '"\\u0000"'


#: pygeoapi's ``to_json`` (compact, its encoder for dates), made once: ``json.dumps`` with
#: arguments builds an encoder per call.
_dumps = json.JSONEncoder(default=_json_default, separators=(",", ":")).encode


def _to_json(doc: dict) -> bytes:
    return _escape(_dumps(doc))


def _escape(text: str) -> bytes:
    """pygeoapi's ``to_json`` writes < and > as &lt; and &gt; (against HTML injection)."""
    if "<" in text or ">" in text:  # str's own search: a regex took 6 ms on a page of 100
        text = text.replace("<", "&lt;").replace(">", "&gt;")
    return text.encode()


def _etag(version: str) -> str:
    from twin.transactions import _etag as etag
    return etag(version)
