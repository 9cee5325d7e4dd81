"""Commercial land: the site sheets (Standortblätter) of the city's economic development.

What the development company's GIS and spreadsheets export, with German column names:

* a **site sheet** (XLSX, ODS or CSV, one row per site) **plus a geometry file** (GeoPackage,
  GeoJSON, Shapefile, any GDAL vector format) with the site polygons, joined by the site id
  (``Flächen-Nr``); or
* **one vector file** whose features carry both the polygon and the sheet's columns.

Sheet and geometry are told apart by content (:func:`etl.io.sniff.kind_of`); a workbook's header
is the row that names the site id, wherever titles above it put it, on every sheet that has one.
Columns are matched by name whatever their spelling (``Bruttofläche (ha)``, ``Bruttofläche ha``,
``bruttoflaeche_ha`` and the registry's own ``gross_area_ha`` are one column), see
:data:`ALIASES` and :data:`COLUMNS`. Owner *names*, contact persons, phone numbers and every
other column not listed are dropped before anything is stored: the load names them, never their
values. Ownership is published only as hectares per owner type (city, private, other).

Text classes are normalised (utilities ``full/partial/none``, contamination
``none/remediated/suspected/known``, broadband ``gigabit/high/basic/none``), and the sheet's
numbers are checked for plausibility (net area within gross, GI + GE within net, occupancy
0-100, no negative areas, owner shares adding up to the gross area); each refusal names
file, row and column.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from etl.cells import blank, cell_text, key_text
from etl.columns import Column, Columns, Matched, header_key
from etl.fields import ConversionError, convert
from etl.geometry import resolve_crs, to_storage, zone_checked_crs
from etl.io.sheets import read_sheets
from etl.io.sniff import Kind, kind_of
from etl.io.text import Table, read_csv
from etl.io.vector import Batch, inspect_vector, read_vector
from etl.sources.base import LoadOptions, Part, Source
from twin.analysis.commercial_land import (
    BROADBAND_CLASSES,
    CONTAMINATION_CLASSES,
    UTILITY_CLASSES,
)
from twin.errors import RecordError, SourceError, refused
from twin.registry import COMMERCIAL_LAND, FieldType
from twin.settings import STORAGE_SRID

STORAGE = f"EPSG:{STORAGE_SRID}"

#: Site sheets give hectares to one decimal: differences below this are rounding.
AREA_TOLERANCE_HA = 0.1
#: Owner shares may miss the gross area by this share of it (or the tolerance above).
OWNER_TOLERANCE = 0.01
#: A polygon whose area differs from the sheet's gross area by more than this share (and by
#: more than 0.5 ha) is worth a note: one of the two is probably outdated.
AREA_NOTE_SHARE = 0.10

#: Registry field -> further accepted column names (the field's own name is accepted too);
#: compared after :func:`etl.columns.header_key`, so 'Flächen-Nr' is 'flaechen_nr'.
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
#: The columns of a site sheet (or of a vector file carrying the sheet's columns). Strict: two
#: columns giving one field refuse the file rather than one of them being picked silently.
COLUMNS = Columns(tuple(
    Column(f.name, (f.name, *ALIASES[f.name]), required=f.name == "site_id",
           missing="required column 'Flächen-Nr' (site id) is missing"
           if f.name == "site_id" else None)
    for f in COMMERCIAL_LAND.loaded_fields), strict=True)
SITE_ID_KEYS = frozenset(next(c for c in COLUMNS if c.field == "site_id").keys())
#: What a geometry file given beside a site sheet contributes: the rest is the sheet's.
GEOMETRY_FIELDS = ("site_id", "name")

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


def _has_site_id(cells: list[str]) -> bool:
    """Is this spreadsheet row the header? It is when it names the site id column."""
    return any(header_key(c) in SITE_ID_KEYS for c in cells)


@dataclass
class _Sites:
    """One table of sites as read (a sheet, a CSV, a vector layer): its rows by header, its
    columns matched to fields, and a polygon per row (EPSG:25833) once known."""

    table: Table
    columns: Matched
    geometries: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.table.rows)

    def raw(self, i: int, field: str) -> Any:
        header = self.columns.get(field)
        return None if header is None else self.table.rows[i][1].get(header)

    def row(self, i: int) -> int | str:
        """Row ``i`` as messages name it: "4 (sheet 'Gewerbeflächen')" in a workbook."""
        return self.table.row(self.table.rows[i][0])

    def header(self, field: str) -> str:
        """The column giving ``field``, as the file writes it."""
        return self.columns.get(field) or field


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
        kinds = {p: kind_of(p) for p in paths}
        sheets = [p for p in paths if kinds[p] in (Kind.TEXT, Kind.SPREADSHEET)]
        # JSON that is not recognisably GeoJSON goes to GDAL too, which names what is wrong.
        shapes = [p for p in paths if p not in sheets]
        if sheets and not shapes:
            raise SourceError(
                "a site sheet needs the site polygons: give a geometry file (GeoPackage, "
                "GeoJSON, Shapefile...) with the column 'Flächen-Nr' as well",
                path=str(sheets[0]))
        polygons = [self._read_vector(p, options, with_attributes=not sheets) for p in shapes]
        tables = polygons
        if sheets:
            tables = [t for p in sheets for t in self._read_sheet(p, kinds[p], options)]
            self._join(tables, polygons)
        for sites in tables:
            if len(sites):
                yield self._part(sites)

    def _read_sheet(self, path: Path, kind: Kind, options: LoadOptions) -> list[_Sites]:
        if kind is Kind.TEXT:
            tables = [read_csv(path)]
        else:
            tables, skipped = read_sheets(path, _has_site_id, sheet=options.layer)
            if not tables:
                # No sheet names a site id: refuse, naming what the sheet's first row has.
                tables, _ = read_sheets(path, any, sheet=options.layer)
                tables = tables[:1]
            elif skipped:
                self.notes.append(f"{path}: sheets without a site id column, not read: "
                                  f"{', '.join(skipped)}")
        if not any(t.rows for t in tables) and not options.allow_empty:
            raise SourceError("the site sheet holds no sites; use --allow-empty to publish "
                              "an empty collection", path=str(path))
        return [self._sites(t, with_attributes=True) for t in tables]

    def _read_vector(self, path: Path, options: LoadOptions, *,
                     with_attributes: bool) -> _Sites:
        info = inspect_vector(path, options.layer)
        if info.feature_count == 0 and not options.allow_empty:
            raise SourceError("the file holds no sites; use --allow-empty to publish an empty "
                              "collection", path=str(path))
        crs = resolve_crs(str(path), info.crs, options.crs)
        rows: list[tuple[int, dict[str, Any]]] = []
        geoms = []
        for batch in read_vector(path, info, batch_size=self.batch_size):
            cells = [batch.columns[h.lower()] for h in info.fields]
            rows.extend((int(r), {h: c[i] for h, c in zip(info.fields, cells, strict=True)})
                        for i, r in enumerate(batch.rows))
            geoms.append(batch.geometries)
        sites = self._sites(Table(path, list(info.fields), rows),
                            with_attributes=with_attributes,
                            required=info.feature_count != 0)
        geometries = np.concatenate(geoms) if geoms else np.array([], dtype=object)
        # Reprojected here, so that the gross area can be compared with the polygon's; the
        # zone prefix is corrected first, as the core does for every other source.
        crs, note = zone_checked_crs(geometries, crs)
        if note:
            self.notes.append(f"{path}: {note}")
        sites.geometries = to_storage(geometries, crs)
        return sites

    def _sites(self, table: Table, *, with_attributes: bool,
               required: bool | None = None) -> _Sites:
        """Match the table's columns to fields; note what is dropped (names only)."""
        columns = COLUMNS.match(table.header, path=table.path, where=table.where,
                                required=bool(table.rows) if required is None else required)
        prefix = f"{table.path}{table.where}"
        # Names only: the values of unknown columns (owner names, contacts) go nowhere.
        if note := columns.note():
            self.notes.append(note)
        if not with_attributes:
            ignored = [h for f, h in columns.by_field.items() if f not in GEOMETRY_FIELDS]
            if ignored:
                self.notes.append(f"{prefix}: the site sheet is the truth; columns of the "
                                  f"geometry file ignored: {', '.join(ignored)}")
        elif table.rows:
            absent = [f.name for f in COMMERCIAL_LAND.loaded_fields if f.name not in columns]
            if absent and "site_id" not in absent:
                self.notes.append(f"{prefix}: no column for {', '.join(absent)}; "
                                  "unknown for every site")
        return _Sites(table, columns)

    def _join(self, sheets: list[_Sites], geometry_tables: list[_Sites]) -> None:
        """Give each sheet row the polygon with its site id; refuse what does not pair up."""
        errors: list[RecordError] = []
        polygons: dict[str, tuple[_Sites, int]] = {}
        for shapes in geometry_tables:
            for i in range(len(shapes)):
                key = key_text(shapes.raw(i, "site_id"))
                if key is None:
                    errors.append(RecordError("site id is missing", path=str(shapes.table.path),
                                              row=shapes.row(i),
                                              field=shapes.header("site_id")))
                elif key in polygons:
                    first, j = polygons[key]
                    errors.append(RecordError(
                        f"site id '{key}' has a second polygon (first in row {first.row(j)})",
                        path=str(shapes.table.path), row=shapes.row(i),
                        field=shapes.header("site_id")))
                else:
                    polygons[key] = (shapes, i)
        used: dict[str, tuple[_Sites, int]] = {}
        for sheet in sheets:
            path = str(sheet.table.path)
            geoms = np.full(len(sheet), None, dtype=object)
            for i in range(len(sheet)):
                key = key_text(sheet.raw(i, "site_id"))
                if key is None:
                    continue  # the core refuses a missing key, naming the row
                if key in used:
                    first, j = used[key]
                    errors.append(RecordError(
                        f"site id '{key}' appears again (first in {first.table.path} row "
                        f"{first.row(j)})", path=path, row=sheet.row(i),
                        field=sheet.header("site_id")))
                    continue
                if key not in polygons:
                    errors.append(RecordError(
                        f"no polygon with site id '{key}' in "
                        f"{', '.join(str(t.table.path) for t in geometry_tables)}",
                        path=path, row=sheet.row(i), field=sheet.header("site_id")))
                    continue
                shapes, j = polygons[key]
                geoms[i] = shapes.geometries[j]
                used[key] = (sheet, i)
            sheet.geometries = geoms
        for key, (shapes, i) in polygons.items():
            if key not in used:
                errors.append(RecordError(
                    f"polygon of site id '{key}' has no row in the site sheet",
                    path=str(shapes.table.path), row=shapes.row(i),
                    field=shapes.header("site_id")))
        if errors:
            raise refused(errors, what="site(s)",
                          detail=": sheet and geometry do not pair up")

    # -- values -----------------------------------------------------------------------------
    def _part(self, sites: _Sites) -> Part:
        """The table's values converted (the checks need them as numbers), checked for
        plausibility, as a Part."""
        n, path = len(sites), str(sites.table.path)
        errors: list[RecordError] = []
        values: dict[str, list] = {}
        for f in COMMERCIAL_LAND.loaded_fields:
            if f.name not in sites.columns:
                values[f.name] = [None] * n
                continue
            parse = PARSERS.get(f.name, _PARSE_BY_TYPE[f.type])
            header = sites.header(f.name)
            out = []
            for i in range(n):
                try:
                    parsed, note = parse(sites.raw(i, f.name))
                except ConversionError as exc:
                    errors.append(RecordError(str(exc), path=path, row=sites.row(i),
                                              field=header))
                    parsed, note = None, None
                if note:
                    self.notes.append(f"{path}: row {sites.row(i)}, field '{header}': {note}")
                out.append(parsed)
            values[f.name] = out
        if not errors:
            for i in range(n):
                errors.extend(self._implausible({k: v[i] for k, v in values.items()},
                                                sites, i))
                self._area_note(values["gross_area_ha"][i], sites, i)
        if errors:
            raise refused(errors, what="site(s)")
        geoms = sites.geometries if sites.geometries is not None \
            else np.full(n, None, dtype=object)
        rows = np.array([number for number, _ in sites.table.rows], dtype=int)
        return Part(COMMERCIAL_LAND, Batch(values, geoms, rows), sites.table.path, STORAGE, n)

    def _implausible(self, site: dict[str, Any], sites: _Sites, i: int) -> list[RecordError]:
        """Refusals of one site's numbers, each naming the column as the file writes it."""
        errors: list[RecordError] = []
        row, path = sites.row(i), str(sites.table.path)

        def refuse(field: str, message: str) -> None:
            errors.append(RecordError(message, path=path, row=row, field=sites.header(field)))

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
            field = "gi_area_ha" if "gi_area_ha" in sites.columns else "ge_area_ha"
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
                field = next(f for f in OWNER_FIELDS if f in sites.columns)
                refuse(field, f"owner shares (city, private, other) add up to {total:g} ha, "
                              f"not to the gross area {gross:g} ha")
        return errors

    def _area_note(self, gross: float | None, sites: _Sites, i: int) -> None:
        geom = None if sites.geometries is None else sites.geometries[i]
        if gross is None or geom is None or shapely.is_empty(geom):
            return
        polygon_ha = shapely.area(geom) / 10_000
        if abs(polygon_ha - gross) > max(0.5, AREA_NOTE_SHARE * gross):
            self.notes.append(
                f"{sites.table.path}: row {sites.row(i)}, field "
                f"'{sites.header('gross_area_ha')}': gross area {gross:g} ha, but the "
                f"polygon has {polygon_ha:.1f} ha; is one of them outdated?")


# -- value parsers: raw cell -> (value, note) ------------------------------------------------
Parsed = tuple[Any, str | None]


def _text(value: Any) -> Parsed:
    return cell_text(value), None


def _key(value: Any) -> Parsed:
    """A site id as text; spreadsheets turn '7' into 7.0."""
    return key_text(value), None


_UNIT = re.compile(r"\s*(ha|%|€/m²|€/m2|eur/m²|eur/m2|€|eur)\s*$", re.I)


def _number(value: Any) -> Parsed:
    """Numbers as German sheets write them: '12,5', '1.234,5', '85 %', '25,00 €/m²'."""
    if blank(value):
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
    if blank(value) or isinstance(value, bool):
        return (None if blank(value) else value), None
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
    if blank(value):
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
    if blank(value):
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
    if blank(value):
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
    "site_id": _key,
    **{f: _owner_area for f in OWNER_FIELDS},
    "rail_siding": _rail,
    "utilities": _utilities,
    "contamination": _contamination,
    "broadband": _broadband,
}
