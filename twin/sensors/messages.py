"""Uplink messages as the LoRaWAN network servers send them, read into one value object.

The Things Stack v3 (MQTT topic ``v3/{application id}@{tenant id}/devices/{device id}/up``):
``end_device_ids.device_id``, ``received_at``, ``uplink_message.f_cnt``,
``uplink_message.decoded_payload``, ``uplink_message.rx_metadata`` (its "Data Formats" page).
ChirpStack v4 (``application/{application id}/device/{dev eui}/event/up``, JSON marshaler):
``deviceInfo.devEui``/``deviceName``, ``time``, ``fCnt``, ``object``, ``rxInfo``
(integration.proto, ``UplinkEvent``).

Both omit fields holding their type's zero value (TTS: "if a field has a value of "", 0 or false
it will not be present"; proto3 JSON likewise), so an absent frame counter is 0, not missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: Why a message was not stored; the quarantine's reason column allows exactly these.
REASONS = ("not_json", "unknown_format", "unknown_device", "missing_field", "out_of_range",
           "counter_backwards", "bad_time")


class Rejected(Exception):  # noqa: N818 - a verdict on a message, not a failure of ours
    """A message that cannot be stored; goes to the quarantine with ``reason``."""

    def __init__(self, reason: str, detail: str, device_id: str | None = None) -> None:
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.device_id = device_id


@dataclass(frozen=True)
class Uplink:
    """One uplink, whichever server sent it."""

    format: str  # 'tts' or 'chirpstack'
    device_id: str | None  # TTS device id; ChirpStack's deviceName (a hint only)
    dev_eui: str | None  # lower-case hex
    time: datetime
    f_cnt: int
    decoded: dict[str, Any]
    #: The reception metadata as sent (``rx_metadata`` / ``rxInfo``); read only for fields
    #: the registry allow-lists as ``rx.<name>`` (see :attr:`rx`).
    rx_raw: Any = None

    @property
    def rx(self) -> dict[str, Any]:
        """The first gateway's metadata, flattened ('rssi', 'snr', 'gateway_id', ...)."""
        meta = self.rx_raw
        if not isinstance(meta, list) or not meta or not isinstance(meta[0], dict):
            return {}
        first = meta[0]
        out = {("gateway_id" if k == "gatewayId" else k): v for k, v in first.items()
               if isinstance(v, int | float | str)}
        ids = first.get("gateway_ids")
        if isinstance(ids, dict) and "gateway_id" in ids:
            out["gateway_id"] = ids["gateway_id"]
        return out


def parse_time(text: Any) -> datetime:
    """An RFC 3339 time as UTC. Python 3.11+ reads 'Z' and cuts nanoseconds (TTS, ChirpStack)
    to microseconds itself."""
    if not isinstance(text, str) or not text:
        raise Rejected("bad_time", f"time is {type(text).__name__}, not RFC 3339 text")
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise Rejected("bad_time", f"not an RFC 3339 time: {text[:40]!r}") from exc
    if value.tzinfo is None:
        raise Rejected("bad_time", f"time without offset: {text[:40]!r}")
    return value.astimezone(UTC)


def _f_cnt(value: Any, device_id: str | None) -> int:
    if value is None:
        return 0  # omitted because zero
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value >= 2**32:
        raise Rejected("missing_field", f"frame counter is not a 32-bit count: {value!r}"[:120],
                       device_id)
    return value


def parse(payload: bytes) -> Uplink:
    """The uplink in ``payload``; raises :class:`Rejected` for anything else."""
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejected("not_json", f"{type(exc).__name__}: {str(exc)[:100]}") from exc
    if not isinstance(doc, dict):
        raise Rejected("not_json", f"a JSON {type(doc).__name__}, not an object")
    if "end_device_ids" in doc:
        return _tts(doc)
    if "deviceInfo" in doc:
        return _chirpstack(doc)
    raise Rejected("unknown_format", "neither a The Things Stack uplink (end_device_ids) nor "
                   "a ChirpStack up event (deviceInfo)")


def _tts(doc: dict) -> Uplink:
    ids = doc.get("end_device_ids")
    device_id = ids.get("device_id") if isinstance(ids, dict) else None
    if not isinstance(device_id, str) or not device_id:
        raise Rejected("missing_field", "end_device_ids.device_id")
    up = doc.get("uplink_message")
    if not isinstance(up, dict):
        raise Rejected("missing_field", "uplink_message", device_id)
    decoded = up.get("decoded_payload")
    if not isinstance(decoded, dict):
        raise Rejected("missing_field", "uplink_message.decoded_payload", device_id)
    if "received_at" not in doc:
        raise Rejected("missing_field", "received_at", device_id)
    try:
        time = parse_time(doc["received_at"])
    except Rejected as exc:
        raise Rejected(exc.reason, exc.detail, device_id) from exc
    eui = ids.get("dev_eui")
    return Uplink("tts", device_id, eui.lower() if isinstance(eui, str) else None, time,
                  _f_cnt(up.get("f_cnt"), device_id), decoded, up.get("rx_metadata"))


