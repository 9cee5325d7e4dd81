"""Conversion of source values to the registry's field types, with errors naming row and field."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from twin.redact import shown as _shown
from twin.registry import FieldType


class ConversionError(ValueError):
    """A value does not fit its field type; the caller adds path, row and field."""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _integer(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if not value.is_integer():
            raise ConversionError(f"expected a whole number, got {_shown(value)}")
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError as exc:
        raise ConversionError(f"expected a whole number, got {_shown(value)}") from exc


def _double(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        # German sources write decimal commas ("1234,5").
        number = float(str(value).strip().replace(",", ".")) if isinstance(value, str) \
            else float(value)
    except ValueError as exc:
        raise ConversionError(f"expected a number, got {_shown(value)}") from exc
    if math.isnan(number):
        return None
    if math.isinf(number):
        raise ConversionError(f"expected a finite number, got {_shown(value)}")
    return number


def _date(value: Any) -> dt.date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text[:10] if fmt == "%Y-%m-%d" else text, fmt).date()
        except ValueError:
            continue
    raise ConversionError(f"expected a date (YYYY-MM-DD or DD.MM.YYYY), got {_shown(value)}")


def _timestamptz(value: Any) -> dt.datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ConversionError(f"timestamp {_shown(value)} has no time zone")
        return value
    try:
        parsed = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConversionError(f"expected an ISO 8601 timestamp, got {_shown(value)}") from exc
    if parsed.tzinfo is None:
        raise ConversionError(f"timestamp {_shown(value)} has no time zone")
    return parsed


def _boolean(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "t", "ja", "j", "yes", "y", "x"}:
        return True
    if text in {"0", "false", "f", "nein", "n", "no", ""}:
        return False if text else None
    raise ConversionError(f"expected yes/no, got {_shown(value)}")


CONVERTERS: dict[FieldType, Callable[[Any], Any]] = {
    FieldType.TEXT: _text,
    FieldType.INTEGER: _integer,
    FieldType.DOUBLE: _double,
    FieldType.DATE: _date,
    FieldType.TIMESTAMPTZ: _timestamptz,
    FieldType.BOOLEAN: _boolean,
}


def convert(value: Any, field_type: FieldType) -> Any:
    """``value`` as the Python value of ``field_type``; raises :class:`ConversionError`."""
    return CONVERTERS[field_type](value)
