"""QGIS 3.22 (Debian's python3-qgis) as a headless client of `twin serve`, run by pytest.

QGIS runs under Debian's own Python (/usr/bin/python3), not our virtualenv, so this script is
started as a subprocess (see tests/test_clients.py) with ``QT_QPA_PLATFORM=offscreen``. It
reads a JSON job list on stdin and writes one JSON document on stdout: for each job, what
QGIS's OAPIF provider made of the collection (validity, CRS, geometry type, feature count,
fields with QGIS's types, extent) and the features it delivers (id, attributes, WKT).

Job: ``{"collection": id, "page_size": n, "subset": QGIS expression or null,
"rect": [xmin, ymin, xmax, ymax] in the layer's CRS or null}``.

Values are written so that JSON keeps what QGIS holds: NULL as null, a QDate as
"YYYY-MM-DD", a QTime as "HH:MM:SS", a QDateTime as UTC "YYYY-MM-DDTHH:MM:SSZ", numbers and
strings as they are (a number QGIS holds as text stays text).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from qgis.core import (
    QgsApplication,
    QgsFeatureRequest,
    QgsRectangle,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QDate, QDateTime, Qt, QTime, QVariant


def plain(value: Any) -> Any:
    """A QGIS attribute value as JSON."""
    if value is None or (isinstance(value, QVariant) and value.isNull()):
        return None
    if isinstance(value, QDateTime):
        return value.toUTC().toString("yyyy-MM-ddTHH:mm:ss") + "Z" if value.isValid() else None
    if isinstance(value, QDate):
        return value.toString(Qt.ISODate) if value.isValid() else None
    if isinstance(value, QTime):
        return value.toString("HH:mm:ss") if value.isValid() else None
    return value


def run_job(url: str, job: dict[str, Any]) -> dict[str, Any]:
    uri = (f"url='{url}' typename='{job['collection']}' pagingEnabled='true' "
           f"pageSize='{int(job['page_size'])}'")
    layer = QgsVectorLayer(uri, job["collection"], "OAPIF")
    out: dict[str, Any] = {"valid": layer.isValid()}
    if not layer.isValid():
        out["error"] = layer.error().summary()
        return out
    if job.get("subset") and not layer.setSubsetString(job["subset"]):
        out["error"] = f"subset string refused: {job['subset']}"
        return out
    extent = layer.extent()
    out.update({
        "crs": layer.crs().authid(),
        "wkb_type": QgsWkbTypes.displayString(layer.wkbType()),
        "feature_count": layer.featureCount(),
        "fields": [[f.name(), f.typeName()] for f in layer.fields()],
        "extent": [extent.xMinimum(), extent.yMinimum(), extent.xMaximum(),
                   extent.yMaximum()],
    })
    request = QgsFeatureRequest()
    if job.get("rect"):
        request.setFilterRect(QgsRectangle(*job["rect"]))
    names = layer.fields().names()
    features = []
    for feature in layer.getFeatures(request):
        geometry = feature.geometry()
        features.append({
            "attributes": {n: plain(v) for n, v in zip(names, feature.attributes(),
                                                        strict=True)},
            "wkt": None if geometry.isNull() else geometry.asWkt(9),
        })
    out["features"] = features
    # Errors QGIS met while downloading (an answer it could not use) end up here.
    out["provider_errors"] = list(layer.dataProvider().errors())
    return out


def main() -> None:
    request = json.load(sys.stdin)
    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    try:
        from qgis.core import Qgis

        results = [run_job(request["url"], job) for job in request["jobs"]]
        json.dump({"qgis_version": Qgis.QGIS_VERSION, "results": results}, sys.stdout)
    finally:
        app.exitQgis()


if __name__ == "__main__":
    main()
