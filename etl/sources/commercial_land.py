"""Commercial land: the site sheets (Standortblätter) of the city's economic development.

What the development company's GIS and spreadsheets export, with German column names:

* a **site sheet** (XLSX, ODS or CSV, one row per site) **plus a geometry file** (GeoPackage,
  GeoJSON, Shapefile, any GDAL vector format) with the site polygons, joined by the site id
  (``Flächen-Nr``); or
* **one vector file** whose features carry both the polygon and the sheet's columns.

Columns are matched by name whatever their spelling (``Bruttofläche (ha)``, ``Bruttofläche
ha``, ``bruttoflaeche_ha`` and the registry's own ``gross_area_ha`` are one column), see
:data:`ALIASES`. Owner *names*, contact persons, phone numbers and every other column not
listed are dropped before anything is stored: the load names them, never their values.
Ownership is published only as hectares per owner type (city, private, other).

Text classes are normalised (utilities ``full/partial/none``, contamination
``none/remediated/suspected/known``, broadband ``gigabit/high/basic/none``), and the sheet's
numbers are checked for plausibility (net area within gross, GI + GE within net, occupancy
0-100, no negative areas, owner shares adding up to the gross area); each refusal names
file, row and column.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely

from etl.columns import header_key
from etl.fields import ConversionError, convert
from etl.geometry import resolve_crs, to_storage
from etl.io import text as tabular
from etl.io.vector import Batch, inspect_vector, read_vector
from etl.sources.base import LoadOptions, Part, Source
from twin.analysis.commercial_land import (
    BROADBAND_CLASSES,
    CONTAMINATION_CLASSES,
    UTILITY_CLASSES,
)
from twin.errors import LoadRefusedError, RecordError, SourceError
from twin.registry import COMMERCIAL_LAND, FieldType
from twin.settings import STORAGE_SRID

#: Suffixes read as a site sheet (no geometry); anything else is read as a vector file.
SHEET_SUFFIXES = (".xlsx", ".ods", ".csv")
STORAGE = f"EPSG:{STORAGE_SRID}"

#: Site sheets give hectares to one decimal: differences below this are rounding.
AREA_TOLERANCE_HA = 0.1
#: Owner shares may miss the gross area by this share of it (or the tolerance above).
OWNER_TOLERANCE = 0.01
#: A polygon whose area differs from the sheet's gross area by more than this share (and by
#: more than 0.5 ha) is worth a note: one of the two is probably outdated.
AREA_NOTE_SHARE = 0.10

#: Registry field -> accepted column names, after :func:`normalise_header`.
ALIASES: dict[str, tuple[str, ...]] = {
    "site_id": ("flaechen_nr", "flaechennr", "flaechennummer", "flaechen_id", "standort_nr",
                "standortnummer", "nr", "id"),
    "name": ("bezeichnung", "standort", "standortname", "flaechenname", "gebiet"),
    "district": ("ortsteil", "stadtteil"),
    "gemarkung": (),
    "flur": (),
    "flurstuecke": ("flurstueck", "flurstueck_e", "flurstuecksnummern", "flurstuecke_nr"),
    "gross_area_ha": ("bruttoflaeche_ha", "bruttoflaeche", "flaeche_brutto_ha",
                      "gesamtflaeche_ha"),
    "net_area_ha": ("nettoflaeche_ha", "nettoflaeche", "flaeche_netto_ha", "nettobauland_ha"),
    "gi_area_ha": ("gi_ha", "davon_gi_ha", "gi", "gi_flaeche_ha"),
    "ge_area_ha": ("ge_ha", "davon_ge_ha", "ge", "ge_flaeche_ha"),
    "free_area_ha": ("freie_reserve_ha", "freie_reserve", "freie_flaeche_ha", "reserve_ha",
                     "verfuegbar_ha"),
    "occupancy_pct": ("auslastung", "auslastung_in", "auslastung_prozent", "belegung"),
    "owner_city_ha": ("eigentum_stadt_ha", "eigentum_stadt", "stadt_ha"),
    "owner_private_ha": ("eigentum_privat_ha", "eigentum_privat", "privat_ha"),
    "owner_other_ha": ("eigentum_sonstige_ha", "eigentum_sonstige", "eigentum_sonstiges_ha",
                       "sonstige_ha"),
    "road_access": ("strassenerschliessung", "erschliessung_strasse", "strasse"),
    "utilities": ("medien", "medienerschliessung", "erschliessung_medien"),
    "rail_siding": ("gleisanschluss", "bahnanschluss"),
    "broadband": ("breitband", "breitbandanschluss", "internet"),
    "funding": ("foerderung", "foerdermoeglichkeiten", "foerdergebiet"),
    "price_eur_m2": ("kaufpreis_eur_m2", "kaufpreis", "preis_eur_m2", "kaufpreis_ab_eur_m2"),
    "land_value_eur_m2": ("bodenrichtwert_eur_m2", "bodenrichtwert", "brw_eur_m2", "brw"),
    "contamination": ("altlasten", "altlast", "altlastenverdacht"),
}
AREA_FIELDS = ("gross_area_ha", "net_area_ha", "gi_area_ha", "ge_area_ha", "free_area_ha",
               "owner_city_ha", "owner_private_ha", "owner_other_ha")
OWNER_FIELDS = ("owner_city_ha", "owner_private_ha", "owner_other_ha")

_YES = {"ja", "j", "x", "yes", "y", "true", "1", "vorhanden", "vorh", "voll", "erschlossen",
        "teilweise", "teilerschlossen", "teilweise erschlossen"}
_NO = {"nein", "n", "no", "false", "0", "keine", "kein", "nicht vorhanden", "-",
       "nicht erschlossen", "unerschlossen"}
#: A rail siding that could be built is not one: read as "no", and said so.
_RAIL_POSSIBLE = {"möglich", "moeglich", "geplant", "in planung", "anschluss möglich"}

_UTILITY_WORDS = {
    "full": {"voll", "vollständig", "voll erschlossen", "vollerschlossen", "erschlossen", "ja",
             "vorhanden", "alle medien", "alle"},
    "partial": {"teilweise", "teilerschlossen", "teilweise erschlossen", "teilw"},
    "none": {"keine", "nein", "nicht erschlossen", "unerschlossen", "-"},
}
#: Media named in a list ("Strom, Trinkwasser, Abwasser, Gas") -> the medium they are.
_MEDIA = {
    "strom": "power", "elektro": "power", "elektroenergie": "power", "elt": "power",
    "wasser": "water", "trinkwasser": "water", "tw": "water",
    "abwasser": "sewage", "schmutzwasser": "sewage", "sw": "sewage",
    "regenwasser": "rain", "niederschlagswasser": "rain", "rw": "rain",
    "gas": "gas", "erdgas": "gas", "fernwärme": "heat", "fernwaerme": "heat",
    "telekommunikation": "telecom", "telekom": "telecom",
}
_ESSENTIAL_MEDIA = {"power", "water", "sewage"}

#: Contamination classes by keyword, tried in this order ("Altlast saniert" is remediated).
_CONTAMINATION_KEYWORDS = (
    ("remediated", ("saniert", "beseitigt", "dekontaminiert")),
    ("suspected", ("verdacht", "alvf", "kampfmittel", "prüfung", "pruefung")),
    ("none", ("keine", "kein", "nein", "ohne", "nicht bekannt", "unbelastet")),
    ("known", ("ja", "vorhanden", "bekannt", "altlast", "belastet", "kontaminiert")),
)
_BANDWIDTH = re.compile(r"(\d+(?:[.,]\d+)?)\s*(g|m)bit", re.I)
_BROADBAND_KEYWORDS = (
    ("gigabit", ("glasfaser", "ftth", "fttb", "gigabit")),
    ("high", ("vdsl", "kabel", "docsis", "supervectoring")),
    ("basic", ("dsl", "lte", "5g", "funk")),
    ("none", ("keine", "kein", "nein")),
)


normalise_header = header_key


def _field_by_header() -> dict[str, str]:
    table: dict[str, str] = {}
    for f in COMMERCIAL_LAND.loaded_fields:
        for alias in (f.name, *ALIASES[f.name]):
            table[header_key(alias)] = f.name
    return table


FIELD_BY_HEADER = _field_by_header()


@dataclass
class _Table:
    """Rows of one file: values by registry field, with the headers they came from."""

    path: Path
    headers: dict[str, str]  # registry field -> header as written in the file
    columns: dict[str, list]  # registry field -> raw values
    rows: np.ndarray  # row numbers as a user finds them (spreadsheet row, line, feature)
    geometries: np.ndarray | None = None  # in EPSG:25833


class CommercialLandSource(Source):
    """Site sheets and site polygons of commercial and industrial land."""

    name = "commercial-land"
    collections = (COMMERCIAL_LAND,)
    sample_globs = ("*.xlsx", "*.gpkg")
    key_pattern = re.compile(r"[A-Za-z0-9ÄÖÜäöüß][A-Za-z0-9ÄÖÜäöüß._/-]{0,39}")

    def key_problem(self, collection, key: str) -> str | None:
        if not self.key_pattern.fullmatch(key):
            return (f"'{key}' is not a site id (letters, digits, '.', '_', '/', '-'; "
                    "at most 40 characters, no spaces)")
        return None

    # -- reading ----------------------------------------------------------------------------
    def read(self, paths: list[Path], options: LoadOptions) -> Iterator[Part]:
        sheets = [p for p in paths if p.suffix.lower() in SHEET_SUFFIXES]
        shapes = [p for p in paths if p.suffix.lower() not in SHEET_SUFFIXES]
        if sheets and not shapes:
            raise SourceError(
                "a site sheet needs the site polygons: give a geometry file (GeoPackage, "
                "GeoJSON, Shapefile...) with the column 'Flächen-Nr' as well",
                path=str(sheets[0]))
        geometry_tables = [self._read_vector(p, options, with_attributes=not sheets)
                           for p in shapes]
        if not sheets:
            for table in geometry_tables:
                if len(table.rows):
                    yield self._part(table)
            return
        tables = [self._read_sheet(p, options) for p in sheets]
        self._join(tables, geometry_tables)
        for table in tables:
            if len(table.rows):
                yield self._part(table)

    def _read_sheet(self, path: Path, options: LoadOptions) -> _Table:
        if path.suffix.lower() == ".csv":
            csv = tabular.read_csv(path)
            headers = csv.header
            columns = {h: [record.get(h) for _, record in csv.rows] for h in headers}
            rows = np.array([line for line, _ in csv.rows], dtype=int)
        else:
            with _first_row_is_header():
                info = inspect_vector(path, options.layer)
                headers = list(info.fields)
                columns = {h: [] for h in headers}
                row_list: list[int] = []
                for batch in read_vector(path, info, batch_size=self.batch_size):
                    for h in headers:
                        columns[h].extend(batch.columns[h.lower()])
                    # Row 1 holds the headers: the first site is spreadsheet row 2.
                    row_list.extend(int(r) + 1 for r in batch.rows)
            rows = np.array(row_list, dtype=int)
        if len(rows) == 0 and not options.allow_empty:
            raise SourceError("the site sheet holds no sites; use --allow-empty to publish "
                              "an empty collection", path=str(path))
        return self._table(path, headers, columns, rows)

    def _read_vector(self, path: Path, options: LoadOptions, *,
                     with_attributes: bool) -> _Table:
        info = inspect_vector(path, options.layer)
        if info.feature_count == 0 and not options.allow_empty:
            raise SourceError("the file holds no sites; use --allow-empty to publish an empty "
                              "collection", path=str(path))
        crs = resolve_crs(str(path), info.crs, options.crs)
        headers = list(info.fields)
        columns: dict[str, list] = {h: [] for h in headers}
        geoms, rows = [], []
        for batch in read_vector(path, info, batch_size=self.batch_size):
            for h in headers:
                columns[h].extend(batch.columns[h.lower()])
            geoms.append(batch.geometries)
            rows.append(batch.rows)
        geometries = np.concatenate(geoms) if geoms else np.array([], dtype=object)
        table = self._table(path, headers, columns,
                            np.concatenate(rows) if rows else np.array([], dtype=int),
                            keep=None if with_attributes else ("site_id", "name"))
        # Reprojected here, so that the gross area can be compared with the polygon's.
        table.geometries = to_storage(geometries, crs)
        if "site_id" not in table.headers and (info.feature_count != 0):
            raise SourceError(
                "no site id column ('Flächen-Nr'); the file has: "
                f"{', '.join(headers) or 'no fields'}", path=str(path))
        return table

    def _table(self, path: Path, headers: list[str], columns: dict[str, list],
               rows: np.ndarray, keep: tuple[str, ...] | None = None) -> _Table:
        """Map the file's headers to registry fields; note what is dropped (names only)."""
        mapped: dict[str, str] = {}
        dropped: list[str] = []
        ignored: list[str] = []
        for header in headers:
            field = FIELD_BY_HEADER.get(normalise_header(header))
            if field is None:
                dropped.append(header)
            elif keep is not None and field not in keep:
                ignored.append(header)
            elif field in mapped:
                raise SourceError(f"columns '{mapped[field]}' and '{header}' both give "
                                  f"'{field}'; keep one", path=str(path))
            else:
                mapped[field] = header
        if dropped:
            # Names only: the values of unknown columns (owner names, contacts) go nowhere.
            self.notes.append(f"{path}: columns not published and dropped: "
                              f"{', '.join(dropped)}")
        if ignored:
            self.notes.append(f"{path}: the site sheet is the truth; columns of the geometry "
                              f"file ignored: {', '.join(ignored)}")
        if keep is None and len(rows):
            absent = [f.name for f in COMMERCIAL_LAND.loaded_fields if f.name not in mapped]
            if absent and "site_id" not in absent:
                self.notes.append(f"{path}: no column for {', '.join(absent)}; "
                                  "unknown for every site")
        if keep is None and "site_id" not in mapped and len(rows):
            raise SourceError("required column 'Flächen-Nr' (site id) is missing; the file "
                              f"has: {', '.join(headers)}", path=str(path))
        return _Table(path, mapped, {f: columns[h] for f, h in mapped.items()}, rows)

    def _join(self, sheets: list[_Table], geometry_tables: list[_Table]) -> None:
        """Give each sheet row the polygon with its site id; refuse what does not pair up."""
        errors: list[RecordError] = []
        polygons: dict[str, tuple[Any, _Table, int]] = {}
        for table in geometry_tables:
            header = table.headers.get("site_id", "Flächen-Nr")
            for i, raw in enumerate(table.columns.get("site_id", [])):
                key = _key_text(raw)
                if key is None:
                    errors.append(RecordError("site id is missing", path=str(table.path),
                                              row=int(table.rows[i]), field=header))
                elif key in polygons:
                    first = polygons[key]
                    errors.append(RecordError(
                        f"site id '{key}' has a second polygon (first in row "
                        f"{int(first[1].rows[first[2]])})", path=str(table.path),
                        row=int(table.rows[i]), field=header))
                else:
                    polygons[key] = (table.geometries[i], table, i)
        used: dict[str, tuple[_Table, int]] = {}
        for sheet in sheets:
            header = sheet.headers["site_id"]
            geoms = np.full(len(sheet.rows), None, dtype=object)
            for i, raw in enumerate(sheet.columns["site_id"]):
                key = _key_text(raw)
                if key is None:
                    continue  # the core refuses a missing key, naming the row
                if key in used:
                    first, j = used[key]
                    errors.append(RecordError(
                        f"site id '{key}' appears again (first in {first.path} row "
                        f"{int(first.rows[j])})", path=str(sheet.path),
                        row=int(sheet.rows[i]), field=header))
                    continue
                if key not in polygons:
                    errors.append(RecordError(
                        f"no polygon with site id '{key}' in "
                        f"{', '.join(str(t.path) for t in geometry_tables)}",
                        path=str(sheet.path), row=int(sheet.rows[i]), field=header))
                    continue
                geoms[i] = polygons[key][0]
                used[key] = (sheet, i)
            sheet.geometries = geoms
        for key, (_, table, i) in polygons.items():
            if key not in used:
                errors.append(RecordError(
                    f"polygon of site id '{key}' has no row in the site sheet",
                    path=str(table.path), row=int(table.rows[i]),
                    field=table.headers.get("site_id")))
        if errors:
            raise LoadRefusedError(
                f"{len(errors)} site(s) of sheet and geometry do not pair up; nothing was "
                f"changed. First: {errors[0].location}", path=errors[0].path, errors=errors)

    # -- values -----------------------------------------------------------------------------
    def _part(self, table: _Table) -> Part:
        """The table's values converted, checked for plausibility, as a Part."""
        n = len(table.rows)
        path = str(table.path)
        errors: list[RecordError] = []
        values: dict[str, list] = {}
        for f in COMMERCIAL_LAND.loaded_fields:
            raw = table.columns.get(f.name)
            if raw is None:
                values[f.name] = [None] * n
                continue
            parse = PARSERS.get(f.name, _PARSE_BY_TYPE[f.type])
            out = []
            for i, value in enumerate(raw):
                try:
                    parsed, note = parse(value)
                except ConversionError as exc:
                    errors.append(RecordError(str(exc), path=path, row=int(table.rows[i]),
                                              field=table.headers[f.name]))
                    parsed, note = None, None
                if note:
                    self.notes.append(f"{path}: row {int(table.rows[i])}, field "
                                      f"'{table.headers[f.name]}': {note}")
                out.append(parsed)
            values[f.name] = out
        if not errors:
            for i in range(n):
                errors.extend(self._implausible({k: v[i] for k, v in values.items()},
                                                table, i))
                self._area_note(values["gross_area_ha"][i], table, i)
        if errors:
            raise LoadRefusedError(
                f"{len(errors)} value(s) refused; nothing was changed. First: "
                f"{errors[0].location}", path=errors[0].path, errors=errors)
        geoms = table.geometries if table.geometries is not None \
            else np.full(n, None, dtype=object)
        return Part(COMMERCIAL_LAND, Batch(values, geoms, table.rows), table.path, STORAGE, n)

    def _implausible(self, site: dict[str, Any], table: _Table, i: int) -> list[RecordError]:
        """Refusals of one site's numbers, each naming the column as the file writes it."""
        errors: list[RecordError] = []
        row, path = int(table.rows[i]), str(table.path)

        def refuse(field: str, message: str) -> None:
            errors.append(RecordError(message, path=path, row=row,
                                      field=table.headers.get(field, field)))

        for f in (*AREA_FIELDS, "price_eur_m2", "land_value_eur_m2"):
            if site[f] is not None and site[f] < 0:
                refuse(f, f"must not be negative, got {site[f]:g}")
        if errors:
            return errors
        gross, net = site["gross_area_ha"], site["net_area_ha"]
        tol = AREA_TOLERANCE_HA
        if gross is not None and net is not None and net > gross + tol:
            refuse("net_area_ha", f"net area {net:g} ha is larger than the gross area "
                                  f"{gross:g} ha")
        zoned = (site["gi_area_ha"] or 0.0) + (site["ge_area_ha"] or 0.0)
        limit, limit_name = (net, "net") if net is not None else (gross, "gross")
        if limit is not None and zoned > limit + tol:
            field = "gi_area_ha" if "gi_area_ha" in table.headers else "ge_area_ha"
            refuse(field, f"GI {site['gi_area_ha'] or 0:g} ha + GE {site['ge_area_ha'] or 0:g}"
                          f" ha = {zoned:g} ha is more than the {limit_name} area "
                          f"{limit:g} ha")
        free = site["free_area_ha"]
        if free is not None and limit is not None and free > limit + tol:
            refuse("free_area_ha", f"free reserve {free:g} ha is more than the {limit_name} "
                                   f"area {limit:g} ha")
        occupancy = site["occupancy_pct"]
        if occupancy is not None and not 0 <= occupancy <= 100:
            refuse("occupancy_pct", f"occupancy must be 0-100 %, got {occupancy:g}")
        shares = [site[f] for f in OWNER_FIELDS]
        if gross is not None and any(s is not None for s in shares):
            total = sum(s or 0.0 for s in shares)
            if abs(total - gross) > max(tol, OWNER_TOLERANCE * gross):
                field = next(f for f in OWNER_FIELDS if f in table.headers)
                refuse(field, f"owner shares (city, private, other) add up to {total:g} ha, "
                              f"not to the gross area {gross:g} ha")
        return errors

    def _area_note(self, gross: float | None, table: _Table, i: int) -> None:
        geom = None if table.geometries is None else table.geometries[i]
        if gross is None or geom is None or shapely.is_empty(geom):
            return
        polygon_ha = shapely.area(geom) / 10_000
        if abs(polygon_ha - gross) > max(0.5, AREA_NOTE_SHARE * gross):
            self.notes.append(
                f"{table.path}: row {int(table.rows[i])}, field "
                f"'{table.headers.get('gross_area_ha')}': gross area {gross:g} ha, but the "
                f"polygon has {polygon_ha:.1f} ha; is one of them outdated?")


