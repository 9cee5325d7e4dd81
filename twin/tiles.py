"""OGC API - Tiles: Mapbox Vector Tiles of every feature collection, from one ``ST_AsMVT``.

Served by the WSGI layer before pygeoapi (twin/pygeoapi/wsgi.py calls :func:`handle`), not by
a pygeoapi tile provider: pygeoapi's MVT-PostgreSQL provider builds each tile through
SQLAlchemy and its API object, transforms every geometry for the filter as well as for the
tile, selects every column of the table and has no generalisation; its request path (Flask,
the API object, our layer's JSON handling of the body) costs more than the tile's SQL at high
zoom. Here one prepared statement answers a tile (:mod:`twin.tiles_sql`) and the documents are
built from the registry.

Paths (``{tms}`` is ``WebMercatorQuad``, the one tile matrix set offered: it is what QGIS,
MapLibre and deck.gl read without configuration):

- ``/tileMatrixSets``, ``/tileMatrixSets/{tms}`` (pygeoapi's spelling ``/TileMatrixSets`` too);
- ``/collections/{id}/tiles``: the tileset list;
- ``/collections/{id}/tiles/{tms}``: the tileset metadata (limits, zooms, the layer and its
  typed fields); ``.../tilejson.json``: the same as TileJSON 3.0.0, for MapLibre and deck.gl;
- ``/collections/{id}/tiles/{tms}/{tileMatrix}/{tileRow}/{tileCol}``: the tile.

A tile that is no tile of the matrix set (a zoom beyond 24, a row or column past the edge)
is refused with 400; a tile of the set outside the tileset's limits (below the collection's
minimum zoom, above the maximum, away from the collection's extent) with 404, as OGC API -
Tiles ``/req/core/tc-error`` allows both. A tile without features is answered **204 No
Content** rather than 200 with an empty body: MapLibre, OpenLayers and QGIS take 204 as an
empty tile, caches keep it, and a client can tell "nothing here" from "a broken tile"
without parsing; when not even an unclipped candidate lies in it, ``OATiles-hint: empty``
tells the client that no deeper tile there has any (``/rec/core/tc-deepfullempty``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from twin import tiles_sql, yamltext
from twin.pools import refuse_if_down
from twin.registry import COLLECTIONS, COVERAGES, Collection, FieldType
from twin.settings import Settings

LOGGER = logging.getLogger(__name__)
StartResponse = Callable[..., Any]

TMS_ID = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
TMS_CRS = "http://www.opengis.net/def/crs/EPSG/0/3857"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
MVT_TYPE = "application/vnd.mapbox-vector-tile"
REL_TILESETS = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
REL_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
REL_SCHEMES = "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"
#: The deepest tile matrix of WebMercatorQuad as OGC's definition lists it.
TMS_MAX_ZOOM = 24
#: Half the equator in EPSG:3857 metres: WebMercatorQuad's origin is (-HALF, HALF).
HALF = 20037508.3427892
#: The scale denominator of tile matrix 0 (256-pixel tiles at 0.28 mm per pixel).
SCALE_0 = 559082264.028717
#: Tiles are revalidated after a minute: loads replace data nightly, but street damage is
#: written through the API (twin/transactions.py) and should show soon.
CACHE_CONTROL = "public, max-age=60"
TILE_PARAMS = frozenset({"f"})
TILE_FORMATS = ("mvt",)
DOC_FORMATS = ("json",)


@dataclass(frozen=True)
class TileRule:
    """How a collection is tiled: the zooms served and the most features in one tile.

    ``min_zoom`` keeps a tile from carrying more features than a map can show at that scale;
    ``max_features`` bounds a tile's time and size where zoom cannot (stacked points).
    """

    min_zoom: int
    reason: str
    max_zoom: int = 18
    max_features: int = 20_000


#: Each collection's rule, with the reason for it (shown in the tileset's description).
#: Zoom 18: a tile unit (1/4096 of a tile) is 2.3 cm on the ground at Cottbus' latitude,
#: finer than any geometry here is measured; clients zoom past it by scaling (overzoom).
RULES: dict[str, TileRule] = {
    "parcels": TileRule(12, "parcels start at zoom 12: below it a typical parcel (20-50 m) "
                        "is smaller than a pixel, and a tile of the city would carry tens of "
                        "thousands of them (megabytes)"),
    "buildings": TileRule(13, "buildings start at zoom 13: below it a footprint (10-20 m) is "
                          "smaller than a pixel"),
    "heritage": TileRule(0, "every zoom: about a thousand monuments and areas"),
    "street-damage": TileRule(0, "every zoom: a few thousand points at most"),
    "traffic-stations": TileRule(0, "every zoom: a few dozen stations"),
    # An hour's counts of one station all lie on the station: no zoom separates them.
    "traffic-counts": TileRule(0, "every zoom, at most the 10,000 newest hourly counts per "
                               "tile: each station's counts lie on one point, so no zoom "
                               "level thins them out", max_features=10_000),
    "commercial-land": TileRule(0, "every zoom: a few dozen sites"),
    "water-gauges": TileRule(0, "every zoom: the city's river gauges, a handful"),
    "tree-sensors": TileRule(0, "every zoom: a few hundred sensor trees at most"),
    # Alerts lie on their stations, like the traffic counts: no zoom separates them.
    "sensor-alerts": TileRule(0, "every zoom, at most the 10,000 newest alerts per tile: each "
                              "station's alerts lie on one point", max_features=10_000),
}

TILE_PATH = re.compile(
    r"^/collections/(?P<cid>[^/]+)/tiles(?:/(?P<tms>[^/]+)(?:/(?P<rest>.+?))?)?/?$")
TMS_PATH = re.compile(r"^/(?:tileMatrixSets|TileMatrixSets)(?:/(?P<tms>[^/]+))?/?$")


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, headers, body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


class TileError(Exception):
    """A request that is answered with an error document."""

    def __init__(self, status: HTTPStatus, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


# -- the tile matrix set ----------------------------------------------------------------------


def tile_matrix_set(base_url: str) -> dict[str, Any]:
    """WebMercatorQuad as OGC 2D Tile Matrix Set 2.0 defines it (JSON encoding)."""
    return {
        "id": TMS_ID,
        "title": "Google Maps Compatible for the World",
        "uri": TMS_URI,
        "crs": TMS_CRS,
        "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "tileMatrices": [{
            "id": str(z), "scaleDenominator": SCALE_0 / 2 ** z,
            "cellSize": 2 * HALF / 256 / 2 ** z, "cornerOfOrigin": "topLeft",
            "pointOfOrigin": [-HALF, HALF], "tileWidth": 256, "tileHeight": 256,
            "matrixWidth": 2 ** z, "matrixHeight": 2 ** z} for z in range(TMS_MAX_ZOOM + 1)],
        "links": [{"rel": "self", "type": "application/json", "title": "This document",
                   "href": f"{base_url}/tileMatrixSets/{TMS_ID}"}],
    }


def tile_matrix_sets(base_url: str) -> dict[str, Any]:
    return {
        "tileMatrixSets": [{
            "id": TMS_ID, "title": "Google Maps Compatible for the World", "uri": TMS_URI,
            "crs": TMS_CRS,
            "links": [{"rel": "self", "type": "application/json",
                       "title": f"The {TMS_ID} tile matrix set",
                       "href": f"{base_url}/tileMatrixSets/{TMS_ID}"}]}],
        "links": [{"rel": "self", "type": "application/json", "title": "This document",
                   "href": f"{base_url}/tileMatrixSets"}],
    }


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """Column and row of the WebMercatorQuad tile of zoom ``z`` over a CRS84 point."""
    n = 2 ** z
    lat = max(min(lat, 85.0511287798), -85.0511287798)
    col = int((lon + 180.0) / 360.0 * n)
    row = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return min(max(col, 0), n - 1), min(max(row, 0), n - 1)


def tile_latitude(z: int, row: float) -> float:
    """Latitude (degrees) of a row coordinate (row + 0.5: a tile's middle) at zoom ``z``."""
    return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / 2 ** z))))


