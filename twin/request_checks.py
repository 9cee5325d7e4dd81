"""Checks of client input that must happen before pygeoapi or SQL see it, in our words.

Each function returns why a value is refused (a sentence naming the parameter and what is
expected), or None when it is usable; :func:`open_year_zero_start` instead rewrites a valid
value that pygeoapi would refuse. The WSGI layer (twin/pygeoapi/wsgi.py) answers a refusal
with 400; the CQL2 translator (twin/cql.py) raises it as a filter error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from pyproj.exceptions import CRSError

#: PostgreSQL's bigint: LIMIT and OFFSET are bound as one, and a larger number is refused by
#: the database in its own words ("bigint out of range").
PG_BIGINT_MAX = 2**63 - 1
#: No coordinate of a place on Earth in a metre-based projected CRS is farther from the CRS's
#: origin than the Earth's circumference; beyond it PostGIS's transformations fail.
PROJECTED_LIMIT_M = 40_075_000.0
#: Dates in `datetime` are days of the city's own calendar.
LOCAL_TZ = ZoneInfo("Europe/Berlin")
#: RFC 3339 full-date, optionally followed by a bare "T" (GDAL writes a date so: "2024-01-01T").
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})T?")
#: RFC 3339 date-time (extended format only); minutes and seconds may be left off, as GDAL
#: does for a time of hour or minute precision ("2024-01-01T12Z"). No offset reads as UTC.
_DATE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2})(?::(\d{2})(?::(\d{2}(?:\.\d+)?))?)?"
                        r"([Zz]|[+-]\d{2}:\d{2})?")
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
    than :data:`PROJECTED_LIMIT_M`. The south edge may not lie north of the north edge, nor
    the lowest height above the highest; the west edge may lie east of the east edge only in
    a geographic CRS, where the box then crosses the antimeridian (OGC API Features Part 1,
    7.15.3). A CRS that is not known here is left to pygeoapi, which refuses the ones a
    collection does not offer.
    """
    from twin.cql import srid_and_flip  # cql imports this module

    if len(values) not in (4, 6):
        return f"{what} takes 4 or 6 numbers, not {len(values)}"
    if not all(math.isfinite(v) for v in values):
        return f"{what} values must be finite numbers (no nan, inf or values beyond ±1.8e308)"
    if len(values) == 6 and values[2] > values[5]:
        return f"{what} has its lowest height ({values[2]:g}) above its highest ({values[5]:g})"
    corners = (values[0], values[1], values[3], values[4]) if len(values) == 6 else values
    try:
        srid, flip = srid_and_flip(crs)
        geographic = _is_geographic(crs)
    except CRSError:
        return None
    name = "CRS84" if crs.rstrip("/").endswith("CRS84") else f"EPSG:{srid}"
    # West, south, east, north, whatever the CRS's axis order.
    x1, y1, x2, y2 = (corners[1], corners[0], corners[3], corners[2]) if flip else corners
    if geographic:
        if not all(-180 <= v <= 180 for v in (x1, x2)) or not all(-90 <= v <= 90
                                                                  for v in (y1, y2)):
            return (f"{what} is outside {name}: longitudes must lie in [-180, 180] and "
                    f"latitudes in [-90, 90] (axis order as the CRS defines it)")
    elif not all(abs(v) <= PROJECTED_LIMIT_M for v in corners):
        return (f"{what} is outside {name}: its coordinates must lie within "
                f"±{PROJECTED_LIMIT_M:,.0f} m of the CRS's origin")
    if y1 > y2:
        return (f"{what} in {name} has its south edge ({y1:g}) north of its north edge "
                f"({y2:g}) (axis order as the CRS defines it)")
    if x1 > x2 and not geographic:
        return (f"{what} in {name} has its west edge ({x1:g}) east of its east edge "
                f"({x2:g}); only a box in longitude and latitude (CRS84, EPSG:4326) may "
                "cross the antimeridian")
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


@dataclass(frozen=True)
class TimeInterval:
    """A `datetime` value as aware instants; None is an open end ('..').

    An end written as a date is exclusive (the next local midnight); an end instant includes
    itself. An instant is the interval from itself to itself, a date the whole local day.
    """

    start: datetime | None
    end: datetime | None
    end_exclusive: bool = False


def datetime_interval(value: str) -> TimeInterval:
    """The `datetime` parameter read as OGC API Features Part 1 defines it (RFC 3339).

    Whether it lies inside a collection's temporal extent does not matter: outside it, it
    matches nothing. Raises ValueError with the sentence the client is told: a value that is
    not an instant, a date or an interval of them (``20240101``, the basic format, included:
    Python would read it as midnight UTC), or an interval that starts after it ends.
    """
    if "/" in value:  # an interval; an empty or '..' side is open
        start_text, _, end_text = value.partition("/")
        start = None if start_text in ("", "..") else _instant(start_text, end=False)
        end = None if end_text in ("", "..") else _instant(end_text, end=True)
    else:  # an instant, or a date: its whole local day
        start_text = end_text = value
        start, end = _instant(value, end=False), _instant(value, end=True)
    exclusive = end is not None and _DATE.fullmatch(end_text.strip()) is not None
    if start is not None and end is not None and (start >= end if exclusive else start > end):
        raise ValueError(f"query parameter 'datetime': the interval '{value}' starts after "
                         "it ends")
    return TimeInterval(start, end, exclusive)


def datetime_problem(value: str) -> str | None:
    """Why a `datetime` value is refused (see :func:`datetime_interval`), or None."""
    try:
        datetime_interval(value)
    except ValueError as exc:
        return str(exc)
    return None


def _instant(text: str, *, end: bool) -> datetime:
    """One bound of a `datetime` value; a date is its local day's start (or, as an ``end``,
    the next day's)."""
    refusal = ValueError(f"query parameter 'datetime': '{text}' is not an RFC 3339 date "
                         "(2024-01-31) or date-time (2024-01-31T12:00:00Z) or '..'")
    try:
        if day_match := _DATE.fullmatch(text.strip()):
            day = date.fromisoformat(day_match[1])
            if end and day == date.max:  # no next day to end at: a microsecond before it
                return datetime.combine(day, time.max, tzinfo=LOCAL_TZ)
            if end:
                day += timedelta(days=1)
            return datetime.combine(day, time(0), tzinfo=LOCAL_TZ)
        match = _DATE_TIME.fullmatch(text.strip())
        if match is None:
            raise refusal
        day_text, hour, minute, second, offset = match.groups()
        offset = "+00:00" if offset in (None, "Z", "z") else offset
        return datetime.fromisoformat(
            f"{day_text}T{hour}:{minute or '00'}:{second or '00'}{offset}")
    except ValueError:  # a month 13, a day 32, an hour 25
        raise refusal from None
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
