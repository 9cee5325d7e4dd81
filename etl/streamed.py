"""Reading a CSV or text table as a stream, from a file or from the one file in a ZIP archive,
keeping only the rows a caller wants.

For files too large to hold (BASt's national hourly files: every counting station of a road
class for a year, hundreds of megabytes, shipped zipped): the encoding is told from the first
bytes, rows are read one by one and dropped unless wanted, and the ZIP is never unpacked to
disk. Small files go through :func:`etl.tabular.read_csv`.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from etl.tabular import DELIMITERS, Table
from twin.errors import SourceError

#: Bytes read to tell a file's encoding.
SNIFF_BYTES = 1 << 16


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


def header(path: Path) -> list[str]:
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
    return Table(path, names, encoding, delimiter, rows), skipped