# -- a collection's tileset -------------------------------------------------------------------


@lru_cache(maxsize=4)
def _configured_bboxes(config_path: Path, mtime: float) -> dict[str, list[float]]:
    """Each collection's CRS84 extent as `twin config` wrote it (what /collections shows)."""
    config = yamltext.load(config_path.read_text(encoding="utf-8")) or {}
    return {cid: res["extents"]["spatial"]["bbox"]
            for cid, res in (config.get("resources") or {}).items()
            if (res.get("extents") or {}).get("spatial", {}).get("bbox")}


def collection_bbox(c: Collection, settings: Settings) -> tuple[float, float, float, float]:
    """The collection's CRS84 extent: the one its collection document states."""
    try:
        path = settings.config_path
        bbox = _configured_bboxes(path, path.stat().st_mtime).get(c.id)
    except OSError:
        bbox = None
    west, south, east, north = (bbox or c.default_bbox)[:4] if not bbox or len(bbox) == 4 \
        else (bbox[0], bbox[1], bbox[3], bbox[4])
    return float(west), float(south), float(east), float(north)


def limits(c: Collection, settings: Settings) -> list[dict[str, Any]]:
    """tileMatrixSetLimits: per zoom the rows and columns that hold the extent."""
    rule = RULES[c.id]
    west, south, east, north = collection_bbox(c, settings)
    out = []
    for z in range(rule.min_zoom, rule.max_zoom + 1):
        min_col, min_row = tile_of(west, north, z)
        max_col, max_row = tile_of(east, south, z)
        out.append({"tileMatrix": str(z), "minTileRow": min_row, "maxTileRow": max_row,
                    "minTileCol": min_col, "maxTileCol": max_col})
    return out


