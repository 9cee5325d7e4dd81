"""The scoring model of the commercial-land score: criteria, weights, anchors, knock-outs,
sensitivity parameters and A15 junctions, read and validated from
``config/commercial_land_weights.yml`` (the formulas are in docs/sources/commercial-land.md).

Every name here is re-exported by :mod:`twin.analysis.commercial_land`, the module callers use.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from twin.errors import ConfigurationError, TwinError
from twin.settings import PROJECT_ROOT

#: The weights and parameters of the score, as committed.
DEFAULT_MODEL_PATH = PROJECT_ROOT / "config" / "commercial_land_weights.yml"


class Criterion(enum.StrEnum):
    """The criteria of the potential score, in breakdown order."""

    FREE_AREA = "free_area"
    AVAILABILITY = "availability"
    OWNERSHIP = "ownership"
    A15_DISTANCE = "a15_distance"
    RAIL_SIDING = "rail_siding"
    SERVICING = "servicing"
    ZONING = "zoning"
    PRICE = "price"
    CONTAMINATION = "contamination"
    HERITAGE = "heritage"
    PARCELS = "parcels"
    BROADBAND = "broadband"


CRITERIA: tuple[str, ...] = tuple(c.value for c in Criterion)

#: Classes of the text fields the source normalises to (see etl/sources/commercial_land.py).
UTILITY_CLASSES = ("full", "partial", "none")
CONTAMINATION_CLASSES = ("none", "remediated", "suspected", "known")
BROADBAND_CLASSES = ("gigabit", "high", "basic", "none")

#: Fields a knock-out may test, with the values it may name.
KNOCKOUT_VALUES: Mapping[str, tuple[Any, ...]] = MappingProxyType({
    "contamination": CONTAMINATION_CLASSES, "road_access": (True, False)})


class WeightsError(TwinError):
    """Weights a user gave cannot be used; the message says why and lists the valid names."""


@dataclass(frozen=True)
class Junction:
    """A motorway junction, in EPSG:25833."""

    name: str
    east: float
    north: float


@dataclass(frozen=True)
class ScoringModel:
    """Weights and normalisation parameters, as validated from the config file."""

    weights: Mapping[str, float]
    criteria: Mapping[str, Mapping[str, Any]]
    unknown: float
    junctions: tuple[Junction, ...]
    parcel_sliver_m2: float
    parcel_min_coverage: float
    monument_buffer_m: float
    #: field -> values that rule a site out (see :data:`KNOCKOUT_VALUES`).
    knockouts: Mapping[str, tuple[Any, ...]] = MappingProxyType({})
    #: Relative change of each weight, one at a time, for the sensitivity band (0.2: ±20 %).
    weight_change: float = 0.2
    #: How far each A15 junction is moved, one at a time, for the band (m) ...
    junction_shift_m: float = 300.0
    #: ... in this many directions evenly spread from east, counter-clockwise.
    junction_directions: int = 8


# -- the model ------------------------------------------------------------------------------
def _number(value: Any, where: str, *, low: float = 0.0, high: float = math.inf,
            low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WeightsError(f"{where} must be a number, got {value!r}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer of hundreds of digits has no float
        finite = False
    if not finite:
        shown = f"a number of {len(str(abs(value)))} digits" if isinstance(value, int) \
            else repr(value)
        raise WeightsError(f"{where} must be a finite number no larger than about 1.8e308, "
                           f"got {shown}")
    if value < low or (low_open and value == low) or value > high:
        bound = f"> {low}" if low_open else f">= {low}"
        if high != math.inf:
            bound += f" and <= {high}"
        raise WeightsError(f"{where} must be {bound}, got {value!r}")
    return float(value)


def _keys(section: Any, expected: Iterable[str], where: str) -> Mapping[str, Any]:
    expected = list(expected)
    if not isinstance(section, Mapping):
        raise WeightsError(f"{where} must be a mapping with the keys {', '.join(expected)}")
    unknown = [k for k in section if k not in expected]
    if unknown:
        raise WeightsError(f"unknown key '{unknown[0]}' in {where}; valid: {', '.join(expected)}")
    missing = [k for k in expected if k not in section]
    if missing:
        raise WeightsError(f"{where} lacks '{missing[0]}'; it needs: {', '.join(expected)}")
    return section


def _classes(section: Any, classes: tuple[str, ...], where: str) -> Mapping[str, float]:
    section = _keys(section, classes, where)
    return MappingProxyType({k: _number(section[k], f"{where}.{k}", high=1.0) for k in classes})


def _anchors(section: Any, where: str, lower: str, upper: str) -> dict[str, float]:
    section = _keys(section, (lower, upper), where)
    values = {k: _number(section[k], f"{where}.{k}") for k in (lower, upper)}
    if values[upper] <= values[lower]:
        raise WeightsError(f"{where}.{upper} must be greater than {where}.{lower}")
    return values


def _criteria(section: Any) -> Mapping[str, Mapping[str, Any]]:
    if isinstance(section, Mapping) and "rail_siding" in section:
        raise WeightsError("criteria.rail_siding takes no parameters (a siding gives 1, "
                           "none gives 0)")
    section = _keys(section, [c for c in CRITERIA if c != "rail_siding"], "criteria")
    full = _keys(section["free_area"], ("full_ha",), "criteria.free_area")
    shares = {c: _keys(section[c], ("full_share",), f"criteria.{c}")
              for c in ("availability", "ownership")}
    zoning = _keys(section["zoning"], ("ge_value",), "criteria.zoning")
    heritage = _keys(section["heritage"], ("zero_ha",), "criteria.heritage")
    servicing = _keys(section["servicing"], ("road_share", "utilities"), "criteria.servicing")
    parsed: dict[str, Mapping[str, Any]] = {
        "free_area": {"full_ha": _number(full["full_ha"], "criteria.free_area.full_ha",
                                         low_open=True)},
        **{c: {"full_share": _number(v["full_share"], f"criteria.{c}.full_share",
                                     low_open=True, high=1.0)} for c, v in shares.items()},
        "a15_distance": _anchors(section["a15_distance"], "criteria.a15_distance",
                                 "near_km", "far_km"),
        "rail_siding": {},
        "servicing": {
            "road_share": _number(servicing["road_share"], "criteria.servicing.road_share",
                                  high=1.0),
            "utilities": _classes(servicing["utilities"], UTILITY_CLASSES,
                                  "criteria.servicing.utilities"),
        },
        "zoning": {"ge_value": _number(zoning["ge_value"], "criteria.zoning.ge_value",
                                       high=1.0)},
        "price": _anchors(section["price"], "criteria.price", "good_ratio", "bad_ratio"),
        "contamination": _classes(section["contamination"], CONTAMINATION_CLASSES,
                                  "criteria.contamination"),
        "heritage": {"zero_ha": _number(heritage["zero_ha"], "criteria.heritage.zero_ha",
                                        low_open=True)},
        "parcels": _anchors(section["parcels"], "criteria.parcels", "good", "bad"),
        "broadband": _classes(section["broadband"], BROADBAND_CLASSES, "criteria.broadband"),
    }
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in parsed.items()})


def _junctions(section: Any) -> tuple[Junction, ...]:
    if not isinstance(section, list) or not section:
        raise WeightsError("a15_junctions must be a list of at least one junction "
                           "{name, east, north} in EPSG:25833")
    out = []
    for i, item in enumerate(section, 1):
        item = _keys(item, ("name", "east", "north"), f"a15_junctions[{i}]")
        # Within Brandenburg in EPSG:25833 (see etl/geometry.py): catches lon/lat mix-ups.
        out.append(Junction(str(item["name"]),
                            _number(item["east"], f"a15_junctions[{i}].east", low=250_000,
                                    high=500_000),
                            _number(item["north"], f"a15_junctions[{i}].north",
                                    low=5_680_000, high=5_950_000)))
    return tuple(out)


def _knockouts(section: Any) -> Mapping[str, tuple[Any, ...]]:
    if section is None:
        return MappingProxyType({})
    if not isinstance(section, Mapping):
        raise WeightsError("knockouts must be a mapping of field -> list of values; fields: "
                           f"{', '.join(KNOCKOUT_VALUES)}")
    out: dict[str, tuple[Any, ...]] = {}
    for name, values in section.items():
        if name not in KNOCKOUT_VALUES:
            raise WeightsError(f"unknown key '{name}' in knockouts; valid: "
                               f"{', '.join(KNOCKOUT_VALUES)}")
        allowed = KNOCKOUT_VALUES[name]
        if not isinstance(values, list) or any(
                v not in allowed or type(v) is not type(allowed[0]) for v in values):
            shown = ", ".join(json.dumps(v) for v in allowed)
            raise WeightsError(f"knockouts.{name} must be a list of values out of {shown}, "
                               f"got {values!r}")
        out[name] = tuple(values)
    return MappingProxyType(out)


def _sensitivity(section: Any) -> dict[str, Any]:
    section = _keys(section, ("weight_change", "junction_shift_m", "junction_directions"),
                    "sensitivity")
    directions = section["junction_directions"]
    if isinstance(directions, bool) or not isinstance(directions, int) or directions < 1:
        raise WeightsError("sensitivity.junction_directions must be a whole number >= 1, "
                           f"got {directions!r}")
    return {"weight_change": _number(section["weight_change"], "sensitivity.weight_change",
                                     high=1.0),
            "junction_shift_m": _number(section["junction_shift_m"],
                                        "sensitivity.junction_shift_m", high=10_000),
            "junction_directions": directions}


def model_from_dict(doc: Any) -> ScoringModel:
    """A validated :class:`ScoringModel` from the parsed config; raises :class:`WeightsError`."""
    doc = _keys(doc, ("weights", "criteria", "unknown", "knockouts", "sensitivity",
                      "a15_junctions", "derive"), "the weights file")
    weights = _keys(doc["weights"], CRITERIA, "weights")
    derive = _keys(doc["derive"], ("parcel_sliver_m2", "parcel_min_coverage",
                                   "monument_buffer_m"), "derive")
    model = ScoringModel(
        weights=MappingProxyType({c: _number(weights[c], f"weight of '{c}'") for c in CRITERIA}),
        criteria=_criteria(doc["criteria"]),
        unknown=_number(doc["unknown"], "unknown", high=1.0),
        junctions=_junctions(doc["a15_junctions"]),
        parcel_sliver_m2=_number(derive["parcel_sliver_m2"], "derive.parcel_sliver_m2"),
        parcel_min_coverage=_number(derive["parcel_min_coverage"],
                                    "derive.parcel_min_coverage", low_open=True, high=1.0),
        monument_buffer_m=_number(derive["monument_buffer_m"], "derive.monument_buffer_m"),
        knockouts=_knockouts(doc["knockouts"]),
        **_sensitivity(doc["sensitivity"]),
    )
    if sum(model.weights.values()) <= 0:
        raise WeightsError("at least one weight must be positive")
    return model


def load_model(path: Path | None = None) -> ScoringModel:
    """The scoring model of ``path`` (default: config/commercial_land_weights.yml).

    Raises
    ------
    ConfigurationError
        The file is missing, not YAML, or fails validation; the message names the file.
    """
    path = path or DEFAULT_MODEL_PATH
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"{path}: cannot read the weights file ({exc})") from exc
    try:
        return model_from_dict(doc)
    except WeightsError as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc


def resolve_weights(overrides: Mapping[str, Any] | None, model: ScoringModel) -> dict[str, float]:
    """The model's weights with ``overrides`` applied (a partial mapping criterion -> weight).

    Raises
    ------
    WeightsError
        An unknown criterion (the message lists the valid ones), a weight that is not a
        finite number, a negative weight, or weights that are all zero.
    """
    if overrides is None:
        return dict(model.weights)
    if not isinstance(overrides, Mapping):
        raise WeightsError("weights must be an object of criterion -> number; criteria: "
                           f"{', '.join(CRITERIA)}")
    unknown = [k for k in overrides if k not in CRITERIA]
    if unknown:
        raise WeightsError(f"unknown criterion '{unknown[0]}'; valid: {', '.join(CRITERIA)}")
    weights = dict(model.weights)
    for name, value in overrides.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise WeightsError(f"weight of '{name}' is negative ({value}); weights must be "
                               ">= 0")
        weights[name] = _number(value, f"weight of '{name}'")
    total = sum(weights.values())
    if total <= 0:
        raise WeightsError("at least one weight must be positive")
    if not math.isfinite(total):
        # Each weight may be finite and their sum not (1e308 + 1e308): scores would be NaN.
        raise WeightsError("weights are too large; use relative values such as 1-100")
    return weights


