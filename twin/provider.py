"""Our PostGIS provider for pygeoapi: psycopg 3, SQL from the registry, correct errors.

Registered in config/pygeoapi.yml as ``twin.provider.TwinPostgreSQLProvider``. Compared with
pygeoapi's SQLAlchemy provider it needs no table reflection (fields come from the registry, so
the API starts with the database down), projects output in the database, answers a wrongly
typed id with 404, an unknown filter property with 400 and an unreachable database with 503.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
from datetime import date, datetime, time
from http import HTTPStatus
from time import monotonic
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderConnectionError,
    ProviderGenericError,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)

from twin.cql import FilterError, box_predicate, make_box, srid_and_flip, to_sql
from twin.errors import UNAVAILABLE, UnknownNameError
from twin.item_links import item_links
from twin.pools import refuse_if_down
from twin.pygeoapi.context import ITEM_VERSION, RAW_BBOX, REQUEST, RequestState
from twin.registry import Collection, FieldType, by_table
from twin.request_checks import datetime_interval
from twin.settings import STORAGE_CRS_URI, get_settings

LOGGER = logging.getLogger(__name__)


_POOLS: dict[str, ConnectionPool] = {}
_POOLS_LOCK = threading.Lock()


class ServiceUnavailableError(ProviderConnectionError):
    """The database cannot be reached; answered as 503."""

    http_status_code = HTTPStatus.SERVICE_UNAVAILABLE
    ogc_exception_code = "ServiceUnavailable"


def _pool(dsn: str) -> ConnectionPool:
    """One pool per database per process, opened on first use (after gunicorn forks).

    After a PostgreSQL restart every pooled connection is dead. The pool's own ``check``
    callback is not used: it backs off 1, 2, 4 s between dead connections, so a request that
    meets several of them times out (503). Instead :class:`_Session` begins its transaction,
    and on a dead connection has the pool drop every dead idle connection at once
    (:meth:`ConnectionPool.check`) and begins again on a fresh one, before any work is done.
    """
    with _POOLS_LOCK:
        pool = _POOLS.get(dsn)
        if pool is None:
            pool = ConnectionPool(
                dsn, min_size=1, max_size=get_settings().threads, open=False, name="twin",
                kwargs={"connect_timeout": 3, "application_name": "twin-api",
                        # An expensive filter must not outlive its request.
                        "options": f"-c statement_timeout={get_settings().statement_timeout_ms}"
                                   # The API's statements are short, but PostGIS functions'
                                   # costs push deep pages over jit_above_cost: compiling
                                   # took 84 ms of a 380 ms page at offset 100,000.
                                   " -c TimeZone=UTC -c jit=off",
                        "autocommit": True},
                reconnect_timeout=5,
            )
            pool.open(wait=False)
            _POOLS[dsn] = pool
        return pool


@atexit.register
def _close_pools() -> None:
    for pool in _POOLS.values():
        pool.close(timeout=1)


class TwinPostgreSQLProvider(BaseProvider):
    """Features of one registry collection from PostGIS."""

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        self.collection: Collection = by_table(provider_def["table"])
        self.id_field = self.collection.id_field.name
        self.geom = self.collection.geometry_column
        self.time_field = self.collection.time_field
        self.dsn = str(self.data)
        self.get_fields()

    # -- schema ---------------------------------------------------------------------------
    def get_fields(self) -> dict:
        if not self._fields:
            for f in self.collection.all_fields:
                self._fields[f.name] = {**f.type.json_schema(), "title": f.title_en,
                                        "description": f.title_de}
        return self._fields

    # -- reading ----------------------------------------------------------------------------
    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results",
              bbox: list | None = None, datetime_: str | None = None,
              properties: list | None = None, sortby: list | None = None,
              select_properties: list | None = None, skip_geometry: bool = False,
              q: str | None = None, filterq: Any = None, crs_transform_spec: Any = None,
              **kwargs: Any) -> dict:
        where, params = self._where(bbox or [], datetime_, properties or [], filterq)
        result: dict[str, Any] = {"type": "FeatureCollection", "features": [],
                                  "numberReturned": 0}
        with self._cursor() as cur:
            if resulttype == "hits":  # asked for: always counted, however many
                cur.execute(self.count_statement(where), params)
                result["numberMatched"] = cur.fetchone()["n"]
                return result
            columns = self._select(select_properties or [], skip_geometry, crs_transform_spec)
            # One row past the page tells whether the matches go on without counting them.
            cur.execute(self.page_statement(columns, where, self._order(sortby or []), offset),
                        [*params, limit + 1, offset])
            rows = cur.fetchall()
            more = len(rows) > limit
            if self.count:
                matched = self._matched(cur, where, params, offset, min(len(rows), limit), more)
                if matched is not None:
                    result["numberMatched"] = matched
            # `properties=` lists what a client wants; the key stays the feature's `id`.
            keep_id = not select_properties or self.id_field in select_properties
            result["features"] = [self._feature(r, keep_id=keep_id) for r in rows[:limit]]
        result["numberReturned"] = len(result["features"])
        return result

    def page_statement(self, columns: sql.Composable, where: sql.Composable,
                       order: sql.Composable, offset: int) -> sql.Composable:
        """One page: the parameters of ``where``, then LIMIT and OFFSET.

        Past the first page the offset is taken over the keys alone (in a subquery), and the
        columns (GeoJSON, transforms) are built for the page's rows only: in one statement
        PostgreSQL would build them for every row it skips as well.
        """
        table = sql.Identifier(self.collection.schema, self.collection.table)
        if offset == 0:
            return sql.SQL("SELECT {cols} FROM {t} WHERE {w} ORDER BY {o} LIMIT %s OFFSET %s"
                           ).format(cols=columns, t=table, w=where, o=order)
        key = sql.Identifier(self.id_field)
        return sql.SQL(
            "SELECT {cols} FROM {t} WHERE {key} IN (SELECT {key} FROM {t} WHERE {w} "
            "ORDER BY {o} LIMIT %s OFFSET %s) ORDER BY {o}").format(
            cols=columns, t=table, key=key, w=where, o=order)

    def count_statement(self, where: sql.Composable, cap: int | None = None) -> sql.Composable:
        """``count(*) AS n`` of the matches (the parameters of ``where``); with ``cap``,
        counting stops after ``cap + 1`` of them."""
        table = sql.Identifier(self.collection.schema, self.collection.table)
        if cap is None:
            return sql.SQL("SELECT count(*) AS n FROM {} WHERE {}").format(table, where)
        return sql.SQL("SELECT count(*) AS n FROM (SELECT 1 FROM {} WHERE {} LIMIT {}) s"
                       ).format(table, where, sql.Literal(cap + 1))

    def _matched(self, cur: psycopg.Cursor, where: sql.Composable, params: list, offset: int,
                 returned: int, more: bool) -> int | None:
        """numberMatched of a page, or None when more than ``count_limit`` match (then
        counting them would cost more than the page: OGC API Features lets it be left out).

        A page that ends the matches says how many there are; only otherwise are they
        counted, and no further than the limit.
        """
        if not more and (returned or offset == 0):
            return offset + returned
        cap = get_settings().count_limit or None
        cur.execute(self.count_statement(where, cap), params)
        n = cur.fetchone()["n"]
        return n if cap is None or n <= cap else None

    def get(self, identifier: Any, crs_transform_spec: Any = None, **kwargs: Any) -> dict:
        value = self._typed_id(identifier)
        table = sql.Identifier(self.collection.schema, self.collection.table)
        with self._cursor() as cur:
            cur.execute(
                # xmin: the row version, read with the row (ETag; twin/transactions.py).
                sql.SQL("SELECT {cols}, xmin::text AS _version FROM {t} WHERE {id} = %s").format(
                    cols=self._select([], False, crs_transform_spec), t=table,
                    id=sql.Identifier(self.id_field)),
                [value])
            row = cur.fetchone()
        if row is None:
            raise ProviderItemNotFoundError(
                user_msg=f"No {self.collection.id} item with {self.id_field} '{identifier}'")
        ITEM_VERSION.set(row.pop("_version"))
        return self._feature(row)

    # -- SQL pieces -------------------------------------------------------------------------
    def _where(self, bbox: list, datetime_: str | None, properties: list,
               filterq: Any) -> tuple[sql.Composable, list]:
        parts: list[sql.Composable] = []
        params: list[Any] = []
        geom = sql.Identifier(self.geom)
        if bbox:
            raw = RAW_BBOX.get()
            if raw is not None:
                v = raw.values
                # Six values are minx, miny, minz, maxx, maxy, maxz.
                box = (v[0], v[1], v[3], v[4]) if len(v) == 6 else v
                crs = raw.crs
            else:  # not behind our server: pygeoapi's storage-CRS box is all we have
                box, crs = (bbox[:2] + bbox[-2:]), STORAGE_CRS_URI
            condition, box_params = box_predicate(
                "ST_Intersects", geom, make_box(tuple(box), crs, self.collection.srid),
                self.collection.srid)
            parts.append(condition)
            params += box_params
        for name, value in properties:
            f = self._field(name)
            # `denkmalnummern=09100107`: the parcels whose list holds it, not those whose
            # list is just it.
            template = "%s = ANY({})" if f.type is FieldType.TEXT_ARRAY else "{} = %s"
            parts.append(sql.SQL(template).format(sql.Identifier(f.name)))
            params.append(self._typed(f.type, value, name))
        if datetime_ not in (None, "../.."):
            parts.append(self._time_condition(datetime_, params))
        if filterq is not None:
            try:
                condition, filter_params = to_sql(filterq, self.collection)
            except FilterError as exc:
                raise ProviderInvalidQueryError(user_msg=str(exc)) from exc
            parts.append(condition)
            params += filter_params
        if not parts:
            return sql.SQL("TRUE"), params
        return sql.SQL(" AND ").join(parts), params

    def _time_condition(self, datetime_: str, params: list) -> sql.Composable:
        """`datetime` as an interval (twin/request_checks.py reads it): a date means the whole
        local day.

        A collection without time is not filtered by it (OGC API Features Part 1: features
        without a time are not filtered out), but the value must still be well formed.
        """
        try:
            interval = datetime_interval(datetime_)
        except ValueError as exc:  # the server refuses it first; pygeoapi alone does not
            raise ProviderInvalidQueryError(user_msg=str(exc)) from None
        if not self.time_field:
            return sql.SQL("TRUE")
        column = sql.Identifier(self.time_field)
        conds = []
        if interval.start is not None:
            params.append(interval.start)
            conds.append(sql.SQL("{} >= %s").format(column))
        if interval.end is not None:
            params.append(interval.end)
            # A date ends at the next local midnight (exclusive); an instant includes itself.
            op = "<" if interval.end_exclusive else "<="
            conds.append(sql.SQL("{} {} %s").format(column, sql.SQL(op)))
        return sql.SQL(" AND ").join(conds) if conds else sql.SQL("TRUE")

    def _select(self, select_properties: list, skip_geometry: bool,
                crs_transform_spec: Any) -> sql.Composable:
        names = [self.id_field] + [
            f.name for f in self.collection.fields
            if not select_properties or f.name in select_properties]
        cols: list[sql.Composable] = [sql.Identifier(n) for n in names]
        if not skip_geometry:
            # options 0: no "crs" member, which RFC 7946 dropped and clients choke on.
            cols.append(sql.SQL("ST_AsGeoJSON({}, {}, 0) AS _geojson").format(
                self._output_geometry(crs_transform_spec), sql.Literal(self._precision(
                    crs_transform_spec))))
        return sql.SQL(", ").join(cols)

    def _output_geometry(self, spec: Any) -> sql.Composable:
        geom = sql.Identifier(self.geom)
        if spec is None:
            return geom
        srid, flip = srid_and_flip(spec.target_crs_uri)
        out = sql.SQL("ST_Transform({}, {})").format(geom, sql.Literal(srid))
        # An EPSG:4326 answer is latitude first, as the CRS defines; CRS84 is longitude first.
        return sql.SQL("ST_FlipCoordinates({})").format(out) if flip else out

    @staticmethod
    def _precision(spec: Any) -> int:
        if spec is None:
            return 3  # millimetres in metric storage
        srid, _ = srid_and_flip(spec.target_crs_uri)
        return 8 if srid in (4326, 4258) else 3

    def _order(self, sortby: list) -> sql.Composable:
        clauses = []
        for s in sortby:
            f = self._field(s["property"])
            clauses.append(sql.SQL("{} {}").format(
                sql.Identifier(f.name), sql.SQL("DESC" if s.get("order") == "-" else "ASC")))
        # The key last: stable pages for offset paging.
        clauses.append(sql.Identifier(self.id_field))
        return sql.SQL(", ").join(clauses)

    # -- values -----------------------------------------------------------------------------
    def _field(self, name: str):
        try:
            return self.collection.field(name)
        except UnknownNameError as exc:
            raise ProviderInvalidQueryError(user_msg=str(exc)) from exc

    def _typed(self, field_type: FieldType, value: Any, name: str) -> Any:
        try:
            if field_type is FieldType.INTEGER:
                return int(value)
            if field_type is FieldType.DOUBLE:
                return float(value)
            if field_type is FieldType.DATE:
                return date.fromisoformat(str(value))
            if field_type is FieldType.TIMESTAMPTZ:
                return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            if field_type is FieldType.TIME:
                return time.fromisoformat(str(value))
            if field_type is FieldType.BOOLEAN:
                return str(value).lower() in ("true", "1")
        except ValueError:
            raise ProviderInvalidQueryError(
                user_msg=f"'{value}' is not a valid {field_type.json_type} for '{name}'"
            ) from None
        return str(value)

    def _typed_id(self, identifier: Any) -> Any:
        try:
            return self._typed(self.collection.id_field.type, identifier, self.id_field)
        except ProviderInvalidQueryError:
            # A key of the wrong type names no item: 404, as for any unknown key.
            raise ProviderItemNotFoundError(
                user_msg=f"No {self.collection.id} item with {self.id_field} '{identifier}'"
            ) from None

    def _feature(self, row: dict, *, keep_id: bool = True) -> dict:
        geojson = row.pop("_geojson", None)
        ident = row[self.id_field] if keep_id else row.pop(self.id_field)
        feature = {"type": "Feature", "id": ident,
                   "geometry": json.loads(geojson) if geojson else None,
                   "properties": row}
        if links := item_links(self.collection, row, get_settings().url):
            feature["links"] = links
        return feature

    # -- connections ------------------------------------------------------------------------
    def _cursor(self):
        return _Cursor(self.dsn)


#: Advisory lock namespaces (first int4 key) of the expensive-request slots; two-int4 locks
#: never collide with the single-bigint locks the loaders take.
GLOBAL_SLOTS_NS = 0x54574E00
CLIENT_SLOTS_NS = GLOBAL_SLOTS_NS + 1  # + slot number, with hashtext(client) as second key
#: The first free slot of ``n`` in a namespace, taken until the transaction ends, or NULL.
_GLOBAL_SLOT = "SELECT (SELECT s FROM generate_series(0, %s - 1) s " \
               "WHERE pg_try_advisory_xact_lock(%s, s) LIMIT 1)"
_CLIENT_SLOT = "SELECT (SELECT s FROM generate_series(0, %s - 1) s " \
               "WHERE pg_try_advisory_xact_lock(%s + s, hashtext(%s)) LIMIT 1)"
#: What makes a request expensive, for the answers that refuse one.
EXPENSIVE = "a page over {limit} items, or a filter with a spatial predicate or geometry"


class QueryTimeoutError(ProviderInvalidQueryError):
    """The request's statements ran past its deadline: the client asked too much (400)."""