@contextmanager
def _first_row_is_header() -> Iterator[None]:
    """GDAL guesses whether row 1 of a spreadsheet is a header; a site sheet's always is."""
    keys = ("OGR_XLSX_HEADERS", "OGR_ODS_HEADERS")
    before = {k: pyogrio.get_gdal_config_option(k) for k in keys}
    pyogrio.set_gdal_config_options(dict.fromkeys(keys, "FORCE"))
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(before)


# -- value parsers: raw cell -> (value, note) ------------------------------------------------
Parsed = tuple[Any, str | None]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or \
        (isinstance(value, str) and not value.strip())


def _key_text(value: Any) -> str | None:
    """A site id as text; spreadsheets turn '7' into 7.0."""
    if _blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _text(value: Any) -> Parsed:
    return _key_text(value), None


_UNIT = re.compile(r"\s*(ha|%|€/m²|€/m2|eur/m²|eur/m2|€|eur)\s*$", re.I)


def _number(value: Any) -> Parsed:
    """Numbers as German sheets write them: '12,5', '1.234,5', '85 %', '25,00 €/m²'."""
    if _blank(value):
        return None, None
    if isinstance(value, str):
        text = _UNIT.sub("", value.strip())
        if "," in text and "." in text:
            text = text.replace(".", "")
        value = text
    return convert(value, FieldType.DOUBLE), None


