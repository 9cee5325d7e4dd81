"""Sensor files (issue 12): the device registry, the gauge portal's water levels and the
LoRaWAN server's CSV export of tree sensor values.

Declarations and the rules only these files have; reading is etl/io/text.py's, the checks are
twin/sensors/checks.py's (the same the MQTT intake applies), the transaction is
etl/sensor_load.py's. Every problem is a RecordError naming file, row and field; a file with
any is refused whole.

Local times of the gauge portal (``Datum;Uhrzeit;W [cm]``, Europe/Berlin with the clock
changes): a time that does not exist (the March hour skipped) refuses its row; a time that
exists twice (the October hour repeated) is read as summer time (CEST) the first time and as
winter time (CET) when the same wall-clock time, or an earlier one within that hour, follows
it in the file — the portal lists values in the order they were measured.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from etl.columns import Column, Columns
from etl.io.text import read_csv
from twin.errors import RecordError, SourceError
from twin.sensors.checks import (
    DEFAULT_FIELDS,
    RANGES,
    Device,
    Observation,
    Registry,
    check_time,
    values_of,
)
from twin.sensors.messages import Rejected, parse_time

BERLIN = ZoneInfo("Europe/Berlin")

DEVICE_COLUMNS = Columns((
    Column("device_id", ("device_id", "Geräte-ID", "Gerät", "device"), required=True),
    Column("dev_eui", ("dev_eui", "DevEUI", "EUI")),
    Column("kind", ("kind", "Art", "Typ", "type"), required=True),
    Column("name", ("name", "Bezeichnung", "Pegelname", "station"), required=True),
    Column("tree_id", ("tree_id", "Baumnummer", "Baum-Nr.")),
    Column("species", ("species", "Baumart", "Art botanisch")),
    Column("planting_year", ("planting_year", "Pflanzjahr")),
    Column("x", ("x", "Rechtswert", "easting", "Ostwert")),
    Column("y", ("y", "Hochwert", "northing", "Nordwert")),
    Column("lon", ("lon", "longitude", "Länge")),
    Column("lat", ("lat", "latitude", "Breite")),
    Column("fields", ("fields", "Felder")),
    Column("calibration", ("calibration", "Kalibrierung")),
), strict=True)

WATER_LEVEL_COLUMNS = Columns((
    Column("date", ("Datum", "date"), required=True),
    Column("time", ("Uhrzeit", "Zeit", "time"), required=True),
    Column("water_level_cm", ("W [cm]", "W", "Wasserstand [cm]", "Wasserstand",
                              "water_level_cm"), required=True,
           refused=(("W [m]", "is in metres; the gauge portal's cm export is expected"),
                    ("Q [m³/s]", "is a discharge, not a water level"))),
))

SOIL_COLUMNS = Columns((
    Column("device_id", ("device_id", "end_device_ids.device_id", "deviceName", "Gerät"),
           required=True),
    Column("time", ("received_at", "time", "Zeit", "timestamp"), required=True),
    Column("f_cnt", ("f_cnt", "fCnt", "uplink_message.f_cnt", "frame_counter")),
    Column("soil_moisture", ("soil_moisture", "decoded_payload.soil_moisture"), required=True),
    Column("soil_temperature", ("soil_temperature", "decoded_payload.soil_temperature")),
    Column("battery", ("battery", "decoded_payload.battery")),
))

#: Markers of a missing value in the gauge portal's export.
MISSING = {"", "-", "--", "---", "k.A.", "NaN"}

_FIELD = re.compile(r"^[a-z][a-z0-9_]*$")
_KEY = re.compile(r"^(rx\.)?[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class DeviceRow:
    """One registry row, checked."""

    device: Device
    name: str
    tree_id: str | None
    species: str | None
    planting_year: int | None
    x: float
    y: float
    crs: str  # 'EPSG:25833' or 'EPSG:4326' (x=lon, y=lat)


def _fields(text: str, kind: str, path: Path, row: int) -> dict[str, str]:
    """``stored=payload_key`` pairs separated by spaces; empty: the kind's defaults."""
    if not text.strip():
        return dict(DEFAULT_FIELDS[kind])
    out = {}
    for pair in text.split():
        name, sep, key = pair.partition("=")
        if not sep or not _FIELD.match(name) or not _KEY.match(key):
            raise RecordError(f"'{pair}' is not stored_field=payload_key", path=str(path),
                              row=row, field="fields")
        out[name] = key
    return out


def _calibration(text: str, fields: dict[str, str], path: Path,
                 row: int) -> dict[str, dict[str, float]]:
    """``field:scale:offset`` entries separated by spaces."""
    out = {}
    for entry in text.split():
        parts = entry.split(":")
        try:
            name, scale, offset = parts[0], float(parts[1]), float(parts[2])
        except (IndexError, ValueError) as exc:
            raise RecordError(f"'{entry}' is not field:scale:offset", path=str(path), row=row,
                              field="calibration") from exc
        if len(parts) != 3 or name not in RANGES or name not in fields:
            raise RecordError(f"'{entry}': calibrate one of the device's fields "
                              f"({', '.join(f for f in fields if f in RANGES)})",
                              path=str(path), row=row, field="calibration")
        out[name] = {"scale": scale, "offset": offset}
    return out


