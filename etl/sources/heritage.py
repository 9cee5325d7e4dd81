"""The heritage list of Brandenburg (Denkmalliste, kept by the BLDAM) joined to its geometries.

The list arrives as CSV (Windows-1252 or UTF-8 with BOM, semicolons, as the state exports it)
or as a spreadsheet (XLSX): 8-digit ID numbers (Cottbus' start with ``0910``), location,
name, description and the section of the list. The geometries arrive separately, as GML or
GeoPackage from the heritage office's WFS (or anything GDAL reads), keyed by the same ID.
One load takes the list and one or more geometry files, joins them by ID and publishes every
monument that has both. Structured exports of other offices look alike and are read too:
Berlin's Landesdenkmalamt list (``ObjDokNr`` written as 7 digits, ``NA`` cells, the kinds
``Gesamtanlage``, ``Ensemble``, ``Gartendekmal``, some rows repeated) with its KML points, one
placemark per point, the ID only in the placemark's name ("Punkt 09040625"). The points of
one monument, over all placemarks and files, are published as one MultiPoint.

The list's sections are A (Bodendenkmale, archaeological sites), B (Grabungsschutzgebiete),
C (Denkmalbereiche, heritage areas) and D (Bau-, Garten- und technische Denkmale).
**Archaeological sites are never published**: the state keeps them out of publication to
protect them from looters. Rows of sections A and B, their geometries and whole layers,
sheets or geometry files named after them are dropped here, before anything reaches a
:class:`Part`; the load says how many were withheld, never which. Their rows are not even
checked, so no message can name one; only their ID numbers are kept, in memory, to drop
their geometries too.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import shapely
from pyproj import CRS

from etl.columns import header_key
from etl.geometry import resolve_crs
from etl.io import text as tabular
from etl.io.vector import Batch, inspect_vector, read_vector, vector_layers
from etl.sources.base import LoadOptions, Part, Source
from twin.errors import LoadRefusedError, RecordError, SourceError
from twin.registry import HERITAGE, Collection

#: An ID number of the list: eight digits (Cottbus: ``0910xxxx``).
ID_PATTERN = re.compile(r"\d{8}")
ID_DESCRIPTION = "an 8-digit ID number of the heritage list (e.g. 09100203)"

#: Published values of ``abschnitt``. Only ``Denkmalbereich`` is an area; the rest are
#: monuments (twin/sql/derive_heritage.sql relies on this).
AREA = "Denkmalbereich"


class Section(enum.StrEnum):
    """What a row of the list is, as published in ``abschnitt`` (or withheld)."""

    BAUDENKMAL = "Baudenkmal"
    GARTENDENKMAL = "Gartendenkmal"
    TECHNISCHES_DENKMAL = "Technisches Denkmal"
    #: Section D without a finer kind.
    DENKMAL = "Denkmal"
    DENKMALBEREICH = AREA
    #: Sections A and B: archaeological sites and excavation protection areas. Never published.
    WITHHELD = "withheld"


#: Words that mark an archaeological entry, a layer or a sheet of them (normalised text).
_WITHHELD_WORDS = ("boden", "archaeolog", "archeolog", "grabungsschutz", "fundplatz",
                   "fundstelle")
#: Words that mark an archaeological site in a row's name or description ("Slawischer
#: Burgwall (Bodendenkmal)"): narrower than the above, since "Fußboden" is no site.
_WITHHELD_NAME_WORDS = ("bodendenkmal", "archaeolog", "archeolog", "grabungsschutz",
                        "bodenfund")
#: Abbreviations of the kind "Bodendenkmal" in the kind column (Denkmalart "BD").
_WITHHELD_CODES = ("bd", "bod", "bodd", "a", "b")
#: Words that mark a heritage area in the kind column: Brandenburg's "Denkmalbereich",
#: Berlin's "Gesamtanlage" and "Ensemble" (its parts too).
_AREA_WORDS = ("bereich", "ensemble", "gesamtanlage")
#: A section given by its letter: "A", "D.", "Abschnitt C", "C - Denkmalbereiche".
_SECTION_LETTER = re.compile(r"^(?:abschnitt\s*)?([abcd])(?:$|[\s.):,;-])")


def _fold(text: str) -> str:
    """Lower case with umlauts spelt out, for matching words."""
    text = unicodedata.normalize("NFC", text).casefold()
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(a, b)
    return text.strip()


#: A column name reduced to letters and digits: 'ID-Nr.' -> 'idnr', 'Straße' -> 'strasse'.
normalise_name = header_key


def classify(section: str | None, kind: str | None,
             names: tuple[str | None, ...] = ()) -> Section | None:
    """The :class:`Section` of a row from its section and kind texts; None when neither says.

    Any mention of an archaeological site wins, whatever else the row says: in the section or
    kind ("A", "Bodendenkmal", the code "BD"), or in the row's name or description
    (``names``: "Slawischer Burgwall (Bodendenkmal)"), in any case or spelling. Withholding
    one monument too many is a nuisance, publishing one archaeological site is harm done.
    """
    texts = [_fold(t) for t in (kind, section) if t and str(t).strip()]
    letter = None
    if section and (m := _SECTION_LETTER.match(_fold(section))):
        letter = m.group(1)
    folded_names = [_fold(n) for n in names if n and str(n).strip()]
    if letter in ("a", "b") or any(w in t for t in texts for w in _WITHHELD_WORDS) \
            or (kind and re.sub(r"[\W_]+", "", _fold(kind)) in _WITHHELD_CODES) \
            or any(w in n for n in folded_names for w in _WITHHELD_NAME_WORDS):
        return Section.WITHHELD
    if letter == "c" or any(w in t for t in texts for w in _AREA_WORDS):
        return Section.DENKMALBEREICH
    for t in texts:  # the kind first: it is the finer of the two
        if "garten" in t or "park" in t:
            return Section.GARTENDENKMAL
        if "techn" in t:
            return Section.TECHNISCHES_DENKMAL
        if "bau" in t or "kunst" in t:
            return Section.BAUDENKMAL
    if letter == "d" or any("denkmal" in t for t in texts):
        return Section.DENKMAL
    return None


def withheld_name(name: str) -> bool:
    """True when a layer or sheet name says it holds archaeological sites."""
    folded = _fold(name)
    return any(w in folded for w in _WITHHELD_WORDS)


#: Column names of the list (normalised, see :func:`normalise_name`) per registry field, in
#: order of preference. The first one present feeds the field.
ID_COLUMNS = ("idnr", "idnummer", "objektnummer", "objektnr", "denkmalnummer", "denkmalnr",
              "denkmalid", "objektid", "objdoknr", "nummer", "nr", "id")
#: An 8-digit ID written as a number, its leading zero lost.
LOST_ZERO = re.compile(r"[1-9]\d{6}")
#: Cells that mean "no value" in exported lists (R's and Berlin's ``NA``).
MISSING_MARKERS = frozenset({"NA"})
#: An ID written into a placemark's name, KML's only label: "Punkt 09040625".
NAME_ID = re.compile(r"^\D*?(\d+)\s*$")
#: Drivers whose features carry a name but often no attribute table (KML exports).
NAMED_DRIVERS = frozenset({"KML", "LIBKML"})
LIST_COLUMNS: dict[str, tuple[str, ...]] = {
    "denkmalnummer": ID_COLUMNS,
    "bezeichnung": ("bezeichnung", "offiziellebezeichnung", "denkmalbezeichnung",
                    "objektbezeichnung", "name", "denkmal", "objekt"),
    "adresse": ("adresse", "lage", "adresselage", "lageadresse", "anschrift", "ortslage",
                "strasse", "standort"),
    "beschreibung": ("beschreibung", "kurzbeschreibung", "erlaeuterung", "erlaeuterungen",
                     "bemerkung", "bemerkungen"),
    "gemeinde": ("gemeinde", "stadt", "stadtgemeinde", "ort"),
    "ortsteil": ("ortsteil", "gemeindeteil", "stadtteil", "ot"),
}
#: The section of the list (A-D or its words) and the kind of monument; either classifies.
SECTION_COLUMNS = ("abschnitt", "listenabschnitt", "teil")
KIND_COLUMNS = ("denkmalart", "art", "gattung", "denkmalgattung", "kategorie", "denkmaltyp",
                "typ", "objektart")

LIST_SUFFIXES = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx"}
GEOMETRY_SUFFIXES = {".gpkg", ".gml", ".xml", ".geojson", ".json", ".shp", ".fgb", ".sqlite",
                     ".kml", ".gdb", ".zip"}
#: How many rows of a sheet may stand above its header (titles, dates, blank lines).
HEADER_SEARCH_ROWS = 20


@dataclass(frozen=True)
class Entry:
    """A published row of the list: where it was, and its values by registry field."""

    path: Path
    row: int | str  # "12 (sheet 'Denkmale')" in a workbook
    values: dict[str, str | None]
    #: The row as read, every column: a later row equal to it is a repetition, not a conflict.
    cells: dict[str, Any]


@dataclass(frozen=True)
class _Point:
    """A point feature of a monument, held until every geometry file is read."""

    path: Path
    row: int
    crs: str
    geom: Any


@dataclass
class _Rows:
    """Rows of one list file or sheet: header as written, (row number, cells) pairs."""

    path: Path
    where: str  # "" for a CSV, " (sheet 'X')" for a spreadsheet
    header: list[str]
    rows: list[tuple[int, dict[str, Any]]]


@contextmanager
def _readable(path: Path) -> Iterator[tuple[Path, int]]:
    """The file, or a copy without the NUL bytes some KML exporters write after ``</kml>``
    (GDAL's XML parser stops at them); and how many were dropped. Only in XML, and only
    trailing ones: a NUL inside a document is damage and stays an error, and binary formats
    (a GeoPackage) may well end in zeros."""
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
            fh.seek(max(path.stat().st_size - 64, 0))
            tail = fh.read()
    except OSError:
        yield path, 0  # the reader names the problem
        return
    trimmed = len(tail) - len(tail.rstrip(b"\0"))
    xml = head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")
    if not (trimmed and xml and tail.rstrip(b"\0").rstrip().endswith(b">")):
        yield path, 0
        return
    with tempfile.TemporaryDirectory(prefix="twin-heritage-") as tmp:
        copy = Path(tmp) / path.name
        copy.write_bytes(path.read_bytes()[:-trimmed])
        yield copy, trimmed


def file_kind(path: Path) -> str:
    """'csv', 'xlsx' or 'geometry': by content where it is telling, else by extension."""
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise SourceError(f"cannot read the file ({exc})", path=str(path)) from exc
    suffix = path.suffix.lower()
    if head.startswith(b"PK\x03\x04") and suffix not in GEOMETRY_SUFFIXES - {".zip"}:
        try:
            with zipfile.ZipFile(path) as z:
                if any(n.startswith("xl/") for n in z.namelist()):
                    return "xlsx"
        except zipfile.BadZipFile as exc:
            if suffix in (".xlsx", ".xlsm"):
                raise SourceError(f"not a readable spreadsheet ({exc})", path=str(path)) from exc
    if suffix == ".xls" or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise SourceError("old binary Excel files (.xls) are not read; save the list as .xlsx "
                          "or as CSV", path=str(path))
    if suffix in LIST_SUFFIXES:
        return LIST_SUFFIXES[suffix]
    if suffix in GEOMETRY_SUFFIXES or head.startswith((b"SQLite format 3", b"<", b"{")):
        return "geometry"
    return "csv"


def _cell_text(value: Any) -> str | None:
    """A spreadsheet cell as text, as the list would print it."""
    if value is None:
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


def _id_text(value: Any) -> tuple[str | None, bool]:
    """An ID as text, and whether a lost leading zero was put back.

    Spreadsheets (and GIS integer fields) keep 09100203 as the number 9100203; a number
    with fewer than eight digits is zero-padded. Text is taken as written, but for seven
    digits not starting with 0: the same number written out by a spreadsheet (Berlin's
    ``ObjDokNr`` 9040625 for 09040625). "0910010" has kept its zero and lost a digit.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
        if 0 <= value and len(text) < 8:
            return text.zfill(8), True
        return text, False
    if value is None:
        return None, False
    text = str(value).strip().replace("\u00a0", "")
    if LOST_ZERO.fullmatch(text):
        return "0" + text, True
    return (text, False) if text and text not in MISSING_MARKERS else (None, False)


def _canonical(key: str) -> str:
    """A key without leading zeros: how withheld IDs are matched, whatever their form."""
    return key.lstrip("0") or "0"


class HeritageSource(Source):
    """The Denkmalliste (CSV or XLSX) and its geometry files, joined by ID number."""

    name = "heritage"
    collections: ClassVar[tuple[Collection, ...]] = (HERITAGE,)
    sample_globs = ("*.csv", "*.xlsx", "*.gpkg", "*.gml", "*.geojson")

    def __init__(self) -> None:
        super().__init__()
        self._entries: dict[str, Entry] = {}
        #: Canonical IDs of withheld rows; kept in memory for the join only, never written.
        self._withheld_ids: set[str] = set()
        self._withheld_rows = 0
        self._withheld_features = 0
        self._withheld_layers: list[str] = []
        self._withheld_files: list[str] = []

    def key_problem(self, collection: Collection, key: str) -> str | None:
        if not ID_PATTERN.fullmatch(key):
            return f"'{key}' is not {ID_DESCRIPTION}"
        return None

    # -- the whole load -------------------------------------------------------------------
    def read(self, paths: list[Path], options: LoadOptions) -> Iterator[Part]:
        kinds = {path: file_kind(path) for path in paths}
        lists = [p for p in paths if kinds[p] != "geometry"]
        geometries = [p for p in paths if kinds[p] == "geometry"]
        names = ", ".join(map(str, paths))
        if not lists:
            raise SourceError("no heritage list among the files: give the list (CSV or XLSX) "
                              "and its geometry files (GML, GeoPackage, GeoJSON...)", path=names)
        if not geometries:
            raise SourceError("no geometry file among the files: give the geometries (GML, "
                              "GeoPackage, GeoJSON...) with the list; a monument without "
                              "geometry is not published", path=names)
        for path in lists:
            self._read_list(path, kinds[path])
        matched: set[str] = set()
        errors: list[RecordError] = []
        held: dict[str, list[_Point]] = {}
        for path in geometries:
            yield from self._read_geometries(path, options, matched, errors, held)
        if errors:
            raise LoadRefusedError(
                f"{len(errors)} geometr{'y' if len(errors) == 1 else 'ies'} refused; nothing "
                f"was changed. First: {errors[0].location}", path=errors[0].path, errors=errors)
        yield from self._merged_points(held)
        for key, entry in self._entries.items():
            if key not in matched:
                self.notes.append(f"{entry.path}: row {entry.row} ({key}): no geometry in the "
                                  "geometry files; not published")
        self._note_withheld()

    def _note_withheld(self) -> None:
        if not (self._withheld_rows or self._withheld_features or self._withheld_layers
                or self._withheld_files):
            return
        # Counts only: no ID, name, place or row of an archaeological site, to protect them.
        layers = ""
        if self._withheld_layers:
            names = ", ".join(f"'{n}'" for n in self._withheld_layers)
            layers = f", with everything in layer(s) or sheet(s) {names}"
        if self._withheld_files:
            names = ", ".join(f"'{n}'" for n in self._withheld_files)
            layers += f", with everything in file(s) {names}"
        self.notes.append(
            f"withheld {self._withheld_rows} list entr"
            f"{'y' if self._withheld_rows == 1 else 'ies'} of sections A/B (Bodendenkmale, "
            f"Grabungsschutzgebiete) and {self._withheld_features} geometr"
            f"{'y' if self._withheld_features == 1 else 'ies'} of them{layers}: archaeological "
            "sites are never published nor stored, to protect them")

    # -- the list -------------------------------------------------------------------------
    def _read_list(self, path: Path, kind: str) -> None:
        tables = [_csv_rows(path)] if kind == "csv" else self._xlsx_rows(path)
        errors: list[RecordError] = []
        padded = repeated = conflicting = missing = 0
        for table in tables:
            columns = _map_columns(table)
            id_col = columns["denkmalnummer"]
            section_col, kind_col = columns["_section"], columns["_kind"]
            used = {c for c in columns.values() if c}
            dropped = [h for h in table.header if h and h not in used]
            if dropped:
                # Names only, as for every source: values of unknown columns go nowhere.
                self.notes.append(f"{path}{table.where}: columns not published and dropped: "
                                  f"{', '.join(dropped)}")
            for row, cells in table.rows:
                section = classify(
                    _cell_text(cells.get(section_col)) if section_col else None,
                    _cell_text(cells.get(kind_col)) if kind_col else None,
                    tuple(_cell_text(cells.get(columns[n])) for n in ("bezeichnung",
                                                                     "beschreibung")
                          if columns.get(n)))
                if section is Section.WITHHELD:
                    # Before any check, so that no message can ever name one.
                    self._withheld_rows += 1
                    raw, _ = _id_text(cells.get(id_col))
                    if raw:
                        self._withheld_ids.add(_canonical(raw))
                    continue
                key, was_padded = _id_text(cells.get(id_col))
                if key is None:
                    errors.append(RecordError("value is missing", path=str(path),
                                              row=_row(row, table), field=id_col))
                    continue
                if not ID_PATTERN.fullmatch(key):
                    hint = (" (a leading zero lost in a spreadsheet?)"
                            if key.isdigit() and len(key) == 7 else "")
                    errors.append(RecordError(f"'{key}' is not {ID_DESCRIPTION}{hint}",
                                              path=str(path), row=_row(row, table),
                                              field=id_col))
                    continue
                if section is None:
                    said = [_cell_text(cells.get(c)) for c in (section_col, kind_col) if c]
                    errors.append(RecordError(
                        f"section {' / '.join(repr(s) for s in said if s) or 'is empty'}: "
                        "cannot tell a monument (D), a heritage area (C) or an "
                        "archaeological site (A, B) apart", path=str(path),
                        row=_row(row, table), field=section_col or kind_col))
                    continue
                padded += was_padded
                if key in self._entries:
                    first = self._entries[key]
                    if first.cells == cells:
                        # Berlin's export repeats some rows word for word: one monument.
                        repeated += 1
                        continue
                    conflicting += 1
                    # Column names only: which values differ, not what they are.
                    differ = [h for h in dict.fromkeys([*first.cells, *cells])
                              if first.cells.get(h) != cells.get(h)]
                    errors.append(RecordError(
                        f"duplicate ID '{key}' with other values (first in {first.path.name} "
                        f"row {first.row}; differs in {', '.join(differ)})",
                        path=str(path), row=_row(row, table), field=id_col))
                    continue
                missing += sum(1 for v in cells.values()
                               if isinstance(v, str) and v.strip() in MISSING_MARKERS)
                values: dict[str, str | None] = {
                    name: _cell_text(cells.get(col)) if col else None
                    for name, col in columns.items() if not name.startswith("_")}
                values["denkmalnummer"] = key
                values["abschnitt"] = section.value
                self._entries[key] = Entry(path, _row(row, table), values, cells)
        if padded:
            self.notes.append(f"{path}: {padded} ID number(s) were stored as numbers and had "
                              "lost their leading zero (7 digits); zero-padded to 8 digits")
        if repeated:
            self.notes.append(f"{path}: {repeated} row(s) repeat an earlier row exactly (same ID, "
                              "same values in every column); each published once")
        if missing:
            # The marker unquoted: notes mask every quoted value.
            self.notes.append(f"{path}: {missing} cell(s) reading "
                              f"{' or '.join(sorted(MISSING_MARKERS))} read as empty")
        if errors:
            dups = (f" ({conflicting} of them repeat an ID with other values)"
                    if conflicting else "")
            raise LoadRefusedError(
                f"{len(errors)} row(s) of the heritage list refused{dups}; nothing was changed. "
                f"First: {errors[0].location}", path=str(path), errors=errors)

    def _withhold(self, table: _Rows) -> None:
        id_col = _map_columns(table, need_section=False)["denkmalnummer"]
        for _, cells in table.rows:
            self._withheld_rows += 1
            raw, _ = _id_text(cells.get(id_col))
            if raw:
                self._withheld_ids.add(_canonical(raw))

    def _xlsx_rows(self, path: Path) -> list[_Rows]:
        """Every sheet of a workbook that holds a list (its header has an ID column)."""
        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException

        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            raise SourceError(f"not a readable spreadsheet ({exc})", path=str(path)) from exc
        tables: list[_Rows] = []
        try:
            for sheet in book.worksheets:
                table = _sheet_rows(path, sheet)
                if withheld_name(sheet.title):
                    # A sheet of archaeological sites: nothing of it is checked or kept but
                    # its IDs, in memory, so that their geometries are dropped too.
                    self._withheld_layers.append(sheet.title)
                    if table is not None:
                        self._withhold(table)
                elif table is not None:
                    tables.append(table)
        finally:
            book.close()
        if not tables:
            raise SourceError(
                "no sheet with a heritage list: none has a header with an ID column "
                f"(e.g. 'ID-Nr.' or 'Objektnummer') in its first {HEADER_SEARCH_ROWS} rows",
                path=str(path))
        return tables

    # -- the geometries -------------------------------------------------------------------
    def _read_geometries(self, path: Path, options: LoadOptions, matched: set[str],
                         errors: list[RecordError], held: dict[str, list[_Point]]
                         ) -> Iterator[Part]:
        if withheld_name(path.stem):
            # A file of archaeological sites (Berlin's bodendenkmal.kml) is never read.
            self._withheld_files.append(str(path))  # the path as given: notes show it
            return
        with _readable(path) as (readable, trimmed):
            if trimmed:
                self.notes.append(f"{path}: {trimmed} NUL byte(s) after the end of the document "
                                  "(as some exporters write them) ignored")
            try:
                yield from self._read_layers(path, readable, options, matched, errors, held)
            except SourceError as exc:
                if readable == path:
                    raise
                # Name the file the user gave, not the trimmed copy read in its place (GDAL's
                # own words name it too).
                raise SourceError(exc.reason.replace(str(readable), str(path)),
                                  path=str(path)) from exc

    def _read_layers(self, path: Path, readable: Path, options: LoadOptions,
                     matched: set[str], errors: list[RecordError],
                     held: dict[str, list[_Point]]) -> Iterator[Part]:
        layers = vector_layers(readable)
        if not layers:
            raise SourceError("file holds no layer", path=str(path))
        file_crs: tuple[str, str] | None = None
        for layer in layers:
            where = f" (layer '{layer}')" if len(layers) > 1 else ""
            if withheld_name(layer):
                # Never read: a layer of archaeological sites is counted, no more.
                self._withheld_layers.append(layer)
                continue
            info = inspect_vector(readable, layer)
            if info.feature_count == 0:
                continue
            by_name = {normalise_name(f): f.lower() for f in info.fields}
            named = info.driver in NAMED_DRIVERS
            # A placemark's "id" is an anchor inside the document, not a number of the list.
            id_col = next((by_name[c] for c in ID_COLUMNS if c in by_name
                           and not (named and c == "id")), None)
            name_col = by_name.get("name") if named else None
            if id_col is None and name_col is None:
                raise SourceError(
                    f"no ID column{where}: expected one of 'ID-Nr.', 'Objektnummer', "
                    f"'Denkmalnummer'...; the layer has: {', '.join(info.fields) or 'no fields'}",
                    path=str(path))
            kind_cols = [by_name[c] for c in (*SECTION_COLUMNS, *KIND_COLUMNS) if c in by_name]
            # A name or description saying "Bodendenkmal" withholds a feature as well.
            name_cols = [by_name[c] for c in (*LIST_COLUMNS["bezeichnung"],
                                              *LIST_COLUMNS["beschreibung"])
                         if c in by_name and c not in ID_COLUMNS]
            crs = resolve_crs(str(path), info.crs, options.crs)
            if file_crs is None:
                file_crs = (layer, crs)
            elif CRS.from_user_input(crs) != CRS.from_user_input(file_crs[1]):
                raise SourceError(f"layers '{file_crs[0]}' and '{layer}' have different CRS "
                                  f"({file_crs[1]}, {crs}); give them as separate files",
                                  path=str(path))
            unnamed: list[int] = []
            for batch in read_vector(readable, info, batch_size=self.batch_size):
                keep, keys = self._join(path, where, batch, (id_col, name_col),
                                        (kind_cols, name_cols), matched, errors, unnamed)
                if keep.size == 0 or errors:
                    continue
                geoms = shapely.force_2d(batch.geometries[keep])
                rows = batch.rows[keep]
                points = shapely.get_type_id(geoms) == shapely.GeometryType.POINT
                for key, geom, row in zip(np.asarray(keys, dtype=object)[points],
                                          geoms[points], rows[points], strict=True):
                    # Held until every file is read: a monument's points may come in many
                    # placemarks and files, and are published as one MultiPoint.
                    held.setdefault(key, []).append(_Point(path, int(row), crs, geom))
                if points.all():
                    continue
                other = ~points
                yield self._part([k for k, p in zip(keys, points, strict=True) if not p],
                                 geoms[other], rows[other], path, crs, info.feature_count)
            if unnamed:
                # Rows only: the name of an unmatched placemark may be an archaeological site's.
                self.notes.append(
                    f"{path}{where}: {len(unnamed)} placemark(s) whose name holds no ID "
                    f"number of 8 digits (rows {', '.join(map(str, unnamed))}); not published")

    def _part(self, keys: list[str], geoms: np.ndarray, rows: np.ndarray, path: Path, crs: str,
              total: int) -> Part:
        entries = [self._entries[k] for k in keys]
        columns = {f.name: [e.values.get(f.name) for e in entries]
                   for f in HERITAGE.loaded_fields}
        return Part(HERITAGE, Batch(columns, geoms, rows), path, crs, total)

    def _merged_points(self, held: dict[str, list[_Point]]) -> Iterator[Part]:
        """The held points, one feature per monument: a MultiPoint of its distinct points where
        it has several, named after its first placemark."""
        out: dict[tuple[Path, str], list[tuple[str, Any, int]]] = {}
        merged = placemarks = 0
        for key, points in held.items():
            if len({p.crs for p in points}) > 1:
                # Files in different CRS cannot be merged here; the core names the duplicate.
                for p in points:
                    out.setdefault((p.path, p.crs), []).append((key, p.geom, p.row))
                continue
            first = points[0]
            geom = first.geom
            if len(points) > 1:
                coords = list(dict.fromkeys(
                    tuple(c) for p in points for c in shapely.get_coordinates(p.geom)))
                geom = shapely.multipoints(coords) if len(coords) > 1 else geom
                merged += 1
                placemarks += len(points)
            out.setdefault((first.path, first.crs), []).append((key, geom, first.row))
        if merged:
            self.notes.append(f"{merged} monument(s) given as several points ({placemarks} "
                              "features in all, in one or more files): each published as one "
                              "MultiPoint of its distinct points")
        for (path, crs), items in out.items():
            for start in range(0, len(items), self.batch_size):
                chunk = items[start:start + self.batch_size]
                yield self._part([k for k, _, _ in chunk],
                                 np.asarray([g for _, g, _ in chunk], dtype=object),
                                 np.asarray([r for _, _, r in chunk], dtype=int), path, crs,
                                 len(items))

    def _join(self, path: Path, where: str, batch: Batch, id_cols: tuple[str | None, str | None],
              columns: tuple[list[str], list[str]], matched: set[str],
              errors: list[RecordError], unnamed: list[int]) -> tuple[np.ndarray, list[str]]:
        """Indexes and keys of the batch's features that are published; notes and errors for
        the rest. ``id_cols``: the ID field and, in KML, the name it may be written in."""
        keep, keys = [], []
        id_col, name_col = id_cols
        missing = shapely.is_missing(batch.geometries) | shapely.is_empty(batch.geometries)
        for i in range(len(batch)):
            key, _ = _id_text(batch.columns[id_col][i]) if id_col else (None, False)
            from_name = key is None and name_col is not None
            if from_name:
                m = NAME_ID.match(_cell_text(batch.columns[name_col][i]) or "")
                key = _id_text(m.group(1))[0] if m else None
            kinds = [_cell_text(batch.columns[c][i]) for c in columns[0]]
            names = tuple(_cell_text(batch.columns[c][i]) for c in columns[1])
            if (key is not None and _canonical(key) in self._withheld_ids) or any(
                    classify(k, k) is Section.WITHHELD for k in kinds if k) or \
                    classify(None, None, names) is Section.WITHHELD:
                self._withheld_features += 1
                continue
            row = int(batch.rows[i])
            if from_name and (key is None or not ID_PATTERN.fullmatch(key)):
                # A label, not a key field: "Punkt" alone joins nothing, like a geometry
                # without an entry in the list.
                unnamed.append(row)
                continue
            if key is None:
                errors.append(RecordError(f"feature has no ID{where}", path=str(path), row=row,
                                          field=id_col))
                continue
            if not ID_PATTERN.fullmatch(key):
                # The value is not repeated: a malformed number in a geometry file may be an
                # archaeological site's, and refusals are kept in the run record.
                errors.append(RecordError(f"the ID is not {ID_DESCRIPTION}{where} (value not "
                                          "shown)", path=str(path), row=row, field=id_col))
                continue
            if key not in self._entries:
                # Row only, no ID: a geometry without a published entry may be an
                # archaeological site's from a layer not named so.
                self.notes.append(f"{path}{where}: row {row}: geometry without an entry in the "
                                  "heritage list (ID not shown); not published")
                continue
            if missing[i]:
                self.notes.append(f"{path}{where}: row {row} ({key}): feature has no geometry; "
                                  "ignored")
                continue
            matched.add(key)
            keep.append(i)
            keys.append(key)
        return np.asarray(keep, dtype=int), keys


def _row(row: int, table: _Rows) -> str | int:
    return f"{row}{table.where}" if table.where else row


def _map_columns(table: _Rows, *, need_section: bool = True) -> dict[str, str | None]:
    """Registry field (and ``_section``, ``_kind``) -> the header name that feeds it."""
    by_name: dict[str, str] = {}
    for h in table.header:
        if h:
            by_name.setdefault(normalise_name(h), h)

    def first(candidates: tuple[str, ...]) -> str | None:
        return next((by_name[c] for c in candidates if c in by_name), None)

    columns = {name: first(candidates) for name, candidates in LIST_COLUMNS.items()}
    columns["_section"] = first(SECTION_COLUMNS)
    columns["_kind"] = first(KIND_COLUMNS)
    if columns["denkmalnummer"] is None:
        raise SourceError(f"no ID column{table.where}: expected one of 'ID-Nr.', "
                          f"'Objektnummer', 'Denkmalnummer'...; the header has: "
                          f"{', '.join(h for h in table.header if h)}", path=str(table.path))
    if need_section and columns["_section"] is None and columns["_kind"] is None:
        raise SourceError(
            f"no section column{table.where} ('Abschnitt' or 'Denkmalart'): without it "
            "archaeological sites cannot be told apart and withheld; the header has: "
            f"{', '.join(h for h in table.header if h)}", path=str(table.path))
    return columns


def _csv_rows(path: Path) -> _Rows:
    table = tabular.read_csv(path)
    return _Rows(path, "", table.header, table.rows)


def _sheet_rows(path: Path, sheet: Any) -> _Rows | None:
    """The list on one sheet: the header is the first row with an ID column."""
    rows = sheet.iter_rows(values_only=True)
    header: list[str] | None = None
    out: list[tuple[int, dict[str, Any]]] = []
    where = f" (sheet '{sheet.title}')"
    for number, values in enumerate(rows, start=1):
        if header is None:
            if number > HEADER_SEARCH_ROWS:
                return None
            names = [_cell_text(v) or "" for v in values]
            if any(normalise_name(n) in ID_COLUMNS for n in names if n):
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
    return _Rows(path, where, header, out)
