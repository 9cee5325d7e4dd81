"""OGC API Processes plugins over twin/analysis: the pygeoapi processors.

``assess-commercial-land`` ranks the published commercial sites by the potential score with
weights the caller chooses ("what if access by rail counts double?"), from the criteria
values stored in PostGIS. It reads, never writes (a read-only transaction), and runs
synchronously: the answer is the ranking itself, through the manager in
:mod:`twin.pygeoapi.manager`.

The ranking comes as JSON (default), GeoJSON with the sites' outlines, or CSV (German
spreadsheet dialect for ``lang=de``, see twin/csv_dialect.py). A client chooses as OGC API -
Processes 1.0 says, by the execution request's ``outputs``
(``{"ranking": {"format": {"mediaType": "text/csv"}}}``), or by ``f=csv``/``f=geojson`` or
``Accept`` on the execution URL (the WSGI layer hands those over in
:data:`twin.pygeoapi.context.PROCESS_MEDIA_TYPE`); ``outputs`` wins.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError

from twin.analysis import commercial_land as cl
from twin.analysis import commercial_land_band as band
from twin.analysis import ranking_output as out
from twin.csv_dialect import CSV_DIALECT
from twin.db import connect
from twin.errors import UNAVAILABLE, DatabaseUnavailableError
from twin.pygeoapi.context import PROCESS_MEDIA_TYPE
from twin.settings import get_settings

LOGGER = logging.getLogger(__name__)

#: The process id, as in /processes/{id}; the only path a client may POST to.
ASSESS_COMMERCIAL_LAND = "assess-commercial-land"
PROCESSORS = {ASSESS_COMMERCIAL_LAND: "twin.processes.AssessCommercialLandProcessor"}


class InvalidInputError(ProcessorExecuteError):
    """An input a client gave cannot be used: 400, with a message saying why."""

    http_status_code = HTTPStatus.BAD_REQUEST
    ogc_exception_code = "InvalidParameterValue"


class ProcessUnavailableError(ProcessorExecuteError):
    """The database cannot be reached: 503."""

    http_status_code = HTTPStatus.SERVICE_UNAVAILABLE
    ogc_exception_code = "ServiceUnavailable"


def _description(model: cl.ScoringModel) -> dict[str, Any]:
    """The process description; defaults come from the weights file."""
    weight_schema = {
        c: {"type": "number", "minimum": 0, "default": model.weights[c]} for c in cl.CRITERIA}
    return {
        "version": "1.0.0",
        "id": ASSESS_COMMERCIAL_LAND,
        "title": {"de": "Gewerbeflächen bewerten", "en": "Assess commercial land"},
        "description": {
            "de": "Rangfolge der Gewerbeflächen nach dem Potenzialwert 0-100 mit frei "
                  "wählbaren Gewichten der Kriterien (fehlende behalten ihren Standardwert), "
                  "mit Aufschlüsselung je Kriterium, fehlenden Angaben, Ausschlusskriterien "
                  "(ohne Rang) und dem Sensitivitätsband jedes Rangs.",
            "en": "Ranks the commercial sites by the potential score 0-100 under weights of "
                  "your choice (criteria left out keep their default weight), with the "
                  "breakdown per criterion, the inputs missing, knock-outs (no rank) and "
                  "each rank's sensitivity band. score = 100 * sum(w_i * n_i) / sum(w_i).",
        },
        "jobControlOptions": ["sync-execute"],
        "outputTransmission": ["value"],
        "keywords": ["Gewerbeflächen", "Wirtschaftsförderung", "commercial land",
                     "multi-criteria", "Cottbus"],
        "inputs": {
            "weights": {
                "title": "Weights per criterion",
                "description": "Relative weights, none negative; criteria left out keep their "
                               f"default. Criteria: {', '.join(cl.CRITERIA)}.",
                "schema": {"type": "object", "properties": weight_schema,
                           "additionalProperties": False},
                "minOccurs": 0, "maxOccurs": 1,
            },
            "limit": {
                "title": "Number of sites",
                "description": "Return only the best this many sites (default: all).",
                "schema": {"type": "integer", "minimum": 1},
                "minOccurs": 0, "maxOccurs": 1,
            },
        },
        "outputs": {
            "ranking": {
                "title": "Ranking",
                "description": "The weights applied, what the sensitivity band covers, "
                               "and the sites best first: rank (null when knocked out; "
                               "those come last), site_id, name, score, knockout "
                               "(reasons), missing_inputs (fields), breakdown (per "
                               "criterion: raw, normalised, weight, contribution, "
                               "missing) and the band: rank_best, rank_worst, score_min, "
                               "score_max over each weight "
                               f"-/+{model.weight_change:.0%} and each A15 junction moved "
                               f"{model.junction_shift_m:g} m in "
                               f"{model.junction_directions} directions, one at a time. "
                               "As JSON; as GeoJSON with "
                               "the sites' outlines (CRS84); or as CSV, one row per site, the "
                               "breakdown in columns (German spreadsheet dialect for lang=de: "
                               "BOM, ';', decimal comma; or csv-dialect=de|rfc4180). Choose "
                               "with outputs.ranking.format.mediaType, f=json|geojson|csv or "
                               "Accept.",
                "schema": {"oneOf": [
                    {"type": "object", "contentMediaType": out.JSON},
                    {"type": "object", "contentMediaType": out.GEOJSON},
                    {"type": "string", "contentMediaType": out.CSV},
                ]},
            },
        },
        "example": {"inputs": {"weights": {"rail_siding": 2 * model.weights["rail_siding"]},
                               "limit": 5}},
    }


def _sensitivity(model: cl.ScoringModel) -> dict[str, Any]:
    """What the band of each site covers (see twin/analysis/commercial_land_band.py)."""
    return {"weight_change": model.weight_change, "junction_shift_m": model.junction_shift_m,
            "junction_directions": model.junction_directions}


def requested_media_type(outputs: Any) -> str:
    """The media type of the ranking a client asked for (default JSON); 400 for others.

    ``outputs`` of the execution request (OGC API - Processes 1.0, ``execute.yaml``) names
    the output and its ``format.mediaType``; without one, ``f=``/``Accept`` decide.
    """
    wanted = PROCESS_MEDIA_TYPE.get()
    if outputs is not None:
        if not isinstance(outputs, dict):
            raise InvalidInputError(user_msg='outputs must be an object, e.g. {"ranking": '
                                             '{"format": {"mediaType": "text/csv"}}}')
        unknown = sorted(set(outputs) - {"ranking"})
        if unknown:
            raise InvalidInputError(user_msg=f"unknown output '{unknown[0]}'; valid: ranking")
        spec = outputs.get("ranking") or {}
        fmt = spec.get("format") if isinstance(spec, dict) else None
        if isinstance(fmt, dict) and fmt.get("mediaType") is not None:
            wanted = str(fmt["mediaType"])
    if wanted is None:
        return out.JSON
    base = wanted.split(";")[0].strip().lower()
    if base not in out.MEDIA_TYPES:
        raise InvalidInputError(user_msg=f"the ranking is not offered as '{wanted}'; offered: "
                                         f"{', '.join(out.MEDIA_TYPES)}")
    return base


class AssessCommercialLandProcessor(BaseProcessor):
    """Ranks the published commercial sites under the weights a caller gives."""

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, _description(cl.load_model()))

    def execute(self, data: dict, outputs: dict | None = None) -> tuple[str, Any]:
        if not isinstance(data, dict):
            raise InvalidInputError(user_msg="inputs must be an object")
        unknown = sorted(set(data) - {"weights", "limit"})
        if unknown:
            raise InvalidInputError(
                user_msg=f"unknown input '{unknown[0]}'; valid: weights, limit")
        limit = data.get("limit")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                  or limit < 1):
            raise InvalidInputError(user_msg=f"limit must be a whole number >= 1, got {limit!r}")
        media_type = requested_media_type(outputs)
        model = cl.load_model()
        try:
            weights = cl.resolve_weights(data.get("weights"), model)
        except cl.WeightsError as exc:
            raise InvalidInputError(user_msg=str(exc)) from exc
        try:
            with connect(get_settings(), for_api=True) as conn:
                conn.read_only = True
                sites = cl.fetch_sites(conn)
                shifted = band.fetch_shifted_distances(conn, model)
                # Right after, in the same transaction: the outlines of the sites ranked.
                outlines = out.fetch_outlines(conn, [s["site_id"] for s in sites]) \
                    if media_type == out.GEOJSON else {}
        except DatabaseUnavailableError as exc:
            LOGGER.error("database unavailable: %s", exc)
            raise ProcessUnavailableError(user_msg=UNAVAILABLE) from exc
        ranking = cl.rank_sites(sites, model, weights)
        bands = band.bands(sites, model, weights, shifted)
        number_matched = len(ranking)
        ranking = ranking[:limit]
        if media_type == out.CSV:
            return f"{out.CSV}; charset=utf-8", out.csv_table(ranking, bands,
                                                               CSV_DIALECT.get())
        if media_type == out.GEOJSON:
            return out.GEOJSON, out.feature_collection(ranking, bands, outlines, weights)
        return out.JSON, {
            "weights": weights,
            "sensitivity": _sensitivity(model),
            "numberMatched": number_matched,
            "ranking": [{**r.as_dict(), **bands[r.site_id].as_dict()} for r in ranking],
        }

    def __repr__(self) -> str:
        return f"<AssessCommercialLandProcessor> {self.name}"
