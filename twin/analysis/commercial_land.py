"""Potential score of commercial and industrial sites: a documented multi-criteria score 0-100.

Each criterion turns a site's raw value into 0..1 (:func:`normalise`); the score is the
weighted mean of those, times 100::

    score = 100 * sum(weight_i * normalised_i) / sum(weight_i)

and the breakdown keeps, per criterion, the raw value, the normalised value, the weight, the
contribution ``100 * weight_i * normalised_i / sum(weight_i)`` (the contributions add up to
the score) and the input fields that were missing (the criterion then counts as
``unknown``, and the site's ``missing_inputs`` names them). A site that fails a knock-out
criterion (``knockouts`` in the config: known contamination not remediated, no road access)
keeps its score but gets no rank; ``knockout`` says why. Weights, anchors, knock-outs, the
sensitivity parameters and the A15 junctions live in ``config/commercial_land_weights.yml``;
:func:`load_model` validates them (:mod:`twin.analysis.commercial_land_model`, re-exported
here).

:func:`score_site` and :func:`rank_sites` are pure; the sensitivity band of each rank is
:mod:`twin.analysis.commercial_land_band`. :func:`refresh` is the derive step that stores
distance, heritage overlap, parcel count, score, breakdown, rank, band, missing inputs and
knock-outs after every load; :func:`fetch_sites` reads the criteria back for the process.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from twin.analysis.commercial_land_model import (
    BROADBAND_CLASSES,
    CONTAMINATION_CLASSES,
    CRITERIA,
    DEFAULT_MODEL_PATH,
    KNOCKOUT_VALUES,
    UTILITY_CLASSES,
    Criterion,
    Junction,
    ScoringModel,
    WeightsError,
    load_model,
    model_from_dict,
    resolve_weights,
)
from twin.db import packaged_sql
from twin.registry import COMMERCIAL_LAND

__all__ = [
    "BROADBAND_CLASSES", "CONTAMINATION_CLASSES", "CRITERIA", "CRITERIA_FIELDS",
    "DEFAULT_MODEL_PATH", "KNOCKOUT_VALUES", "NORMALISERS", "RANKING_FIELDS",
    "UTILITY_CLASSES", "Criterion", "Junction", "RankedSite", "ScoringModel", "SiteScore",
    "WeightsError", "fetch_sites", "knockouts", "load_model", "model_from_dict", "normalise",
    "rank_order", "rank_sites", "refresh", "resolve_weights", "score_site",
]

#: Published fields the score reads, besides key and name.
CRITERIA_FIELDS: tuple[str, ...] = (
    "free_area_ha", "net_area_ha", "occupancy_pct", "gross_area_ha", "owner_city_ha",
    "owner_private_ha", "owner_other_ha", "a15_distance_km", "rail_siding", "road_access",
    "utilities", "gi_area_ha", "ge_area_ha", "price_eur_m2", "land_value_eur_m2",
    "contamination", "heritage_overlap_ha", "parcel_count", "broadband",
)
#: Derived fields of the ranking, stored by :func:`refresh` beside score and breakdown.
RANKING_FIELDS: tuple[str, ...] = ("rank", "rank_best", "rank_worst", "score_min",
                                   "score_max", "missing_inputs", "knockout")
#: What a knock-out says, per field and value: the reason a council paper quotes.
_KNOCKOUT_REASONS: Mapping[str, Mapping[Any, str]] = MappingProxyType({
    "contamination": {"known": "known contamination, not remediated",
                      "suspected": "suspected contamination, not investigated",
                      "remediated": "remediated contamination", "none": "no contamination"},
    "road_access": {False: "no road access", True: "road access"},
})
for _name in ("site_id", "name", *CRITERIA_FIELDS, "score", "score_breakdown",
              *RANKING_FIELDS):
    COMMERCIAL_LAND.field(_name)  # every name must be a published field


@dataclass(frozen=True)
class SiteScore:
    """Score of one site, its breakdown per criterion, what was missing and what rules it out."""

    score: float
    breakdown: Mapping[str, Mapping[str, Any]]
    #: Input fields left empty, in criterion order; their criterion counted as ``unknown``.
    missing: tuple[str, ...] = ()
    #: Reasons the site is knocked out (no rank); empty when it is not.
    knockout: tuple[str, ...] = ()

    def breakdown_json(self) -> str:
        """The breakdown as stored in ``score_breakdown``: stable JSON text."""
        return json.dumps(self.breakdown, ensure_ascii=False)


@dataclass(frozen=True)
class RankedSite:
    """A site's place in a ranking: ``rank`` None when a knock-out rules it out."""

    rank: int | None
    site_id: str
    name: str | None
    score: float
    breakdown: Mapping[str, Mapping[str, Any]]
    missing: tuple[str, ...] = ()
    knockout: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "site_id": self.site_id, "name": self.name,
                "score": self.score, "knockout": list(self.knockout),
                "missing_inputs": list(self.missing), "breakdown": dict(self.breakdown)}


