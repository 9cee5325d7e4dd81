"""What a device is and what it may send: the registry in memory, the allow-list, the
calibration and the physically possible ranges. The MQTT intake and the file loads use the same
functions, so a value refused on one path is refused on the other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from twin.sensors.messages import Rejected, Uplink

#: The observation columns of twin.sensor_observations, with the values a sensor can give;
#: anything outside is a broken sensor or a wrong unit, never a reading.
RANGES: dict[str, tuple[float, float]] = {
    "soil_moisture": (0.0, 100.0),  # volumetric %
    "soil_temperature": (-40.0, 60.0),  # °C in the root zone
    "battery": (0.0, 5.0),  # V: LoRaWAN sensors run on 2.0-3.7 V cells
    # cm above the gauge datum; the Spree at Cottbus peaked near 3 m (2010, 2013).
    "water_level_cm": (-100.0, 1500.0),
}
COLUMNS = tuple(RANGES)

#: Fields read by default, per kind (stored field -> decoded-payload key); the first is the one
#: a message must carry.
DEFAULT_FIELDS: dict[str, dict[str, str]] = {
    "tree": {"soil_moisture": "soil_moisture", "soil_temperature": "soil_temperature",
             "battery": "battery"},
    "gauge": {"water_level_cm": "water_level_cm", "battery": "battery"},
}
PRIMARY = {"tree": "soil_moisture", "gauge": "water_level_cm"}

#: A time further ahead than this is a device or server clock gone wrong.
FUTURE_SLACK = timedelta(minutes=10)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Device:
    """One row of twin.sensor_devices, as the checks need it."""

    device_id: str
    kind: str
    dev_eui: str | None
    fields: dict[str, str]
    calibration: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Observation:
    """A row of twin.sensor_observations."""

    device_id: str
    observed_at: datetime
    f_cnt: int | None
    values: dict[str, float]  # the COLUMNS present
    extra: dict[str, Any] | None
    source: str

    def row(self) -> tuple:
        import json

        return (self.device_id, self.observed_at, self.f_cnt,
                *(self.values.get(c) for c in COLUMNS),
                json.dumps(self.extra) if self.extra else None, self.source)


class Registry:
    """The device registry, read from the database; looked up by device id and DevEUI."""

    def __init__(self, devices: list[Device]) -> None:
        self.by_id = {d.device_id: d for d in devices}
        self.by_eui = {d.dev_eui: d for d in devices if d.dev_eui}

    @classmethod
    def read(cls, conn: psycopg.Connection) -> Registry:
        rows = conn.execute("SELECT device_id, kind, dev_eui, fields, calibration "
                            "FROM twin.sensor_devices").fetchall()
        return cls([Device(r[0], r[1], r[2], r[3], r[4]) for r in rows])

    def device_of(self, uplink: Uplink) -> Device:
        """The registered device that sent ``uplink``: TTS by device id, ChirpStack by DevEUI."""
        if uplink.format == "chirpstack":
            device = self.by_eui.get(uplink.dev_eui or "")
            if device is None:
                # A device registered without a DevEUI is known by its name; one with a
                # DevEUI only by it (names are free text in ChirpStack).
                named = self.by_id.get(uplink.device_id or "")
                device = named if named is not None and not named.dev_eui else None
            if device is None:
                raise Rejected("unknown_device", f"DevEUI {uplink.dev_eui} is not registered",
                               uplink.device_id)
            return device
        device = self.by_id.get(uplink.device_id or "")
        if device is None:
            raise Rejected("unknown_device", f"device {uplink.device_id} is not registered",
                           uplink.device_id)
        return device


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.replace(",", "."))
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def check_time(t: datetime, device_id: str | None, now: datetime | None = None) -> None:
    """Refuse a time in the future (beyond clock slack) or before 2000."""
    now = now or datetime.now(UTC)
    if t > now + FUTURE_SLACK:
        raise Rejected("bad_time", f"time {t.isoformat()} is in the future", device_id)
    if t < EARLIEST:
        raise Rejected("bad_time", f"time {t.isoformat()} is before 2000", device_id)


def values_of(device: Device, decoded: dict[str, Any],
              uplink: Uplink | None = None) -> tuple[dict[str, float], dict[str, Any] | None]:
    """The allow-listed values of a decoded payload, calibrated and range-checked.

    Only keys the registry lists are read: standard columns are numbers, others go to
    ``extra`` as sent (``rx.<name>`` reads the first gateway's metadata). Raises Rejected:
    ``missing_field`` when the kind's primary field is absent or not a number,
    ``out_of_range`` when a value cannot be physical.
    """
    values: dict[str, float] = {}
    extra: dict[str, Any] = {}
    rx: dict[str, Any] | None = None
    for name, key in device.fields.items():
        if key.startswith("rx."):
            if rx is None:
                rx = uplink.rx if uplink is not None else {}
            raw = rx.get(key[3:])
        else:
            raw = decoded.get(key)
        if raw is None:
            continue
        if name not in RANGES:
            if isinstance(raw, int | float | str) and not isinstance(raw, bool):
                extra[name] = raw
            continue
        number = _number(raw)
        if number is None:
            raise Rejected("missing_field" if name == PRIMARY.get(device.kind) else
                           "out_of_range", f"{key} is not a number: {str(raw)[:40]!r}",
                           device.device_id)
        cal = device.calibration.get(name)
        if cal:
            number = number * float(cal.get("scale", 1.0)) + float(cal.get("offset", 0.0))
        low, high = RANGES[name]
        if not low <= number <= high:
            raise Rejected("out_of_range", f"{name} {number:g} outside {low:g}..{high:g}",
                           device.device_id)
        values[name] = number
    primary = PRIMARY.get(device.kind)
    if primary and primary not in values:
        key = device.fields.get(primary, primary)
        raise Rejected("missing_field", f"payload has no '{key}' ({primary})", device.device_id)
    return values, extra or None


def observe(uplink: Uplink, registry: Registry, now: datetime | None = None) -> Observation:
    """The observation an uplink makes, or Rejected (unknown device, missing field, range,
    time). The frame counter is checked against what is stored (twin/sensors/store.py)."""
    device = registry.device_of(uplink)
    check_time(uplink.time, device.device_id, now)
    values, extra = values_of(device, uplink.decoded, uplink)
    return Observation(device.device_id, uplink.time, uplink.f_cnt, values, extra, uplink.format)
