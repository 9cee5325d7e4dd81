"""A map for the notebooks that works offline: pydeck's deck, drawn by scripts the twin serves.

pydeck's own ``deck.show()``/``to_html()`` load deck.gl from a CDN. Here the page loads
deck.gl from the twin (``/viewer/vendor/pydeck-<version>/deck.js``, the bundle pydeck's wheel
ships) and the twin's viewer script, which draws the deck given as JSON, with tooltips
(``fields``: label -> property). No basemap: the features are the map.
"""

from __future__ import annotations

import json
from typing import Any

import pydeck as pdk
from IPython.display import HTML

GREEN, AMBER, RED, GREY = [26, 152, 80, 190], [254, 178, 76, 200], [215, 48, 39, 210], \
    [150, 150, 150, 120]


def ramp(value: float | None, low: float, high: float) -> list[int]:
    """Red (low) to green (high); grey when there is no value."""
    if value is None:
        return GREY
    t = 0.0 if high == low else min(1.0, max(0.0, (value - low) / (high - low)))
    return [round(a + (b - a) * t) for a, b in zip(RED[:3], GREEN[:3], strict=True)] + [190]


def layer(layer_id: str, features: list[dict], colour: Any, **kw: Any) -> pdk.Layer:
    """A GeoJSON layer of ``features``, each filled with ``colour(feature)``."""
    data = {"type": "FeatureCollection", "features": [
        {**f, "properties": {**f["properties"], "_fill": colour(f)}} for f in features]}
    return pdk.Layer("GeoJsonLayer", data=data, id=layer_id, pickable=True, stroked=True,
                     filled=True, get_fill_color="properties._fill",
                     get_line_color=[60, 60, 60, 200], line_width_min_pixels=1,
                     point_radius_min_pixels=4, **kw)


def show(api: str, layers: list[pdk.Layer], *, longitude: float = 14.334,
         latitude: float = 51.760, zoom: float = 14,
         tooltips: dict[str, tuple[str, dict[str, str]]] | None = None,
         height: int = 480) -> HTML:
    """The deck as an HTML iframe whose scripts all come from the twin at ``api``.

    ``tooltips``: per layer id, the title property and label -> property of its fields.
    """
    deck = pdk.Deck(layers=layers, map_provider=None, map_style=None,
                    initial_view_state=pdk.ViewState(longitude=longitude, latitude=latitude,
                                                     zoom=zoom),
                    views=[pdk.View("MapView", controller=True)])
    config = {"titles": {}, "tooltips": {
        lid: {"title": title, "fields": [{"label": label, "props": [prop]}
                                         for label, prop in fields.items()]}
        for lid, (title, fields) in (tooltips or {}).items()}}
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="{api}/viewer/static/viewer.css">
<script src="{api}/viewer/vendor/pydeck-{pdk.__version__}/deck.js"></script>
<script src="{api}/viewer/static/twin-viewer.js" defer></script></head>
<body><div id="deck-container"></div>
<script id="deck-json" type="application/json">{deck.to_json()}</script>
<script id="viewer-config" type="application/json">{json.dumps(config)}</script>
</body></html>"""
    return HTML(pdk.io.html.iframe_with_srcdoc(page, height=height).data)
