"""QGIS 3.22 (Debian's python3-qgis) opening the twin's vector tiles, headless.

Run under Debian's Python by tests/test_tiles.py with ``QT_QPA_PLATFORM=offscreen``, like
tests/qgis_client.py. QGIS 3.22's Python API has no feature access for a vector tile layer
(no ``getRawTile``, no decoder), so what QGIS made of the tiles is read from what it draws:
the layer (``type=xyz&url=...``) is rendered once per style, each style drawing in red only
the features its QGIS filter expression selects; the red pixels counted show which features
QGIS decoded, with which attribute values and types.

stdin: ``{"url": template with {z}/{y}/{x}, "zmin", "zmax", "layer": MVT layer name,
"geometry": "polygon" or "point", "extent": [xmin, ymin, xmax, ymax] in EPSG:3857,
"filters": {name: QGIS expression or null}}``. stdout: ``{"qgis_version", "valid",
"min_zoom", "max_zoom", "crs", "red": {name: red pixel count}}``.
"""

from __future__ import annotations

import json
import sys
from urllib.parse import quote

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsFillSymbol,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsMarkerSymbol,
    QgsRectangle,
    QgsVectorTileBasicRenderer,
    QgsVectorTileBasicRendererStyle,
    QgsVectorTileLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

SIZE = 256


def red_pixels(layer: QgsVectorTileLayer, job: dict, expression: str | None) -> int:
    geometry = QgsWkbTypes.PolygonGeometry if job["geometry"] == "polygon" \
        else QgsWkbTypes.PointGeometry
    style = QgsVectorTileBasicRendererStyle("red", job["layer"], geometry)
    if geometry == QgsWkbTypes.PolygonGeometry:
        style.setSymbol(QgsFillSymbol.createSimple({"color": "255,0,0,255",
                                                    "outline_style": "no"}))
    else:
        style.setSymbol(QgsMarkerSymbol.createSimple({"color": "255,0,0,255", "size": "4",
                                                      "outline_style": "no"}))
    if expression:
        style.setFilterExpression(expression)
    renderer = QgsVectorTileBasicRenderer()
    renderer.setStyles([style])
    layer.setRenderer(renderer)
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
    settings.setExtent(QgsRectangle(*job["extent"]))
    settings.setOutputSize(QSize(SIZE, SIZE))
    settings.setBackgroundColor(QColor(255, 255, 255))
    render = QgsMapRendererSequentialJob(settings)
    render.start()
    render.waitForFinished()
    image = render.renderedImage()
    count = 0
    for y in range(image.height()):
        for x in range(image.width()):
            color = QColor(image.pixel(x, y))
            if color.red() > 200 and color.green() < 80 and color.blue() < 80:
                count += 1
    return count


def main() -> None:
    job = json.load(sys.stdin)
    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    try:
        from qgis.core import Qgis

        uri = (f"type=xyz&url={quote(job['url'], safe=':/{}')}"
               f"&zmin={job['zmin']}&zmax={job['zmax']}")
        layer = QgsVectorTileLayer(uri, job["layer"])
        out = {"qgis_version": Qgis.QGIS_VERSION, "valid": layer.isValid(),
               "min_zoom": layer.sourceMinZoom(), "max_zoom": layer.sourceMaxZoom(),
               "crs": layer.crs().authid()}
        if layer.isValid():
            out["red"] = {name: red_pixels(layer, job, expression)
                          for name, expression in job["filters"].items()}
        json.dump(out, sys.stdout)
    finally:
        app.exitQgis()


if __name__ == "__main__":
    main()
