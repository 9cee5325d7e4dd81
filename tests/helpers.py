"""What many test modules ask of a database or a `twin` run, written once.

Tables and keys come from the registry, so a helper cannot drift from the schema.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from tests.conftest import TWIN, twin_env
from twin.registry import get_collection
from twin.settings import Settings


def run_twin(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    """`twin ARGS` as a user runs it, against the database of ``settings``."""
    return subprocess.run([TWIN, *args], env=twin_env(settings), capture_output=True,
                          text=True, timeout=300)


def last_run(settings: Settings) -> dict:
    """The newest row of twin.load_run."""
    with psycopg.connect(settings.dsn, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT * FROM twin.load_run ORDER BY id DESC LIMIT 1").fetchone()


def _per_collection(settings: Settings, ids: tuple[str, ...], template: str) -> tuple:
    out: list = []
    with psycopg.connect(settings.dsn) as conn:
        for cid in ids:
            c = get_collection(cid)
            row = conn.execute(sql.SQL(template).format(
                table=sql.Identifier(c.schema, c.table),
                key=sql.Identifier(c.id_field.name))).fetchone()
            out.extend(row)
    return tuple(out)


def published_of(*ids: str) -> Callable[[Settings], tuple]:
    """A function giving row count and digest of every published row of the collections:
    what a reader sees."""
    return lambda settings: _per_collection(
        settings, ids, "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY "
                       "t.{key})), '') FROM {table} t")


def xmins_of(*ids: str) -> Callable[[Settings], tuple]:
    """A function giving the row versions of the collections: equal when no row was
    rewritten."""
    return lambda settings: _per_collection(
        settings, ids, "SELECT string_agg(xmin::text, ',' ORDER BY {key}) FROM {table}")


def assert_refused(result: subprocess.CompletedProcess, path: Path, words: list[str]) -> None:
    """A refused load: non-zero exit, and a message naming the file and saying ``words``."""
    assert result.returncode != 0
    assert str(path) in result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)