# -- normalisation: raw value -> 0..1 -----------------------------------------------------
def _clamp(x: float) -> float:
    return min(1.0, max(0.0, x))


def _linear(x: float, zero_at: float, one_at: float) -> float:
    """0 at ``zero_at``, 1 at ``one_at``, linear between, clamped (either direction)."""
    return _clamp((x - zero_at) / (one_at - zero_at))


#: What a normaliser gives: the raw value, the normalised value (None: unknown) and the input
#: fields that were missing.
Normalised = tuple[Any, float | None, tuple[str, ...]]


def _empty(site: Mapping[str, Any], *fields: str) -> tuple[str, ...]:
    return tuple(f for f in fields if site.get(f) is None)


def _free_area(site: Mapping[str, Any], m: ScoringModel) -> Normalised:
    raw = site.get("free_area_ha")
    if raw is None:
        return None, None, ("free_area_ha",)
    return raw, _clamp(raw / m.criteria["free_area"]["full_ha"]), ()


def _availability(site: Mapping[str, Any], m: ScoringModel) -> Normalised:
    """Share of the net area still free: 1 - occupancy, else free / net area."""
    occupancy, free, net = (site.get(f) for f in ("occupancy_pct", "free_area_ha",
                                                  "net_area_ha"))
    raw: dict[str, Any] = {"occupancy_pct": occupancy, "free_share": None}
    if occupancy is not None:
        raw["free_share"] = round(1.0 - occupancy / 100.0, 4)
    elif free is not None and net:
        raw["free_share"] = round(free / net, 4)
    else:
        return raw, None, ("occupancy_pct", *_empty(site, "free_area_ha", "net_area_ha"))
    return raw, _linear(raw["free_share"], 0.0, m.criteria["availability"]["full_share"]), ()


def _ownership(site: Mapping[str, Any], m: ScoringModel) -> Normalised:
    """Share of the site the city owns: it can sell that without a third party."""
    city = site.get("owner_city_ha")
    raw: dict[str, Any] = {"owner_city_ha": city, "city_share": None}
    if city is None:
        return raw, None, ("owner_city_ha",)
    # The load checks that the owner shares add up to the gross area; without a gross area
    # the shares' sum is the whole, when all three are given.
    whole = site.get("gross_area_ha")
    if not whole:
        parts = (site.get("owner_private_ha"), site.get("owner_other_ha"))
        whole = None if None in parts else city + sum(parts)  # type: ignore[arg-type]
    if not whole:
        return raw, None, ("gross_area_ha",)
    raw["city_share"] = round(city / whole, 4)
    return raw, _linear(city / whole, 0.0, m.criteria["ownership"]["full_share"]), ()


def _a15_distance(site: Mapping[str, Any], m: ScoringModel) -> Normalised:
    raw = site.get("a15_distance_km")
    if raw is None:
        return None, None, ("a15_distance_km",)
    p = m.criteria["a15_distance"]
    return raw, _linear(raw, p["far_km"], p["near_km"]), ()


def _rail_siding(site: Mapping[str, Any], m: ScoringModel) -> Normalised:
    raw = site.get("rail_siding")
    if raw is None:
        return None, None, ("rail_siding",)
    return raw, float(bool(raw)), ()


def _servicing(site: Mapping[str, Any], m: ScoringModel) -> Normalised:
    road, utilities = site.get("road_access"), site.get("utilities")
    raw = {"road_access": road, "utilities": utilities}
    missing = _empty(site, "road_access", "utilities")
    if road is None and utilities is None:
        return raw, None, missing
    p = m.criteria["servicing"]
    road_n = m.unknown if road is None else float(bool(road))
    util_n = p["utilities"].get(utilities, m.unknown) if utilities is not None else m.unknown
    return raw, p["road_share"] * road_n + (1 - p["road_share"]) * util_n, missing


