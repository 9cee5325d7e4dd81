"""Reading spreadsheets (XLSX, ODS): every sheet that holds a table, its header found by the
caller's test among the first rows (titles, dates and blank lines may stand above it).

Cells keep the types the workbook stores (numbers, dates, text); :mod:`etl.cells` turns them
into text and keys. XLSX is read with openpyxl (read-only, values as last computed), ODS through
GDAL's ODS driver, which openpyxl cannot read.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyogrio
import pyogrio.errors
import pyogrio.raw

from etl.cells import cell_text
from etl.io.text import Table
from twin.errors import SourceError

#: How many rows of a sheet may stand above its header.
HEADER_SEARCH_ROWS = 20

#: A test of a row's cells (as text, "" for empty): is this the header?
IsHeader = Callable[[list[str]], bool]


def read_sheets(path: Path, is_header: IsHeader, *, sheet: str | None = None
                ) -> tuple[list[Table], list[str]]:
    """The tables of a workbook's sheets (or of the one named ``sheet``), and the titles of the
    sheets without a header in their first :data:`HEADER_SEARCH_ROWS` rows.

    Raises SourceError naming the file when it is not a readable workbook, a row holds values
    beyond its header, or ``sheet`` is not in it.
    """
    tables: list[Table] = []
    skipped: list[str] = []
    titles = []
    for title, rows in _sheets(path):
        titles.append(title)
        if sheet is not None and title != sheet:
            continue
        table = _table(path, title, rows, is_header)
        if table is None:
            skipped.append(title)
        else:
            tables.append(table)
    if sheet is not None and sheet not in titles:
        raise SourceError(f"no sheet '{sheet}'; sheets: {', '.join(titles)}", path=str(path))
    return tables, skipped


def _table(path: Path, title: str, rows: Iterable[tuple[int, tuple[Any, ...]]],
           is_header: IsHeader) -> Table | None:
    header: list[str] | None = None
    out: list[tuple[int, dict[str, Any]]] = []
    where = f" (sheet '{title}')"
    for number, values in rows:
        if header is None:
            if number > HEADER_SEARCH_ROWS:
                return None
            names = [cell_text(v) or "" for v in values]
            if is_header(names):
                header = names
            continue
        if not any(v is not None and str(v).strip() for v in values):
            continue
        if any(v is not None and str(v).strip() for v in values[len(header):]):
            raise SourceError(f"row {number}{where} has values beyond the header's "
                              f"{len(header)} columns", path=str(path))
        out.append((number, {h: v for h, v in zip(header, values, strict=False) if h}))
    if header is None:
        return None
    return Table(path, header, out, where=where, sheet=title)


def _sheets(path: Path) -> Iterator[tuple[str, Iterator[tuple[int, tuple[Any, ...]]]]]:
    """(title, rows numbered as the spreadsheet numbers them) for every sheet."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            if "content.xml" in z.namelist():
                yield from _ods_sheets(path)
                return
    yield from _xlsx_sheets(path)


def _xlsx_sheets(path: Path) -> Iterator[tuple[str, Iterator[tuple[int, tuple[Any, ...]]]]]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise SourceError(f"not a readable spreadsheet ({exc})", path=str(path)) from exc
    try:
        for ws in book.worksheets:
            yield ws.title, enumerate(ws.iter_rows(values_only=True), start=1)
    finally:
        book.close()


@contextmanager
def _no_header_guess() -> Iterator[None]:
    """GDAL guesses whether row 1 is a header; here every row is read as data."""
    keys = ("OGR_ODS_HEADERS",)
    before = {k: pyogrio.get_gdal_config_option(k) for k in keys}
    pyogrio.set_gdal_config_options(dict.fromkeys(keys, "DISABLE"))
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(before)


def _ods_sheets(path: Path) -> Iterator[tuple[str, Iterator[tuple[int, tuple[Any, ...]]]]]:
    try:
        with _no_header_guess():
            layers = [str(name) for name, _ in pyogrio.list_layers(path)]
            for title in layers:
                _, _, _, fields = pyogrio.raw.read(path, layer=title, read_geometry=False)
                rows = [tuple(None if _missing(v) else v for v in record)
                        for record in zip(*fields, strict=True)]
                yield title, enumerate(rows, start=1)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        raise SourceError(f"not a readable spreadsheet ({exc})", path=str(path)) from exc


def _missing(value: Any) -> bool:
    try:
        return value != value  # NaN, NaT
    except (TypeError, ValueError):
        return False