class OverCapacityError(ProviderGenericError):
    """No slot for an expensive request: 429 (this client's share) or 503 (everyone's)."""


class _DeadlineCursor(psycopg.Cursor):
    """A dict cursor whose every statement may run only for what is left of the request."""

    state: RequestState

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> _DeadlineCursor:
        remaining = self.state.deadline - monotonic()
        if remaining <= 0:
            raise QueryTimeoutError(user_msg=_timeout_message(self.state))
        super().execute("SELECT set_config('statement_timeout', %s, true)",
                        [str(max(1, int(remaining * 1000)))])
        return super().execute(query, params, **kwargs)


def _timeout_message(state: RequestState) -> str:
    return (f"the query took longer than the {state.timeout_s:g} s limit of one request; "
            "narrow bbox, filter or limit")


class _Session:
    """One request's read-only transaction on one pooled connection.

    REPEATABLE READ gives the count and the page one snapshot. Slots for an expensive request
    are transaction-level advisory locks, so they hold across API processes and machines on
    one database, and vanish with the transaction (or a dead connection).
    """

    def __init__(self, dsn: str, state: RequestState) -> None:
        self.state = state
        pool = _pool(dsn)
        for attempt in (1, 2):
            try:
                refuse_if_down(pool)
                self._ctx = pool.connection(timeout=5)
                self.conn = self._ctx.__enter__()
                self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                break
            except (PoolTimeout, psycopg.OperationalError) as exc:
                if hasattr(self, "conn"):
                    self._ctx.__exit__(type(exc), exc, None)  # the pool discards it
                    del self.conn
                if attempt == 1 and isinstance(exc, psycopg.OperationalError):
                    # A restart killed every idle connection, not just this one.
                    pool.check()
                    continue
                LOGGER.error("database unavailable: %s", exc)
                raise ServiceUnavailableError(user_msg=UNAVAILABLE) from exc
        try:
            if state.expensive:
                self._take_slots()
        except BaseException:
            self.close()
            raise

    def _take_slots(self) -> None:
        settings = get_settings()
        what = EXPENSIVE.format(limit=settings.expensive_limit)
        mine = self.conn.execute(_CLIENT_SLOT, [settings.expensive_per_client, CLIENT_SLOTS_NS,
                                                self.state.client]).fetchone()[0]
        if mine is None:
            self._refuse(HTTPStatus.TOO_MANY_REQUESTS,
                         f"at most {settings.expensive_per_client} expensive requests ({what}) "
                         "at once per client; wait for yours to finish, or ask for less")
        everyone = self.conn.execute(_GLOBAL_SLOT, [settings.expensive_slots,
                                                    GLOBAL_SLOTS_NS]).fetchone()[0]
        if everyone is None:
            self._refuse(HTTPStatus.SERVICE_UNAVAILABLE,
                         f"the service runs at most {settings.expensive_slots} expensive "
                         f"requests ({what}) at once; retry shortly, or ask for less")

    def _refuse(self, status: HTTPStatus, message: str) -> None:
        self.state.refusal = (status.value, message)
        error = OverCapacityError(user_msg=message)
        error.http_status_code = status
        error.ogc_exception_code = "TooManyRequests" if status == 429 else "ServiceUnavailable"
        raise error

    def cursor(self) -> _DeadlineCursor:
        cur = _DeadlineCursor(self.conn, row_factory=dict_row)
        cur.state = self.state
        return cur

    def close(self) -> None:
        """End the transaction (read-only: nothing to commit) and return the connection."""
        try:
            if not self.conn.closed:
                self.conn.execute("ROLLBACK")
        except psycopg.Error as exc:  # a broken connection: the pool drops it
            LOGGER.warning("ending a request transaction: %s", exc)
        finally:
            self._ctx.__exit__(None, None, None)


