"""What a write request's body says, checked before any SQL: the street-damage record it asks for.

The rules (README "Field crews", docs/sources/street-damage.md):

- Writable properties: ``category``, ``status``, ``street``, ``description``,
  ``condition_class``, ``reported_at``. Each goes through the same normalisation as a load:
  status words as :func:`etl.sources.street_damage.normalise_status` maps them, the condition
  class on the ZEB scale 1.0-5.0, the street as :func:`~etl.sources.street_damage.street_of`
  accepts one (house numbers dropped), the description through :func:`twin.redact.redact`.
- Read-only properties (the id, ``source``, ``service_code``, ``updated_at`` and the derived
  ``condition_rating``, ``traffic_dtv``, ``traffic_basis``, ``traffic_station``,
  ``repair_priority``) are ignored when sent: clients
  such as QGIS send back every attribute they read. The server sets or derives them.
- Any other property is refused (400, naming each).
- The geometry is a Point in the request's ``Content-Crs`` (CRS84 when absent, as Part 4
  says; EPSG:4326 in its latitude, longitude order).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from etl.fields import ConversionError, convert
from etl.sources.street_damage import (
    OTHER,
    STATUS,
    ZEB_MAX,
    ZEB_MIN,
    category_of,
    condition_rating,
    normalise_status,
    street_of,
)
from twin.cql import srid_and_flip
from twin.pygeoapi.context import CRS84
from twin.pygeoapi_config import OFFERED_CRS
from twin.redact import redact
from twin.registry import STREET_DAMAGE, FieldType
from twin.vocabulary import vocabulary

#: Properties a client may set.
WRITABLE = ("category", "status", "street", "description", "condition_class", "reported_at")
#: Properties the server sets or derives; ignored in a request body.
READ_ONLY = frozenset({STREET_DAMAGE.id_field.name, "source", "service_code", "updated_at",
                       *(f.name for f in STREET_DAMAGE.fields if f.derived),
                       "condition_rating"})
#: Values of a created or replaced record whose body leaves them out.
DEFAULTS: dict[str, Any] = {"status": "open"}


class WriteError(Exception):
    """A write refused with an HTTP status and a message for the client."""

    def __init__(self, status: HTTPStatus, message: str, code: str = "InvalidParameterValue",
                 headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = headers or []


def bad(message: str) -> WriteError:
    """A 400 with ``message``."""
    return WriteError(HTTPStatus.BAD_REQUEST, message)


@dataclass(frozen=True)
class Position:
    """A point as the client sent it: easting/longitude first, in ``srid``."""

    x: float
    y: float
    srid: int


@dataclass
class Edit:
    """The checked content of a create, replace or update."""

    values: dict[str, Any] = field(default_factory=dict)  # writable name -> normalised value
    position: Position | None = None
    ignored: list[str] = field(default_factory=list)  # read-only properties sent and ignored

    def full(self) -> dict[str, Any]:
        """Every writable value: the given ones, defaults (or NULL) for the rest.

        A create fills a NULL ``reported_at`` with the time of the create (in SQL); a
        replace leaves it NULL: a replace replaces.
        """
        return {name: self.values.get(name, DEFAULTS.get(name)) for name in WRITABLE}


def parse_json(body: bytes) -> Any:
    """The JSON document of a request body."""
    if not body.strip():
        raise bad("the request has no body; send a GeoJSON Feature")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad(f"the body is not valid JSON ({exc})") from None


def content_crs(header: str | None) -> tuple[int, bool]:
    """EPSG code and axis flip of a ``Content-Crs`` header (``<uri>`` or a bare URI)."""
    uri = (header or "").strip().removeprefix("<").removesuffix(">").strip() or CRS84
    if uri not in OFFERED_CRS:
        raise bad(f"Content-Crs '{uri}' is not supported; valid: "
                  f"{', '.join(f'<{c}>' for c in OFFERED_CRS)}")
    return srid_and_flip(uri)


def read_feature(doc: Any, crs: tuple[int, bool], *, partial: bool) -> Edit:
    """Check a Feature (create, replace) or a merge patch (update, ``partial``)."""
    if not isinstance(doc, dict):
        raise bad("the body must be a JSON object (a GeoJSON Feature)")
    if (not partial or "type" in doc) and doc.get("type") != "Feature":
        raise bad("the body must be a GeoJSON Feature ({\"type\": \"Feature\", "
                  "\"geometry\": {...}, \"properties\": {...}})")
    unknown_members = sorted(set(doc) - {"type", "id", "geometry", "properties", "bbox",
                                         "links"})
    if unknown_members:
        raise bad(f"unknown member(s) of the Feature: {', '.join(unknown_members)}")
    props = doc.get("properties", {} if partial else None)
    if props is None and not partial:
        props = {}
    if not isinstance(props, dict):
        raise bad("'properties' must be a JSON object")
    unknown = sorted(k for k in props if k not in WRITABLE and k not in READ_ONLY)
    if unknown:
        raise bad(f"unknown propert{'y' if len(unknown) == 1 else 'ies'} "
                  f"{', '.join(repr(k) for k in unknown)}; writable: {', '.join(WRITABLE)}")
    edit = Edit(ignored=sorted(k for k in props if k in READ_ONLY))
    for name in WRITABLE:
        if name in props:
            edit.values[name] = _NORMALISE[name](props[name])
    if "geometry" in doc or not partial:
        edit.position = _position(doc.get("geometry"), crs)
    return edit


def rating_of(values: dict[str, Any]) -> str | None:
    """The condition rating the stored condition class implies (as loads derive it)."""
    return condition_rating(values.get("condition_class"))


# -- one normaliser per writable property -----------------------------------------------------
GEOJSON_TYPES = frozenset({"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                           "MultiPolygon", "GeometryCollection"})


def _shown(value: Any) -> str:
    """A refused value as a message may show it: redacted and short."""
    text = redact(str(value)) or ""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _text(name: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str | int | float):
        raise bad(f"property '{name}' must be a string, not {type(value).__name__}")
    if isinstance(value, str) and "\x00" in value:
        raise bad(f"property '{name}' holds a NUL character")
    return convert(value, FieldType.TEXT)


def _category(value: Any) -> str | None:
    # A crew picks from the same fixed list loads publish; a typo is answered, not hidden as
    # "other" (loads cannot ask back, a crew can).
    text = _text("category", value)
    category = category_of(text)
    if category == OTHER and (text or "").strip().lower() != OTHER:
        valid = sorted(set(vocabulary().categories.values()) | {OTHER})
        raise bad(f"property 'category': {_shown(value)} is not a known category; valid: "
                  + ", ".join(valid))
    return category


def _status(value: Any) -> str:
    if value is None:
        return DEFAULTS["status"]
    status = normalise_status(value) if isinstance(value, str) else None
    if status is None:
        raise bad(f"property 'status': unknown status {_shown(value)}; valid: open, in_progress, "
                  f"closed (or {', '.join(sorted(STATUS))})")
    return status


def _street(value: Any) -> str | None:
    text = _text("street", value)
    if text is None:
        return None
    street = street_of(text)
    if street is None:
        raise bad(f"property 'street': {_shown(text)} is not a street name (e.g. 'Karl-Liebknecht-"
                  "Straße'; no house numbers, names or notes)")
    return street


def _condition(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise bad("property 'condition_class' must be a number from 1.0 to 5.0")
    try:
        number = convert(value, FieldType.DOUBLE)
    except ConversionError:
        number = math.nan
    if number is None or not math.isfinite(number) or not ZEB_MIN <= number <= ZEB_MAX:
        raise bad(f"property 'condition_class': {_shown(value)} is not on the ZEB scale 1.0 to 5.0")
    return number


def _reported(value: Any) -> Any:
    if value is None:
        return None
    try:
        stamp = convert(str(value), FieldType.TIMESTAMPTZ)
    except ConversionError:
        stamp = None
    if stamp is None or stamp.tzinfo is None:
        raise bad(f"property 'reported_at': {_shown(value)} is not an RFC 3339 timestamp with "
                  "offset (e.g. 2026-05-04T09:30:00+02:00)")
    return stamp


_NORMALISE = {
    "category": _category,
    "status": _status,
    "street": _street,
    "description": lambda v: redact(_text("description", v)),
    "condition_class": _condition,
    "reported_at": _reported,
}


def _position(geometry: Any, crs: tuple[int, bool]) -> Position:
    if not isinstance(geometry, dict):
        raise bad("a street damage needs a geometry: a GeoJSON Point")
    kind = geometry.get("type")
    if kind != "Point":
        # GeoJSON's own type names are no personal data; anything else is shown masked.
        shown = repr(kind) if kind in GEOJSON_TYPES else _shown(kind)
        raise bad(f"geometry type {shown} is not allowed; street damage is a Point")
    coords = geometry.get("coordinates")
    if (not isinstance(coords, list) or len(coords) not in (2, 3)
            or not all(isinstance(c, int | float) and not isinstance(c, bool)
                       and math.isfinite(c) for c in coords)):
        raise bad("a Point needs 'coordinates': [x, y] as two finite numbers")
    srid, flip = crs
    first, second = float(coords[0]), float(coords[1])
    x, y = (second, first) if flip else (first, second)
    return Position(x, y, srid)
