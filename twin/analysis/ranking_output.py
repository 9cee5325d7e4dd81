"""A ranking of commercial sites in the forms an office takes away: JSON, GeoJSON, CSV.

The process ``assess-commercial-land`` (twin/processes.py) answers in the format a client
negotiates. GeoJSON carries the sites' outlines (CRS84, as OGC API Features serves them) so a
desktop GIS draws the ranking; CSV has one row per site with a rank column and the breakdown
spread over columns (normalised value, weight and contribution per criterion, and the raw
values), never a JSON cell a spreadsheet cannot sum.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from twin.analysis.commercial_land import CRITERIA, RankedSite
from twin.analysis.commercial_land_band import Band
from twin.csv_dialect import Dialect, write
from twin.registry import COMMERCIAL_LAND

JSON = "application/json"
GEOJSON = "application/geo+json"
CSV = "text/csv"
#: Media types of the ranking, in the order the process description lists them.
MEDIA_TYPES: tuple[str, ...] = (JSON, GEOJSON, CSV)
#: ``f=`` values a client may use instead of a media type.
F_VALUES = {"json": JSON, "geojson": GEOJSON, "csv": CSV}

#: Criterion titles (German, English), for column titles.
CRITERION_TITLES: Mapping[str, tuple[str, str]] = {
    "free_area": ("Freie Fläche", "Free area"),
    "availability": ("Verfügbarkeit", "Availability"),
    "ownership": ("Eigentum der Stadt", "City ownership"),
    "a15_distance": ("Entfernung A15", "Distance to the A15"),
    "rail_siding": ("Gleisanschluss", "Rail siding"),
    "servicing": ("Erschließung", "Servicing"),
    "zoning": ("Baugebiet GI/GE", "Zoning GI/GE"),
    "price": ("Preis zum Bodenrichtwert", "Price against land value"),
    "contamination": ("Altlasten", "Contamination"),
    "heritage": ("Denkmal", "Heritage"),
    "parcels": ("Flurstücke", "Parcels"),
    "broadband": ("Breitband", "Broadband"),
}
assert set(CRITERION_TITLES) == set(CRITERIA)
#: Raw values that are no published field.
RAW_TITLES = {"ratio": ("Verhältnis Preis/Bodenrichtwert", "Price/land value ratio"),
              "free_share": ("Freier Anteil", "Free share"),
              "city_share": ("Anteil der Stadt", "City share")}


def _raw_title(key: str, german: bool) -> str:
    if key in RAW_TITLES:
        return RAW_TITLES[key][0 if german else 1]
    field = COMMERCIAL_LAND.field(key)
    return field.title_de if german else field.title_en


def _raw_keys(ranking: Sequence[RankedSite]) -> dict[str, list[str] | None]:
    """Per criterion, the keys of its raw value (None: a single value), as the first site has
    them: the normalisers give every site the same shape."""
    if not ranking:
        return {c: None for c in CRITERIA}
    return {c: list(raw) if isinstance(raw := ranking[0].breakdown[c]["raw"], dict) else None
            for c in CRITERIA}


def csv_table(ranking: Sequence[RankedSite], bands: Mapping[str, Band],
              dialect: Dialect) -> bytes:
    """The ranking as CSV: rank, site, name, score, knock-outs, missing inputs, the
    sensitivity band, then per criterion its columns."""
    german = dialect.german
    header = (["Rang", "Flächenkennung", "Name", "Potenzialwert (0–100)", "Ausschlussgrund",
               "Fehlende Angaben", "Bester Rang", "Schlechtester Rang", "Niedrigster Wert",
               "Höchster Wert"] if german
              else ["rank", "site_id", "name", "score", "knockout", "missing_inputs",
                    "rank_best", "rank_worst", "score_min", "score_max"])
    raw_keys = _raw_keys(ranking)
    for c in CRITERIA:
        de, en = CRITERION_TITLES[c]
        if german:
            header += [f"{de}: normiert (0–1)", f"{de}: Gewicht", f"{de}: Beitrag (Punkte)"]
        else:
            header += [f"{c}_normalised", f"{c}_weight", f"{c}_contribution"]
        keys = raw_keys[c]
        if keys is None:
            header.append(f"{de}: Rohwert" if german else f"{c}_raw")
        else:
            header += [f"{de}: {_raw_title(k, True)}" if german else f"{c}_raw_{k}"
                       for k in keys]
    rows = []
    for r in ranking:
        b = bands[r.site_id]
        row: list[Any] = [r.rank, r.site_id, r.name, r.score, "; ".join(r.knockout),
                          ", ".join(r.missing), b.rank_best, b.rank_worst, b.score_min,
                          b.score_max]
        for c in CRITERIA:
            part = r.breakdown[c]
            row += [part["normalised"], part["weight"], part["contribution"]]
            keys = raw_keys[c]
            row += [part["raw"]] if keys is None else [part["raw"].get(k) for k in keys]
        rows.append(row)
    return write(header, rows, dialect)


def fetch_outlines(conn: psycopg.Connection, site_ids: Sequence[str]) -> dict[str, dict]:
    """The sites' geometries as GeoJSON objects in CRS84 (7 decimals: about a centimetre)."""
    table = sql.Identifier(COMMERCIAL_LAND.schema, COMMERCIAL_LAND.table)
    rows = conn.execute(sql.SQL(
        "SELECT {key}, ST_AsGeoJSON(ST_Transform({geom}, 4326), 7) FROM {table} "
        "WHERE {key} = ANY(%s)").format(key=sql.Identifier(COMMERCIAL_LAND.id_field.name),
                                        geom=sql.Identifier(COMMERCIAL_LAND.geometry_column),
                                        table=table), (list(site_ids),)).fetchall()
    return {key: json.loads(text) for key, text in rows if text is not None}


def feature_collection(ranking: Sequence[RankedSite], bands: Mapping[str, Band],
                       outlines: Mapping[str, dict],
                       weights: Mapping[str, float]) -> dict[str, Any]:
    """The ranking as a GeoJSON FeatureCollection, best first, with the weights applied."""
    return {
        "type": "FeatureCollection",
        "weights": dict(weights),
        "numberReturned": len(ranking),
        "features": [{"type": "Feature", "id": r.site_id,
                      "geometry": outlines.get(r.site_id),
                      "properties": {**r.as_dict(), **bands[r.site_id].as_dict()}}
                     for r in ranking],
    }
