"""A published table's indexes and constraints around a bulk load into it.

An index built once over all rows costs a fraction of one grown row by row (a GiST index over
200,000 parcels: 0.25 s against 0.7 s; the primary key's B-tree over 1,000,000 keys: 1.7 s
against 4.7 s more for the insert). Dropping an index or constraint locks the table against
readers until the load commits, so it is done only for an empty table (a first load): readers
wait for the load instead of seeing nothing, then see every row.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from etl.sources.base import Source
from twin.registry import Collection

#: Rows from which a load into an empty table builds its indexes after the insert.
BULK_INDEX_ROWS = 1000


def _empty(conn: psycopg.Connection, coll: Collection) -> bool:
    target = sql.Identifier(coll.schema, coll.table)
    return not conn.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(target)).fetchone()[0]


def _regclass(conn: psycopg.Connection, coll: Collection) -> str:
    return sql.Identifier(coll.schema, coll.table).as_string(conn)


def may_load_directly(conn: psycopg.Connection, source: Source, coll: Collection) -> bool:
    """Whether a load may COPY into the published table itself instead of a stage: the table
    is empty (nothing to compare, update or delete), the source has no detail tables to stage
    beside it, and no other table's foreign key needs its primary key meanwhile."""
    if source.details or len(source.collections) != 1 or not _empty(conn, coll):
        return False
    referenced = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE confrelid = "
                              "%s::regclass)", (_regclass(conn, coll),)).fetchone()[0]
    return not referenced


def drop_all(conn: psycopg.Connection, coll: Collection) -> list[sql.SQL]:
    """Drop every index and unique or primary-key constraint of an empty table; returns the
    statements that build them again (the catalogue's own definitions), constraints first."""
    table = _regclass(conn, coll)
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u')", (table,)).fetchall()
    rebuild = []
    for name, definition in constraints:
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
            sql.SQL(table), sql.Identifier(name)))
        rebuild.append(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            sql.SQL(table), sql.Identifier(name), sql.SQL(definition)))
    return rebuild + _drop_plain(conn, table)


def defer(conn: psycopg.Connection, coll: Collection, staged: int) -> list[sql.SQL]:
    """Drop the indexes of an empty published table that back no constraint (the GiST
    index), before ``staged`` rows go in from a stage; returns their definitions, to build
    them again."""
    if staged < BULK_INDEX_ROWS or not _empty(conn, coll):
        return []
    return _drop_plain(conn, _regclass(conn, coll))


def _drop_plain(conn: psycopg.Connection, table: str) -> list[sql.SQL]:
    rows = conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = %s::regclass AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        (table,)).fetchall()
    for name, _ in rows:
        # The name as the catalogue quotes it (regclass output), schema included.
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(name)))
    # The definitions are the catalogue's own CREATE INDEX statements.
    return [sql.SQL(definition) for _, definition in rows]
