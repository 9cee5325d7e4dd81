"""Columns as sources declare them: the field each feeds, the spellings it is accepted under,
whether a file without it is refused; matched here against a file's header, once.

A source says *what* it reads (a tuple of :class:`Column`); this module finds the columns in a
header whatever their spelling ('Schadens-Nr.', 'schadensnr' and 'SCHADENS NR' are one column,
see :func:`header_key`), refuses a file without a required column with one message naming
what it has, and names the columns it drops (names only: the values of a column nobody
declared, an owner's name say, go nowhere). The next spelling a real file brings is one more
string in a declaration.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.errors import SourceError


def header_key(name: str) -> str:
    """A column name reduced to what identifies it, for matching the spellings users send:
    lower case, umlauts spelt out, letters and digits only ('Schadens-Nr.' -> 'schadensnr',
    'Bruttofläche (ha)' -> 'bruttoflaecheha')."""
    text = unicodedata.normalize("NFC", name).strip().casefold()
    for old, new in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("€", "eur"),
                     ("²", "2")):
        text = text.replace(old, new)
    return re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKD", text))


@dataclass(frozen=True)
class Column:
    """One column a source reads: the field (or role) it feeds and its accepted spellings, in
    order of preference; the first present in a header feeds the field."""

    field: str
    spellings: tuple[str, ...]
    required: bool = False
    #: What a message about the column's absence says instead of the standard sentence
    #: (the header is appended).
    missing: str | None = None
    #: Spellings that look like this column but are something else, with why: a file that
    #: gives the field only under one of them is refused with that reason, never read.
    refused: tuple[tuple[str, str], ...] = ()

    def keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(header_key(s) for s in self.spellings))


@dataclass(frozen=True)
class Matched:
    """The columns of one header: which header feeds which field, and what is dropped."""

    path: Path
    where: str
    header: tuple[str, ...]
    by_field: Mapping[str, str]  # field -> header as written
    dropped: tuple[str, ...]

    def get(self, field_name: str) -> str | None:
        return self.by_field.get(field_name)

    def __contains__(self, field_name: object) -> bool:
        return field_name in self.by_field

    def values(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The raw values of ``record`` (cells by header) by field; absent fields None."""
        return {f: record.get(h) for f, h in self.by_field.items()}

    def note(self) -> str | None:
        """The note naming the dropped columns, or None."""
        if not self.dropped:
            return None
        return (f"{self.path}{self.where}: columns not published and dropped: "
                f"{', '.join(self.dropped)}")


@dataclass(frozen=True)
class Columns:
    """The declared columns of one kind of file."""

    columns: tuple[Column, ...]
    #: True: two headers giving the same field refuse the file; False: the preferred wins.
    strict: bool = False
    #: Headers read although they feed no field directly (a field derived from them).
    also: tuple[str, ...] = field(default=())

    def __iter__(self):
        return iter(self.columns)

    def match(self, header: Sequence[str], *, path: Path, where: str = "",
              required: bool = True) -> Matched:
        """Match ``header``; refuse it (SourceError) when a required column is missing (with
        ``required``) or, when strict, two headers give one field."""
        by_key: dict[str, list[str]] = {}
        for h in header:
            if h:
                by_key.setdefault(header_key(h), []).append(h)
        by_field: dict[str, str] = {}
        for column in self.columns:
            present = [h for k in column.keys() for h in by_key.get(k, ())]
            if not present:
                continue
            if self.strict and len(set(present)) > 1:
                raise SourceError(f"columns '{present[0]}' and '{present[1]}' both give "
                                  f"'{column.field}'; keep one", path=str(path))
            by_field.setdefault(column.field, present[0])
        for column in self.columns:
            if column.field in by_field:
                continue
            for spelling, why in column.refused:
                if found := by_key.get(header_key(spelling)):
                    raise SourceError(f"column '{found[0]}' {why}", path=str(path))
        if required:
            for column in self.columns:
                if column.required and column.field not in by_field:
                    raise self.missing(column, header, path=path, where=where)
        also = {header_key(a) for a in self.also}
        used = set(by_field.values())
        dropped = tuple(h for h in header if h and h not in used and header_key(h) not in also)
        return Matched(path, where, tuple(header), by_field, dropped)

    @staticmethod
    def missing(column: Column, header: Iterable[str], *, path: Path,
                where: str = "") -> SourceError:
        has = ", ".join(h for h in header if h) or "no fields"
        if column.missing:
            return SourceError(f"{column.missing}{where}; the file has: {has}", path=str(path))
        others = ", ".join(column.spellings[1:4])
        return SourceError(
            f"required column '{column.spellings[0]}'{f' (or {others})' if others else ''} is "
            f"missing{where}; the file has: {has}", path=str(path))

    def markdown(self) -> str:
        """The declaration as a Markdown table (docs/sources/ pages show it; etl/column_docs.py
        keeps them current)."""
        lines = ["| field | accepted column names (case, umlauts, spaces and punctuation "
                 "ignored) | required |", "|---|---|---|"]
        lines += [f"| `{c.field}` | {', '.join(f'`{s}`' for s in c.spellings)} | "
                  f"{'yes' if c.required else '–'} |" for c in self.columns]
        if self.also:
            lines.append(f"| (read, not published) | {', '.join(f'`{a}`' for a in self.also)} "
                         "| – |")
        return "\n".join(lines) + "\n"

    def spellings_of(self, field_name: str) -> tuple[str, ...]:
        return next((c.spellings for c in self.columns if c.field == field_name), ())
