"""Reading the delimited text tables the city receives (CSV, BASt's ``.txt``), from a file or
from the one file in a ZIP archive: UTF-8 (with or without BOM) or Windows-1252, separated by
semicolons (German Excel), commas or tabs.

Rows come with their line numbers so that errors can name them. Small files are read whole
(:func:`read_csv`); files too large to hold (BASt's national hourly files: every counting
station of a road class for a year, hundreds of megabytes, shipped zipped) are streamed and
only the rows a caller wants kept (:func:`read_filtered`), never unpacked to disk.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from twin.errors import SourceError

DELIMITERS = ";,\t"


#: Bytes read to tell a file's encoding.
SNIFF_BYTES = 1 << 16


@dataclass(frozen=True)
class Table:
    """A table as read, whatever its format (a CSV, one sheet of a workbook): its header (as
    written) and its rows, each with the number a user finds it under (line, sheet row)."""

    path: Path
    header: list[str]
    rows: list[tuple[int, dict[str, Any]]]
    #: Where in the file: "" for a CSV, " (sheet 'X')" for a sheet of a workbook.
    where: str = ""
    encoding: str | None = None
    delimiter: str | None = None
    #: The sheet's title in a workbook; None for a CSV.
    sheet: str | None = None

    def row(self, number: int) -> int | str:
        """How messages name row ``number``: "12 (sheet 'Denkmale')" in a workbook."""
        return f"{number}{self.where}" if self.where else number

    def batches(self, size: int) -> Iterator[list[tuple[int, dict[str, str]]]]:
        for start in range(0, len(self.rows), size):
            yield self.rows[start:start + size]


def decode(path: Path) -> tuple[str, str]:
    """Text and encoding of a file, or of the one file in a ZIP archive: UTF-8 (BOM stripped)
    if it decodes, else Windows-1252."""
    with _binary(path) as raw:
        data = raw.read()
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
    return Table(path, header, rows, encoding=encoding, delimiter=delimiter)


@contextlib.contextmanager
def _binary(path: Path) -> Iterator[IO[bytes]]:
    """The bytes of ``path``, or of the one file inside a ZIP archive (BASt ships its
    national hourly files zipped), read as a stream."""
    if not path.is_file():
        raise SourceError("not a file", path=str(path))
    if not zipfile.is_zipfile(path):
        with path.open("rb", buffering=SNIFF_BYTES) as f:
            yield f
        return
    try:
        with zipfile.ZipFile(path) as archive:
            members = [i for i in archive.infolist() if not i.is_dir()]
            if len(members) != 1:
                raise SourceError(
                    f"expected one file in the ZIP archive, found {len(members)}: "
                    f"{', '.join(m.filename for m in members) or 'none'}", path=str(path))
            with archive.open(members[0]) as f:
                yield f
    except (zipfile.BadZipFile, OSError) as exc:
        raise SourceError(f"cannot read the ZIP archive ({exc})", path=str(path)) from exc


def _encoding(head: bytes) -> str:
    """UTF-8 (with or without BOM) when the first bytes decode as such, else Windows-1252."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8-sig"


@contextlib.contextmanager
def _text(path: Path) -> Iterator[tuple[IO[str], str]]:
    with _binary(path) as raw:
        buffered = raw if isinstance(raw, io.BufferedReader) else \
            io.BufferedReader(raw, SNIFF_BYTES)  # type: ignore[arg-type]
        encoding = _encoding(buffered.peek(SNIFF_BYTES))
        yield io.TextIOWrapper(buffered, encoding=encoding, newline=""), encoding


def header_cells(path: Path) -> list[str]:
    """The header cells of a CSV or of the file in a ZIP archive."""
    try:
        with _text(path) as (stream, _):
            first = stream.readline()
    except UnicodeDecodeError as exc:
        raise SourceError(f"cannot decode as UTF-8 or Windows-1252 ({exc})",
                          path=str(path)) from exc
    delimiter = max(DELIMITERS, key=first.count)
    return [h.strip() for h in first.rstrip("\r\n").split(delimiter)]


def read_filtered(path: Path, column: str, keep: Callable[[str], bool]
                  ) -> tuple[Table, dict[str, tuple[int, int]]]:
    """The rows of a CSV (or text file, or either alone in a ZIP) whose ``column`` (matched
    without regard to case) is empty or passes ``keep``, streamed so that a large file is
    never held whole; and for every other value its first line and number of rows. Cells keep
    their blanks (BASt pads values); readers strip them."""
    skipped: dict[str, tuple[int, int]] = {}
    rows: list[tuple[int, dict[str, str]]] = []
    encoding = "utf-8"
    try:
        with _text(path) as (stream, encoding):
            first = stream.readline()
            delimiter = max(DELIMITERS, key=first.count)
            names = [h.strip() for h in next(csv.reader([first], delimiter=delimiter))]
            index = next((i for i, h in enumerate(names) if h.lower() == column.lower()),
                         None)
            reader = csv.reader(stream, delimiter=delimiter)
            for record in reader:
                line = reader.line_num + 1  # the header was read before the reader
                if not any(cell.strip() for cell in record):
                    continue
                if len(record) > len(names):
                    raise SourceError(f"line {line} has {len(record)} columns, the header "
                                      f"{len(names)}", path=str(path))
                value = record[index].strip() if index is not None and index < len(record) \
                    else ""
                if value and not keep(value):
                    first_line, n = skipped.get(value, (line, 0))
                    skipped[value] = (first_line, n + 1)
                    continue
                rows.append((line, dict(zip(names, record, strict=False))))
    except UnicodeDecodeError as exc:
        raise SourceError(f"cannot decode as {encoding} ({exc})", path=str(path)) from exc
    except csv.Error as exc:
        raise SourceError(f"not a readable CSV file ({exc})", path=str(path)) from exc
    return Table(path, names, rows, encoding=encoding, delimiter=delimiter), skipped
