"""Street damage: citizen reports (Open311 GeoReport v2) and the city's damage register (CSV).

Both end in the collection ``street-damage``; ``source`` says which (``open311``, ``register``)
and ``damage_id`` is ``open311-<service_request_id>`` or ``register-<id>``. One load may take
either kind of file or both; the kind is told by content (:func:`etl.io.sniff.kind_of`: JSON
that is not GeoJSON is GeoReport, delimited text the register; XML, GeoJSON and workbooks are
refused saying what is expected), not by the file name. In replace mode a load of one kind
replaces only the rows of that kind, so loading the register never deletes citizen reports and
vice versa, and no load deletes the records field crews created through the write API
(``source`` ``field``, ids ``field-<uuid>``; twin/transactions.py).

Personal data never reaches a Part: the reporter's contact fields (``email``, ``first_name``,
``last_name``, ``phone``, ``device_id``, ``account_id``), ``status_notes`` and ``media_url``
(photos show people and plates) are dropped; the description is published only as
:func:`twin.redact.redact` leaves it (an allow-list: known words and measurements), the street
only as a clean street name (:func:`etl.street_names.street_name`), the category and the
service code only from a fixed vocabulary (config/vocabulary.yml; anything else is "other").
See docs/sources/street-damage.md.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely

from etl.columns import Column, Columns, Matched
from etl.fields import ConversionError, convert
from etl.io.sniff import Kind, kind_of
from etl.io.text import Table, decode, read_csv
from etl.io.vector import Batch
from etl.sources.base import LoadOptions, Part, Source
from etl.street_names import street_name
from twin.errors import RecordError, SourceError, refused
from twin.redact import redact
from twin.registry import STREET_DAMAGE, Collection, FieldType
from twin.vocabulary import fold, vocabulary

OPEN311 = "open311"
REGISTER = "register"

#: The register's dates are local calendar days; a survey day starts at midnight in Cottbus.
LOCAL_TZ = ZoneInfo("Europe/Berlin")
#: CRS of the register's coordinates unless `--crs` says otherwise.
REGISTER_CRS = "EPSG:25833"
#: Open311 positions are WGS84 latitude/longitude by the GeoReport v2 specification.
OPEN311_CRS = "EPSG:4326"

#: ZEB (Zustandserfassung und -bewertung) condition values and their thresholds.
ZEB_MIN, ZEB_MAX = 1.0, 5.0
ZEB_TARGET = 1.5  # Zielwert: better than this is "very good"
ZEB_WARNING = 3.5  # Warnwert: plan measures
ZEB_THRESHOLD = 4.5  # Schwellenwert: measures needed

#: Normalised status words (lower case, single spaces, '_'/'-' as spaces) -> published status.
STATUS: dict[str, str] = {
    **dict.fromkeys(("open", "offen", "neu", "new", "gemeldet", "erfasst", "eingegangen",
                     "acknowledged"), "open"),
    **dict.fromkeys(("in progress", "in process", "in bearbeitung", "in arbeit",
                     "beauftragt", "in planung", "in prüfung", "geplant"), "in_progress"),
    **dict.fromkeys(("closed", "erledigt", "behoben", "abgeschlossen", "geschlossen",
                     "repariert", "saniert", "fixed", "resolved", "done"), "closed"),
}

#: What an unknown category or service code is published as.
OTHER = "other"

#: GeoReport v2 fields that identify or contact the reporter, or that may show or name
#: people; never read into a Part (names are said in the load's notes, values never).
OPEN311_WITHHELD = ("email", "first_name", "last_name", "phone", "device_id", "account_id",
                    "status_notes", "media_url")
#: GeoReport v2 fields that are published (through the mapping in _open311_record).
#: Mark-a-Spot servers (Cologne's and Bonn's "Sag's uns") send ``address_string`` instead of
#: ``address`` ("50997 Köln - Godorf, Amselweg 3"); either gives the street.
OPEN311_USED = ("service_request_id", "status", "service_name", "service_code", "description",
                "requested_datetime", "updated_datetime", "address", "address_string", "lat",
                "long")
OPEN311_ADDRESS = ("address", "address_string")
#: A report without these is refused. ``lat``/``long`` are not among them: a report without a
#: pin is skipped with a note (:func:`_has_location`), the rest of the feed loads.
OPEN311_REQUIRED = ("service_request_id", "status", "requested_datetime")


#: A header that looks like a condition but is the bridge grade of DIN 1076 (1,0-4,0, 4 the
#: worst): read as a ZEB value (1,0-5,0, 5 the worst) it would rank a damaged bridge as a road
#: in fair condition. Refused, never an alias (issue 10).
BRIDGE_GRADE = "zustandsnote"
#: The published category of a pothole: a ZEB value "very good" beside it is a contradiction.
POTHOLE = "Schlagloch"

#: Register columns; header names are compared after :func:`etl.columns.header_key` (case,
#: umlauts, spaces and punctuation ignored), so "Schadens-Nr.", "schadensnr" and "SCHADENS NR"
#: match. The first spelling present wins.
REGISTER_COLUMNS = Columns((
    Column("id", ("id", "schadensnr", "schadennr", "schadensnummer", "schadenid", "nr"),
           required=True),
    Column("street", ("strasse", "strassenname", "street"), required=True),
    Column("category", ("schadensart", "schadenart", "art", "schadenstyp", "damagetype"),
           required=True),
    Column("condition", ("zustandsklasse", "zustandswert", "zebklasse", "zeb", "conditionclass"),
           required=True, refused=((BRIDGE_GRADE, (
               "is a bridge condition grade (Zustandsnote after DIN 1076, 1,0 to 4,0), not the "
               "ZEB condition value of a road section (Zustandswert, 1,0 to 5,0); it is not read "
               "as the condition class. Give the ZEB value as 'Zustandsklasse' or "
               "'Zustandswert'")),)),
    Column("surveyed", ("erfassungsdatum", "erfasstam", "erfasst", "aufnahmedatum", "datum",
                        "surveyed"), required=True),
    Column("status", ("status", "bearbeitungsstand", "bearbeitungsstatus"), required=True),
    Column("x", ("x", "rechtswert", "ostwert", "easting"), required=True),
    Column("y", ("y", "hochwert", "nordwert", "northing"), required=True),
    Column("updated", ("aktualisiertam", "geaendertam", "letzteaenderung", "updated")),
    Column("remark", ("bemerkung", "beschreibung", "hinweis", "description")),
))

#: The fields of a record as read; its geometry travels among them under :data:`GEOMETRY`
#: until it becomes a Part.
RECORD_FIELDS = [f.name for f in STREET_DAMAGE.loaded_fields]
GEOMETRY = "geometry"


KEY_PATTERN = re.compile(r"(open311|register)-[A-Za-z0-9][A-Za-z0-9._:-]*")


def normalise_status(value: Any) -> str | None:
    """The published status (open, in_progress, closed) of a status word, or None."""
    if value is None:
        return None
    key = re.sub(r"\s+", " ", str(value).replace("_", " ").replace("-", " ")).strip().lower()
    return STATUS.get(key)


def condition_rating(condition: float | None) -> str | None:
    """'below_warning', 'warning' (>= 3.5) or 'threshold' (>= 4.5) of a ZEB class."""
    if condition is None:
        return None
    if condition >= ZEB_THRESHOLD:
        return "threshold"
    if condition >= ZEB_WARNING:
        return "warning"
    return "below_warning"


def street_of(address: Any) -> str | None:
    """The street of an Open311 address or a register cell: 'Bahnhofstraße 52, 03046
    Cottbus' -> 'Bahnhofstraße', 'Gerlinde X Karlstraße 12' -> 'Karlstraße'.

    Only a clean street name is published (:func:`etl.street_names.street_name`), never a
    house number or whoever citizens name beside it.
    """
    return street_name(address)


def category_of(value: Any) -> str | None:
    """The published category of a register `Schadensart` or an Open311 `service_name`: one
    of the fixed categories (config/vocabulary.yml), "other" for anything else, None for
    nothing."""
    if value is None or not str(value).strip():
        return None
    return vocabulary().categories.get(fold(str(value)), OTHER)


def service_code_of(value: Any) -> str | None:
    """The published Open311 service code: a listed code, "other" for anything else."""
    if value is None or not str(value).strip():
        return None
    code = str(value).strip()
    return code if code in vocabulary().service_codes else OTHER


class _Others:
    """How many values of a field were published as "other" (the values are never said)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, name: str, published: str | None) -> str | None:
        if published == OTHER:
            self.counts[name] = self.counts.get(name, 0) + 1
        return published

    def notes(self, path: Path) -> list[str]:
        return [f"{path}: {n} value(s) of '{name}' not in the vocabulary, published as "
                f"'{OTHER}' (config/vocabulary.yml)" for name, n in sorted(self.counts.items())]


