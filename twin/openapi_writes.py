"""The write operations of street-damage (twin/transactions.py) in the OpenAPI document.

pygeoapi generates the document from its config, which knows nothing of our writes (its own
transactions stay disabled), so they are added here after generation: the create beside the
CQL2 JSON query on ``POST /items`` (told apart by media type), replace, update and delete on
``/items/{featureId}``, and the two ways to send a key as security schemes.
"""

from __future__ import annotations

from typing import Any

from twin.registry import STREET_DAMAGE
from twin.transactions import COLLECTION, PATCH_TYPES
from twin.write_body import WRITABLE

_PROBLEM = {"application/json": {"schema": {"type": "object", "properties": {
    "code": {"type": "string"}, "description": {"type": "string"}}}}}
SECURITY = [{"apiKey": []}, {"bearerToken": []}]
SCHEMES = {
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
               "description": "A key from `twin keys add NAME --scope street-damage:write`."},
    "bearerToken": {"type": "http", "scheme": "bearer",
                    "description": "The same key as a bearer token."},
}


def _error(text: str) -> dict:
    return {"description": text, "content": _PROBLEM}


def _feature_schema(*, partial: bool) -> dict:
    props = {}
    for f in STREET_DAMAGE.all_fields:
        if f.name in WRITABLE:
            entry: dict[str, Any] = {"type": f.type.json_type, "nullable": True,
                                     "title": f.title_en}
            if f.type.json_format:
                entry["format"] = f.type.json_format
            props[f.name] = entry
    props["condition_class"].update(minimum=1.0, maximum=5.0)
    point = {"type": "object", "required": ["type", "coordinates"], "properties": {
        "type": {"type": "string", "enum": ["Point"]},
        "coordinates": {"type": "array", "minItems": 2, "maxItems": 3,
                        "items": {"type": "number"}}}}
    schema: dict[str, Any] = {"type": "object", "properties": {
        "type": {"type": "string", "enum": ["Feature"]}, "geometry": point,
        "properties": {"type": "object", "properties": props,
                       "description": "Writable properties; read-only ones (the id, source, "
                       "service_code, updated_at, condition_rating, traffic_dtv, "
                       "traffic_basis, traffic_station, repair_priority) are ignored, any "
                       "other is refused (400)."}}}
    if not partial:
        schema["required"] = ["type", "geometry"]
    return schema


def _headers(*names: str) -> list[dict]:
    params = {
        "If-Match": {"name": "If-Match", "in": "header", "schema": {"type": "string"},
                     "description": "ETag of the item as last read (GET). Required unless "
                     "the key was made with --no-if-match; a stale one is refused (412)."},
        "Content-Crs": {"name": "Content-Crs", "in": "header", "schema": {"type": "string"},
                        "description": "CRS of the body's coordinates, e.g. "
                        "<http://www.opengis.net/def/crs/EPSG/0/25833>; default CRS84 "
                        "(longitude, latitude)."},
    }
    return [params[n] for n in names]


def _write_responses(ok: dict) -> dict:
    return {**ok, "400": _error("Invalid body: unknown property, wrong geometry, position "
                                "outside Brandenburg, invalid value"),
            "401": _error("No or no valid API key"), "403": _error("Key without the scope"),
            "413": _error("Body larger than the limit"),
            "415": _error("Unsupported Content-Type")}


def add_write_operations(doc: dict) -> dict:
    """``doc`` (a generated OpenAPI document) with street-damage's write operations."""
    items = doc["paths"][f"/collections/{COLLECTION.id}/items"]
    item = doc["paths"][f"/collections/{COLLECTION.id}/items/{{featureId}}"]
    id_param = next(p for p in item["get"]["parameters"] if "featureId" in str(p))
    doc.setdefault("components", {}).setdefault("securitySchemes", {}).update(SCHEMES)
    feature = {"schema": _feature_schema(partial=False)}
    query = items["post"]
    query["summary"] += "; or create a damage record (application/geo+json, API key)"
    query["requestBody"]["content"]["application/geo+json"] = feature
    query["parameters"] = [*query.get("parameters", []), *_headers("Content-Crs")]
    query["responses"].update(_write_responses({"201": {
        "description": "Created; Location names the new item (field-<uuid>), ETag its version",
        "headers": {"Location": {"schema": {"type": "string"}},
                    "ETag": {"schema": {"type": "string"}}}}}))
    query["security"] = [{}, *SECURITY]  # a query needs no key
    updated = {"200": {"description": "The item as stored (CRS84); ETag its new version",
                       "content": {"application/geo+json": {}}},
               "404": _error("No such item"),
               "412": _error("If-Match does not match the item's ETag"),
               "428": _error("If-Match is missing")}
    common = {"tags": [COLLECTION.id], "security": SECURITY}
    item["put"] = {**common, "operationId": "replaceStreet-damageFeature",
                   "summary": "Replace a damage record (properties not sent become null)",
                   "parameters": [id_param, *_headers("If-Match", "Content-Crs")],
                   "requestBody": {"required": True,
                                   "content": {"application/geo+json": feature,
                                               "application/json": feature}},
                   "responses": _write_responses(updated)}
    patch = {"schema": _feature_schema(partial=True)}
    item["patch"] = {**common, "operationId": "updateStreet-damageFeature",
                     "summary": "Update a damage record (JSON Merge Patch of the Feature)",
                     "parameters": [id_param, *_headers("If-Match", "Content-Crs")],
                     "requestBody": {"required": True,
                                     "content": dict.fromkeys(PATCH_TYPES, patch)},
                     "responses": _write_responses(updated)}
    item["delete"] = {**common, "operationId": "deleteStreet-damageFeature",
                      "summary": "Delete a damage record",
                      "parameters": [id_param, *_headers("If-Match")],
                      "responses": {"204": {"description": "Deleted"},
                                    **{k: v for k, v in _write_responses(updated).items()
                                       if k in ("401", "403", "404", "412", "428")}}}
    return doc
