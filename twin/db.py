"""Connections, transactions and the schema: packaged migrations plus registry-derived tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from twin.errors import ConfigurationError, DatabaseUnavailableError, TwinError
from twin.registry import COLLECTIONS, Collection
from twin.settings import Settings, get_settings

CONNECT_TIMEOUT_S = 5


def _describe(dsn: str) -> str:
    """Database name and host for messages to the operator, never the password."""
    info = conninfo_to_dict(dsn)
    return f"database '{info.get('dbname', '?')}' on {info.get('host', 'local socket')}"


@contextmanager
def connect(settings: Settings | None = None, *, autocommit: bool = False,
            dsn: str | None = None, for_api: bool = False) -> Iterator[psycopg.Connection]:
    """A connection to the twin's database, closed on exit.

    Without ``autocommit`` the block is one transaction: committed when it ends normally,
    rolled back when it raises. ``for_api`` connections have the API's statement timeout (a
    load may take as long as it needs).
    """
    settings = settings or get_settings()
    dsn = dsn or settings.dsn
    # No JIT: the derive steps' plans are estimated costly enough to compile, and compiling
    # took 1.8 s where running takes 4 ms (derive_street_damage.sql on 80 rows, issue 11).
    # A killed client's backend would run its statement to the end (30 s of a big load's
    # merge, holding the load's locks); checking the socket every second stops it at once.
    options = "-c jit=off -c client_connection_check_interval=1000"
    if for_api:
        options += f" -c statement_timeout={settings.statement_timeout_ms}"
    extra = {"options": options}
    try:
        conn = psycopg.connect(dsn, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S,
                               application_name="twin", **extra)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailableError(f"cannot connect to {_describe(dsn)}: {exc}") from exc
    with conn:
        yield conn


def database_error(exc: psycopg.Error) -> TwinError:
    """A database error as the twin's own, with what the operator should do."""
    diag = getattr(exc, "diag", None)
    detail = (diag.message_primary if diag else None) or str(exc).splitlines()[0]
    if isinstance(exc, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn):
        return ConfigurationError(f"the schema is missing or outdated ({detail}); run "
                                  "`twin db init`")
    if isinstance(exc, psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure
                  | psycopg.errors.LockNotAvailable | psycopg.errors.QueryCanceled):
        return DatabaseUnavailableError(f"the database is busy ({detail}); nothing was "
                                        "changed, try again")
    if isinstance(exc, psycopg.OperationalError):
        return DatabaseUnavailableError(f"database error: {detail}")
    return TwinError(f"database error: {detail}")


def packaged_sql(name: str) -> str:
    """The text of ``twin/sql/<name>``: migrations and derive steps alike."""
    return resources.files("twin.sql").joinpath(name).read_text(encoding="utf-8")


def migration_files() -> list[tuple[str, str]]:
    """Packaged migrations as (name, SQL), in their numbered order.

    Only numbered files (``001_core.sql``) are migrations; the ``derive_*.sql`` beside them
    are run by twin/derive.py after loads, once the tables they read exist.
    """
    files = sorted(
        (p for p in resources.files("twin.sql").iterdir()
         if p.name.endswith(".sql") and p.name[:1].isdigit()),
        key=lambda p: p.name,
    )
    return [(p.name, packaged_sql(p.name)) for p in files]


def ensure_database(settings: Settings | None = None) -> bool:
    """Create the database named by the settings if it does not exist; True if created."""
    settings = settings or get_settings()
    info = conninfo_to_dict(settings.dsn)
    dbname = info.get("dbname") or "twin"
    admin = make_conninfo(settings.dsn, dbname="postgres")
    with connect(settings, dsn=admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        return True


def table_ddl(collection: Collection) -> sql.Composed:
    """CREATE TABLE for a published collection, derived from the registry."""
    columns = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(f.name),
            sql.SQL(f.type.value),
            sql.SQL(" NOT NULL") if not f.nullable else sql.SQL(""),
        )
        for f in collection.all_fields
    ]
    columns.append(
        sql.SQL("{} geometry({}, {}) NOT NULL").format(  # 'Geometry' takes any type
            sql.Identifier(collection.geometry_column),
            sql.SQL(collection.geometry_type),
            sql.Literal(collection.srid),
        )
    )
    columns.append(sql.SQL("PRIMARY KEY ({})").format(sql.Identifier(collection.id_field.name)))
    table = sql.Identifier(collection.schema, collection.table)
    return sql.SQL(
        "CREATE TABLE IF NOT EXISTS {table} ({columns});\n"
        "CREATE INDEX IF NOT EXISTS {index} ON {table} USING gist ({geom});"
    ).format(
        table=table,
        columns=sql.SQL(", ").join(columns),
        index=sql.Identifier(f"{collection.table}_geom_idx"),
        geom=sql.Identifier(collection.geometry_column),
    )