MVT_FIELD_TYPES = {FieldType.INTEGER: "Number", FieldType.DOUBLE: "Number",
                   FieldType.BOOLEAN: "Boolean"}


def property_schema(c: Collection) -> dict[str, Any]:
    """The layer's properties as a JSON Schema, typed as the tile carries them."""
    props = {}
    for f in c.all_fields:
        schema = tiles_sql.tile_type(f.type)
        props[f.name] = {**schema, "title": f.title_en, "description": f.title_de}
    return {"type": "object", "required": [c.id_field.name], "properties": props}


def _links_of_tileset(c: Collection, base: str) -> list[dict[str, Any]]:
    url = f"{base}/collections/{c.id}/tiles/{TMS_ID}"
    return [
        {"rel": "self", "type": "application/json", "title": "This tileset", "href": url},
        {"rel": REL_SCHEME, "type": "application/json", "title": f"{TMS_ID} definition",
         "href": f"{base}/tileMatrixSets/{TMS_ID}"},
        {"rel": "item", "type": MVT_TYPE, "templated": True,
         "title": f"Mapbox vector tiles of {c.id}",
         "href": f"{url}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"},
        {"rel": "alternate", "type": "application/vnd.mapbox.tile+json",
         "title": "This tileset as TileJSON (MapLibre, deck.gl)", "href": f"{url}/tilejson.json"},
        {"rel": "collection", "type": "application/json", "title": c.title_en,
         "href": f"{base}/collections/{c.id}"},
    ]


def tileset_list(c: Collection, base: str) -> dict[str, Any]:
    return {
        "tilesets": [{"title": f"{c.title_en} ({TMS_ID})", "dataType": "vector",
                      "crs": TMS_CRS, "tileMatrixSetURI": TMS_URI,
                      "links": _links_of_tileset(c, base)[:3]}],
        "links": [{"rel": "self", "type": "application/json", "title": "This document",
                   "href": f"{base}/collections/{c.id}/tiles"},
                  {"rel": "collection", "type": "application/json", "title": c.title_en,
                   "href": f"{base}/collections/{c.id}"}],
    }


def tileset(c: Collection, settings: Settings) -> dict[str, Any]:
    """The tileset metadata (OGC 2D TMS 2.0 ``TileSetMetadata``)."""
    rule = RULES[c.id]
    west, south, east, north = collection_bbox(c, settings)
    return {
        "title": f"{c.title_en} ({TMS_ID})",
        "description": f"{c.description_en} Zooms: {rule.reason}; at most "
                       f"{rule.max_features:,} features per tile. Text lists are "
                       "comma-separated text.",
        "keywords": list(c.keywords),
        "dataType": "vector",
        "crs": TMS_CRS,
        "tileMatrixSetURI": TMS_URI,
        "tileMatrixSetLimits": limits(c, settings),
        "boundingBox": {"lowerLeft": [west, south], "upperRight": [east, north], "crs": CRS84},
        "centerPoint": {"coordinates": [(west + east) / 2, (south + north) / 2],
                        "crs": CRS84, "tileMatrix": str(max(rule.min_zoom, 14))},
        "mediaTypes": [MVT_TYPE],
        "layers": [{
            "id": c.id, "title": c.title_en, "description": c.title_de,
            "dataType": "vector", "geometryDimension": _dimension(c.geometry_type),
            "minTileMatrix": str(rule.min_zoom), "maxTileMatrix": str(rule.max_zoom),
            "propertiesSchema": property_schema(c)}],
        "links": _links_of_tileset(c, settings.url),
    }