def read_devices(path: Path) -> tuple[list[DeviceRow], list[RecordError], list[str]]:
    """The registry rows of ``path``, the record errors, and notes (dropped columns)."""
    table = read_csv(path)
    cols = DEVICE_COLUMNS.match(table.header, path=path)
    if not (("x" in cols and "y" in cols) or ("lon" in cols and "lat" in cols)):
        raise SourceError("the position needs columns x and y (EPSG:25833) or lon and lat "
                          f"(WGS 84); the file has: {', '.join(table.header)}", path=str(path))
    notes = [n] if (n := cols.note()) else []
    rows: list[DeviceRow] = []
    errors: list[RecordError] = []
    seen: dict[str, int] = {}
    for line, record in table.rows:
        v = {k: (s.strip() if isinstance(s, str) else "") for k, s in cols.values(record).items()}
        try:
            rows.append(_device_row(v, path, line, seen))
        except RecordError as exc:
            errors.append(exc)
    return rows, errors, notes


def _device_row(v: dict[str, str], path: Path, line: int, seen: dict[str, int]) -> DeviceRow:
    def fail(message: str, field: str) -> RecordError:
        return RecordError(message, path=str(path), row=line, field=field)

    device_id = v.get("device_id", "")
    if not re.fullmatch(r"[a-z0-9](?:[-a-z0-9]{1,34}[a-z0-9])?", device_id):
        # The Things Stack's rule for device ids: 2-36 lower-case letters, digits, dashes.
        raise fail("is not a LoRaWAN device id (2-36 of a-z, 0-9, '-')", "device_id")
    if device_id in seen:
        raise fail(f"device '{device_id}' is listed already in row {seen[device_id]}",
                   "device_id")
    seen[device_id] = line
    kind = v.get("kind", "").lower()
    kind = {"baum": "tree", "pegel": "gauge"}.get(kind, kind)
    if kind not in DEFAULT_FIELDS:
        raise fail("kind must be tree (Baum) or gauge (Pegel)", "kind")
    eui = v.get("dev_eui", "").lower().replace("-", "").replace(":", "") or None
    if eui is not None and not re.fullmatch(r"[0-9a-f]{16}", eui):
        raise fail("DevEUI must be 16 hex digits", "dev_eui")
    if not v.get("name"):
        raise fail("a station needs a name", "name")
    year = None
    if text := v.get("planting_year"):
        if not text.isdigit() or not 1700 <= int(text) <= datetime.now(UTC).year:
            raise fail("planting year must be a year from 1700 to this one", "planting_year")
        year = int(text)
    if v.get("x") or v.get("y"):
        crs, xs, ys, xf, yf = "EPSG:25833", v.get("x", ""), v.get("y", ""), "x", "y"
    else:
        crs, xs, ys, xf, yf = "EPSG:4326", v.get("lon", ""), v.get("lat", ""), "lon", "lat"
    try:
        x = float(xs.replace(",", "."))
    except ValueError as exc:
        raise fail("coordinate is not a number", xf) from exc
    try:
        y = float(ys.replace(",", "."))
    except ValueError as exc:
        raise fail("coordinate is not a number", yf) from exc
    fields = _fields(v.get("fields", ""), kind, path, line)
    calibration = _calibration(v.get("calibration", ""), fields, path, line)
    return DeviceRow(Device(device_id, kind, eui, fields, calibration), v["name"],
                     v.get("tree_id") or None, v.get("species") or None, year, x, y, crs)


def local_times(rows: list[tuple[int, str, str]], path: Path
                ) -> Iterator[tuple[int, datetime] | RecordError]:
    """UTC times of the gauge portal's local (date, time) rows, clock changes resolved (see
    the module's docstring)."""
    previous: datetime | None = None  # the last local wall-clock time
    fold = 0
    for line, date_text, time_text in rows:
        try:
            wall = datetime.strptime(f"{date_text.strip()} {time_text.strip()}",
                                     "%d.%m.%Y %H:%M")
        except ValueError:
            yield RecordError("date and time must be DD.MM.YYYY and HH:MM", path=str(path),
                              row=line, field="Datum")
            continue
        first = wall.replace(tzinfo=BERLIN, fold=0)
        # PEP 495: in the March gap and in the October repeat alike, fold 0 and 1 differ in
        # offset; only a time in the gap fails the round trip through UTC.
        if first.astimezone(UTC).astimezone(BERLIN).replace(tzinfo=None) != wall:
            yield RecordError(f"{wall:%d.%m.%Y %H:%M} does not exist in local time (the "
                              "clocks went forward)", path=str(path), row=line,
                              field="Uhrzeit")
            previous = wall
            continue
        if first.utcoffset() != wall.replace(tzinfo=BERLIN, fold=1).utcoffset():
            # Summer time the first time round; winter time once the hour starts again.
            if previous is not None and wall <= previous and previous - wall < timedelta(hours=1):
                fold = 1
            local = wall.replace(tzinfo=BERLIN, fold=fold)
        else:
            fold = 0
            local = first
        previous = wall
        yield line, local.astimezone(UTC)


