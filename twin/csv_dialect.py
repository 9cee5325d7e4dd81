"""The two CSV dialects the twin writes: RFC 4180 for programs, and one for German spreadsheets.

A German Excel or LibreOffice opens a ``.csv`` by double click only if it is written the way
the German locale expects: a byte-order mark (else UTF-8 umlauts turn into mojibake), ``;``
between cells (``,`` is the decimal separator), a decimal comma, and words a reader knows
(``ja``/``nein``, column titles instead of field names). That dialect is chosen by the
request's language (``lang=de``, or ``Accept-Language`` starting with ``de``) and can be set
either way with the ``csv-dialect`` parameter (``de`` or ``rfc4180``): a German user whose
program reads RFC 4180 asks for that, an English page can still export for a German sheet.

The WSGI layer decides the dialect per request (:func:`choose`) and puts it in
:data:`CSV_DIALECT`; the items formatter (twin/csv_format.py) and the process
(twin/processes.py) write through :func:`write`.
"""

from __future__ import annotations

import csv
import enum
import io
import math
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from typing import Any

BOM = "\ufeff"
#: The query parameter that overrides the choice made from the language.
PARAMETER = "csv-dialect"


class Dialect(enum.StrEnum):
    """How a CSV answer is written."""

    RFC4180 = "rfc4180"
    DE = "de"

    @property
    def german(self) -> bool:
        return self is Dialect.DE


#: The dialect of the current request (set by the WSGI layer).
CSV_DIALECT: ContextVar[Dialect] = ContextVar("csv_dialect", default=Dialect.RFC4180)


def choose(lang: str | None, accept_language: str | None, override: str | None) -> Dialect:
    """The dialect of a request: ``csv-dialect`` if given, else German for a German request.

    ``lang`` (the query parameter) wins over ``Accept-Language``, as in pygeoapi.
    """
    if override:
        return Dialect(override)
    language = lang or (accept_language or "").split(",")[0].split(";")[0]
    return Dialect.DE if language.strip().lower().startswith("de") else Dialect.RFC4180


def cell(value: Any, dialect: Dialect) -> str:
    """One value as a cell: empty for None, the dialect's booleans and decimal separator."""
    if value is None:
        return ""
    if isinstance(value, bool):
        if dialect.german:
            return "ja" if value else "nein"
        return str(value)  # as the items CSV always wrote it: True, False
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        text = repr(value)  # the shortest text that reads back as the same number
        return text.replace(".", ",") if dialect.german else text
    return str(value)


def write(header: Sequence[str], rows: Iterable[Sequence[Any]], dialect: Dialect) -> bytes:
    """The whole CSV document as UTF-8 bytes (with a BOM and ``;`` for German sheets)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";" if dialect.german else ",", lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(v, dialect) for v in row])
    text = out.getvalue()
    return ((BOM + text) if dialect.german else text).encode("utf-8")


def reading_args(body: bytes) -> tuple[str, str]:
    """The text of a CSV answer without its BOM, and its delimiter (``;`` after a BOM)."""
    text = body.decode("utf-8")
    if text.startswith(BOM):
        return text[1:], ";"
    return text, ","