def _owner_area(value: Any) -> Parsed:
    """Hectares owned by one type of owner; a name in the cell is never repeated back."""
    try:
        return _number(value)
    except ConversionError:
        raise ConversionError("expected hectares (a number), got text; owner names are "
                              "never published, give the area per owner type") from None


def _yes_no(value: Any) -> Parsed:
    if _blank(value) or isinstance(value, bool):
        return (None if _blank(value) else value), None
    if isinstance(value, int | float):
        if value in (0, 1):
            return bool(value), None
    text = str(value).strip().lower()
    if text in _YES:
        return True, None
    if text in _NO:
        return False, None
    raise ConversionError(f"expected ja/nein, got {value!r}")


def _rail(value: Any) -> Parsed:
    if isinstance(value, str) and value.strip().lower() in _RAIL_POSSIBLE:
        return False, f"'{value.strip()}' read as no: only an existing siding counts"
    return _yes_no(value)


def _utilities(value: Any) -> Parsed:
    if _blank(value):
        return None, None
    text = str(value).strip().lower()
    for cls, words in _UTILITY_WORDS.items():
        if text in words:
            return cls, None
    media = [w.strip() for w in re.split(r"[,;/+]|\bund\b", text) if w.strip()]
    known = [_MEDIA.get(w) for w in media]
    if media and all(known):
        return ("full" if _ESSENTIAL_MEDIA <= set(known) else "partial"), None
    raise ConversionError(
        f"expected voll/teilweise/keine or a list of media (Strom, Trinkwasser, Abwasser, "
        f"Gas, Fernwärme...), got {value!r}; classes: {', '.join(UTILITY_CLASSES)}")


