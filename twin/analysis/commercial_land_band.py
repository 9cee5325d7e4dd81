"""The sensitivity band of the commercial-land ranking: how far a site's rank moves.

The score rests on chosen weights and on A15 junctions read off a map to within a few hundred
metres. The band says how much a site's rank depends on either: it is the best and worst rank
(and the lowest and highest score) of the site over

* the ranking itself;
* each weight changed by ``-weight_change`` and ``+weight_change`` (default ±20 %), one at a
  time, the others kept (2 scenarios per criterion);
* each A15 junction moved by ``junction_shift_m`` (default 300 m) in ``junction_directions``
  (default 8) directions evenly spread from east, one junction at a time, the others kept
  (junctions × directions scenarios; each site's ``a15_distance_km`` recomputed in PostGIS).

Knocked-out sites take no rank in any scenario; they keep a score band. One-at-a-time
changes are the usual first look (OECD/JRC *Handbook on Constructing Composite Indicators*,
2008, step 7, uncertainty and sensitivity analysis): they show which sites' places are firm
and which hang on a weight; they do not combine changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from twin.analysis.commercial_land import CRITERIA, ScoringModel, rank_order, score_site
from twin.registry import COMMERCIAL_LAND


@dataclass(frozen=True)
class Band:
    """Best and worst rank (None when knocked out) and lowest and highest score of a site."""

    rank_best: int | None
    rank_worst: int | None
    score_min: float
    score_max: float

    def as_dict(self) -> dict[str, Any]:
        return {"rank_best": self.rank_best, "rank_worst": self.rank_worst,
                "score_min": self.score_min, "score_max": self.score_max}


def weight_scenarios(weights: Mapping[str, float],
                     model: ScoringModel) -> list[dict[str, float]]:
    """Each weight times (1 - change) and (1 + change), one at a time, in criterion order."""
    out = []
    for c in CRITERIA:
        for factor in (1 - model.weight_change, 1 + model.weight_change):
            changed = {**weights, c: weights[c] * factor}
            if sum(changed.values()) > 0:  # a sole weight lowered by 100 % leaves none
                out.append(changed)
    return out


def junction_scenarios(model: ScoringModel) -> list[list[tuple[float, float]]]:
    """The junction sets of the band: junction i moved in direction d, scenario i·D + d."""
    out = []
    for i in range(len(model.junctions)):
        for d in range(model.junction_directions):
            angle = 2 * math.pi * d / model.junction_directions
            dx = model.junction_shift_m * math.cos(angle)
            dy = model.junction_shift_m * math.sin(angle)
            out.append([(j.east + dx, j.north + dy) if k == i else (j.east, j.north)
                        for k, j in enumerate(model.junctions)])
    return out


_SHIFTED = sql.SQL("""
SELECT s.site_id, p.scenario,
       round((min(ST_Distance(s.geom, ST_SetSRID(ST_MakePoint(p.e, p.n), %s))) / 1000.0)
             ::numeric, 3)::double precision
FROM {table} s
CROSS JOIN unnest(%s::integer[], %s::double precision[], %s::double precision[])
    AS p(scenario, e, n)
GROUP BY s.site_id, p.scenario
ORDER BY s.site_id, p.scenario
""").format(table=sql.Identifier(COMMERCIAL_LAND.schema, COMMERCIAL_LAND.table))


def fetch_shifted_distances(conn: psycopg.Connection,
                            model: ScoringModel) -> dict[str, list[float]]:
    """Per site id, ``a15_distance_km`` under each scenario of :func:`junction_scenarios`,
    computed as the derive step computes it (nearest point of the site, to the metre)."""
    scenario, east, north = [], [], []
    for q, points in enumerate(junction_scenarios(model)):
        for e, n in points:
            scenario.append(q)
            east.append(e)
            north.append(n)
    out: dict[str, list[float]] = {}
    for site_id, _, km in conn.execute(_SHIFTED, (COMMERCIAL_LAND.srid, scenario, east,
                                                  north)):
        out.setdefault(site_id, []).append(km)
    return out


def bands(sites: Iterable[Mapping[str, Any]], model: ScoringModel,
          weights: Mapping[str, float] | None = None,
          shifted: Mapping[str, Sequence[float]] | None = None) -> dict[str, Band]:
    """The band of every site under ``weights`` (default: the model's).

    ``shifted`` gives each site's A15 distance per junction scenario
    (:func:`fetch_shifted_distances`); without it the band covers the weights only.
    """
    sites = list(sites)
    weights = dict(model.weights if weights is None else weights)
    keys = [str(s["site_id"]) for s in sites]
    base = [score_site(s, model, weights) for s in sites]
    excluded = [k for k, s in zip(keys, base, strict=True) if s.knockout]
    runs = [dict(zip(keys, (s.score for s in base), strict=True))]
    for changed in weight_scenarios(weights, model):
        runs.append({k: score_site(s, model, changed).score
                     for k, s in zip(keys, sites, strict=True)})
    if shifted is not None:
        for q in range(len(model.junctions) * model.junction_directions):
            runs.append({k: score_site({**s, "a15_distance_km": shifted[k][q]}, model,
                                       weights).score
                         for k, s in zip(keys, sites, strict=True)})
    ranks = [rank_order(run, excluded) for run in runs]
    out = {}
    for k in keys:
        places = [r[k] for r in ranks if k in r]
        scores = [run[k] for run in runs]
        out[k] = Band(min(places, default=None), max(places, default=None), min(scores),
                      max(scores))
    return out
