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

import enum
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import shapely
from pyproj import CRS

from etl.cells import MISSING_MARKERS, cell_text, padded_key
from etl.columns import Column, Columns, Matched, header_key
from etl.geometry import resolve_crs
from etl.io.sheets import HEADER_SEARCH_ROWS, read_sheets
from etl.io.sniff import Kind, kind_of
from etl.io.text import Table, read_csv
from etl.io.vector import (
    Batch,
    VectorInfo,
    inspect_vector,
    read_vector,
    vector_layers,
    without_trailing_nul,
)
from etl.sources.base import LoadOptions, Part, Source
from twin.errors import RecordError, SourceError, refused
from twin.registry import HERITAGE, Collection

#: An ID number of the list: eight digits (Cottbus: ``0910xxxx``).
ID_PATTERN = re.compile(r"\d{8}")
ID_DESCRIPTION = "an 8-digit ID number of the heritage list (e.g. 09100203)"

#: Published values of ``denkmalart``: the kind of monument, not a section of the list (the
#: field was ``abschnitt`` before issue 10). Only ``Denkmalbereich`` is an area; the rest are
#: monuments (twin/sql/derive_heritage.sql relies on this).
AREA = "Denkmalbereich"


class Section(enum.StrEnum):
    """What a row of the list is, as published in ``denkmalart`` (or withheld)."""

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



#: An ID number of the list: eight digits, a lost leading zero put back (etl.cells.padded_key).
ID_WIDTH = 8
#: An ID written into a placemark's name, KML's only label: "Punkt 09040625".
NAME_ID = re.compile(r"^\D*?(\d+)\s*$")
#: Drivers whose features carry a name but often no attribute table (KML exports).
NAMED_DRIVERS = frozenset({"KML", "LIBKML"})

#: Roles of columns that classify a row (see :func:`classify`) without being published: the
#: section of the list (A-D or its words) and the kind of monument.
SECTION, KIND = "_section", "_kind"
ID = Column("denkmalnummer", ("ID-Nr.", "ID-Nummer", "Objektnummer", "Objekt-Nr.",
                              "Denkmalnummer", "Denkmal-Nr.", "Denkmal-ID", "Objekt-ID",
                              "ObjDokNr", "Nummer", "Nr.", "ID"),
            required=True, missing="no ID column: expected one of 'ID-Nr.', 'Objektnummer', "
                                   "'Denkmalnummer'...")
#: The columns of the list, and of the geometry layers, in order of preference per field.
COLUMNS = Columns((
    ID,
    Column("bezeichnung", ("Bezeichnung", "Offizielle Bezeichnung", "Denkmalbezeichnung",
                           "Objektbezeichnung", "Name", "Denkmal", "Objekt")),
    Column("adresse", ("Adresse", "Lage", "Adresse/Lage", "Lage/Adresse", "Anschrift",
                       "Ortslage", "Straße", "Standort")),
    Column("beschreibung", ("Beschreibung", "Kurzbeschreibung", "Erläuterung", "Erläuterungen",
                            "Bemerkung", "Bemerkungen")),
    Column("gemeinde", ("Gemeinde", "Stadt", "Stadtgemeinde", "Ort")),
    Column("ortsteil", ("Ortsteil", "Gemeindeteil", "Stadtteil", "OT")),
    Column(SECTION, ("Abschnitt", "Listenabschnitt", "Teil")),
    Column(KIND, ("Denkmalart", "Art", "Gattung", "Denkmalgattung", "Kategorie", "Denkmaltyp",
                  "Typ", "Objektart")),
))
#: Registry fields the list feeds (the rest of COLUMNS only classifies).
LIST_FIELDS = tuple(c.field for c in COLUMNS if not c.field.startswith("_"))
#: Fields whose words ("Slawischer Burgwall (Bodendenkmal)") withhold a row as well.
NAME_FIELDS = ("bezeichnung", "beschreibung")
_ID_KEYS = frozenset(ID.keys())


def _is_header(cells: list[str]) -> bool:
    """A sheet's header is its first row with an ID column."""
    return any(header_key(c) in _ID_KEYS for c in cells if c)


def _headers(fields: tuple[str, ...], *names: str) -> list[str]:
    """Every field of a layer spelt as one of the columns ``names`` (lower-cased, as a
    :class:`Batch` keys them): each of them may withhold a feature."""
    keys = {k for c in COLUMNS if c.field in names for k in c.keys()}
    return [f.lower() for f in fields if header_key(f) in keys]


def _canonical(key: str) -> str:
    """A key without leading zeros: how withheld IDs are matched, whatever their form."""
    return key.lstrip("0") or "0"


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