def add_missing_columns(collection: Collection) -> sql.Composed:
    """ALTER TABLE adding fields the registry gained since the table was created.

    New fields are nullable whatever the registry says: existing rows have no value yet.
    """
    table = sql.Identifier(collection.schema, collection.table)
    return sql.SQL(" ").join(
        sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {};").format(
            table, sql.Identifier(f.name), sql.SQL(f.type.value))
        for f in collection.all_fields)


def init_schema(settings: Settings | None = None) -> list[str]:
    """Create or migrate the schema; idempotent. Returns what was applied."""
    settings = settings or get_settings()
    applied = []
    with connect(settings) as conn:
        # One migration at a time across concurrent `twin db init` runs.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('twin.migrate'))")
        for name, text in migration_files():
            conn.execute(text)
            applied.append(name)
        for collection in COLLECTIONS:
            conn.execute(table_ddl(collection))
            conn.execute(add_missing_columns(collection))
            applied.append(f"table {collection.schema}.{collection.table}")
        if abandoned := mark_abandoned_runs(conn):
            applied.append(f"load runs {', '.join(map(str, abandoned))} marked failed "
                           "(process gone)")
    return applied


@dataclass(frozen=True)
class TableStatus:
    """What `twin db status` reports for one collection."""

    collection: str
    exists: bool
    rows: int
    matches_registry: bool
    missing_columns: tuple[str, ...]
    extra_columns: tuple[str, ...]


def table_status(conn: psycopg.Connection, collection: Collection) -> TableStatus:
    """Row count and drift of a published table against the registry."""
    cols = {
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            (collection.schema, collection.table),
        )
    }
    if not cols:
        return TableStatus(collection.id, False, 0, False, (), ())
    expected = {*collection.property_names, collection.geometry_column}
    rows = conn.execute(
        sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(collection.schema, collection.table))
    ).fetchone()[0]
    return TableStatus(
        collection.id, True, rows, cols == expected,
        tuple(sorted(expected - cols)), tuple(sorted(cols - expected)),
    )


#: Namespace of the advisory locks of load runs: (hashtext of this, run id). Every process of
#: a running load holds its run's lock shared, so nobody can take it exclusively until they
#: are all gone; PostgreSQL releases session locks when a backend ends, whatever killed it.
RUN_LOCK = "twin.load_run"


def hold_run(conn: psycopg.Connection, run_id: int) -> None:
    """Mark ``conn`` as a holder of load run ``run_id`` until the connection ends.

    A session lock survives the commit or rollback of the transaction that took it.
    """
    conn.execute("SELECT pg_advisory_lock_shared(hashtext(%s), %s::integer)", (RUN_LOCK, run_id))


def mark_abandoned_runs(conn: psycopg.Connection) -> list[int]:
    """Mark ``running`` load runs whose processes are gone (killed, crashed) as failed.

    A run is abandoned when its lock (see :func:`hold_run`) can be taken exclusively: no
    connection of its load is left. The lock is transaction-scoped here, so it is released with
    this statement's transaction. A load's first transaction inserts its row and takes its
    lock together, so a run just starting is never taken for abandoned.

    Returns
    -------
    list of int
        The ids of the runs marked failed.
    """
    rows = conn.execute(
        "UPDATE twin.load_run SET outcome = 'failed', finished_at = now(), "
        "message = concat_ws('; ', message, 'process gone; marked failed at ' "
        "|| to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC') "
        "WHERE outcome = 'running' AND id IN ("
        # Materialized first, so only running rows are tried: a lock per row of the history
        # would fill the lock table.
        "  WITH running AS MATERIALIZED (SELECT id FROM twin.load_run WHERE outcome = 'running')"
        "  SELECT id FROM running WHERE pg_try_advisory_xact_lock(hashtext(%s), id::integer)"
        ") RETURNING id",
        (RUN_LOCK,),
    ).fetchall()
    return sorted(r[0] for r in rows)


def recent_runs(conn: psycopg.Connection, limit: int = 20) -> list[dict]:
    """The latest load runs, newest first; abandoned runs are marked failed first."""
    mark_abandoned_runs(conn)
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(
            "SELECT id, source, collection, path, checksum, mode, started_at, finished_at, "
            "outcome, read_count, inserted_count, updated_count, deleted_count, "
            "unchanged_count, jsonb_array_length(repairs) AS repairs, "
            "jsonb_array_length(refusals) AS refusals, message "
            "FROM twin.load_run ORDER BY id DESC LIMIT %s",
            (limit,),
        )
        return cur.fetchall()


def load_run(conn: psycopg.Connection, run_id: int) -> dict | None:
    """Every column of load run ``run_id`` (notes, repairs and refusals whole), or None."""
    mark_abandoned_runs(conn)
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("SELECT * FROM twin.load_run WHERE id = %s", (run_id,)).fetchone()