def _contamination(value: Any) -> Parsed:
    if _blank(value):
        return None, None
    text = str(value).strip().lower()
    if text == "-":
        return "none", None
    for cls, words in _CONTAMINATION_KEYWORDS:
        # Short words whole ("ja", not "Jahr"); long ones anywhere ("Altlastenverdacht").
        if any(re.search(rf"\b{re.escape(w)}\b" if len(w) <= 4 else re.escape(w), text)
               for w in words):
            return cls, None
    raise ConversionError(
        f"expected keine/Verdacht/saniert/bekannt, got {value!r}; classes: "
        f"{', '.join(CONTAMINATION_CLASSES)}")


def _broadband(value: Any) -> Parsed:
    if _blank(value):
        return None, None
    text = str(value).strip().lower()
    if text in ("-", "nein", "keine", "kein"):
        return "none", None
    match = _BANDWIDTH.search(text)
    if match:
        mbit = float(match[1].replace(",", ".")) * (1000 if match[2].lower() == "g" else 1)
        return ("gigabit" if mbit >= 1000 else "high" if mbit >= 50 else "basic"), None
    for cls, words in _BROADBAND_KEYWORDS:
        if any(w in text for w in words):
            return cls, None
    if text in ("ja", "vorhanden"):
        return "basic", (f"'{value}' read as basic; give the technology (Glasfaser, VDSL, "
                         "DSL) or the bandwidth (e.g. 100 Mbit/s) for a better class")
    raise ConversionError(
        f"expected Glasfaser/VDSL/DSL/keine or a bandwidth (e.g. 100 Mbit/s), got {value!r}; "
        f"classes: {', '.join(BROADBAND_CLASSES)}")


_PARSE_BY_TYPE: dict[FieldType, Callable[[Any], Parsed]] = {
    FieldType.TEXT: _text,
    FieldType.DOUBLE: _number,
    FieldType.BOOLEAN: _yes_no,
}
PARSERS: dict[str, Callable[[Any], Parsed]] = {
    **{f: _owner_area for f in OWNER_FIELDS},
    "rail_siding": _rail,
    "utilities": _utilities,
    "contamination": _contamination,
    "broadband": _broadband,
}
