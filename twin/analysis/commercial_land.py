"""Potential score of commercial and industrial sites: a documented multi-criteria score 0-100.

Each criterion turns a site's raw value into 0..1 (:func:`normalise`); the score is the
weighted mean of those, times 100::

    score = 100 * sum(weight_i * normalised_i) / sum(weight_i)

and the breakdown keeps, per criterion, the raw value, the normalised value, the weight and
the contribution ``100 * weight_i * normalised_i / sum(weight_i)`` (the contributions add up
to the score). Weights, anchors and the A15 junctions live in
``config/commercial_land_weights.yml``; :func:`load_model` validates them.

:func:`score_site` and :func:`rank_sites` are pure. :func:`refresh` is the derive step that
stores distance, heritage overlap, parcel count, score and breakdown after every load;
:func:`fetch_sites` reads the criteria back for the OGC API process.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import psycopg
import yaml
from psycopg import sql
from psycopg.rows import dict_row

from twin.db import packaged_sql
from twin.errors import ConfigurationError, TwinError
from twin.registry import COMMERCIAL_LAND
from twin.settings import PROJECT_ROOT

#: The weights and parameters of the score, as committed.
DEFAULT_MODEL_PATH = PROJECT_ROOT / "config" / "commercial_land_weights.yml"


class Criterion(enum.StrEnum):
    """The criteria of the potential score, in breakdown order."""

    FREE_AREA = "free_area"
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

#: Published fields the score reads, besides key and name.
CRITERIA_FIELDS: tuple[str, ...] = (
    "free_area_ha", "a15_distance_km", "rail_siding", "road_access", "utilities",
    "gi_area_ha", "ge_area_ha", "price_eur_m2", "land_value_eur_m2", "contamination",
    "heritage_overlap_ha", "parcel_count", "broadband",
)
for _name in ("site_id", "name", *CRITERIA_FIELDS, "score", "score_breakdown"):
    COMMERCIAL_LAND.field(_name)  # every name must be a published field


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


@dataclass(frozen=True)
class SiteScore:
    """Score of one site and its breakdown per criterion."""

    score: float
    breakdown: Mapping[str, Mapping[str, Any]]

    def breakdown_json(self) -> str:
        """The breakdown as stored in ``score_breakdown``: stable JSON text."""
        return json.dumps(self.breakdown, ensure_ascii=False)


@dataclass(frozen=True)
class RankedSite:
    """A site's place in a ranking."""

    rank: int
    site_id: str
    name: str | None
    score: float
    breakdown: Mapping[str, Mapping[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "site_id": self.site_id, "name": self.name,
                "score": self.score, "breakdown": dict(self.breakdown)}


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
    zoning = _keys(section["zoning"], ("ge_value",), "criteria.zoning")
    heritage = _keys(section["heritage"], ("zero_ha",), "criteria.heritage")
    servicing = _keys(section["servicing"], ("road_share", "utilities"), "criteria.servicing")
    parsed: dict[str, Mapping[str, Any]] = {
        "free_area": {"full_ha": _number(full["full_ha"], "criteria.free_area.full_ha",
                                         low_open=True)},
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


def model_from_dict(doc: Any) -> ScoringModel:
    """A validated :class:`ScoringModel` from the parsed config; raises :class:`WeightsError`."""
    doc = _keys(doc, ("weights", "criteria", "unknown", "a15_junctions", "derive"),
                "the weights file")
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


# -- normalisation: raw value -> 0..1 -----------------------------------------------------
def _clamp(x: float) -> float:
    return min(1.0, max(0.0, x))


def _linear(x: float, zero_at: float, one_at: float) -> float:
    """0 at ``zero_at``, 1 at ``one_at``, linear between, clamped (either direction)."""
    return _clamp((x - zero_at) / (one_at - zero_at))


def _free_area(site: Mapping[str, Any], m: ScoringModel) -> tuple[Any, float | None]:
    raw = site.get("free_area_ha")
    if raw is None:
        return None, None
    return raw, _clamp(raw / m.criteria["free_area"]["full_ha"])


def _a15_distance(site: Mapping[str, Any], m: ScoringModel) -> tuple[Any, float | None]:
    raw = site.get("a15_distance_km")
    if raw is None:
        return None, None
    p = m.criteria["a15_distance"]
    return raw, _linear(raw, p["far_km"], p["near_km"])


def _rail_siding(site: Mapping[str, Any], m: ScoringModel) -> tuple[Any, float | None]:
    raw = site.get("rail_siding")
    return raw, None if raw is None else float(bool(raw))


def _servicing(site: Mapping[str, Any], m: ScoringModel) -> tuple[Any, float | None]:
    road, utilities = site.get("road_access"), site.get("utilities")
    raw = {"road_access": road, "utilities": utilities}
    if road is None and utilities is None:
        return raw, None
    p = m.criteria["servicing"]
    road_n = m.unknown if road is None else float(bool(road))
    util_n = p["utilities"].get(utilities, m.unknown) if utilities is not None else m.unknown
    return raw, p["road_share"] * road_n + (1 - p["road_share"]) * util_n


def _zoning(site: Mapping[str, Any], m: ScoringModel) -> tuple[Any, float | None]:
    gi, ge = site.get("gi_area_ha"), site.get("ge_area_ha")
    raw = {"gi_area_ha": gi, "ge_area_ha": ge}
    total = (gi or 0.0) + (ge or 0.0)
    if total <= 0:
        return raw, None
    return raw, ((gi or 0.0) + m.criteria["zoning"]["ge_value"] * (ge or 0.0)) / total


def _price(site: Mapping[str, Any], m: ScoringModel) -> tuple[Any, float | None]:
    price, value = site.get("price_eur_m2"), site.get("land_value_eur_m2")
    raw: dict[str, Any] = {"price_eur_m2": price, "land_value_eur_m2": value, "ratio": None}
    if price is None or not value:
        return raw, None
    raw["ratio"] = round(price / value, 4)
    p = m.criteria["price"]
    return raw, _linear(price / value, p["bad_ratio"], p["good_ratio"])


def _classed(field: str, criterion: str) -> Callable[[Mapping[str, Any], ScoringModel],
                                                      tuple[Any, float | None]]:
    def normalise(site: Mapping[str, Any], m: ScoringModel) -> tuple[Any, float | None]:
        raw = site.get(field)
        return raw, m.criteria[criterion].get(raw) if raw is not None else None
    return normalise


def _heritage(site: Mapping[str, Any], m: ScoringModel) -> tuple[Any, float | None]:
    raw = site.get("heritage_overlap_ha")
    if raw is None:
        return None, None
    return raw, 1.0 - _clamp(raw / m.criteria["heritage"]["zero_ha"])


def _parcels(site: Mapping[str, Any], m: ScoringModel) -> tuple[Any, float | None]:
    raw = site.get("parcel_count")
    if raw is None:
        return None, None
    p = m.criteria["parcels"]
    return raw, _linear(raw, p["bad"], p["good"])


NORMALISERS: dict[str, Callable[[Mapping[str, Any], ScoringModel], tuple[Any, float | None]]] = {
    "free_area": _free_area,
    "a15_distance": _a15_distance,
    "rail_siding": _rail_siding,
    "servicing": _servicing,
    "zoning": _zoning,
    "price": _price,
    "contamination": _classed("contamination", "contamination"),
    "heritage": _heritage,
    "parcels": _parcels,
    "broadband": _classed("broadband", "broadband"),
}


def normalise(criterion: str, site: Mapping[str, Any],
              model: ScoringModel) -> tuple[Any, float]:
    """Raw value and normalised value (0..1) of one criterion; unknown gives ``model.unknown``."""
    raw, value = NORMALISERS[criterion](site, model)
    return raw, model.unknown if value is None else value


# -- scores and rankings --------------------------------------------------------------------
def score_site(site: Mapping[str, Any], model: ScoringModel,
               weights: Mapping[str, float] | None = None) -> SiteScore:
    """The potential score of ``site`` (a mapping of published field names to values).

    ``weights`` must be complete and valid (see :func:`resolve_weights`); default: the
    model's. The score is rounded to 0.01; contributions to 0.0001, so that they add up to
    the score within 0.01.
    """
    weights = model.weights if weights is None else weights
    total = sum(weights[c] for c in CRITERIA)
    breakdown: dict[str, dict[str, Any]] = {}
    exact = 0.0
    for c in CRITERIA:
        raw, value = normalise(c, site, model)
        contribution = 100.0 * weights[c] * value / total
        exact += contribution
        breakdown[c] = {"raw": raw, "normalised": round(value, 4), "weight": weights[c],
                        "contribution": round(contribution, 4)}
    return SiteScore(round(exact, 2), breakdown)


def rank_sites(sites: Iterable[Mapping[str, Any]], model: ScoringModel,
               weights: Mapping[str, float] | None = None) -> list[RankedSite]:
    """Sites by score, best first (ties by site id); rank 1 is the best."""
    scored = [(site, score_site(site, model, weights)) for site in sites]
    scored.sort(key=lambda pair: (-pair[1].score, str(pair[0]["site_id"])))
    return [RankedSite(i, str(site["site_id"]), site.get("name"), s.score, s.breakdown)
            for i, (site, s) in enumerate(scored, 1)]


# -- database: the derive step and the process's read -------------------------------------
_TABLE = sql.Identifier(COMMERCIAL_LAND.schema, COMMERCIAL_LAND.table)

_STORE_SCORES = sql.SQL("""
UPDATE {table} t SET score = v.score, score_breakdown = v.breakdown
FROM unnest(%s::text[], %s::double precision[], %s::text[]) AS v(site_id, score, breakdown)
WHERE t.site_id = v.site_id
  AND (t.score, t.score_breakdown) IS DISTINCT FROM (v.score, v.breakdown)
""").format(table=_TABLE)


def fetch_sites(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Key, name and criteria values of every published site, by site id."""
    columns = sql.SQL(", ").join(map(sql.Identifier, ("site_id", "name", *CRITERIA_FIELDS)))
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql.SQL("SELECT {} FROM {} ORDER BY site_id").format(columns, _TABLE))
        return cur.fetchall()


def refresh(conn: psycopg.Connection, model: ScoringModel | None = None) -> None:
    """Derive step: store the derived criteria, then score and breakdown, of every site.

    Runs in the caller's transaction and writes only rows whose values change. Correct with
    the heritage or parcels tables empty.
    """
    model = model or load_model()
    conn.execute(packaged_sql("derive_commercial_land.sql"), {"srid": COMMERCIAL_LAND.srid,
        "east": [j.east for j in model.junctions], "north": [j.north for j in model.junctions],
        "buffer": model.monument_buffer_m, "sliver": model.parcel_sliver_m2,
        "min_coverage": model.parcel_min_coverage})
    sites = fetch_sites(conn)
    if not sites:
        return
    scores = [score_site(site, model) for site in sites]
    conn.execute(_STORE_SCORES, (
        [s["site_id"] for s in sites], [s.score for s in scores],
        [s.breakdown_json() for s in scores]))