def _zoning(site: Mapping[str, Any], m: ScoringModel) -> Normalised:
    gi, ge = site.get("gi_area_ha"), site.get("ge_area_ha")
    raw = {"gi_area_ha": gi, "ge_area_ha": ge}
    total = (gi or 0.0) + (ge or 0.0)
    if total <= 0:
        # No zoned area given (or 0 ha of both): the zoning is not known.
        return raw, None, _empty(site, "gi_area_ha", "ge_area_ha") or ("gi_area_ha",
                                                                         "ge_area_ha")
    return raw, ((gi or 0.0) + m.criteria["zoning"]["ge_value"] * (ge or 0.0)) / total, ()


def _price(site: Mapping[str, Any], m: ScoringModel) -> Normalised:
    price, value = site.get("price_eur_m2"), site.get("land_value_eur_m2")
    raw: dict[str, Any] = {"price_eur_m2": price, "land_value_eur_m2": value, "ratio": None}
    if price is None or not value:
        missing = (("price_eur_m2",) if price is None else ()) + \
            (("land_value_eur_m2",) if not value else ())
        return raw, None, missing
    raw["ratio"] = round(price / value, 4)
    p = m.criteria["price"]
    return raw, _linear(price / value, p["bad_ratio"], p["good_ratio"]), ()


def _classed(field: str, criterion: str) -> Callable[[Mapping[str, Any], ScoringModel],
                                                      Normalised]:
    def normalise(site: Mapping[str, Any], m: ScoringModel) -> Normalised:
        raw = site.get(field)
        value = m.criteria[criterion].get(raw) if raw is not None else None
        return raw, value, () if value is not None else (field,)
    return normalise


def _heritage(site: Mapping[str, Any], m: ScoringModel) -> Normalised:
    raw = site.get("heritage_overlap_ha")
    if raw is None:
        return None, None, ("heritage_overlap_ha",)
    return raw, 1.0 - _clamp(raw / m.criteria["heritage"]["zero_ha"]), ()


def _parcels(site: Mapping[str, Any], m: ScoringModel) -> Normalised:
    raw = site.get("parcel_count")
    if raw is None:
        return None, None, ("parcel_count",)
    p = m.criteria["parcels"]
    return raw, _linear(raw, p["bad"], p["good"]), ()


