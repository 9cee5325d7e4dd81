"""The derived artefacts are current: pygeoapi's config and the tables follow the registry."""

from __future__ import annotations

import psycopg
import yaml
from pygeoapi.util import yaml_load

from twin import db
from twin.pygeoapi_config import build_config, render, validate
from twin.registry import COLLECTIONS, COVERAGES
from twin.settings import PROJECT_ROOT, Settings


def test_committed_config_is_what_twin_config_writes(loaded_settings: Settings) -> None:
    # The committed file was generated over the committed samples; so is this database.
    committed = (PROJECT_ROOT / "config" / "pygeoapi.yml").read_text(encoding="utf-8")
    assert committed == render(build_config(loaded_settings)), (
        "config/pygeoapi.yml is stale: run `make demo` or `twin config` after loading samples")


def test_config_passes_pygeoapis_own_validation() -> None:
    text = (PROJECT_ROOT / "config" / "pygeoapi.yml").read_text(encoding="utf-8")
    config = yaml.safe_load(text)
    validate(config)
    resolved = yaml_load(text)
    collections = {k for k, v in resolved["resources"].items() if v["type"] == "collection"}
    processes = {k for k, v in resolved["resources"].items() if v["type"] == "process"}
    assert collections == {c.id for c in COLLECTIONS} | {c.id for c in COVERAGES}
    assert processes == {"assess-commercial-land"}
    # Secrets stay placeholders in the file.
    assert "${TWIN_DATABASE_URL" in text


def test_tables_match_the_registry(loaded_settings: Settings) -> None:
    with psycopg.connect(loaded_settings.dsn) as conn:
        for c in COLLECTIONS:
            status = db.table_status(conn, c)
            assert status.exists and status.matches_registry, status
            srid, gtype = conn.execute(
                "SELECT srid, type FROM geometry_columns WHERE f_table_schema = %s "
                "AND f_table_name = %s", (c.schema, c.table)).fetchone()
            assert (srid, gtype) == (c.srid, c.geometry_type.upper())


def test_schema_init_is_idempotent(empty_settings: Settings) -> None:
    first = db.init_schema(empty_settings)
    assert db.init_schema(empty_settings) == first


def test_readme_dataset_table_is_current() -> None:
    from twin.docs import END, START, dataset_table

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{START}\n{dataset_table()}\n{END}" in readme


def test_init_adds_fields_the_registry_gained(empty_settings: Settings) -> None:
    # A table from an older release lacks a field: `twin db init` adds it, keeping the rows.
    with psycopg.connect(empty_settings.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO twin.parcels (flstkennz, geom) VALUES ('12416600100001______',"
                     " ST_Multi(ST_Buffer(ST_SetSRID(ST_Point(454000, 5734500), 25833), 5)))")
        conn.execute("ALTER TABLE twin.parcels DROP COLUMN denkmalnummern")
    db.init_schema(empty_settings)
    with psycopg.connect(empty_settings.dsn) as conn:
        assert db.table_status(conn, COLLECTIONS[0]).matches_registry
        assert conn.execute("SELECT count(*) FROM twin.parcels").fetchone()[0] == 1
        conn.execute("DELETE FROM twin.parcels")
        conn.commit()
