"""The viewer page: a pydeck ``Deck`` rendered into our own template, offline.

pydeck builds the deck (layers, view, accessors) as deck.gl JSON; its own HTML template would
load deck.gl, mapbox-gl, bootstrap and font-awesome from CDNs, so the JSON goes into
``templates/viewer.html`` instead, which loads deck.gl from pydeck's wheel as this service
serves it, and ``static/twin-viewer.js`` (the building tiles layer, the tooltip, the layer
switches). No basemap: the viewer works without any other host.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import psycopg
import pydeck
from markupsafe import Markup

from twin.registry import COLLECTIONS, TERRAIN
from twin.settings import STORAGE_SRID, Settings
from twin.terrain import TerrainExtent, terrain_extent, terrain_path
from twin.tiles3d.serve import PREFIX
from twin.tiles3d.style import HERITAGE_COLOURS, HERITAGE_LABELS

PACKAGE_DIR = Path(__file__).resolve().parent
#: deck.gl as pydeck's wheel bundles it (@deck.gl/jupyter-widget: deck.gl, loaders.gl, luma.gl).
DECK_BUNDLE = Path(pydeck.__file__).resolve().parent / "nbextension" / "static" / "index.js"
#: Where the bundle is served below /viewer/; versioned, so it may be cached for good.
DECK_BUNDLE_PATH = f"vendor/pydeck-{pydeck.__version__}/deck.js"
TITLE = "Cottbus/Chóśebuz in 3D"
#: The Altmarkt, where the viewer opens when there are no buildings yet.
DEFAULT_CENTRE = (14.3340, 51.7606)
DEFAULT_GROUND = 70.0
#: loaders.gl would fetch worker scripts from a CDN; parse on the page's own thread instead.
LOAD_OPTIONS = {"core": {"worker": False}}

_TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"),
                                autoescape=True, trim_blocks=True, lstrip_blocks=True)


@dataclass(frozen=True)
class TooltipField:
    """One row of a tooltip: a label and the properties shown after it."""

    label: str
    props: tuple[str, ...]
    unit: str | None = None
    digits: int = 1
    join: str = " · "
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Overlay:
    """Another collection of this API drawn over the buildings, switched off at first."""

    collection: str
    title: str
    style: dict
    tooltip: tuple[TooltipField, ...]
    title_prop: str | None = None
    min_zoom: int = 12
    #: A small chart of the last 7 days in the tooltip: (parameter, unit) of the collection's
    #: EDR series (hourly means), fetched on hover.
    chart: tuple[str, str] | None = None
    #: Seconds between two reloads of the layer's features (live sensor states); 0: never.
    refresh_s: int = 0


#: The terrain layer's colours from its lowest to its highest height in view (RGB stops,
#: evenly spaced): greens to browns, none close to a heritage colour, so both stay readable.
TERRAIN_RAMP = ((46, 125, 80), (160, 175, 90), (150, 110, 70))
#: Most cells the viewer asks the terrain coverage for along an axis: at most 256 × 256
#: heights (about 1 MB of CoverageJSON), whatever the view's area.
TERRAIN_MAX_CELLS = 256
TERRAIN_TITLE = "Gelände (DGM) · Terrain"

HERITAGE_STATUS = {k: v[0] for k, v in HERITAGE_LABELS.items()}
BUILDING_TOOLTIP = (
    TooltipField("Adresse", ("address",)),
    TooltipField("Funktion", ("function_de", "function_en"), join=" / "),
    TooltipField("Dachform", ("roof_type_de",)),
    TooltipField("Höhe", ("height",), unit="m"),
    TooltipField("Geschosse", ("storeys",), digits=0),
    TooltipField("Denkmalstatus", ("heritage_status",), values=HERITAGE_STATUS),
    TooltipField("Denkmal-ID", ("heritage_id",)),
    TooltipField("Denkmal", ("heritage_name",)),
    TooltipField("Gebäude-ID", ("building_id",)),
)
# Colour ramps are deck.gl JSON expressions of each feature (no function calls allowed there).
# pydeck reads a string prop as such an expression; a plain string is quoted: "'circle'".
OVERLAYS = (
    Overlay("parcels", "Flurstücke · Parcels", {
        "get_fill_color": [255, 255, 255, 30], "get_line_color": [70, 70, 90, 220],
        "line_width_min_pixels": 1, "stroked": True, "filled": True},
        (TooltipField("Flurstück", ("flstkennz",)), TooltipField("Lage", ("lagebeztxt",)),
         TooltipField("Nutzung", ("tntxt",)), TooltipField("Fläche", ("flaeche",), unit="m²",
                                                            digits=0)),
        min_zoom=15),
    Overlay("street-damage", "Straßenschäden nach Priorität · Street damage by priority", {
        "get_fill_color": "properties.repair_priority >= 66 ? [200, 20, 20, 230] : "
                          "(properties.repair_priority >= 33 ? [245, 140, 0, 230] : "
                          "[250, 215, 40, 230])",
        "point_type": "'circle'", "get_point_radius": 6, "point_radius_units": "'pixels'",
        "stroked": True, "get_line_color": [40, 40, 40, 255], "line_width_min_pixels": 1},
        (TooltipField("Schadensart", ("category",)), TooltipField("Straße", ("street",)),
         TooltipField("Priorität", ("repair_priority",), unit="/ 100", digits=0),
         TooltipField("Zustandsklasse", ("condition_class",)),
         TooltipField("Status", ("status",))), title_prop="category"),
    Overlay("traffic-stations", "Verkehrszählstellen nach mittlerer täglicher Verkehrsstärke · "
            "Traffic stations by mean daily traffic", {
        "get_fill_color": "properties.mean_daily_traffic >= 20000 ? [120, 30, 160, 230] : "
                          "(properties.mean_daily_traffic >= 10000 ? [40, 90, 200, 230] : "
                          "[60, 170, 210, 230])",
        "point_type": "'circle'",
        "get_point_radius": "5 + properties.mean_daily_traffic / 2500",
        "point_radius_units": "'pixels'", "stroked": True, "get_line_color": [20, 20, 20, 255],
        "line_width_min_pixels": 1},
        (TooltipField("Straße", ("road",)),
         TooltipField("Mittlere tägliche Verkehrsstärke (Zählzeitraum)",
                      ("mean_daily_traffic",), unit="Kfz/24 h", digits=0),
         TooltipField("Schwerverkehr", ("heavy_share",), unit="%")), title_prop="name"),
    Overlay("commercial-land", "Gewerbeflächen nach Potenzial · Commercial land by score", {
        "get_fill_color": "properties.score >= 70 ? [30, 150, 60, 150] : "
                          "(properties.score >= 40 ? [170, 200, 40, 150] : [150, 150, 150, 150])",
        "get_line_color": [20, 90, 40, 255], "line_width_min_pixels": 2, "stroked": True,
        "filled": True},
        (TooltipField("Potenzialwert", ("score",), unit="/ 100", digits=0),
         TooltipField("Ortsteil", ("district",)),
         TooltipField("Freie Reserve", ("free_area_ha",), unit="ha")), title_prop="name"),
    # Sensors (issue 12), coloured by their state; grey: no value yet or an old one.
    Overlay("water-gauges", "Pegel nach Alarmstufe · Water gauges by alarm level", {
        "get_fill_color": "properties.state === 'alarm_4' ? [120, 0, 120, 240] : "
                          "(properties.state === 'alarm_3' ? [210, 20, 20, 240] : "
                          "(properties.state === 'alarm_2' ? [245, 130, 0, 240] : "
                          "(properties.state === 'alarm_1' ? [250, 210, 0, 240] : "
                          "(properties.state === 'ok' ? [20, 110, 220, 240] : "
                          "[150, 150, 150, 240]))))",
        "point_type": "'circle'", "get_point_radius": 11, "point_radius_units": "'pixels'",
        "stroked": True, "get_line_color": [20, 20, 20, 255], "line_width_min_pixels": 2},
        (TooltipField("Wasserstand", ("water_level_cm",), unit="cm"),
         TooltipField("Zustand", ("state",), values={
             "ok": "unter Alarmstufe 1", "alarm_1": "Alarmstufe 1", "alarm_2": "Alarmstufe 2",
             "alarm_3": "Alarmstufe 3", "alarm_4": "Alarmstufe 4",
             "stale": "kein aktueller Wert", "no_data": "noch kein Wert"}),
         TooltipField("Zeitpunkt", ("latest_at",))), title_prop="station",
        chart=("water_level_cm", "cm"), refresh_s=15),
    Overlay("tree-sensors", "Stadtbäume nach Bodenfeuchte · City trees by soil moisture", {
        "get_fill_color": "properties.state === 'dry' ? [200, 90, 20, 240] : "
                          "(properties.state === 'ok' ? [40, 160, 60, 240] : "
                          "[150, 150, 150, 240])",
        "point_type": "'circle'", "get_point_radius": 7, "point_radius_units": "'pixels'",
        "stroked": True, "get_line_color": [20, 20, 20, 255], "line_width_min_pixels": 1},
        (TooltipField("Baumart", ("species",)), TooltipField("Pflanzjahr", ("planting_year",),
                                                              digits=0),
         TooltipField("Bodenfeuchte", ("soil_moisture",), unit="Vol.-%"),
         TooltipField("Bodentemperatur", ("soil_temperature",), unit="°C"),
         TooltipField("Zustand", ("state",), values={
             "ok": "ausreichend feucht", "dry": "unter dem Welkepunkt",
             "stale": "kein aktueller Wert", "no_data": "noch kein Wert"}),
         TooltipField("Zeitpunkt", ("latest_at",))), title_prop="station",
        chart=("soil_moisture", "Vol.-%"), refresh_s=15),
)


@dataclass(frozen=True)
class TilesetSummary:
    """What the page needs to know of the tileset: where it is and how high the ground is."""

    west: float
    south: float
    east: float
    north: float
    ground: float
    buildings: int


def tileset_summary(conn: psycopg.Connection) -> TilesetSummary | None:
    """The summary of the stored tileset, or None when there is none yet."""
    try:
        row = conn.execute(
            "SELECT t -> 'root' -> 'boundingVolume' -> 'region', "
            "       t -> 'asset' -> 'extras' -> 'twin' "
            "FROM (SELECT convert_from(content, 'UTF8')::jsonb AS t FROM twin.building_tiles "
            "      WHERE path = 'tileset.json') s").fetchone()
    except psycopg.errors.UndefinedTable:
        conn.rollback()
        return None
    if row is None or not row[1] or not row[1].get("buildings"):
        return None
    region, extras = row
    w, s, e, n = (math.degrees(v) for v in region[:4])
    return TilesetSummary(w, s, e, n, float(extras.get("groundHeight", DEFAULT_GROUND)),
                          int(extras["buildings"]))


def _initial_view(summary: TilesetSummary | None) -> pydeck.ViewState:
    ground = summary.ground if summary else DEFAULT_GROUND
    if summary is None:
        lon, lat, zoom = *DEFAULT_CENTRE, 15.0
    else:
        lon, lat = (summary.west + summary.east) / 2, (summary.south + summary.north) / 2
        span = max(summary.east - summary.west, (summary.north - summary.south) * 1.6, 1e-4)
        # deck.gl's world is 512 px wide at zoom 0; fit the buildings into ~1200 px.
        zoom = min(17.0, max(11.0, math.log2(1200 * 360 / (512 * span))))
    # The camera looks at the ground (``position`` lifts the target), not at sea level.
    return pydeck.ViewState(longitude=lon, latitude=lat, zoom=round(zoom, 2), pitch=45,
                            bearing=-15, max_pitch=80, position=[0, 0, round(ground, 1)])


def _lift(height: float) -> list[float]:
    """deck.gl model matrix raising flat layers (z = 0) to the buildings' ground."""
    return [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, height, 1]


