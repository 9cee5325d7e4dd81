"""Cell values as the city's files hold them, before they are converted to a field's type:
blanks and their markers, numbers that are really keys, spreadsheet types as text.

Spreadsheets and GIS integer fields store a key such as 09100203 or 7 as a number (9100203,
7.0); these functions give it back as the text it was written as.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

#: Cells that mean "no value" in exported lists (R's and Berlin's ``NA``).
MISSING_MARKERS = frozenset({"NA"})


def blank(value: Any) -> bool:
    """True for no value: None, NaN, empty or blank text."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or \
        (isinstance(value, str) and not value.strip())


def cell_text(value: Any) -> str | None:
    """A cell as text, as the table would print it: whole numbers without '.0', dates as ISO,
    booleans as ja/nein; None for blanks and :data:`MISSING_MARKERS`."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    return text if text and text not in MISSING_MARKERS else None


def key_text(value: Any) -> str | None:
    """A key as text: a number stored for it (7.0) as its digits ('7'), blanks as None."""
    if blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip().replace("\u00a0", "")
    return text or None


def padded_key(value: Any, width: int) -> tuple[str | None, bool]:
    """A key of ``width`` digits as text, and whether leading zeros lost in a number were put
    back: 9100203 (or '9100203' as text, a spreadsheet's number written out) -> '09100203'.

    Only a number, or digits one short of ``width`` that do not start with 0, are padded:
    '0910010' has kept its zero and lost a digit, and stays as it is for the check to name.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
        if 0 <= value and len(text) < width:
            return text.zfill(width), True
        return text, False
    text = key_text(value)
    if text is None or text in MISSING_MARKERS:
        return None, False
    if len(text) == width - 1 and text.isdigit() and text[0] != "0":
        return "0" + text, True
    return text, False


def digits(value: Any, width: int) -> str | None:
    """A key part as its digits, zero-padded to ``width`` (GDAL reads '05' as the number 5);
    anything that is not digits as it is."""
    text = key_text(value)
    if text is None:
        return None
    return text.zfill(width) if text.isdigit() else text
