"""AdV building codes decoded to German and English labels, from one table (config/adv_codes.csv).

German 3D building models (LoD1/LoD2 after the AdV CityGML profile) carry the ALKIS building
function as ``31001_<code>`` (31001 is the object type AX_Gebaeude, the code one of
AX_Gebaeudefunktion, e.g. ``31001_1010`` Wohnhaus) and the roof form as the AX_Dachform code
(``3100`` Satteldach). Only values of these forms are published: anything else a file writes in
``function`` or ``roofType`` may be free text and is dropped (the load's notes say how often).
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from pathlib import Path

CODES_FILE = Path(__file__).resolve().parent.parent / "config" / "adv_codes.csv"

#: ALKIS object type of buildings; function codes are written "31001_<AX_Gebaeudefunktion>".
BUILDING_OBJECT_TYPE = "31001"
_FUNCTION = re.compile(rf"{BUILDING_OBJECT_TYPE}_(\d{{4}})")
_ROOF_TYPE = re.compile(r"\d{4}")


@dataclass(frozen=True)
class Decoded:
    """A published code and its labels (None where the code is well-formed but not listed)."""

    code: str
    de: str | None
    en: str | None


@functools.cache
def _table() -> dict[tuple[str, str], tuple[str, str]]:
    with CODES_FILE.open(encoding="utf-8", newline="") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        return {(r["list"], r["code"]): (r["de"], r["en"]) for r in rows}


def function(value: object) -> Decoded | None:
    """The building function of a ``function`` value (``31001_1010``, or a list of them: the
    first), or None when it is no AdV function code."""
    if isinstance(value, list):
        value = value[0] if value else None
    match = _FUNCTION.fullmatch(str(value).strip()) if value is not None else None
    if match is None:
        return None
    de, en = _table().get(("function", match[1]), (None, None))
    return Decoded(match[0], de, en)


def roof_type(value: object) -> Decoded | None:
    """The roof form of a ``roofType`` value (``3100``), or None when it is no AdV code.

    The AX_Dachform list is closed: a four-digit value outside it (the CityGML code list of
    SIG3D writes 1030 for a gable roof) is not an AdV roof form.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip() if value is not None else ""
    if not _ROOF_TYPE.fullmatch(text) or ("roof_type", text) not in _table():
        return None
    de, en = _table()[("roof_type", text)]
    return Decoded(text, de, en)