def _storage_projection() -> list[float]:
    """The transverse Mercator of the storage CRS, for the page to place the terrain's cells:
    [central meridian (°), scale factor, false easting, false northing (m), semi-major axis
    (m), inverse flattening]. From pyproj, so the page repeats no constant of EPSG:25833."""
    from pyproj import CRS

    crs = CRS.from_epsg(STORAGE_SRID)
    op = crs.coordinate_operation
    assert op is not None and op.method_name == "Transverse Mercator", op
    value = {p.code: p.value for p in op.params}
    assert value["8801"] == 0, "the page's inverse assumes the equator as latitude of origin"
    return [value["8802"], value["8805"], value["8806"], value["8807"],
            crs.ellipsoid.semi_major_metre, crs.ellipsoid.inverse_flattening]


def _terrain_layer(base: str, extent: TerrainExtent) -> pydeck.Layer:
    """The terrain as a mesh, fetched from the coverage when switched on (off at first: the
    first frame and the flat overlays, lifted to the median ground, stay as they were)."""
    return pydeck.Layer(
        "TerrainCoverageLayer", id=TERRAIN.id, data=None,
        coverage_url=f"'{base}/collections/{TERRAIN.id}/coverage'", visible=False,
        extent=[round(v, 7) for v in extent.bbox_crs84], resolution=extent.res,
        max_cells=TERRAIN_MAX_CELLS, projection=_storage_projection(),
        ramp=[list(c) for c in TERRAIN_RAMP])


