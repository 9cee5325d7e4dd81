"""Values the database derives after every load, in the load's own transaction.

Each step is idempotent and writes only rows whose value changes, so a repeated load changes
nothing. Steps run in order: later ones may use what earlier ones derived (repair priorities use
station traffic; commercial-land scores use heritage links; the 3D tiles, last, draw the
buildings with their heritage status and ground heights).
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from twin.analysis import commercial_land
from twin.db import packaged_sql
from twin.settings import Settings, get_settings
from twin.terrain import ground_heights
from twin.tiles3d import refresh_building_tiles


def buildings_ground_from_terrain(conn: psycopg.Connection, settings: Settings) -> None:
    """Ground heights the LoD2 files do not give, from the terrain model (issue 8): its height
    under a point inside each footprint. Heights a file gives are never replaced; buildings
    outside the terrain keep none. A later terrain load fills buildings still without one."""
    rows = conn.execute(
        "SELECT building_id, ST_X(p), ST_Y(p) FROM (SELECT building_id, "
        "ST_PointOnSurface(geom) AS p FROM twin.buildings WHERE ground_height IS NULL "
        "AND geom IS NOT NULL) s").fetchall()
    if not rows:
        return
    heights = ground_heights(settings, [(x, y) for _, x, y in rows])
    found = [(round(h, 2), key) for (key, _, _), h in zip(rows, heights, strict=True)
             if h is not None]
    if found:
        with conn.cursor() as cur:
            cur.executemany("UPDATE twin.buildings SET ground_height = %s "
                            "WHERE building_id = %s", found)


def building_tiles(conn: psycopg.Connection, settings: Settings) -> None:
    """The 3D Tiles of the buildings (twin/tiles3d/), rewritten with the buildings' current
    attributes in the load's transaction when any changed: the viewer and the collection
    never disagree."""
    refresh_building_tiles(conn)

#: SQL files in twin/sql/ (``derive_*.sql``) and Python steps, in the order they run.
STEPS: list[str | Callable[[psycopg.Connection], None]
            | Callable[[psycopg.Connection, Settings], None]] = [
    # First: monuments <-> parcels (heritage.flurstuecke, parcels.heritage/.denkmalnummern).
    "derive_heritage.sql",
    "derive_traffic.sql",
    "derive_street_damage.sql",
    # Buildings -> parcel under the footprint, heritage status (listed, in an area).
    "derive_buildings.sql",
    buildings_ground_from_terrain,
    # Last: A15 distance, heritage overlap, parcel count, then score and breakdown.
    commercial_land.refresh,
    building_tiles,
]
#: Python steps that read the settings (the terrain's file).
_WITH_SETTINGS = (buildings_ground_from_terrain, building_tiles)
#: What a terrain load can change: it changes no table, only the ground under the buildings.
_AFTER_TERRAIN = (buildings_ground_from_terrain, building_tiles)


def refresh(conn: psycopg.Connection, settings: Settings | None = None) -> None:
    """Run every derivation step on ``conn`` (inside the caller's transaction)."""
    settings = settings or get_settings()
    for step in STEPS:
        if isinstance(step, str):
            conn.execute(packaged_sql(step))
        elif step in _WITH_SETTINGS:
            step(conn, settings)
        else:
            step(conn)


def refresh_after_terrain(conn: psycopg.Connection, settings: Settings) -> None:
    """The derivation steps that read the terrain, after a terrain load (the SQL steps would
    find nothing to change: no table was loaded)."""
    for step in _AFTER_TERRAIN:
        step(conn, settings)