def _chirpstack(doc: dict) -> Uplink:
    info = doc.get("deviceInfo")
    eui = info.get("devEui") if isinstance(info, dict) else None
    name = info.get("deviceName") if isinstance(info, dict) else None
    if not isinstance(eui, str) or not eui:
        raise Rejected("missing_field", "deviceInfo.devEui", name if isinstance(name, str)
                       else None)
    obj = doc.get("object")
    if not isinstance(obj, dict):
        raise Rejected("missing_field", "object (no codec configured?)", name)
    if "time" not in doc:
        raise Rejected("missing_field", "time", name)
    try:
        time = parse_time(doc["time"])
    except Rejected as exc:
        raise Rejected(exc.reason, exc.detail, name) from exc
    return Uplink("chirpstack", name if isinstance(name, str) else None, eui.lower(), time,
                  _f_cnt(doc.get("fCnt"), name), obj, doc.get("rxInfo"))


# -- builders: what the servers send, for the simulator, the tests and the benchmark ---------

def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def tts_topic(device_id: str, application_id: str = "cottbus-sensors",
              tenant_id: str = "ttn") -> str:
    """The topic The Things Stack publishes a device's uplinks on."""
    return f"v3/{application_id}@{tenant_id}/devices/{device_id}/up"


def tts_uplink(device_id: str, f_cnt: int, received_at: datetime, decoded: dict[str, Any],
               *, application_id: str = "cottbus-sensors", dev_eui: str | None = None,
               gateway_id: str = "cottbus-gw-rathaus", rssi: int = -97,
               snr: float = 7.5) -> dict[str, Any]:
    """A The Things Stack v3 uplink message (as its MQTT integration sends it)."""
    t = _rfc3339(received_at)
    ids: dict[str, Any] = {"device_id": device_id,
                           "application_ids": {"application_id": application_id}}
    if dev_eui:
        ids["dev_eui"] = dev_eui.upper()
    up: dict[str, Any] = {
        "f_port": 2, "frm_payload": "AQI=", "decoded_payload": decoded,
        "rx_metadata": [{"gateway_ids": {"gateway_id": gateway_id, "eui": "B827EBFFFE000001"},
                         "time": t, "rssi": rssi, "channel_rssi": rssi, "snr": snr,
                         "location": {"latitude": 51.7606, "longitude": 14.3343,
                                      "source": "SOURCE_REGISTRY"}}],
        "settings": {"data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 9}},
                     "frequency": "868100000"},
        "received_at": t, "consumed_airtime": "0.164864s"}
    if f_cnt:  # TTS omits zero values
        up["f_cnt"] = f_cnt
    return {"end_device_ids": ids, "correlation_ids": [f"as:up:{device_id}:{f_cnt}"],
            "received_at": t, "uplink_message": up}


def chirpstack_topic(dev_eui: str, application_id: str = "cottbus-sensors") -> str:
    """The topic ChirpStack v4's MQTT integration publishes up events on."""
    return f"application/{application_id}/device/{dev_eui.lower()}/event/up"


def chirpstack_up(dev_eui: str, device_name: str, f_cnt: int, time: datetime,
                  obj: dict[str, Any], *, application_id: str = "cottbus-sensors",
                  gateway_id: str = "b827ebfffe000001", rssi: int = -97,
                  snr: float = 7.5) -> dict[str, Any]:
    """A ChirpStack v4 ``up`` event (JSON marshaler)."""
    event: dict[str, Any] = {
        "deduplicationId": f"{dev_eui}-{f_cnt}", "time": _rfc3339(time),
        "deviceInfo": {"tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
                       "tenantName": "Stadt Cottbus", "applicationId": application_id,
                       "applicationName": "Sensoren", "deviceProfileName": "soil/gauge",
                       "deviceName": device_name, "devEui": dev_eui.lower(), "tags": {}},
        "devAddr": "00bcb929", "adr": True, "dr": 3, "fPort": 2, "confirmed": False,
        "data": "AQI=", "object": obj,
        "rxInfo": [{"gatewayId": gateway_id, "uplinkId": 1, "rssi": rssi, "snr": snr,
                    "location": {"latitude": 51.7606, "longitude": 14.3343}}],
        "txInfo": {"frequency": 868100000}}
    if f_cnt:
        event["fCnt"] = f_cnt
    return event