def tilejson(c: Collection, settings: Settings) -> dict[str, Any]:
    """The tileset as TileJSON 3.0.0 (``vector_layers`` with the fields' types)."""
    rule = RULES[c.id]
    west, south, east, north = collection_bbox(c, settings)
    return {
        "tilejson": "3.0.0", "name": c.title_en, "description": c.description_en,
        "scheme": "xyz",
        "tiles": [f"{settings.url}/collections/{c.id}/tiles/{TMS_ID}/{{z}}/{{y}}/{{x}}"],
        "minzoom": rule.min_zoom, "maxzoom": rule.max_zoom,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, max(rule.min_zoom, 14)],
        "vector_layers": [{
            "id": c.id, "description": c.title_en, "minzoom": rule.min_zoom,
            "maxzoom": rule.max_zoom,
            "fields": {f.name: MVT_FIELD_TYPES.get(f.type, "String") for f in c.all_fields}}],
    }


def _dimension(geometry_type: str) -> int | None:
    kind = geometry_type.removeprefix("Multi")
    return {"Point": 0, "LineString": 1, "Polygon": 2}.get(kind)


# -- links from pygeoapi's documents ----------------------------------------------------------


def add_links(path: str, body: bytes, base_url: str) -> bytes:
    """pygeoapi's landing page and collection documents with the links to the tiles."""
    path = path.rstrip("/") or "/"
    served = {c.id for c in COLLECTIONS}
    if path not in ("/", "/collections") and not (
            path.startswith("/collections/") and path.count("/") == 2
            and path.rsplit("/", 1)[1] in served):
        return body
    try:
        doc = json.loads(body)
    except ValueError:
        return body
    if not isinstance(doc, dict):
        return body

    def link(cid: str) -> dict[str, str]:
        return {"rel": REL_TILESETS, "type": "application/json",
                "title": "Vector tiles (Mapbox Vector Tiles, WebMercatorQuad)",
                "href": f"{base_url}/collections/{cid}/tiles"}

    if path == "/":
        doc.setdefault("links", []).append({
            "rel": REL_SCHEMES, "type": "application/json", "title": "Tile matrix sets",
            "href": f"{base_url}/tileMatrixSets"})
    elif path == "/collections":
        for collection in doc.get("collections", []):
            if isinstance(collection, dict) and collection.get("id") in served:
                collection.setdefault("links", []).append(link(collection["id"]))
    else:
        doc.setdefault("links", []).append(link(path.rsplit("/", 1)[1]))
    return json.dumps(doc).encode()


# -- the database -----------------------------------------------------------------------------

_POOLS: dict[str, ConnectionPool] = {}
_POOLS_LOCK = threading.Lock()


def _pool(settings: Settings) -> ConnectionPool:
    """One pool per database per process, opened on first use (after gunicorn forks).

    No JIT (compiling a tile's plan costs more than running it), generic plans of the
    prepared tile statements (:func:`render_tile`), and no parallel workers
    (a tile's few thousand rows are not worth them, and a gathered row order would change a
    tile's bytes, hence its ETag, from one request to the next). No check query at each
    checkout (a round trip per tile): a connection found dead is answered by
    :func:`_render` with one retry after the pool has dropped its dead connections.
    """
    with _POOLS_LOCK:
        pool = _POOLS.get(settings.dsn)
        if pool is None:
            pool = ConnectionPool(
                settings.dsn, min_size=1, max_size=settings.threads, open=False,
                name="twin-tiles",
                kwargs={"autocommit": True, "application_name": "twin-tiles",
                        "connect_timeout": 3,
                        "options": f"-c statement_timeout={settings.statement_timeout_ms} "
                                   "-c jit=off -c max_parallel_workers_per_gather=0 "
                                   "-c plan_cache_mode=force_generic_plan "
                                   "-c TimeZone=UTC -c DateStyle=ISO,YMD"})
            pool.open(wait=False)
            _POOLS[settings.dsn] = pool
        return pool


def _render(settings: Settings, c: Collection, z: int, x: int, y: int) -> tuple[bytes, int]:
    """:func:`render_tile` on a pooled connection; once more on a fresh one if it was dead
    (after a PostgreSQL restart every idle connection is)."""
    pool = _pool(settings)
    refuse_if_down(pool)
    try:
        with pool.connection(timeout=5) as conn:
            return render_tile(conn, c, z, x, y)
    except psycopg.errors.QueryCanceled:
        raise  # the statement timeout: running it again would take as long
    except psycopg.OperationalError:
        pool.check()  # drops every dead idle connection at once
        with pool.connection(timeout=5) as conn:
            return render_tile(conn, c, z, x, y)


