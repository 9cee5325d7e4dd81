"""Traffic counts: counting stations and hourly counts in the layout of the BASt.

One load takes a stations file and any number of hourly files; the source tells them apart by
their header. The hourly files (CSV, BASt's ``.txt``, or either zipped) follow the federal
road research institute's (Bundesanstalt für Straßenwesen) layout: semicolon-separated,
``TKNR;Zst;Land;Strklas;Strnum;Datum;Wotag;Fahrtzw;Stunde;KFZ_R1;KFZ_R2;Lkw_R1;Lkw_R2;...``
with the date as ``yymmdd`` and the hour as 1-24 of local (Europe/Berlin) wall-clock time.
Columns are read by name, never by position: the files of different years order and name
their columns differently. BASt's national files (``{year}_A_S.txt``, every station of a
road class) are streamed and only the rows of the call's stations kept; the others are
counted in one note.

Every hour becomes an observation with a real instant: the hour that does not exist when the
clocks go forward is not stored (a note says so), the hour that occurs twice when they go back
is taken in file order (first CEST, then CET). Negative values, values over the capacity of a
direction and values whose BASt quality mark (``K_*``) is not one BASt counts as valid are
flagged, never silently used: the station figures (twin/sql/derive_traffic.sql) skip them.

A gap is the absence of data, so it is derived, not loaded: twin/sql/derive_traffic.sql gives
every hour of a local day on which a station has a row, and that has no row itself, a row with
no counts and the flag ``gap``. The source never sends such a row in upsert or append mode,
where it would replace a count an earlier load published; a file row without one of its
``KFZ_*``/``Lkw_*`` counts is not sent either (a note names it), for the same reason. In
replace mode the files are the whole truth, and the source sends the gap rows itself, by the
same rule, so that loading the same files again deletes and re-creates nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely

from etl import geometry
from etl.cells import MISSING_MARKERS, cell_text, key_text
from etl.columns import Column, Columns, Matched, header_key
from etl.io.sniff import Kind, kind_of
from etl.io.text import Table, header_cells, read_csv, read_filtered
from etl.io.vector import Batch, inspect_vector, read_vector
from etl.sources.base import LoadMode, LoadOptions, Part, Source
from twin.errors import RecordError, SourceError, refused
from twin.registry import TRAFFIC_COUNTS, TRAFFIC_STATIONS
from twin.settings import STORAGE_SRID

#: The time zone of the counts: German counting stations record local wall-clock hours.
LOCAL_TZ = ZoneInfo("Europe/Berlin")
#: Vehicles per hour and direction above which a count is a spike: more than two lanes of an
#: urban main road carry (saturation flow is about 1,800 vehicles per lane and hour of green;
#: signals keep a lane well below 1,500 an hour). Above it, a detector fault (double
#: counting, a stuck loop), not traffic.
SPIKE_LIMIT = 3000
#: The flag of an hour with no row: derived (twin/sql/derive_traffic.sql), never read.
GAP = "gap"
#: Flags, most severe first; an observation carries the first that applies.
FLAGS = (GAP, "negative", "spike", "quality")
#: BASt quality marks (``K_*``) of a value BASt itself counts as valid: '-' a measured value
#: that passed the plausibility checks, 'k' a value BASt corrected, 's' a value BASt
#: substituted by its estimation procedure (see docs/sources/traffic-counts.md for the
#: source). Any other letter ('a', 'd', 'u', 'z', ...) excludes the hour from the figures.
QUALITY_OK = frozenset({"", "-", "k", "s"})

#: BASt hourly columns -> published field; a file without one of the first four is refused.
COUNT_COLUMNS = {"KFZ_R1": "kfz_r1", "KFZ_R2": "kfz_r2", "Lkw_R1": "lkw_r1", "Lkw_R2": "lkw_r2",
                 "Pkw_R1": "pkw_r1", "Pkw_R2": "pkw_r2", "Bus_R1": "bus_r1", "Bus_R2": "bus_r2"}
REQUIRED_COUNTS = ("KFZ_R1", "KFZ_R2", "Lkw_R1", "Lkw_R2")
_CLASSES = ("KFZ", "Lkw", "PLZ", "Pkw", "Lfw", "Mot", "PmA", "Bus", "LoA", "Lzg", "Sat", "Son")
#: The columns of an hourly file, by name (never by position: the files of different years
#: order and name them differently); its quality marks are ``K_<count>``. The other columns of
#: the BASt layouts are read by nobody and dropped without a note; any other is named in one.
HOURLY_COLUMNS = Columns((
    Column("zst", ("Zst",), required=True),
    Column("datum", ("Datum",), required=True),
    Column("stunde", ("Stunde",), required=True),
    Column("wotag", ("Wotag",)),
    *(Column(f, (c,), required=c in REQUIRED_COUNTS) for c, f in COUNT_COLUMNS.items()),
    *(Column(f"k_{f}", (f"K_{c}",)) for c, f in COUNT_COLUMNS.items()),
), also=("TKNR", "Land", "Strklas", "Strnum", "Fahrtzw",
         *(f"{k}{c}_R{r}" for c in _CLASSES for r in (1, 2) for k in ("", "K_"))))
#: Header names that make a text file an hourly file rather than a stations list.
HOURLY_MARKERS = frozenset(header_key(h) for h in ("TKNR", "Datum", "Stunde", "Wotag",
                                                     "Fahrtzw", "KFZ_R1", "KFZ_R2"))

#: Stations lists (CSV or GeoJSON): field -> accepted column names, the first present wins.
#: The BASt station lists' own names (DZ_Nr, DZ_Name, Nahziel_Ri1...) are accepted too; a
#: BASt list has no road column but road class, number and suffix: Str_Kl "B", Str_Nr "96",
#: Str_Zus "a" -> "B 96a" (as etl/street_names.py writes a road).
STATION_COLUMNS = Columns((
    Column("station_id", ("Zst", "station_id", "DZ_Nr"), required=True, missing=(
        "no column 'Zst' with the station number: neither a stations list nor a BASt hourly "
        "file (header 'TKNR;Zst;...;Datum;...;Stunde;KFZ_R1;...')")),
    Column("name", ("Name", "DZ_Name", "Bezeichnung")),
    Column("road", ("Strasse", "Straße", "road")),
    Column("direction_1", ("Richtung_1", "direction_1", "Nahziel_Ri1", "Fernziel_Ri1")),
    Column("direction_2", ("Richtung_2", "direction_2", "Nahziel_Ri2", "Fernziel_Ri2")),
    Column("road_class", ("Str_Kl",)),
    Column("road_number", ("Str_Nr",)),
    Column("road_suffix", ("Str_Zus",)),
))
#: Coordinate column pairs of a stations CSV and their CRS, the first pair present wins.
COORDINATES = ((("x", "y"), "EPSG:25833"), (("lon", "lat"), "EPSG:4326"),
               (("utm32_e", "utm32_n"), "EPSG:25832"), (("wgs84_e", "wgs84_n"), "EPSG:4326"))
STATION_CSV_COLUMNS = Columns((
    *STATION_COLUMNS,
    Column("x", ("x",)), Column("y", ("y",)), Column("lon", ("lon",)), Column("lat", ("lat",)),
    Column("utm32_e", ("Koor_UTM32_E",)), Column("utm32_n", ("Koor_UTM32_N",)),
    Column("wgs84_e", ("Koor_WGS84_E",)), Column("wgs84_n", ("Koor_WGS84_N",)),
))
#: Station numbers become part of observation ids ('<station>/<UTC hour>'): no '/' or spaces.
STATION_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,31}")


# -- local hours and instants ------------------------------------------------------------------
def wall_clock_instants(day: dt.date, stunde: int, tz: ZoneInfo = LOCAL_TZ) -> list[dt.datetime]:
    """The UTC instants at which hour ``stunde`` (1-24) of the local ``day`` starts.

    One instant normally; none for the hour skipped when the clocks go forward (02:00-03:00
    on the last Sunday of March); two, in time order, for the hour that occurs twice when they
    go back (02:00-03:00 on the last Sunday of October: first CEST, then CET).
    """
    naive = dt.datetime.combine(day, dt.time()) + dt.timedelta(hours=stunde - 1)
    first = naive.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)
    second = naive.replace(tzinfo=tz, fold=1).astimezone(dt.UTC)
    if first == second:
        return [first]
    if first.astimezone(tz).replace(tzinfo=None) != naive:
        return []  # in the gap: zoneinfo maps it to a wall-clock time it is not
    return sorted((first, second))


def day_instants(day: dt.date, tz: ZoneInfo = LOCAL_TZ) -> list[dt.datetime]:
    """The UTC starts of every hour of the local ``day``: 23, 24 or 25 of them."""
    start = dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.UTC)
    return [start + dt.timedelta(hours=h) for h in range((end - start) // dt.timedelta(hours=1))]


def local_hour(instant: dt.datetime, tz: ZoneInfo = LOCAL_TZ) -> tuple[dt.date, int]:
    """Local date and BASt hour (1-24) of the hour starting at ``instant``."""
    local = instant.astimezone(tz)
    return local.date(), local.hour + 1


def observation_id(station_id: str, instant: dt.datetime) -> str:
    return f"{station_id}/{instant.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}"


def parse_datum(text: str) -> dt.date:
    """A BASt date ``yymmdd`` (years 70-99 are 19xx, 00-69 are 20xx); raises ValueError."""
    text = text.strip()
    if not re.fullmatch(r"\d{6}", text):
        raise ValueError(f"expected a date as yymmdd (e.g. 240331), got {text!r}")
    yy, mm, dd = int(text[:2]), int(text[2:4]), int(text[4:])
    try:
        return dt.date(1900 + yy if yy >= 70 else 2000 + yy, mm, dd)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date (yymmdd): {exc}") from None


def station_key(station_id: str) -> str:
    """How station numbers are matched: '0815' in one file is '815' in another."""
    return str(int(station_id)) if station_id.isdigit() else station_id


# -- records -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Station:
    station_id: str
    name: str | None
    road: str | None
    direction_1: str | None
    direction_2: str | None
    point: Any  # shapely Point in the storage CRS
    path: Path
    row: int
    column: str  # the station number's column, as the file names it


@dataclass
class Observation:
    station: Station
    day: dt.date
    stunde: int
    counts: dict[str, int | None]  # published field -> value
    flag: str | None
    path: Path
    line: int  # 0 for an hour the file lacks
    instant: dt.datetime | None = None
    blank: str | None = None  # the first required count column the row leaves empty


class TrafficSource(Source):
    """Counting stations (CSV or GeoJSON) and BASt hourly counts (CSV), in one load."""

    name = "traffic-counts"
    collections = (TRAFFIC_STATIONS, TRAFFIC_COUNTS)
    # Counts arrive month by month: a new file adds to what is published.
    default_mode = LoadMode.UPSERT
    sample_globs = ("*.csv", "*.geojson")

    def read(self, paths: list[Path], options: LoadOptions) -> Iterator[Part]:
        stations: dict[str, Station] = {}
        hourly: list[Path] = []
        errors: list[RecordError] = []
        for path in paths:
            kind = kind_of(path)
            if kind is Kind.TEXT and _is_hourly(header_cells(path)):
                hourly.append(path)  # read once the stations are known
                continue
            if kind in (Kind.SPREADSHEET, Kind.JSON):
                raise SourceError("a stations list is read as CSV or GeoJSON (or another vector "
                                  "format), hourly counts as BASt's CSV or .txt; save the file "
                                  "as one of them", path=str(path))
            if zipfile.is_zipfile(path):
                raise SourceError("a ZIP archive is read for BASt hourly files only; "
                                  "unzip the stations list", path=str(path))
            found = (self._stations_from_vector(path, options, errors) if kind is Kind.VECTOR
                     else self._stations_from_csv(read_csv(path), options, errors))
            for st in found:
                key = station_key(st.station_id)
                if key in stations:
                    errors.append(RecordError(
                        f"station '{st.station_id}' is listed twice (also {stations[key].path} "
                        f"row {stations[key].row})", path=str(path), row=st.row,
                        field=st.column))
                else:
                    stations[key] = st
        if errors:
            raise refused(errors)

        observations: list[Observation] = []
        for path in hourly:
            # BASt's national files hold every station of a road class: keep the call's.
            table, skipped = read_filtered(path, "Zst",
                                           lambda zst: station_key(zst) in stations)
            columns = self._hourly_columns(table)
            self._skipped_stations(table, columns, skipped, errors)
            observations += self._observations(table, columns, stations, errors)
        if errors:
            raise refused(errors)
        mode = options.mode or self.default_mode
        counts = self._resolve_hours(observations, errors,
                                     with_gaps=mode is LoadMode.REPLACE)
        if errors:
            raise refused(errors)

        by_file: dict[Path, list[Station]] = defaultdict(list)
        for st in stations.values():
            by_file[st.path].append(st)
        for path, listed in by_file.items():
            yield Part(TRAFFIC_STATIONS, Batch(
                {"station_id": [s.station_id for s in listed],
                 "name": [s.name for s in listed], "road": [s.road for s in listed],
                 "direction_1": [s.direction_1 for s in listed],
                 "direction_2": [s.direction_2 for s in listed]},
                np.array([s.point for s in listed], dtype=object),
                np.array([s.row for s in listed])), path, f"EPSG:{STORAGE_SRID}", len(listed))
        for path, obs in counts.items():
            for start in range(0, len(obs), self.batch_size):
                yield _counts_part(path, obs[start:start + self.batch_size], len(obs))

    # -- stations ------------------------------------------------------------------------------
    def _stations_from_csv(self, table: Table, options: LoadOptions,
                           errors: list[RecordError]) -> list[Station]:
        path = table.path
        columns = STATION_CSV_COLUMNS.match(table.header, path=path)
        pair = next(((cols, crs) for cols, crs in COORDINATES
                     if all(c in columns for c in cols)), None)
        if pair is None:
            raise RecordError("no coordinate columns: expected 'x' and 'y' (EPSG:25833) or "
                              "'lon' and 'lat' (WGS 84)", path=str(path), row=1, field="x")
        (xcol, ycol), crs = (columns.by_field[pair[0][0]], columns.by_field[pair[0][1]]), pair[1]
        if options.crs and pair[0] == ("x", "y"):
            crs = geometry.resolve_crs(str(path), None, options.crs)
        # The other pairs' columns are not read: dropped like any column nobody declared.
        unused = {columns.by_field[f] for cols, _ in COORDINATES for f in cols
                  if f in columns} - {xcol, ycol}
        self._note(dataclasses.replace(columns, dropped=tuple(
            h for h in table.header if h in columns.dropped or h in unused)))
        rows = [line for line, _ in table.rows]
        geoms = np.full(len(rows), None, dtype=object)
        for i, (_, record) in enumerate(table.rows):
            x, y = record.get(xcol), record.get(ycol)
            for col, value in ((xcol, x), (ycol, y)):
                if value is None or not str(value).strip():
                    errors.append(RecordError("the station has no position", path=str(path),
                                              row=rows[i], field=col))
                    break
                try:
                    number = float(str(value).replace(",", "."))
                except ValueError:
                    number = math.nan
                if not math.isfinite(number):
                    errors.append(RecordError(f"expected a coordinate, got {value!r}",
                                              path=str(path), row=rows[i], field=col))
                    break
            else:
                geoms[i] = geometry.points([x], [y])[0]
        geoms = self._to_storage(path, geoms, crs, rows, errors, field=(xcol, ycol))
        return self._stations(path, columns, [columns.values(r) for _, r in table.rows], geoms,
                              rows, errors)

    def _stations_from_vector(self, path: Path, options: LoadOptions,
                              errors: list[RecordError]) -> list[Station]:
        info = inspect_vector(path, options.layer)
        columns = STATION_COLUMNS.match(info.fields, path=path)
        crs = geometry.resolve_crs(str(path), info.crs, options.crs)
        self._note(columns)
        values: list[dict[str, Any]] = []
        geoms: list = []
        rows: list[int] = []
        for batch in read_vector(path, info, batch_size=self.batch_size):
            # GDAL's batches name their columns in lower case.
            read = {f: batch.columns[h.lower()] for f, h in columns.by_field.items()}
            values += [{f: v[i] for f, v in read.items()} for i in range(len(batch))]
            geoms += list(batch.geometries)
            rows += [int(r) for r in batch.rows]
        geoms_arr = np.array(geoms, dtype=object)
        for i in np.flatnonzero(shapely.is_missing(geoms_arr) | shapely.is_empty(geoms_arr)):
            errors.append(RecordError("the station has no position", path=str(path),
                                      row=rows[i], field="geometry"))
            geoms_arr[i] = None
        for i, g in enumerate(geoms_arr):
            if g is not None and g.geom_type != "Point":
                errors.append(RecordError(f"geometry is a {g.geom_type}, expected a Point",
                                          path=str(path), row=rows[i], field="geometry"))
                geoms_arr[i] = None
        geoms_arr = self._to_storage(path, geoms_arr, crs, rows, errors, field="geometry")
        return self._stations(path, columns, values, geoms_arr, rows, errors)

    def _to_storage(self, path: Path, geoms: np.ndarray, crs: str, rows: list[int],
                    errors: list[RecordError], *, field: str | tuple[str, str]) -> np.ndarray:
        """Points in EPSG:25833, eastings with the UTM zone prefix corrected; errors for those
        that cannot lie in the region (the load is refused for them)."""
        crs, note = geometry.zone_checked_crs(geoms, crs)
        if note:
            self.notes.append(f"{path}: {note}")
        out = geometry.to_storage(geoms, crs)
        errors += geometry.check_in_region(
            out, np.array(rows), [None] * len(rows), path=str(path), region=self.region,
            read_as=crs if geometry.transformer_to_storage(crs) else None, field=field)
        return out

    def _stations(self, path: Path, columns: Matched, values: list[dict[str, Any]],
                  geoms: np.ndarray, rows: list[int],
                  errors: list[RecordError]) -> list[Station]:
        """Stations of one file from its values by field; errors for bad station numbers."""
        out = []
        id_column = columns.by_field["station_id"]
        for value, geom, row in zip(values, geoms, rows, strict=True):
            sid = key_text(value.get("station_id"))  # 1201.0 in a GeoJSON's number column
            if sid is None or sid in MISSING_MARKERS:
                errors.append(RecordError("the station number is missing", path=str(path),
                                          row=row, field=id_column))
                continue
            if not STATION_ID.fullmatch(sid):
                errors.append(RecordError(
                    f"'{sid}' is not a station number (letters, digits, '.', '_' or '-', up to "
                    "32 characters)", path=str(path), row=row, field=id_column))
                continue
            if geom is None:
                continue  # its error is already listed
            road = cell_text(value.get("road")) or _road(
                value.get("road_class"), value.get("road_number"), value.get("road_suffix"))
            out.append(Station(sid, cell_text(value.get("name")), road,
                               cell_text(value.get("direction_1")),
                               cell_text(value.get("direction_2")), geom, path, row, id_column))
        return out

    def _note(self, columns: Matched) -> None:
        if note := columns.note():
            self.notes.append(note)

    # -- hourly counts -------------------------------------------------------------------------
    def _hourly_columns(self, table: Table) -> Matched:
        """The columns of an hourly file; a missing one refuses it, naming the header row."""
        columns = HOURLY_COLUMNS.match(table.header, path=table.path, required=False)
        missing = next((c for c in HOURLY_COLUMNS if c.required and c.field not in columns),
                       None)
        if missing:
            raise RecordError(f"required column '{missing.spellings[0]}' is missing from the "
                              f"header; the header has: {';'.join(table.header)}",
                              path=str(table.path), row=1, field=missing.spellings[0])
        self._note(columns)
        return columns

    def _observations(self, table: Table, columns: Matched, stations: dict[str, Station],
                      errors: list[RecordError]) -> list[Observation]:
        path = table.path
        col = {f: columns.by_field[f] for f in ("zst", "datum", "stunde")}
        counts = {columns.by_field[f]: f for f in COUNT_COLUMNS.values() if f in columns}
        required_counts = {columns.by_field[COUNT_COLUMNS[c]] for c in REQUIRED_COUNTS}
        quality = [h for f, h in columns.by_field.items() if f.startswith("k_")]
        wotag = columns.get("wotag")
        wrong_weekday: list[int] = []
        out = []
        for line, record in table.rows:
            n_errors = len(errors)

            def fail(message: str, field: str, line: int = line) -> None:
                errors.append(RecordError(message, path=str(path), row=line, field=field))

            zst = (record.get(col["zst"]) or "").strip()
            station = stations.get(station_key(zst)) if zst else None
            if not zst:
                fail("the station number is missing", col["zst"])
            try:
                day = parse_datum(record.get(col["datum"]) or "")
            except ValueError as exc:
                fail(str(exc), col["datum"])
                day = None
            raw_hour = (record.get(col["stunde"]) or "").strip()
            stunde = int(raw_hour) if re.fullmatch(r"[0-9]{1,2}", raw_hour) else None
            if stunde is None or not 1 <= stunde <= 24:
                fail(f"expected an hour 1-24 (local time), got {raw_hour!r}", col["stunde"])
            values: dict[str, int | None] = {}
            blank = None
            for column, field in counts.items():
                raw = (record.get(column) or "").strip()
                if not raw:
                    values[field] = None
                    if blank is None and column in required_counts:
                        blank = column
                    continue
                if re.fullmatch(r"-?[0-9]+", raw):
                    values[field] = int(raw)
                else:
                    fail(f"expected a whole number of vehicles, got {raw!r}", column)
            if len(errors) > n_errors or station is None or day is None or stunde is None:
                continue
            if wotag and re.fullmatch(r"[1-7]", w := (record.get(wotag) or "").strip()) and \
                    int(w) != day.isoweekday():
                wrong_weekday.append(line)
            present = [v for v in values.values() if v is not None]
            flagged = (any(v < 0 for v in present), any(v > SPIKE_LIMIT for v in present),
                       any((record.get(k) or "").strip() not in QUALITY_OK for k in quality))
            flag = next((f for f, on in zip(FLAGS[1:], flagged, strict=True) if on), None)
            out.append(Observation(station, day, stunde, values, flag, path, line,
                                   blank=blank))
        if wrong_weekday:
            self.notes.append(
                f"{path}: row {wrong_weekday[0]}, field '{wotag}': the weekday disagrees with "
                f"'{col['datum']}' in {len(wrong_weekday)} row(s) (1 = Monday); is the date "
                "really yymmdd?")
        return out

    def _skipped_stations(self, table: Table, columns: Matched,
                          skipped: dict[str, tuple[int, int]], errors: list[RecordError]) -> None:
        """Rows of stations the call does not list: skipped with one note when the file has
        rows of listed stations (BASt's national files hold every station of a road class),
        refused when it has none (the stations file was forgotten)."""
        if not skipped:
            return
        path = table.path
        zst = columns.by_field["zst"]
        if not table.rows:
            for number, (first, n) in skipped.items():
                errors.append(RecordError(
                    f"station '{number}' is not in the stations file of this load ({n} "
                    "row(s) of this file); pass the stations file (CSV or GeoJSON) in the "
                    "same `twin load traffic-counts` call", path=str(path), row=first,
                    field=zst))
            return
        rows = sum(n for _, n in skipped.values())
        first = min(line for line, _ in skipped.values())
        examples = ", ".join(sorted(skipped, key=lambda k: skipped[k][0])[:5])
        self.notes.append(
            # The column unquoted: notes mask quoted text that is not an allow-listed word.
            f"{path}: row {first}, column {zst}: {rows} row(s) of {len(skipped)} station(s) "
            f"not in the stations file of this load skipped (e.g. {examples}"
            f"{', ...' if len(skipped) > 5 else ''})")

    def _resolve_hours(self, observations: list[Observation], errors: list[RecordError], *,
                       with_gaps: bool) -> dict[Path, list[Observation]]:
        """Instants for every row, in file order; the rows to publish, by file.

        Rows without a required count are left out (a note names them): sent, they would
        replace a count an earlier load published. With ``with_gaps`` (replace mode) a 'gap'
        row is added for every missing hour, as twin/sql/derive_traffic.sql would add it.
        """
        by_path: dict[Path, list[Observation]] = defaultdict(list)
        seen: dict[tuple[str, dt.date, int], list[Observation]] = defaultdict(list)
        blank: dict[Path, list[Observation]] = defaultdict(list)
        for obs in observations:
            sid = obs.station.station_id
            instants = wall_clock_instants(obs.day, obs.stunde)
            where = f"{obs.path}: row {obs.line}, field 'Stunde'"
            if not instants:
                counted = {k: v for k, v in obs.counts.items() if v}
                self.notes.append(
                    f"{where}: hour {obs.stunde} of {obs.day} does not exist in Europe/Berlin "
                    "(the clocks go from 02:00 to 03:00); the row was not stored"
                    + (f" although it holds counts ({', '.join(f'{k}={v}' for k, v in
                                                                counted.items())}): "
                       "does the file number the hours consecutively?" if counted else ""))
                continue
            earlier = seen[sid, obs.day, obs.stunde]
            if len(earlier) >= len(instants):
                first = earlier[0]
                errors.append(RecordError(
                    f"station '{sid}' hour {obs.stunde} of {obs.day} is already in "
                    f"{first.path} row {first.line}"
                    + (" (an hour occurs twice only when the clocks go back)"
                       if len(instants) == 2 else ""),
                    path=str(obs.path), row=obs.line, field="Stunde"))
                continue
            # A row without counts still takes its instant: the repeated autumn hour is
            # numbered by file order, blank rows included.
            obs.instant = instants[len(earlier)]
            earlier.append(obs)
            (blank if obs.blank else by_path)[obs.path].append(obs)
        for path, rows in blank.items():
            lines = ", ".join(str(o.line) for o in rows[:10]) + (", ..." if len(rows) > 10
                                                                  else "")
            self.notes.append(
                f"{path}: row {rows[0].line}, field '{rows[0].blank}': {len(rows)} row(s) lack "
                f"a KFZ_*/Lkw_* count (rows {lines}); not stored, so that they cannot replace "
                "a published count: an hour without counts is published as a gap")
        if with_gaps:
            _add_gaps(by_path)
        for obs in by_path.values():
            obs.sort(key=lambda o: (o.station.station_id, o.instant))
        return by_path


def _add_gaps(by_path: dict[Path, list[Observation]]) -> None:
    """A 'gap' row for every hour of a station's local days with a row that has none.

    The rule of twin/sql/derive_traffic.sql, which adds them after an upsert; a replace load
    sends them itself because the core deletes every published row its files lack.
    """
    present: dict[str, set[dt.datetime]] = defaultdict(set)
    days: dict[tuple[str, dt.date], tuple[Station, Path]] = {}
    for path, rows in by_path.items():
        for o in rows:
            present[o.station.station_id].add(o.instant)
            days.setdefault((o.station.station_id, o.day), (o.station, path))
    for (sid, day), (station, path) in days.items():
        for instant in day_instants(day):
            if instant not in present[sid]:
                by_path[path].append(Observation(station, day, local_hour(instant)[1], {}, GAP,
                                                 path, 0, instant))


def _is_hourly(header: list[str]) -> bool:
    return len(HOURLY_MARKERS & {header_key(h) for h in header}) >= 2


def _road(kind: Any, number: Any, suffix: Any) -> str | None:
    """A road as BASt's station lists split it: ("B", "96", "a") -> "B 96a"."""
    kind, number, suffix = (cell_text(v) or "" for v in (kind, number, suffix))
    return f"{kind} {number}{suffix}" if kind and number else None


def _counts_part(path: Path, obs: list[Observation], total: int) -> Part:
    columns: dict[str, list] = {
        "observation_id": [observation_id(o.station.station_id, o.instant) for o in obs],
        "station_id": [o.station.station_id for o in obs],
        "observed_at": [o.instant for o in obs],
        "hour": [o.stunde for o in obs],
        "flag": [o.flag for o in obs],
    }
    for field in COUNT_COLUMNS.values():
        columns[field] = [o.counts.get(field) for o in obs]
    return Part(TRAFFIC_COUNTS, Batch(columns, np.array([o.station.point for o in obs],
                                                        dtype=object),
                                      np.array([o.line for o in obs])),
                path, f"EPSG:{STORAGE_SRID}", total)