def build_deck(settings: Settings, summary: TilesetSummary | None,
               terrain: TerrainExtent | None = None) -> pydeck.Deck:
    """The viewer's deck: the terrain (when loaded), building tiles and the overlays of this
    API's collections. The terrain comes first: drawn first, the buildings stand on it."""
    base = settings.url
    ground = summary.ground if summary else DEFAULT_GROUND
    layers = [_terrain_layer(base, terrain)] if terrain is not None else []
    if summary is not None:  # without buildings, no tileset to ask for
        layers.append(pydeck.Layer(
            "BuildingTilesLayer", id="buildings", data=f"{base}{PREFIX}tileset.json",
            pickable=True, load_options=LOAD_OPTIONS))
    published = {c.id for c in COLLECTIONS}
    for overlay in OVERLAYS:
        if overlay.collection not in published:
            continue
        layers.append(pydeck.Layer(
            "OgcFeaturesLayer", id=overlay.collection, data=overlay.collection,
            collection_url=f"'{base}/collections/{overlay.collection}'", visible=False,
            pickable=True, min_zoom=overlay.min_zoom, max_zoom=16, model_matrix=_lift(ground),
            **overlay.style))
    return pydeck.Deck(layers=layers, initial_view_state=_initial_view(summary),
                       views=[pydeck.View("MapView", controller=True)], map_provider=None,
                       map_style=None)