def render_tile(conn: psycopg.Connection, c: Collection, z: int, x: int, y: int
                ) -> tuple[bytes, int]:
    """The tile's MVT bytes and the number of candidate features (before clipping)."""
    query, params = tiles_sql.tile_query(c, z, x, y, RULES[c.id].max_features)
    # Binary results: the tile arrives as its bytes, not as hex text twice its size.
    # Prepared at once and planned once per connection (the pool's plan_cache_mode): a
    # tile statement's plan does not depend on its parameters (the boxes are InitPlans),
    # and planning the grid's CASE cost up to 1.4 ms a tile at z12.
    with psycopg.RawCursor(conn) as cursor:
        row = cursor.execute(query, params, binary=True, prepare=True).fetchone()
    return (bytes(row[0]) if row and row[0] is not None else b""), (row[1] if row else 0)


# -- requests ---------------------------------------------------------------------------------


def _json_answer(doc: Any, environ: dict) -> Answer:
    body = json.dumps(doc, ensure_ascii=False).encode()
    return _cached(environ, body, "application/json")


def _cached(environ: dict, body: bytes, content_type: str,
            extra: list[tuple[str, str]] | None = None, status: int = 200) -> Answer:
    etag = f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'
    headers = [("ETag", etag), ("Cache-Control", CACHE_CONTROL), *(extra or [])]
    if etag in (environ.get("HTTP_IF_NONE_MATCH") or "").replace("W/", "").split(", "):
        return Answer(304, headers, b"")
    if status == 204:
        return Answer(204, headers, b"")
    return Answer(status, [("Content-Type", content_type), *headers], body)


def _collection(cid: str) -> Collection:
    for c in COLLECTIONS:
        if c.id == cid:
            return c
    if any(cov.id == cid for cov in COVERAGES):
        raise TileError(HTTPStatus.NOT_FOUND, f"'{cid}' is a coverage: it has no vector "
                        f"tiles; its grid is at /collections/{cid}/coverage")
    raise TileError(HTTPStatus.NOT_FOUND, f"unknown collection '{cid}'; valid: "
                    f"{', '.join(c.id for c in COLLECTIONS)}")


def _check_query(environ: dict, formats: tuple[str, ...]) -> None:
    params = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    for key, value in params:
        if key not in TILE_PARAMS:
            raise TileError(HTTPStatus.BAD_REQUEST, f"unknown query parameter '{key}'; "
                            f"valid: {', '.join(sorted(TILE_PARAMS))}")
        if value.lower() not in formats:
            raise TileError(HTTPStatus.BAD_REQUEST, f"query parameter 'f' must be one of "
                            f"{', '.join(formats)}, not '{value}'")
    if len(params) > 1:
        raise TileError(HTTPStatus.BAD_REQUEST, "query parameter 'f' is given more than once")


def _check_tms(tms: str) -> None:
    if tms != TMS_ID:
        raise TileError(HTTPStatus.NOT_FOUND, f"unknown tile matrix set '{tms}'; valid: "
                        f"{TMS_ID}")


def tile_coordinates(c: Collection, rest: str, settings: Settings) -> tuple[int, int, int]:
    """tileMatrix, tileRow, tileCol of a tile path, checked against the set and the limits."""
    parts = rest.split("/")
    if len(parts) != 3:
        raise TileError(HTTPStatus.NOT_FOUND, f"nothing is served at this path; tiles are at "
                        f"/collections/{c.id}/tiles/{TMS_ID}/{{tileMatrix}}/{{tileRow}}/"
                        "{tileCol}")
    names = ("tileMatrix", "tileRow", "tileCol")
    values = []
    for name, text in zip(names, parts, strict=True):
        if not text.isdigit() or len(text) > 9:
            raise TileError(HTTPStatus.BAD_REQUEST, f"{name} must be a whole number of 0 or "
                            f"more, not '{text}'")
        values.append(int(text))
    z, row, col = values
    if z > TMS_MAX_ZOOM:
        raise TileError(HTTPStatus.BAD_REQUEST, f"tileMatrix {z} is not in {TMS_ID}; valid: "
                        f"0 to {TMS_MAX_ZOOM}")
    if row >= 2 ** z or col >= 2 ** z:
        raise TileError(HTTPStatus.BAD_REQUEST, f"tileRow and tileCol of tileMatrix {z} run "
                        f"from 0 to {2 ** z - 1}, not {row}/{col}")
    rule = RULES[c.id]
    if not rule.min_zoom <= z <= rule.max_zoom:
        raise TileError(HTTPStatus.NOT_FOUND, f"{c.id} is tiled from tileMatrix "
                        f"{rule.min_zoom} to {rule.max_zoom}, not {z}: {rule.reason}")
    limit = next(m for m in limits(c, settings) if m["tileMatrix"] == str(z))
    if not (limit["minTileRow"] <= row <= limit["maxTileRow"]
            and limit["minTileCol"] <= col <= limit["maxTileCol"]):
        raise TileError(HTTPStatus.NOT_FOUND, f"tile {z}/{row}/{col} lies outside the extent "
                        f"of {c.id}: at tileMatrix {z} rows run from {limit['minTileRow']} "
                        f"to {limit['maxTileRow']}, columns from {limit['minTileCol']} to "
                        f"{limit['maxTileCol']}")
    return z, row, col