def _kind(path: Path) -> str:
    """OPEN311 or REGISTER, by content; anything else is refused saying what is expected."""
    kind = kind_of(path)
    if kind is Kind.JSON:
        return OPEN311
    if kind is Kind.TEXT:
        return REGISTER
    if kind is Kind.SPREADSHEET:
        raise SourceError("this is a workbook; save the damage register as CSV",
                          path=str(path))
    head = b""
    if path.is_file():
        with path.open("rb") as fh:
            head = fh.read(256).removeprefix(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"<"):
        raise SourceError("this is XML; ask the GeoReport server for JSON "
                          "(requests.json) or give the register as CSV", path=str(path))
    what = "GeoJSON" if head.startswith(b"{") else "a GIS file (GeoPackage, Shapefile...)"
    raise SourceError(f"this is {what}; expected GeoReport v2 service requests as JSON "
                      "(requests.json) or the damage register as CSV", path=str(path))


def _parts(records: Table, crs: str, size: int) -> Iterator[Part]:
    """The records of one file (values by field, the geometry under :data:`GEOMETRY`) in
    batches of ``size``."""
    for rows in records.batches(size):
        geoms = np.empty(len(rows), dtype=object)
        geoms[:] = [values[GEOMETRY] for _, values in rows]
        columns = {name: [values.get(name) for _, values in rows] for name in records.header}
        batch = Batch(columns, geoms, np.asarray([row for row, _ in rows]))
        yield Part(STREET_DAMAGE, batch, records.path, crs, len(records.rows))


