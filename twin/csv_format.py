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
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from pygeoapi.formatter.base import BaseFormatter
from shapely.geometry import shape

from twin.errors import ConfigurationError
from twin.registry import by_table

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
        """The features of ``data`` (a GeoJSON FeatureCollection) as CSV bytes."""
        options = options or {}
        features = (data or {}).get("features", [])
        table = (options.get("provider_def") or {}).get("table")
        collection = by_table(table) if table else None
        points = collection is not None and collection.geometry_type == "Point"
        if features:
            names = list(features[0].get("properties", {}))
        else:
            names = list(collection.property_names) if collection else []
        header = ["x", "y", *names] if points else [*names, "wkt"]
        out = io.StringIO(newline="")
        writer = csv.writer(out)
        writer.writerow(header)
        for feature in features:
            props = feature.get("properties", {})
            row = [props.get(n) for n in names]
            geometry = feature.get("geometry")
            if points:
                xy = list(geometry["coordinates"][:2]) if geometry else [None, None]
                row = [*xy, *row]
            else:
                row.append(shape(geometry).wkt if geometry else None)
            writer.writerow(["" if v is None else _cell(v) for v in row])
        return out.getvalue().encode("utf-8")


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


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):  # a JSON property (e.g. a score breakdown)
        return json.dumps(value, ensure_ascii=False)
    return str(value)
