"""Checks of client input that must happen before pygeoapi or SQL see it, in our words.

Each function returns why a value is refused (a sentence naming the parameter and what is
expected), or None when it is usable; :func:`open_year_zero_start` instead rewrites a valid
value that pygeoapi would refuse. The WSGI layer (twin/server.py) answers a refusal with
400; the CQL2 translator (twin/cql.py) raises it as a filter error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache

from pyproj.exceptions import CRSError

#: PostgreSQL's bigint: LIMIT and OFFSET are bound as one, and a larger number is refused by
#: the database in its own words ("bigint out of range").
PG_BIGINT_MAX = 2**63 - 1
#: No coordinate of a place on Earth in a metre-based projected CRS is farther from the CRS's
#: origin than the Earth's circumference; beyond it PostGIS's transformations fail.
PROJECTED_LIMIT_M = 40_075_000.0
#: An RFC 3339 date or date-time in the year 0000, which Python's datetime (and so pygeoapi)
#: cannot hold.
_YEAR_ZERO = re.compile(r"0000-\d{2}-\d{2}(?:[Tt ].*)?")


def whole_number_problem(name: str, value: str) -> str | None:
    """Why ``value`` of the query parameter ``name`` is not a usable limit or offset."""
    text = value.strip()
    if not text.isdigit():  # pygeoapi would read 'limit=true' as a boolean
        return f"query parameter '{name}' must be a whole number ≥ 0, not '{value}'"
    if len(text) > 19 or int(text) > PG_BIGINT_MAX:
        return f"query parameter '{name}' must be at most {PG_BIGINT_MAX}"
    return None


def bbox_problem(values: Sequence[float], crs: str, what: str = "bbox") -> str | None:
    """Why a box of 4 or 6 numbers in ``crs`` (its own axis order) cannot be used, or None.

    Every value must be finite; in a geographic CRS longitudes lie in [-180, 180] and
    latitudes in [-90, 90]; in a projected one no coordinate may be farther from the origin
    than :data:`PROJECTED_LIMIT_M`. A CRS that is not known here is left to pygeoapi, which
    refuses the ones a collection does not offer.
    """
    from twin.cql import srid_and_flip  # cql imports this module

    if len(values) not in (4, 6):
        return f"{what} takes 4 or 6 numbers, not {len(values)}"
    if not all(math.isfinite(v) for v in values):
        return f"{what} values must be finite numbers (no nan, inf or values beyond ±1.8e308)"
    corners = (values[0], values[1], values[3], values[4]) if len(values) == 6 else values
    try:
        srid, flip = srid_and_flip(crs)
        geographic = _is_geographic(crs)
    except CRSError:
        return None
    if geographic:
        lon = (corners[1], corners[3]) if flip else (corners[0], corners[2])
        lat = (corners[0], corners[2]) if flip else (corners[1], corners[3])
        if not all(-180 <= v <= 180 for v in lon) or not all(-90 <= v <= 90 for v in lat):
            return (f"{what} is outside EPSG:{srid}: longitudes must lie in [-180, 180] and "
                    f"latitudes in [-90, 90] (axis order as the CRS defines it)")
        return None
    if not all(abs(v) <= PROJECTED_LIMIT_M for v in corners):
        return (f"{what} is outside EPSG:{srid}: its coordinates must lie within "
                f"±{PROJECTED_LIMIT_M:,.0f} m of the CRS's origin")
    return None


@lru_cache(maxsize=64)
def _is_geographic(crs: str) -> bool:
    from pyproj import CRS

    return CRS.from_user_input(crs).is_geographic


def utf8_problem(body: bytes, what: str) -> str | None:
    """Why ``body`` is not UTF-8 text (RFC 8259 JSON must be), or None."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"{what} is not UTF-8 (byte {exc.start} is invalid); send it encoded as UTF-8"
    return None


def open_year_zero_start(value: str) -> str:
    """``value`` of `datetime` with a start in the year 0000 made open ("..").

    QGIS 3.22 writes a filter ``time <= t`` as ``datetime=0000-01-01T00:00:00Z/t``: a valid
    RFC 3339 interval whose start no stored time precedes, so an open start selects the same
    features. Any other value is returned unchanged.
    """
    start, sep, end = value.partition("/")
    if sep and _YEAR_ZERO.fullmatch(start.strip()):
        return f"../{end}"
    return value
