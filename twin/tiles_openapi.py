"""The vector tile operations (twin/tiles.py) in the bundled OpenAPI document.

Called by :func:`twin.openapi_bundle.bundle`: pygeoapi documents no tiles for our
collections (no pygeoapi tile provider serves them), so every path is added here, with the
answers the server really gives (200, 204 for an empty tile, 400, 404).
"""

from __future__ import annotations

from typing import Any

from twin import tiles
from twin.registry import COLLECTIONS

_ERRORS = {"400": {"$ref": "#/components/responses/InvalidParameter"},
           "404": {"$ref": "#/components/responses/NotFound"},
           "500": {"$ref": "#/components/responses/ServerError"}}


def _path_param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema}


def _json(description: str, required: list[str]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {
        "type": "object", "required": required}}}}


def _get(op_id: str, summary: str, tag: str, responses: dict[str, Any],
         params: list[dict[str, Any]]) -> dict[str, Any]:
    return {"get": {"operationId": op_id, "summary": summary, "tags": [tag],
                    "parameters": params, "responses": {**responses, **_ERRORS}}}


def add(doc: dict[str, Any]) -> None:
    """Add the tile matrix sets and each collection's tile paths to ``doc``."""
    params = doc["components"].setdefault("parameters", {})
    params.update({
        "tileMatrixSetId": _path_param("tileMatrixSetId", "The tile matrix set; only "
                                       f"{tiles.TMS_ID} is offered.",
                                       {"type": "string", "enum": [tiles.TMS_ID]}),
        "tileMatrix": _path_param("tileMatrix", "The zoom level (0 to 24; each collection's "
                                  "tileset states the ones it serves).",
                                  {"type": "string", "pattern": r"^\d+$"}),
        "tileRow": _path_param("tileRow", "The row, from the top (0 to 2^tileMatrix - 1).",
                               {"type": "integer", "minimum": 0}),
        "tileCol": _path_param("tileCol", "The column, from the left (0 to 2^tileMatrix - 1).",
                               {"type": "integer", "minimum": 0}),
        "f-tiles-json": {"name": "f", "in": "query", "required": False,
                         "description": "The format of the answer: JSON only.",
                         "schema": {"type": "string", "enum": ["json"]}},
        "f-mvt": {"name": "f", "in": "query", "required": False,
                  "description": "The format of the tile: Mapbox Vector Tile only.",
                  "schema": {"type": "string", "enum": ["mvt"]}},
    })
    ref = {name: {"$ref": f"#/components/parameters/{name}"} for name in params}
    paths = doc["paths"]
    tag = "Tiles"
    if not any(t.get("name") == tag for t in doc.setdefault("tags", [])):
        doc["tags"].append({"name": tag, "description": "OGC API - Tiles: Mapbox Vector "
                            "Tiles of every feature collection"})
    paths["/tileMatrixSets"] = _get(
        "getTileMatrixSetsList", "The tile matrix sets of the tiles", tag,
        {"200": _json("The tile matrix sets (WebMercatorQuad).", ["tileMatrixSets"])},
        [ref["f-tiles-json"]])
    paths["/tileMatrixSets/{tileMatrixSetId}"] = _get(
        "getTileMatrixSet", "A tile matrix set's definition (OGC 2D TMS 2.0)", tag,
        {"200": _json("The tile matrix set.", ["id", "crs", "tileMatrices"])},
        [ref["tileMatrixSetId"], ref["f-tiles-json"]])
    for c in COLLECTIONS:
        base = f"/collections/{c.id}/tiles"
        op = c.id.replace("-", "_")
        paths[base] = _get(
            f"get_{op}_tilesets", f"Vector tilesets of {c.title_en}", tag,
            {"200": _json("The tilesets of the collection.", ["tilesets", "links"])},
            [ref["f-tiles-json"]])
        paths[base + "/{tileMatrixSetId}"] = _get(
            f"get_{op}_tileset", f"Tileset metadata of {c.title_en}: limits, zooms, the "
            "layer's properties", tag,
            {"200": _json("The tileset metadata.", ["dataType", "tileMatrixSetURI", "links"])},
            [ref["tileMatrixSetId"], ref["f-tiles-json"]])
        paths[base + "/{tileMatrixSetId}/tilejson.json"] = _get(
            f"get_{op}_tilejson", f"The tileset of {c.title_en} as TileJSON 3.0.0", tag,
            {"200": _json("TileJSON 3.0.0 with vector_layers.", ["tilejson", "tiles"])},
            [ref["tileMatrixSetId"], ref["f-tiles-json"]])
        paths[base + "/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"] = _get(
            f"get_{op}_tile", f"A vector tile of {c.title_en}", tag,
            {"200": {"description": "The tile: one layer named after the collection, its "
                                    "published properties.",
                     "content": {tiles.MVT_TYPE: {"schema": {"type": "string",
                                                             "format": "binary"}}}},
             "204": {"description": "An empty tile: no feature in it (with OATiles-hint: "
                                    "empty when none in any deeper tile either)."}},
            [ref["tileMatrixSetId"], ref["tileMatrix"], ref["tileRow"], ref["tileCol"],
             ref["f-mvt"]])
