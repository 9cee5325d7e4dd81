"""Reading the CSV files the city receives: any of UTF-8 (with or without BOM) or
Windows-1252, separated by semicolons (German Excel), commas or tabs.

Rows come with their line numbers so that errors can name them.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from twin.errors import SourceError

DELIMITERS = ";,\t"


@dataclass(frozen=True)
class Table:
    """A decoded CSV: its header (as written), encoding, delimiter and rows with line numbers."""

    path: Path
    header: list[str]
    encoding: str
    delimiter: str
    rows: list[tuple[int, dict[str, str]]]

    def batches(self, size: int) -> Iterator[list[tuple[int, dict[str, str]]]]:
        for start in range(0, len(self.rows), size):
            yield self.rows[start:start + size]


def header_key(name: str) -> str:
    """A column name reduced to what identifies it, for matching the spellings users send:
    lower case, umlauts spelt out, letters and digits only ('Schadens-Nr.' -> 'schadensnr',
    'Bruttofläche (ha)' -> 'bruttoflaecheha')."""
    text = unicodedata.normalize("NFC", name).strip().casefold()
    for old, new in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("€", "eur"),
                     ("²", "2")):
        text = text.replace(old, new)
    return re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKD", text))


def decode(path: Path) -> tuple[str, str]:
    """Text and encoding of a file: UTF-8 (BOM stripped) if it decodes, else Windows-1252."""
    data = path.read_bytes()
    if not data.strip():
        raise SourceError("file is empty", path=str(path))
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="strict"), "cp1252"


def read_csv(path: Path, *, required: tuple[str, ...] = (),
             delimiter: str | None = None) -> Table:
    """Read a whole CSV (the city's lists are small); header names are matched as written.

    Raises SourceError naming the file when it is empty, not a table, or lacks a column in
    ``required``.
    """
    try:
        text, encoding = decode(path)
    except UnicodeDecodeError as exc:
        raise SourceError(f"cannot decode as UTF-8 or Windows-1252 ({exc})",
                          path=str(path)) from exc
    if delimiter is None:
        first = text.splitlines()[0] if text else ""
        delimiter = max(DELIMITERS, key=first.count)
        if first.count(delimiter) == 0:
            raise SourceError("no column separator (';', ',' or tab) in the header line",
                              path=str(path))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
        rows = []
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            line = reader.line_num
            if len(record) > len(header):
                raise SourceError(f"line {line} has {len(record)} columns, the header "
                                  f"{len(header)}", path=str(path))
            rows.append((line, dict(zip(header, record, strict=False))))
    except csv.Error as exc:
        raise SourceError(f"not a readable CSV file ({exc})", path=str(path)) from exc
    missing = [c for c in required if c not in header]
    if missing:
        raise SourceError(f"required column '{missing[0]}' is missing; the header has: "
                          f"{', '.join(header)}", path=str(path))
    return Table(path, header, encoding, delimiter, rows)


def points(xs: list, ys: list) -> np.ndarray:
    """Point geometries from coordinate lists; None where either coordinate is missing."""
    out = np.full(len(xs), None, dtype=object)
    x = np.array([np.nan if v in (None, "") else float(str(v).replace(",", ".")) for v in xs])
    y = np.array([np.nan if v in (None, "") else float(str(v).replace(",", ".")) for v in ys])
    ok = ~(np.isnan(x) | np.isnan(y))
    out[ok] = shapely.points(x[ok], y[ok])
    return out
