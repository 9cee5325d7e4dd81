"""Values the database derives after a load, in the load's own transaction.

Each step declares the collections it reads and writes (ids of :mod:`twin.registry`); a load
runs only the steps downstream of the collections it touched, in the order of :data:`STEPS`,
which is their dependency order: a step runs when it reads a collection the load touched or
a step before it wrote (repair priorities use station traffic; commercial-land scores use
heritage links; the 3D tiles, last, draw the buildings with their heritage status and ground
heights). Each step is idempotent and writes only rows whose value changes, so a repeated load
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psycopg

from twin.db import packaged_sql
from twin.registry import (
    BUILDINGS,
    COMMERCIAL_LAND,
    HERITAGE,
    PARCELS,
    STREET_DAMAGE,
    TERRAIN,
    TRAFFIC_COUNTS,
    TRAFFIC_STATIONS,
)
from twin.settings import Settings, get_settings


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
    # Imported here, as in the two steps below: a load that runs none of them (parcels) need
    # not import raster and 3D-tile code.
    from twin.terrain import ground_heights

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
    from twin.tiles3d import refresh_building_tiles

    refresh_building_tiles(conn)


def commercial_land_scores(conn: psycopg.Connection, settings: Settings) -> None:
    """A15 distance, heritage overlap, parcel count, then score and breakdown."""
    from twin.analysis import commercial_land

    commercial_land.refresh(conn)


@dataclass(frozen=True)
class Step:
    """One derivation: SQL in twin/sql/ (``derive_*.sql``) or a Python function, with the
    collections (ids of :mod:`twin.registry`) it reads and writes."""

    run: str | Callable[[psycopg.Connection, Settings], None]
    #: Collections of which it reads only loaded fields (what the source gives): a load of
    #: them makes it run, a step writing their derived fields does not.
    loaded: frozenset[str]
    #: Collections whose derived fields it reads: a load of them, or a step before it that
    #: writes them, makes it run.
    derived: frozenset[str]
    #: Collections whose derived fields (or rows: the traffic gaps) it writes.
    writes: frozenset[str]

    @property
    def name(self) -> str:
        return self.run if isinstance(self.run, str) else self.run.__name__


def _step(run: str | Callable[[psycopg.Connection, Settings], None], *, loaded: Iterable = (),
          derived: Iterable = (), writes: Iterable = ()) -> Step:
    return Step(run, *(frozenset(c.id for c in cs) for cs in (loaded, derived, writes)))


#: Every step, in dependency order: a step reads the derived fields of steps before it only.
STEPS: tuple[Step, ...] = (
    # Monuments <-> parcels (heritage.flurstuecke, parcels.heritage/.denkmalnummern).
    _step("derive_heritage.sql", loaded=(HERITAGE, PARCELS), writes=(HERITAGE, PARCELS)),
    # Gap rows and station figures.
    _step("derive_traffic.sql", loaded=(TRAFFIC_COUNTS, TRAFFIC_STATIONS),
          writes=(TRAFFIC_COUNTS, TRAFFIC_STATIONS)),
    # Repair priorities use the stations' mean daily traffic.
    _step("derive_street_damage.sql", loaded=(STREET_DAMAGE,), derived=(TRAFFIC_STATIONS,),
          writes=(STREET_DAMAGE,)),
    # Buildings -> parcel under the footprint, heritage status (listed, in an area).
    _step("derive_buildings.sql", loaded=(BUILDINGS, PARCELS, HERITAGE), writes=(BUILDINGS,)),
    _step(buildings_ground_from_terrain, loaded=(BUILDINGS, TERRAIN), writes=(BUILDINGS,)),
    _step(commercial_land_scores, loaded=(COMMERCIAL_LAND, HERITAGE, PARCELS),
          writes=(COMMERCIAL_LAND,)),
    # Draws the buildings with their derived heritage status and ground heights. The tiles
    # are no collection (nothing reads them); their faces (building_surfaces) are the
    # buildings' detail rows, loaded with them.
    _step(building_tiles, derived=(BUILDINGS,)),
)


def downstream(touched: Iterable[str]) -> list[Step]:
    """The steps to run after a load that touched the collections ``touched``, in order."""
    touched = set(touched)
    written: set[str] = set()
    todo = []
    for step in STEPS:
        if (step.loaded | step.derived) & touched or step.derived & written:
            todo.append(step)
            written |= step.writes
    return todo


def reach(touched: Iterable[str]) -> set[str]:
    """Every collection a load touching ``touched`` may read or write, its steps included:
    loads whose reaches are disjoint share no table (nor the terrain's file)."""
    out = set(touched)
    for step in downstream(touched):
        out |= step.loaded | step.derived | step.writes
    return out


def refresh(conn: psycopg.Connection, settings: Settings | None = None,
            touched: Iterable[str] | None = None) -> list[str]:
    """Run on ``conn`` (inside the caller's transaction) the steps downstream of the
    collections ``touched`` (all steps when None); returns the names of those run."""
    settings = settings or get_settings()
    steps = list(STEPS) if touched is None else downstream(touched)
    for step in steps:
        if isinstance(step.run, str):
            conn.execute(packaged_sql(step.run))
        else:
            step.run(conn, settings)
    return [s.name for s in steps]