class _Cursor:
    """A cursor in the request's transaction that turns database trouble into API errors.

    Behind :class:`twin.pygeoapi.wsgi.TwinMiddleware` the transaction lives as long as the request
    (the middleware ends it after the answer is rendered, so an expensive request keeps its
    slot while pygeoapi formats it); without one, as long as this cursor.
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def __enter__(self) -> psycopg.Cursor:
        state = REQUEST.get()
        self._own: _Session | None = None
        if state is None:
            timeout = get_settings().request_timeout_s
            state = RequestState(deadline=monotonic() + timeout, timeout_s=timeout,
                                 client="local")
            session = self._own = _Session(self.dsn, state)
        else:
            session = state.resources.get(self.dsn)
            if session is None:
                session = state.resources[self.dsn] = _Session(self.dsn, state)
        self.state = state
        self._cur = session.cursor()
        return self._cur

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._cur.close()
        if self._own is not None:
            self._own.close()
        if exc is None:
            return False
        if isinstance(exc, psycopg.errors.QueryCanceled):
            raise QueryTimeoutError(user_msg=_timeout_message(self.state)) from exc
        # The client's mistakes that only the database sees, said in our words: its own text
        # names its internals (types, operators) and is logged, not sent.
        message = _client_error_message(exc)
        if message is not None:
            LOGGER.info("query refused by the database: %s", exc.diag.message_primary)
            raise ProviderInvalidQueryError(user_msg=message) from exc
        if isinstance(exc, psycopg.OperationalError):
            LOGGER.error("database error: %s", exc)
            raise ServiceUnavailableError(user_msg=UNAVAILABLE) from exc
        return False


#: Database errors a client's query can cause, with what the client is told (first match).
_CLIENT_ERRORS: tuple[tuple[type[psycopg.Error], str], ...] = (
    (psycopg.errors.ProgramLimitExceeded,
     "the query is too large for the database; use a shorter filter or simpler geometries"),
    (psycopg.errors.DivisionByZero, "the filter divides by zero"),
    (psycopg.errors.NumericValueOutOfRange,
     "a number in the query is out of range for the property it is used with"),
    (psycopg.errors.DatetimeFieldOverflow, "a date or timestamp in the query is out of range"),
    (psycopg.errors.DataError | psycopg.errors.UndefinedFunction
     | psycopg.errors.DatatypeMismatch,
     "a value in the query does not fit the type of the property it is used with; the "
     "queryables (/collections/{id}/queryables) list each property's type"),
)


def _client_error_message(exc: BaseException) -> str | None:
    """What a client is told of a database error its query caused, or None (not theirs)."""
    for kind, message in _CLIENT_ERRORS:
        if isinstance(exc, kind):
            return message
    return None