class StreetDamageSource(Source):
    """Open311 GeoReport v2 requests (JSON) and the damage register (CSV)."""

    name = "street-damage"
    collections = (STREET_DAMAGE,)
    sample_globs = ("*.json", "*.csv")

    def __init__(self) -> None:
        super().__init__()
        #: The kinds of file the current load read: what its replace may delete (the core
        #: asks :meth:`replace_scope` after :meth:`read`). Set anew by every read.
        self._kinds: set[str] = set()

    # -- the contract -----------------------------------------------------------------------
    def read(self, paths: list[Path], options: LoadOptions) -> Iterator[Part]:
        self._kinds = set()
        kinds = {path: _kind(path) for path in paths}
        files: list[tuple[Table, str]] = []
        errors: list[RecordError] = []
        for path in paths:
            if kinds[path] == OPEN311:
                files.append((self._read_open311(path, errors), OPEN311_CRS))
            else:
                files.append((self._read_register(path, errors), options.crs or REGISTER_CRS))
        if errors:
            raise refused(errors)
        self._kinds = set(kinds.values())
        for records, crs in files:
            yield from _parts(records, crs, self.batch_size)

    def key_problem(self, collection: Collection, key: str) -> str | None:
        if not KEY_PATTERN.fullmatch(key):
            return (f"'{key}' is not a damage id ('open311-' or 'register-' followed by "
                    "letters, digits, '.', '_', ':' or '-')")
        return None

    def replace_scope(self, collection: Collection) -> tuple[str, Any] | None:
        # One kind of file replaces only its own kind; both kinds replace both. Records field
        # crews created through the write API (source 'field', twin/transactions.py) are
        # never any load's to delete.
        return ("source", sorted(self._kinds))

    # -- Open311 -----------------------------------------------------------------------------
    def _read_open311(self, path: Path, errors: list[RecordError]) -> Table:
        try:
            doc = json.loads(decode(path)[0])
        except UnicodeDecodeError as exc:
            raise SourceError(f"cannot decode as UTF-8 or Windows-1252 ({exc})",
                              path=str(path)) from exc
        except json.JSONDecodeError as exc:
            raise SourceError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: "
                              f"{exc.msg})", path=str(path)) from exc
        requests = self._requests(path, doc)
        records: list[tuple[int, dict[str, Any]]] = []
        extra: set[str] = set()
        withheld: set[str] = set()
        others = _Others()
        unplaced: list[int] = []
        for row, request in enumerate(requests, start=1):
            if not isinstance(request, dict):
                errors.append(RecordError("expected a service request (a JSON object), got "
                                          f"{type(request).__name__}", path=str(path), row=row))
                continue
            withheld.update(k for k in request if k in OPEN311_WITHHELD)
            extra.update(k for k in request if k not in OPEN311_USED + OPEN311_WITHHELD)
            if not _has_location(request.get("lat"), request.get("long")):
                # A citizen feed must not be blocked by one report without a pin; it cannot
                # be placed, so it is not published.
                unplaced.append(row)
                continue
            records.append((row, self._open311_record(path, row, request, errors, others)))
        if unplaced:
            rows = ", ".join(map(str, unplaced[:10])) + (", ..." if len(unplaced) > 10 else "")
            self.notes.append(
                f"{path}: row {unplaced[0]}, field 'lat': {len(unplaced)} report(s) without a "
                f"usable location ('lat'/'long' missing or 0/0) not placed and not published "
                f"(rows {rows})")
        if withheld:
            self.notes.append(f"{path}: personal fields withheld, never published: "
                              f"{', '.join(sorted(withheld))}")
        if extra:
            self.notes.append(f"{path}: fields not published and dropped: "
                              f"{', '.join(sorted(extra))}")
        self.notes.extend(others.notes(path))
        return Table(path, RECORD_FIELDS, records)

    @staticmethod
    def _requests(path: Path, doc: Any) -> list:
        """The list of service requests, however the server wrapped it."""
        if isinstance(doc, dict):
            for key in ("service_requests", "requests", "request"):
                if isinstance(doc.get(key), list):
                    return doc[key]
            if "service_request_id" in doc:
                return [doc]
            raise SourceError("expected a JSON array of GeoReport v2 service requests (or an "
                              "object with 'service_requests'); found an object with keys "
                              f"{', '.join(sorted(map(str, doc))) or 'none'}", path=str(path))
        if not isinstance(doc, list):
            raise SourceError("expected a JSON array of GeoReport v2 service requests",
                              path=str(path))
        if doc and all(isinstance(r, dict) and "code" in r and "service_request_id" not in r
                       for r in doc):
            first = doc[0]
            raise SourceError(f"the file is a GeoReport error response (code "
                              f"'{first.get('code')}': '{first.get('description')}')",
                              path=str(path))
        return doc

    def _open311_record(self, path: Path, row: int, request: dict, errors: list[RecordError],
                        others: _Others) -> dict[str, Any]:
        def refuse(message: str, name: str) -> None:
            errors.append(RecordError(message, path=str(path), row=where, field=name))

        raw_id = request.get("service_request_id")
        ident = None if raw_id is None or not str(raw_id).strip() else str(raw_id).strip()
        where: int | str = f"{row} (service_request_id {ident})" if ident else row
        for name in OPEN311_REQUIRED:
            if request.get(name) is None or not str(request[name]).strip():
                refuse("value is missing", name)

        status = normalise_status(request.get("status"))
        if request.get("status") is not None and status is None:
            refuse(f"unknown status '{request['status']}'; valid: {_valid_statuses()}",
                   "status")
        reported = _timestamp(request.get("requested_datetime"), "requested_datetime", refuse)
        updated = _timestamp(request.get("updated_datetime"), "updated_datetime", refuse)
        return {
            "damage_id": f"{OPEN311}-{ident}" if ident else None,
            "source": OPEN311,
            "category": others("service_name", category_of(request.get("service_name"))),
            "service_code": others("service_code", service_code_of(request.get("service_code"))),
            "status": status,
            "street": street_of(next((request[k] for k in OPEN311_ADDRESS
                                      if request.get(k) and str(request[k]).strip()), None)),
            "description": redact(_text(request.get("description"))),
            "condition_class": None,
            "condition_rating": None,
            "reported_at": reported,
            "updated_at": updated,
            GEOMETRY: _open311_point(request.get("lat"), request.get("long"), refuse),
        }

    # -- the register ------------------------------------------------------------------------
    def _read_register(self, path: Path, errors: list[RecordError]) -> Table:
        table = read_csv(path)
        header = REGISTER_COLUMNS.match(table.header, path=path)
        if note := header.note():
            self.notes.append(note)
        others = _Others()
        records = []
        contradictions: list[str] = []
        for line, cells in table.rows:
            values = self._register_record(path, line, cells, header, errors)
            values["category"] = others(header.by_field["category"], values["category"])
            records.append((line, values))
            if values["category"] == POTHOLE and values["condition_class"] is not None \
                    and values["condition_class"] < ZEB_TARGET:
                contradictions.append(f"{line} ({values['damage_id']})")
        self.notes.extend(others.notes(path))
        if contradictions:
            # Named, not refused: the damage is real and the register's other rows are good;
            # the value is published as given for the road authority to check (docs).
            self.notes.append(
                f"{path}: field '{header.by_field['condition']}': {len(contradictions)} "
                f"pothole(s) ({POTHOLE}) rated better than the ZEB target value 1,5 (very "
                "good), a contradiction: a ZEB value rates a road section of a network "
                "survey, not a damage; published as given, check against the survey (rows "
                f"{', '.join(contradictions[:10])}"
                f"{', ...' if len(contradictions) > 10 else ''})")
        return Table(path, RECORD_FIELDS, records)

    def _register_record(self, path: Path, line: int, cells: dict[str, str], header: Matched,
                         errors: list[RecordError]) -> dict[str, Any]:
        def cell(role: str) -> str | None:
            return _text(cells.get(header.by_field[role])) if role in header else None

        def refuse(message: str, role: str) -> None:
            errors.append(RecordError(message, path=str(path), row=where,
                                      field=header.by_field[role]))

        ident = cell("id")
        where: int | str = f"{line} ({header.by_field['id']} {ident})" if ident else line
        for role in ("id", "status", "surveyed"):
            if cell(role) is None:
                refuse("value is missing", role)

        status = normalise_status(cell("status"))
        if cell("status") is not None and status is None:
            refuse(f"unknown status '{cell('status')}'; valid: {_valid_statuses()}", "status")
        condition = None
        if (text := cell("condition")) is not None:
            try:
                condition = convert(text, FieldType.DOUBLE)
            except ConversionError:
                refuse(f"'{text}' is not a ZEB condition class (a number from 1,0 to 5,0)",
                       "condition")
            else:
                if condition is not None and not ZEB_MIN <= condition <= ZEB_MAX:
                    refuse(f"condition class '{text}' is outside the ZEB scale 1,0 to 5,0",
                           "condition")
                    condition = None
        surveyed = _local_midnight(cell("surveyed"), lambda m: refuse(m, "surveyed"))
        updated = _local_midnight(cell("updated"), lambda m: refuse(m, "updated")) \
            if "updated" in header else None
        return {
            "damage_id": f"{REGISTER}-{ident}" if ident else None,
            "source": REGISTER,
            "category": category_of(cell("category")),
            "service_code": None,
            "status": status,
            "street": street_of(cell("street")),
            "description": redact(cell("remark")),
            "condition_class": condition,
            "condition_rating": condition_rating(condition),
            "reported_at": surveyed,
            "updated_at": updated,
            GEOMETRY: _register_point(cell("x"), cell("y"), refuse),
        }