NORMALISERS: dict[str, Callable[[Mapping[str, Any], ScoringModel], Normalised]] = {
    "free_area": _free_area,
    "availability": _availability,
    "ownership": _ownership,
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
    raw, value, _ = NORMALISERS[criterion](site, model)
    return raw, model.unknown if value is None else value


def knockouts(site: Mapping[str, Any], model: ScoringModel) -> tuple[str, ...]:
    """Why ``site`` is ruled out under the model's knock-outs, e.g. ``no road access
    (road_access = false)``; empty when it is not. An empty field rules nothing out (it is
    listed in ``missing_inputs``)."""
    reasons = []
    for name, values in model.knockouts.items():
        value = site.get(name)
        if value is not None and value in values and type(value) is type(values[0]):
            shown = value if isinstance(value, str) else json.dumps(value)
            reasons.append(f"{_KNOCKOUT_REASONS[name][value]} ({name} = {shown})")
    return tuple(reasons)


# -- scores and rankings --------------------------------------------------------------------
def score_site(site: Mapping[str, Any], model: ScoringModel,
               weights: Mapping[str, float] | None = None) -> SiteScore:
    """The potential score of ``site`` (a mapping of published field names to values).

    ``weights`` must be complete and valid (see :func:`resolve_weights`); default: the
    model's. The score is rounded to 0.01; contributions to 0.0001, so that they add up to
    the score within 0.01. A criterion whose inputs are missing counts as ``model.unknown``
    and names them in its ``missing`` list and in :attr:`SiteScore.missing`.
    """
    weights = model.weights if weights is None else weights
    total = sum(weights[c] for c in CRITERIA)
    breakdown: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    exact = 0.0
    for c in CRITERIA:
        raw, value, lacking = NORMALISERS[c](site, model)
        value = model.unknown if value is None else value
        contribution = 100.0 * weights[c] * value / total
        exact += contribution
        breakdown[c] = {"raw": raw, "normalised": round(value, 4), "weight": weights[c],
                        "contribution": round(contribution, 4), "missing": list(lacking)}
        missing += [f for f in lacking if f not in missing]
    return SiteScore(round(exact, 2), breakdown, tuple(missing), knockouts(site, model))


def rank_order(scores: Mapping[str, float], excluded: Iterable[str] = ()) -> dict[str, int]:
    """Rank of each site id by score, best first, ties by site id; ``excluded`` get none."""
    out = set(excluded)
    order = sorted((k for k in scores if k not in out), key=lambda k: (-scores[k], k))
    return {k: i for i, k in enumerate(order, 1)}


def rank_sites(sites: Iterable[Mapping[str, Any]], model: ScoringModel,
               weights: Mapping[str, float] | None = None) -> list[RankedSite]:
    """Sites by score, best first (ties by site id); rank 1 is the best. Knocked-out sites
    follow, by score, without a rank."""
    scored = {str(site["site_id"]): (site, score_site(site, model, weights)) for site in sites}
    ranks = rank_order({k: s.score for k, (_, s) in scored.items()},
                       [k for k, (_, s) in scored.items() if s.knockout])
    order = sorted(scored, key=lambda k: (k not in ranks, -scored[k][1].score, k))
    return [RankedSite(ranks.get(k), k, scored[k][0].get("name"), scored[k][1].score,
                       scored[k][1].breakdown, scored[k][1].missing, scored[k][1].knockout)
            for k in order]


# -- database: the derive step and the process's read -------------------------------------
_TABLE = sql.Identifier(COMMERCIAL_LAND.schema, COMMERCIAL_LAND.table)

#: What the derive step stores per site, after the criteria the SQL derives.
_STORED = ("score", "score_breakdown", *RANKING_FIELDS)
_STORED_TYPES = tuple(COMMERCIAL_LAND.field(c).type.value for c in _STORED)

_STORE_SCORES = sql.SQL("""
UPDATE {table} t SET ({columns}) = ({values})
FROM unnest(%s::text[], {arrays}) AS v(site_id, {columns})
WHERE t.site_id = v.site_id AND ({current}) IS DISTINCT FROM ({values})
""").format(
    table=_TABLE,
    columns=sql.SQL(", ").join(map(sql.Identifier, _STORED)),
    values=sql.SQL(", ").join(sql.Identifier("v", c) for c in _STORED),
    current=sql.SQL(", ").join(sql.Identifier("t", c) for c in _STORED),
    arrays=sql.SQL(", ").join(sql.SQL("%s::{}[]").format(sql.SQL(t)) for t in _STORED_TYPES))


def fetch_sites(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Key, name and criteria values of every published site, by site id."""
    columns = sql.SQL(", ").join(map(sql.Identifier, ("site_id", "name", *CRITERIA_FIELDS)))
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql.SQL("SELECT {} FROM {} ORDER BY site_id").format(columns, _TABLE))
        return cur.fetchall()


def refresh(conn: psycopg.Connection, model: ScoringModel | None = None) -> None:
    """Derive step: store the derived criteria, then score, breakdown, rank, sensitivity band,
    missing inputs and knock-outs of every site.

    Runs in the caller's transaction and writes only rows whose values change. Correct with
    the heritage or parcels tables empty.
    """
    # Imported here: the band module builds on this one's scores.
    from twin.analysis import commercial_land_band as band

    model = model or load_model()
    conn.execute(packaged_sql("derive_commercial_land.sql"), {"srid": COMMERCIAL_LAND.srid,
        "east": [j.east for j in model.junctions], "north": [j.north for j in model.junctions],
        "buffer": model.monument_buffer_m, "sliver": model.parcel_sliver_m2,
        "min_coverage": model.parcel_min_coverage})
    sites = fetch_sites(conn)
    if not sites:
        return
    ranked = {r.site_id: r for r in rank_sites(sites, model)}
    bands = band.bands(sites, model, shifted=band.fetch_shifted_distances(conn, model))
    keys = [str(s["site_id"]) for s in sites]
    rows = [ranked[k] for k in keys]
    conn.execute(_STORE_SCORES, (
        keys, [r.score for r in rows],
        [json.dumps(r.breakdown, ensure_ascii=False) for r in rows],
        [r.rank for r in rows], [bands[k].rank_best for k in keys],
        [bands[k].rank_worst for k in keys], [bands[k].score_min for k in keys],
        [bands[k].score_max for k in keys],
        [", ".join(r.missing) or None for r in rows],
        ["; ".join(r.knockout) or None for r in rows]))