def _answer(environ: dict, path: str, settings: Settings) -> Answer | None:
    base = settings.url
    if match := TMS_PATH.match(path):
        _check_query(environ, DOC_FORMATS)
        if match["tms"] is None:
            return _json_answer(tile_matrix_sets(base), environ)
        _check_tms(match["tms"])
        return _json_answer(tile_matrix_set(base), environ)
    match = TILE_PATH.match(path)
    if match is None:
        return None
    c = _collection(match["cid"])
    if match["tms"] is None:
        _check_query(environ, DOC_FORMATS)
        return _json_answer(tileset_list(c, base), environ)
    _check_tms(match["tms"])
    rest = match["rest"]
    if rest is None:
        _check_query(environ, DOC_FORMATS)
        return _json_answer(tileset(c, settings), environ)
    if rest == "tilejson.json":
        _check_query(environ, DOC_FORMATS)
        return _json_answer(tilejson(c, settings), environ)
    z, row, col = tile_coordinates(c, rest, settings)
    _check_query(environ, TILE_FORMATS)
    body, candidates = _render(settings, c, z, col, row)
    if not body:
        # Nothing even touches the tile's box: no deeper tile inside it has anything.
        hint = [("OATiles-hint", "empty")] if candidates == 0 else []
        return _cached(environ, body, MVT_TYPE, hint, status=204)
    return _cached(environ, body, MVT_TYPE)


def is_ours(path: str) -> bool:
    """True for the paths :func:`handle` answers."""
    return bool(TMS_PATH.match(path) or TILE_PATH.match(path))


def handle(environ: dict, start_response: StartResponse, settings: Settings
           ) -> Iterable[bytes] | None:
    """Answer a request for tiles or their metadata, or None when the path is not ours."""
    path = environ.get("PATH_INFO", "")
    if not is_ours(path):
        return None
    method = environ.get("REQUEST_METHOD", "GET").upper()
    try:
        if method == "OPTIONS":
            answer: Answer | None = Answer(204, [("Allow", "GET, HEAD, OPTIONS")], b"")
        elif method not in ("GET", "HEAD"):
            raise TileError(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} is not allowed here; "
                            "allowed: GET, HEAD, OPTIONS")
        else:
            answer = _answer(environ, path, settings)
    except TileError as exc:
        answer = _error(exc.status, exc.description)
    except (PoolTimeout, psycopg.OperationalError) as exc:
        LOGGER.warning("tiles: database unavailable: %s", exc)
        answer = _error(HTTPStatus.SERVICE_UNAVAILABLE, "The service is temporarily "
                        "unavailable. Please try again later.", [("Retry-After", "2")])
    except psycopg.Error:
        LOGGER.exception("tiles: database error")
        answer = _error(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error.")
    if answer is None:
        return None
    status = HTTPStatus(answer.status)
    headers = list(answer.headers)
    if answer.status == HTTPStatus.METHOD_NOT_ALLOWED:
        headers.append(("Allow", "GET, HEAD, OPTIONS"))
    if answer.status not in (204, 304):
        headers.append(("Content-Length", str(len(answer.body))))
    start_response(f"{status.value} {status.phrase}", headers)
    return [b"" if method == "HEAD" else answer.body]


def _error(status: HTTPStatus, description: str,
           extra: list[tuple[str, str]] | None = None) -> Answer:
    code = {HTTPStatus.BAD_REQUEST: "InvalidParameterValue"}.get(
        status, status.phrase.replace(" ", ""))
    body = json.dumps({"code": code, "description": description}).encode()
    return Answer(status.value, [("Content-Type", "application/json"), *(extra or [])], body)