@dataclass(frozen=True)
class _LayerColumns:
    """The columns of a geometry layer that a feature is joined and withheld by (lower-cased,
    as a :class:`Batch` keys them)."""

    id: str | None
    #: In KML, the placemark's name: where the ID is written when no field holds it.
    name: str | None
    kinds: list[str]  # every section and kind column
    texts: list[str]  # every name and description column

    @classmethod
    def of(cls, info: VectorInfo, path: Path, where: str) -> _LayerColumns:
        named = info.driver in NAMED_DRIVERS
        # A placemark's "id" is an anchor inside the document, not a number of the list.
        fields = [f for f in info.fields if not (named and header_key(f) == "id")]
        id_col = COLUMNS.match(fields, path=path, where=where, required=False).get(ID.field)
        name_col = next((f for f in info.fields if header_key(f) == "name"), None) \
            if named else None
        if id_col is None and name_col is None:
            raise COLUMNS.missing(ID, info.fields, path=path, where=where)
        return cls(id_col and id_col.lower(), name_col and name_col.lower(),
                   _headers(info.fields, SECTION, KIND), _headers(info.fields, *NAME_FIELDS))


class HeritageSource(Source):
    """The Denkmalliste (CSV or XLSX) and its geometry files, joined by ID number."""

    name = "heritage"
    collections: ClassVar[tuple[Collection, ...]] = (HERITAGE,)
    sample_globs = ("*.csv", "*.xlsx", "*.gpkg", "*.gml", "*.geojson")

    def key_problem(self, collection: Collection, key: str) -> str | None:
        if not ID_PATTERN.fullmatch(key):
            return f"'{key}' is not {ID_DESCRIPTION}"
        return None

    def read(self, paths: list[Path], options: LoadOptions) -> Iterator[Part]:
        # Everything a load learns lives in its _Load, gone with it: withheld IDs included.
        yield from _Load(self.notes, self.batch_size).read(paths, options)