def _script_json(value: object) -> Markup:
    """JSON safe inside a <script> element (no '</script>' can close it early)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _tooltip(fields: tuple[TooltipField, ...], title: str | None,
             overlay: Overlay | None = None, base: str = "") -> dict:
    chart = None
    if overlay is not None and overlay.chart:
        chart = {"parameter": overlay.chart[0], "unit": overlay.chart[1],
                 "url": f"{base}/collections/{overlay.collection}/locations"}
    return {"title": title, "chart": chart, "fields": [
        {"label": f.label, "props": list(f.props), "unit": f.unit, "digits": f.digits,
         "join": f.join, "values": f.values} for f in fields]}


def render_page(settings: Settings, summary: TilesetSummary | None) -> str:
    """The HTML of /viewer/."""
    terrain = terrain_extent(terrain_path(settings))
    deck = build_deck(settings, summary, terrain)
    published = {c.id for c in COLLECTIONS}
    overlays = [o for o in OVERLAYS if o.collection in published]
    config = {
        "titles": {TERRAIN.id: TERRAIN_TITLE, "buildings": "Gebäude (LoD2) · Buildings",
                   **{o.collection: o.title for o in overlays}},
        # Switches shown but disabled, with why: the terrain before `twin load terrain`.
        "unavailable": {} if terrain else {
            TERRAIN.id: f"{TERRAIN_TITLE} (nicht geladen · not loaded)"},
        "tooltips": {"buildings": _tooltip(BUILDING_TOOLTIP, "heritage_name"),
                     **{o.collection: _tooltip(o.tooltip, o.title_prop, o, settings.url)
                        for o in overlays}},
        "refresh": {o.collection: o.refresh_s for o in overlays if o.refresh_s},
    }
    legend = [(key, HERITAGE_COLOURS[key], *HERITAGE_LABELS[key]) for key in HERITAGE_LABELS]
    return _TEMPLATES.get_template("viewer.html").render(
        title=TITLE, base=settings.url, deck_bundle=DECK_BUNDLE_PATH, legend=legend,
        terrain_ramp=", ".join(f"rgb({r},{g},{b})" for r, g, b in TERRAIN_RAMP),
        buildings=f"{summary.buildings:,}".replace(",", ".") if summary else "Keine",
        deck_json=_script_json(deck.to_json()), viewer_config=_script_json(config))
