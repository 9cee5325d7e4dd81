"""A scratch database for a benchmark: dropped and created afresh, with the twin's schema."""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

from twin import db
from twin.settings import Settings

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TMP = Path(__file__).resolve().parent / "results" / "tmp"


def scratch_settings(name: str) -> Settings:
    """Settings of a new, empty database ``name`` with the schema, configs under bench/."""
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    TMP.mkdir(parents=True, exist_ok=True)
    settings = Settings(database_url=f"{ADMIN.rsplit('/', 1)[0]}/{name}",
                        config_path=TMP / "pygeoapi.yml", openapi_path=TMP / "openapi.yml",
                        data_dir=TMP / "data")
    db.init_schema(settings)
    return settings


def drop_scratch(name: str) -> None:
    """Drop the scratch database ``name`` (connections included)."""
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