@dataclass
class _Load:
    """One load of the list and its geometries: what it has read so far."""

    notes: list[str]
    batch_size: int
    entries: dict[str, Entry] = field(default_factory=dict)
    #: Canonical IDs of withheld rows; kept in memory for the join only, never written.
    withheld_ids: set[str] = field(default_factory=set)
    withheld_rows: int = 0
    withheld_features: int = 0
    withheld_layers: list[str] = field(default_factory=list)
    withheld_files: list[str] = field(default_factory=list)
    #: IDs given a geometry; refused geometries; points held until every file is read.
    matched: set[str] = field(default_factory=set)
    errors: list[RecordError] = field(default_factory=list)
    held: dict[str, list[_Point]] = field(default_factory=dict)

    def read(self, paths: list[Path], options: LoadOptions) -> Iterator[Part]:
        kinds = {path: kind_of(path) for path in paths}
        lists = [p for p in paths if kinds[p] in (Kind.TEXT, Kind.SPREADSHEET)]
        geometries = [p for p in paths if kinds[p] not in (Kind.TEXT, Kind.SPREADSHEET)]
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
        for path in geometries:
            yield from self._read_geometries(path, options)
        if self.errors:
            raise refused(self.errors, what="geometry(ies)")
        yield from self._merged_points()
        for key, entry in self.entries.items():
            if key not in self.matched:
                self.notes.append(f"{entry.path}: row {entry.row} ({key}): no geometry in the "
                                  "geometry files; not published")
        self._note_withheld()

    def _note_withheld(self) -> None:
        if not (self.withheld_rows or self.withheld_features or self.withheld_layers
                or self.withheld_files):
            return
        # Counts only: no ID, name, place or row of an archaeological site, to protect them.
        layers = ""
        if self.withheld_layers:
            names = ", ".join(f"'{n}'" for n in self.withheld_layers)
            layers = f", with everything in layer(s) or sheet(s) {names}"
        if self.withheld_files:
            names = ", ".join(f"'{n}'" for n in self.withheld_files)
            layers += f", with everything in file(s) {names}"
        self.notes.append(
            f"withheld {self.withheld_rows} list entr"
            f"{'y' if self.withheld_rows == 1 else 'ies'} of sections A/B (Bodendenkmale, "
            f"Grabungsschutzgebiete) and {self.withheld_features} geometr"
            f"{'y' if self.withheld_features == 1 else 'ies'} of them{layers}: archaeological "
            "sites are never published nor stored, to protect them")

    # -- the list -------------------------------------------------------------------------
    def _tables(self, path: Path, kind: Kind) -> list[Table]:
        """The list's tables: the CSV, or every sheet of a workbook with an ID column."""
        if kind is Kind.TEXT:
            return [read_csv(path)]
        tables, without_header = read_sheets(path, _is_header)
        self.withheld_layers += [t for t in without_header if withheld_name(t)]
        kept = []
        for table in tables:
            if withheld_name(table.sheet or ""):
                # A sheet of archaeological sites: nothing of it is checked or kept but its
                # IDs, in memory, so that their geometries are dropped too.
                self.withheld_layers.append(table.sheet or "")
                columns = COLUMNS.match(table.header, path=path, where=table.where)
                for _, cells in table.rows:
                    self._withhold(cells, columns)
            else:
                kept.append(table)
        if not kept:
            raise SourceError(
                "no sheet with a heritage list: none has a header with an ID column "
                f"(e.g. 'ID-Nr.' or 'Objektnummer') in its first {HEADER_SEARCH_ROWS} rows",
                path=str(path))
        return kept

    def _withhold(self, cells: dict[str, Any], columns: Matched) -> None:
        """Count a row of an archaeological site and keep its ID, in memory only."""
        self.withheld_rows += 1
        raw, _ = padded_key(cells.get(columns.get(ID.field)), ID_WIDTH)
        if raw:
            self.withheld_ids.add(_canonical(raw))

    def _read_list(self, path: Path, kind: Kind) -> None:
        errors: list[RecordError] = []
        padded = repeated = conflicting = missing = 0
        for table in self._tables(path, kind):
            columns = COLUMNS.match(table.header, path=path, where=table.where)
            id_col, section_col, kind_col = (columns.get(f) for f in (ID.field, SECTION, KIND))
            if section_col is None and kind_col is None:
                raise SourceError(
                    f"no section column{table.where} ('Abschnitt' or 'Denkmalart'): without it "
                    "archaeological sites cannot be told apart and withheld; the header has: "
                    f"{', '.join(h for h in table.header if h)}", path=str(path))
            if note := columns.note():
                # Names only, as for every source: values of unknown columns go nowhere.
                self.notes.append(note)
            for number, cells in table.rows:
                text = {f: cell_text(v) for f, v in columns.values(cells).items()}
                section = classify(text.get(SECTION), text.get(KIND),
                                   tuple(text.get(f) for f in NAME_FIELDS if f in columns))
                if section is Section.WITHHELD:
                    # Before any check, so that no message can ever name one.
                    self._withhold(cells, columns)
                    continue
                row = table.row(number)
                key, was_padded = padded_key(cells.get(id_col), ID_WIDTH)
                if key is None:
                    errors.append(RecordError("value is missing", path=str(path), row=row,
                                              field=id_col))
                    continue
                if not ID_PATTERN.fullmatch(key):
                    hint = (" (a leading zero lost in a spreadsheet?)"
                            if key.isdigit() and len(key) == ID_WIDTH - 1 else "")
                    errors.append(RecordError(f"'{key}' is not {ID_DESCRIPTION}{hint}",
                                              path=str(path), row=row, field=id_col))
                    continue
                if section is None:
                    said = [text.get(f) for f in (SECTION, KIND) if f in columns]
                    errors.append(RecordError(
                        f"section {' / '.join(repr(s) for s in said if s) or 'is empty'}: "
                        "cannot tell a monument (D), a heritage area (C) or an "
                        "archaeological site (A, B) apart", path=str(path), row=row,
                        field=section_col or kind_col))
                    continue
                padded += was_padded
                if key in self.entries:
                    first = self.entries[key]
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
                        path=str(path), row=row, field=id_col))
                    continue
                missing += sum(1 for v in cells.values()
                               if isinstance(v, str) and v.strip() in MISSING_MARKERS)
                values = {f: text.get(f) for f in LIST_FIELDS}
                values.update(denkmalnummer=key, denkmalart=section.value)
                self.entries[key] = Entry(path, row, values, cells)
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
            raise refused(errors, what="row(s) of the heritage list", detail=dups)

    # -- the geometries -------------------------------------------------------------------
    def _read_geometries(self, path: Path, options: LoadOptions) -> Iterator[Part]:
        if withheld_name(path.stem):
            # A file of archaeological sites (Berlin's bodendenkmal.kml) is never read.
            self.withheld_files.append(str(path))  # the path as given: notes show it
            return
        with without_trailing_nul(path) as (readable, trimmed):
            if trimmed:
                self.notes.append(f"{path}: {trimmed} NUL byte(s) after the end of the document "
                                  "(as some exporters write them) ignored")
            try:
                yield from self._read_layers(path, readable, options)
            except SourceError as exc:
                if readable == path:
                    raise
                # Name the file the user gave, not the trimmed copy read in its place (GDAL's
                # own words name it too).
                raise SourceError(exc.reason.replace(str(readable), str(path)),
                                  path=str(path)) from exc

    def _read_layers(self, path: Path, readable: Path, options: LoadOptions) -> Iterator[Part]:
        layers = vector_layers(readable)
        if not layers:
            raise SourceError("file holds no layer", path=str(path))
        file_crs: tuple[str, str] | None = None
        for layer in layers:
            where = f" (layer '{layer}')" if len(layers) > 1 else ""
            if withheld_name(layer):
                # Never read: a layer of archaeological sites is counted, no more.
                self.withheld_layers.append(layer)
                continue
            info = inspect_vector(readable, layer)
            if info.feature_count == 0:
                continue
            columns = _LayerColumns.of(info, path, where)
            crs = resolve_crs(str(path), info.crs, options.crs)
            if file_crs is None:
                file_crs = (layer, crs)
            elif CRS.from_user_input(crs) != CRS.from_user_input(file_crs[1]):
                raise SourceError(f"layers '{file_crs[0]}' and '{layer}' have different CRS "
                                  f"({file_crs[1]}, {crs}); give them as separate files",
                                  path=str(path))
            unnamed: list[int] = []
            for batch in read_vector(readable, info, batch_size=self.batch_size):
                keep, keys = self._join(path, where, batch, columns, unnamed)
                if keep.size == 0 or self.errors:
                    continue
                geoms = shapely.force_2d(batch.geometries[keep])
                rows = batch.rows[keep]
                points = shapely.get_type_id(geoms) == shapely.GeometryType.POINT
                for key, geom, row in zip(np.asarray(keys, dtype=object)[points],
                                          geoms[points], rows[points], strict=True):
                    # Held until every file is read: a monument's points may come in many
                    # placemarks and files, and are published as one MultiPoint.
                    self.held.setdefault(key, []).append(_Point(path, int(row), crs, geom))
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
        entries = [self.entries[k] for k in keys]
        columns = {f.name: [e.values.get(f.name) for e in entries]
                   for f in HERITAGE.loaded_fields}
        return Part(HERITAGE, Batch(columns, geoms, rows), path, crs, total)

    def _merged_points(self) -> Iterator[Part]:
        """The held points, one feature per monument: a MultiPoint of its distinct points where
        it has several, named after its first placemark."""
        out: dict[tuple[Path, str], list[tuple[str, Any, int]]] = {}
        merged = placemarks = 0
        for key, points in self.held.items():
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

    def _join(self, path: Path, where: str, batch: Batch, columns: _LayerColumns,
              unnamed: list[int]) -> tuple[np.ndarray, list[str]]:
        """Indexes and keys of the batch's features that are published; notes and errors for
        the rest."""
        keep, keys = [], []
        missing = shapely.is_missing(batch.geometries) | shapely.is_empty(batch.geometries)
        for i in range(len(batch)):
            key = padded_key(batch.columns[columns.id][i], ID_WIDTH)[0] if columns.id else None
            from_name = key is None and columns.name is not None
            if from_name:
                m = NAME_ID.match(cell_text(batch.columns[columns.name][i]) or "")
                key = padded_key(m.group(1), ID_WIDTH)[0] if m else None
            kinds = [cell_text(batch.columns[c][i]) for c in columns.kinds]
            names = tuple(cell_text(batch.columns[c][i]) for c in columns.texts)
            if (key is not None and _canonical(key) in self.withheld_ids) or any(
                    classify(k, k) is Section.WITHHELD for k in kinds if k) or \
                    classify(None, None, names) is Section.WITHHELD:
                self.withheld_features += 1
                continue
            row = int(batch.rows[i])
            if from_name and (key is None or not ID_PATTERN.fullmatch(key)):
                # A label, not a key field: "Punkt" alone joins nothing, like a geometry
                # without an entry in the list.
                unnamed.append(row)
                continue
            if key is None:
                self.errors.append(RecordError(f"feature has no ID{where}", path=str(path),
                                               row=row, field=columns.id))
                continue
            if not ID_PATTERN.fullmatch(key):
                # The value is not repeated: a malformed number in a geometry file may be an
                # archaeological site's, and refusals are kept in the run record.
                self.errors.append(RecordError(f"the ID is not {ID_DESCRIPTION}{where} (value "
                                               "not shown)", path=str(path), row=row,
                                               field=columns.id))
                continue
            if key not in self.entries:
                # Row only, no ID: a geometry without a published entry may be an
                # archaeological site's from a layer not named so.
                self.notes.append(f"{path}{where}: row {row}: geometry without an entry in the "
                                  "heritage list (ID not shown); not published")
                continue
            if missing[i]:
                self.notes.append(f"{path}{where}: row {row} ({key}): feature has no geometry; "
                                  "ignored")
                continue
            self.matched.add(key)
            keep.append(i)
            keys.append(key)
        return np.asarray(keep, dtype=int), keys
