"""Values the database derives after every load, in the load's own transaction.

Each step is idempotent and writes only rows whose value changes, so a repeated load changes
nothing. Steps run in order: later ones may use what earlier ones derived (repair priorities use
station traffic; commercial-land scores use heritage links).
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from twin.analysis import commercial_land
from twin.db import packaged_sql

#: SQL files in twin/sql/ (``derive_*.sql``) and Python steps, in the order they run.
STEPS: list[str | Callable[[psycopg.Connection], None]] = [
    # First: monuments <-> parcels (heritage.flurstuecke, parcels.heritage/.denkmalnummern).
    "derive_heritage.sql",
    "derive_traffic.sql",
    "derive_street_damage.sql",
    # Buildings -> parcel under the footprint, heritage status (listed, in an area).
    "derive_buildings.sql",
    # Last: A15 distance, heritage overlap, parcel count, then score and breakdown.
    commercial_land.refresh,
]


def refresh(conn: psycopg.Connection) -> None:
    """Run every derivation step on ``conn`` (inside the caller's transaction)."""
    for step in STEPS:
        if isinstance(step, str):
            conn.execute(packaged_sql(step))
        else:
            step(conn)
