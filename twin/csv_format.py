"""CSV output of features, with their geometry: ``f=csv`` on /collections/{id}/items.

pygeoapi's own CSV formatter drops the geometry unless configured, and then decides between
x/y and WKT from the first feature of the page (and fails on a feature without geometry).
This one is registered per collection in the config (``formatters``, a documented plugin
point) under the same name, ``CSV``, so it replaces pygeoapi's. The layout follows the
registry's geometry type, so every page of a collection has the same columns:

* point collections: ``x`` and ``y`` first, the feature's coordinates in the response CRS
  and in its axis order (longitude, latitude for CRS84; latitude first for EPSG:4326);
* any other geometry: a ``wkt`` column last, the geometry as Well-Known Text.

A feature without geometry (``skipGeometry=true``, or none stored) has empty cells there.

For a German request (``lang=de``, or ``csv-dialect=de``) the file is written for German
spreadsheets (twin/csv_dialect.py): BOM, ``;``, decimal comma, ``ja``/``nein``, the fields'
German titles as column titles, and ``score_breakdown`` spread over columns.
"""

from __future__ import annotations

import json
from typing import Any

from pygeoapi.formatter.base import BaseFormatter
from shapely.geometry import shape

from twin.analysis.commercial_land import CRITERIA
from twin.analysis.ranking_output import CRITERION_TITLES
from twin.csv_dialect import CSV_DIALECT, Dialect, write
from twin.errors import ConfigurationError, UnknownNameError
from twin.registry import Collection, by_table

#: The formatter's name in the config: a dotted path pygeoapi imports.
FORMATTER = "twin.csv_format.GeometryCSVFormatter"


class GeometryCSVFormatter(BaseFormatter):
    """CSV with x/y columns (points) or a WKT column (other geometries)."""

    def __init__(self, formatter_def: dict) -> None:
        # The name pygeoapi gives its own CSV formatter, so this one takes its place.
        super().__init__({**formatter_def, "name": "CSV"})
        self.mimetype = "text/csv; charset=utf-8"
        self.f = "csv"
        self.extension = "csv"

    def write(self, options: dict | None = None, data: dict | None = None) -> bytes:
        """The features of ``data`` (a GeoJSON FeatureCollection) as CSV bytes, in the
        request's dialect (twin/csv_dialect.py): for German spreadsheets the columns have
        their German titles and a score breakdown is spread over columns."""
        options = options or {}
        dialect = CSV_DIALECT.get()
        features = (data or {}).get("features", [])
        table = (options.get("provider_def") or {}).get("table")
        collection = by_table(table) if table else None
        points = collection is not None and collection.geometry_type == "Point"
        if features:
            names = list(features[0].get("properties", {}))
        else:
            names = list(collection.property_names) if collection else []
        spread = dialect.german and BREAKDOWN in names
        titles = [_title(collection, n, dialect) for n in names if n != BREAKDOWN or not spread]
        if spread:
            titles += breakdown_titles()
        header = ["x", "y", *titles] if points else [*titles, "wkt"]
        rows = []
        for feature in features:
            props = feature.get("properties", {})
            row = [_value(props.get(n)) for n in names if n != BREAKDOWN or not spread]
            if spread:
                row += breakdown_cells(props.get(BREAKDOWN))
            geometry = feature.get("geometry")
            if points:
                xy = list(geometry["coordinates"][:2]) if geometry else [None, None]
                row = [*xy, *row]
            else:
                row.append(shape(geometry).wkt if geometry else None)
            rows.append(row)
        return write(header, rows, dialect)


def check_in_use(resources: dict) -> None:
    """Fail at start-up unless pygeoapi answers f=csv of every collection with this formatter.

    That a configured formatter named like a built-in one replaces it is how pygeoapi 0.24
    builds its formatter table (``pygeoapi.util.get_dataset_formatters``), not a documented
    promise; an upgrade that changes it would bring back CSV without geometry.
    """
    from pygeoapi.util import get_dataset_formatters

    for name, resource in resources.items():
        if resource.get("type") != "collection" or not any(
                p.get("type") == "feature" for p in resource.get("providers", [])):
            continue  # CSV is for features; a coverage (the terrain) has no items
        csv_formatters = [f for f in get_dataset_formatters(resource).values() if f.f == "csv"]
        if not csv_formatters or not isinstance(csv_formatters[0], GeometryCSVFormatter):
            raise ConfigurationError(
                f"f=csv of collection '{name}' is not served by {FORMATTER} "
                f"(got {csv_formatters[:1]}); has pygeoapi changed how formatters are chosen?")


#: The commercial sites' breakdown: one JSON text, spread over columns for spreadsheets.
BREAKDOWN = "score_breakdown"
#: What each criterion of the breakdown holds, in column order.
BREAKDOWN_PARTS = (("normalised", "normiert (0–1)"), ("weight", "Gewicht"),
                   ("contribution", "Beitrag (Punkte)"))


def breakdown_titles() -> list[str]:
    """German column titles of a spread breakdown (raw values are the site's own fields)."""
    return [f"{CRITERION_TITLES[c][0]}: {label}" for c in CRITERIA for _, label in
            BREAKDOWN_PARTS]


def breakdown_cells(text: Any) -> list[Any]:
    """The cells of :func:`breakdown_titles` from the stored JSON text (empty when none)."""
    try:
        breakdown = json.loads(text) if isinstance(text, str) else (text or {})
    except ValueError:
        breakdown = {}
    return [(breakdown.get(c) or {}).get(part) for c in CRITERIA for part, _ in BREAKDOWN_PARTS]


def _title(collection: Collection | None, name: str, dialect: Dialect) -> str:
    if not dialect.german or collection is None:
        return name
    try:
        return collection.field(name).title_de
    except UnknownNameError:
        return name


def _value(value: Any) -> Any:
    if isinstance(value, dict | list):  # a JSON property (e.g. a score breakdown)
        return json.dumps(value, ensure_ascii=False)
    return value