def read_water_levels(path: Path, device: Device, source: str
                      ) -> tuple[list[Observation], list[RecordError], list[str]]:
    """The gauge portal's series in ``path`` for ``device`` (a gauge)."""
    table = read_csv(path)
    cols = WATER_LEVEL_COLUMNS.match(table.header, path=path)
    notes = [n] if (n := cols.note()) else []
    level_col = cols.get("water_level_cm")
    dated = []
    levels: dict[int, str] = {}
    for line, record in table.rows:
        value = (record.get(level_col) or "").strip()
        if value in MISSING:
            notes.append(f"{path}: row {line}: no value ({value or 'empty'}), skipped")
            continue
        dated.append((line, record.get(cols.get("date"), ""), record.get(cols.get("time"), "")))
        levels[line] = value
    observations: list[Observation] = []
    errors: list[RecordError] = []
    seen: dict[datetime, int] = {}
    # Official gauge values are on the gauge datum already: no sensor calibration.
    plain = Device(device.device_id, device.kind, device.dev_eui,
                   {"water_level_cm": "water_level_cm"}, {})
    for item in local_times(dated, path):
        if isinstance(item, RecordError):
            errors.append(item)
            continue
        line, t = item
        if t in seen:
            errors.append(RecordError(f"the time is listed already in row {seen[t]}",
                                      path=str(path), row=line, field="Uhrzeit"))
            continue
        seen[t] = line
        try:
            check_time(t, device.device_id)
            values, _ = values_of(plain, {"water_level_cm": levels[line]})
        except Rejected as exc:
            errors.append(RecordError(exc.detail, path=str(path), row=line,
                                      field=level_col if exc.reason != "bad_time" else "Datum"))
            continue
        observations.append(Observation(device.device_id, t, None, values, None, source))
    return observations, errors, notes


def read_soil_moisture(path: Path, registry: Registry, source: str
                       ) -> tuple[list[Observation], list[RecordError], list[str]]:
    """The LoRaWAN server's CSV export of tree sensor uplinks."""
    table = read_csv(path)
    cols = SOIL_COLUMNS.match(table.header, path=path)
    notes = [n] if (n := cols.note()) else []
    observations: list[Observation] = []
    obs_lines: list[int] = []
    errors: list[RecordError] = []
    for line, record in table.rows:
        v = {k: (s or "").strip() for k, s in cols.values(record).items()}

        def fail(message: str, field: str, line: int = line) -> None:
            errors.append(RecordError(message, path=str(path), row=line,
                                      field=cols.get(field) or field))

        device = registry.by_id.get(v["device_id"])
        if device is None:
            fail("device is not registered (twin load sensor-devices)", "device_id")
            continue
        try:
            t = parse_time(v["time"])
            check_time(t, device.device_id)
        except Rejected as exc:
            fail(exc.detail, "time")
            continue
        f_cnt = None
        if v.get("f_cnt"):
            if not v["f_cnt"].isdigit():
                fail("frame counter must be a whole number", "f_cnt")
                continue
            f_cnt = int(v["f_cnt"])
        decoded = {k: v[k] for k in ("soil_moisture", "soil_temperature", "battery")
                   if v.get(k)}
        try:
            values, extra = values_of(device, decoded)
        except Rejected as exc:
            field = next((f for f in RANGES if f in exc.detail), "soil_moisture")
            fail(exc.detail, field)
            continue
        observations.append(Observation(device.device_id, t, f_cnt, values, extra, source))
        obs_lines.append(line)
    # Frame counters per device must rise with time, as on the live path.
    by_device: dict[str, list[tuple[datetime, int, int]]] = {}
    for obs, line in zip(observations, obs_lines, strict=True):
        if obs.f_cnt is not None:
            by_device.setdefault(obs.device_id, []).append((obs.observed_at, obs.f_cnt, line))
    for items in by_device.values():
        items.sort()
        for (t0, c0, _l0), (t1, c1, l1) in zip(items, items[1:], strict=False):
            if c1 < c0 or (c1 == c0 and t1 != t0):
                errors.append(RecordError(f"frame counter {c1} at {t1.isoformat()} after "
                                          f"{c0} at {t0.isoformat()}", path=str(path), row=l1,
                                          field=cols.get("f_cnt") or "f_cnt"))
    return observations, errors, notes


def device_rows_json(row: DeviceRow) -> tuple:
    """A registry row for COPY (geometry built by the database)."""
    d = row.device
    return (d.device_id, d.dev_eui, d.kind, row.name, row.tree_id, row.species,
            row.planting_year, json.dumps(d.fields), json.dumps(d.calibration), row.x, row.y,
            4326 if row.crs == "EPSG:4326" else 25833)