# -- values ----------------------------------------------------------------------------------
def _valid_statuses() -> str:
    return ", ".join(STATUS)


def _text(value: Any) -> str | None:
    return convert(value, FieldType.TEXT)


def _timestamp(value: Any, name: str, refuse) -> dt.datetime | None:
    if value is None or not str(value).strip():
        return None
    try:
        return convert(str(value), FieldType.TIMESTAMPTZ)
    except ConversionError:
        refuse(f"'{value}' is not an ISO 8601 timestamp with offset "
               "(e.g. 2024-03-14T08:12:44+01:00)", name)
        return None


def _local_midnight(value: str | None, refuse) -> dt.datetime | None:
    """A register date (DD.MM.YYYY or YYYY-MM-DD) as midnight in Europe/Berlin."""
    if value is None:
        return None
    try:
        day = convert(value, FieldType.DATE)
    except ConversionError:
        refuse(f"'{value}' is not a date (DD.MM.YYYY or YYYY-MM-DD)")
        return None
    return dt.datetime.combine(day, dt.time(0), tzinfo=LOCAL_TZ)


def _number(value: Any) -> float | None:
    try:
        number = convert(value, FieldType.DOUBLE)
    except ConversionError:
        return None
    return number if number is not None and math.isfinite(number) else None


def _has_location(lat: Any, lon: Any) -> bool:
    """False when a report has no pin: ``lat`` or ``long`` missing or empty, or both 0 (the
    placeholder many GeoReport servers send for "no location"; 0/0 is in the Atlantic)."""
    if lat is None or lon is None or not str(lat).strip() or not str(lon).strip():
        return False
    return not (_number(lat) == 0 and _number(lon) == 0)


def _open311_point(lat: Any, lon: Any, refuse) -> Any:
    y, x = _number(lat), _number(lon)
    if y is None or not -90 <= y <= 90:
        refuse(f"'{lat}' is not a latitude (WGS84 degrees, -90 to 90)", "lat")
        return None
    if x is None or not -180 <= x <= 180:
        refuse(f"'{lon}' is not a longitude (WGS84 degrees, -180 to 180)", "long")
        return None
    if 11 <= y <= 15.5 and 51 <= x <= 54:
        refuse(f"lat '{lat}' and long '{lon}' look swapped (Cottbus is at lat 51.76, long 14.33)",
               "lat")
        return None
    return shapely.Point(x, y)


def _register_point(x_text: str | None, y_text: str | None, refuse) -> Any:
    missing = [role for role, text in (("x", x_text), ("y", y_text)) if text is None]
    for role in missing:
        refuse("position is missing (every damage needs one)", role)
    if missing:
        return None
    x, y = _number(x_text), _number(y_text)
    if x is None:
        refuse(f"'{x_text}' is not a coordinate", "x")
    if y is None:
        refuse(f"'{y_text}' is not a coordinate", "y")
    return None if x is None or y is None else shapely.Point(x, y)
