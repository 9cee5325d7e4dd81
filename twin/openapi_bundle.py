"""The OpenAPI document made whole: no reference leaves it, and it says what we serve.

pygeoapi's generated document ``$ref``s about 18 schemas, responses and parameters on
schemas.opengis.net and GitHub: a client without network (or behind a proxy) cannot resolve
it. Here every such reference is rewritten to one of this document's own ``components``,
built from the OGC API - Features schemas vendored in ``twin/openapi_ogc/`` (see its
NOTICE.md) and from a few definitions of our own where no package ships the OGC file
(processes, CQL2 JSON, sortby). A reference not in :data:`EXTERNAL` fails generation, so a
pygeoapi upgrade that adds one is noticed at start-up, not by an offline client.

It also corrects what the generated document gets wrong: ``/conformance`` and
``/collections`` were described as the landing page, the items' ``filter``, ``filter-lang``
and ``filter-crs`` were not documented (nor ``datetime`` on collections without time), and
process execution promised an asynchronous 201.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from twin import coverage, edr, tiles_openapi, yamltext
from twin.errors import ConfigurationError
from twin.pygeoapi.context import CRS84
from twin.registry import COLLECTIONS, FieldType

OGC_DIR = Path(__file__).resolve().parent / "openapi_ogc"
FEATURES_1 = "https://schemas.opengis.net/ogcapi/features/part1/1.0/openapi/ogcapi-features-1.yaml"
PROCESSES_1 = "https://schemas.opengis.net/ogcapi/processes/part1/1.0/openapi"
#: Every external reference pygeoapi 0.24 writes, and the local component it becomes.
EXTERNAL = {
    f"{FEATURES_1}#/components/parameters/datetime": "#/components/parameters/datetime",
    f"{FEATURES_1}#/components/parameters/featureId": "#/components/parameters/featureId",
    f"{FEATURES_1}#/components/responses/LandingPage": "#/components/responses/LandingPage",
    f"{FEATURES_1}#/components/responses/Collection": "#/components/responses/Collection",
    f"{FEATURES_1}#/components/responses/Features": "#/components/responses/Features",
    f"{FEATURES_1}#/components/responses/Feature": "#/components/responses/Feature",
    f"{FEATURES_1}#/components/responses/InvalidParameter":
        "#/components/responses/InvalidParameter",
    f"{FEATURES_1}#/components/responses/NotFound": "#/components/responses/NotFound",
    f"{FEATURES_1}#/components/responses/ServerError": "#/components/responses/ServerError",
    f"{PROCESSES_1}/responses/NotFound.yaml": "#/components/responses/NotFound",
    f"{PROCESSES_1}/responses/ServerError.yaml": "#/components/responses/ServerError",
    f"{PROCESSES_1}/responses/ProcessList.yaml": "#/components/responses/ProcessList",
    f"{PROCESSES_1}/schemas/exception.yaml": "#/components/schemas/exception",
    f"{PROCESSES_1}/schemas/execute.yaml": "#/components/schemas/execute",
    "https://schemas.opengis.net/cql2/1.0/cql2.json": "#/components/schemas/cql2-json",
    "https://raw.githubusercontent.com/opengeospatial/ogcapi-records/master/core/openapi/"
    "parameters/sortby.yaml": "#/components/parameters/sortby",
    "https://schemas.opengis.net/ogcapi/tiles/part1/1.0/openapi/ogcapi-tiles-1.yaml"
    "#/components/schemas/link": "#/components/schemas/link",
    coverage.OAS_SUBSET: "#/components/parameters/subset",  # defined by twin/coverage.py
}
#: Vendored schema files (twin/openapi_ogc/NAME.yaml) that become components/schemas/NAME.
OGC_SCHEMAS = ("link", "landingPage", "confClasses", "collections", "collection", "extent",
               "featureCollectionGeoJSON", "featureGeoJSON", "geometryGeoJSON",
               "pointGeoJSON", "multipointGeoJSON", "linestringGeoJSON",
               "multilinestringGeoJSON", "polygonGeoJSON", "multipolygonGeoJSON",
               "geometrycollectionGeoJSON")

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/exception"}}}


def _json(schema: str) -> dict:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}},
            "text/html": {"schema": {"type": "string"}}}


def _responses() -> dict[str, Any]:
    features = {"application/geo+json": {"schema": {
        "$ref": "#/components/schemas/featureCollectionGeoJSON"}},
        "text/html": {"schema": {"type": "string"}}, "text/csv": {"schema": {"type": "string"}}}
    feature = {"application/geo+json": {"schema": {"$ref": "#/components/schemas/featureGeoJSON"}},
               "text/html": {"schema": {"type": "string"}}}
    return {
        "LandingPage": {"description": "The landing page: links to the API definition, the "
                        "conformance declaration and the collections.",
                        "content": _json("landingPage")},
        "ConformanceDeclaration": {"description": "The conformance classes this API "
                                   "implements.", "content": _json("confClasses")},
        "Collections": {"description": "The feature collections of this API.",
                        "content": _json("collections")},
        "Collection": {"description": "One feature collection.", "content": _json("collection")},
        "Features": {"description": "A page of the collection's features that match the "
                     "query, with paging links (f=csv: one row per feature, with its "
                     "geometry).", "content": features},
        "Feature": {"description": "One feature.", "content": feature},
        "ProcessList": {"description": "The processes this API offers.",
                        "content": {"application/json": {"schema": {"type": "object",
                                    "required": ["processes", "links"]}}}},
        "InvalidParameter": {"description": "A query parameter, filter or body is invalid; "
                             "the description says which and why.", "content": _ERROR},
        "NotFound": {"description": "The requested resource does not exist.",
                     "content": _ERROR},
        "ServerError": {"description": "A server error.", "content": _ERROR},
    }


def _own_schemas() -> dict[str, Any]:
    return {
        "exception": {"type": "object", "required": ["code"], "properties": {
            "code": {"type": "string"}, "description": {"type": "string"}}},
        "execute": {"type": "object", "properties": {
            "inputs": {"type": "object", "additionalProperties": True},
            "outputs": {"type": "object"}, "response": {"type": "string",
                                                        "enum": ["raw", "document"]}}},
        "cql2-json": {"type": "object", "description": "A CQL2 JSON expression "
                      "(OGC 21-065, http://www.opengis.net/spec/cql2/1.0/conf/cql2-json).",
                      "required": ["op", "args"], "properties": {
                          "op": {"type": "string"}, "args": {"type": "array"}}},
    }


def _parameters(crs_list: list[str]) -> dict[str, Any]:
    datetime = yamltext.load((OGC_DIR / "datetime.yaml").read_text(encoding="utf-8"))
    datetime["description"] = (
        "An instant or interval (RFC 3339; '..' for an open end): features whose time "
        "falls in it. A date means the whole local day. Collections without time ignore it.")
    return {
        "datetime": datetime,
        "featureId": {"name": "featureId", "in": "path", "required": True,
                      "description": "The identifier of a feature.",
                      "schema": {"type": "string"}},
        "sortby": {"name": "sortby", "in": "query", "required": False, "style": "form",
                   "explode": False, "description": "Comma-separated properties to sort "
                   "by, each with an optional + (ascending, the default) or - (descending).",
                   "schema": {"type": "array", "minItems": 1, "items": {
                       "type": "string", "pattern": "^[+-]?[A-Za-z_][A-Za-z0-9_]*$"}}},
        "filter": {"name": "filter", "in": "query", "required": False,
                   "description": "A CQL2 filter on the queryables (see /queryables), in the "
                   "language filter-lang names; e.g. gemarkung = 'Branitz' AND flur > 2.",
                   "schema": {"type": "string"}},
        "filter-lang": {"name": "filter-lang", "in": "query", "required": False,
                        "description": "The language of filter.",
                        "schema": {"type": "string", "enum": ["cql2-text", "cql2-json"],
                                   "default": "cql2-text"}},
        "filter-crs": {"name": "filter-crs", "in": "query", "required": False,
                       "description": "The CRS of the coordinates in filter (geometry "
                       "literals and BBOX); default CRS84.",
                       "schema": {"type": "string", "format": "uri",
                                  "enum": crs_list, "default": CRS84}},
    }


def _ogc_schemas() -> dict[str, Any]:
    schemas = {}
    for name in OGC_SCHEMAS:
        text = (OGC_DIR / f"{name}.yaml").read_text(encoding="utf-8")
        schemas[name] = _rewrite(yamltext.load(text),
                                 lambda ref: "#/components/schemas/" + ref.removeprefix("urn:")
                                 if ref.startswith("urn:") else ref)
    # GeoJSON (RFC 7946, 3.2) allows a Feature without geometry, and skipGeometry=true answers
    # exactly that; the OGC file requires a geometry object. Patched here, not in the vendored
    # copy, so the files stay as published. (A sibling of $ref is ignored in OpenAPI 3.0,
    # hence allOf.)
    schemas["featureGeoJSON"]["properties"]["geometry"] = {
        "nullable": True, "allOf": [{"$ref": "#/components/schemas/geometryGeoJSON"}]}
    return schemas


def _rewrite(node: Any, change: Any) -> Any:
    """``node`` with every ``$ref`` value replaced by ``change(ref)``."""
    if isinstance(node, dict):
        return {k: change(v) if k == "$ref" else _rewrite(v, change) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, change) for v in node]
    return node


def _local(ref: str) -> str:
    if ref.startswith("#"):
        return ref
    try:
        return EXTERNAL[ref]
    except KeyError:
        raise ConfigurationError(
            f"the generated OpenAPI document refers to {ref}, which twin/openapi_bundle.py "
            "does not bundle; add it to EXTERNAL (a pygeoapi upgrade?)") from None


def _result_formats(post: dict) -> None:
    """An output offered in several formats (``oneOf`` of ``contentMediaType``, as OGC API -
    Processes describes it) as one OpenAPI content entry per media type, and the ``f`` and
    ``csv-dialect`` parameters that choose one (twin/processes.py); pygeoapi copies the
    output's schema as it is, which OpenAPI 3.0 does not allow."""
    ok = post["responses"].get("200", {})
    for body in list(ok.get("content", {}).values()):
        variants = (body.get("schema") or {}).get("oneOf") or []
        if variants and all("contentMediaType" in v for v in variants):
            ok["content"] = {v["contentMediaType"]: {"schema": {
                k: x for k, x in v.items() if k != "contentMediaType"}} for v in variants}
            post.setdefault("parameters", []).extend([
                {"name": "f", "in": "query", "required": False,
                 "description": "Format of the result (instead of outputs or Accept)",
                 "schema": {"type": "string", "enum": ["json", "geojson", "csv"]}},
                {"name": "csv-dialect", "in": "query", "required": False,
                 "description": "CSV for German spreadsheets (de) or RFC 4180; default: "
                                "de for lang=de",
                 "schema": {"type": "string", "enum": ["de", "rfc4180"]}}])
            return


def bundle(doc: dict, crs_list: list[str]) -> dict:
    """``doc`` with no external reference, its components completed and its mistakes fixed."""
    doc = copy.deepcopy(doc)
    edr.openapi(doc)  # the sensor collections' EDR queries, described by us
    for path, item in doc["paths"].items():
        if path.startswith("/processes/") and path.endswith("/execution"):
            # Processes run synchronously (twin/processes.py): no 201 with a job.
            item["post"]["responses"].pop("201", None)
            item["post"]["responses"]["400"] = {
                "$ref": "#/components/responses/InvalidParameter"}
            _result_formats(item["post"])
    doc = _rewrite(doc, _local)
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {}).update({**_ogc_schemas(), **_own_schemas()})
    components.setdefault("responses", {}).update(_responses())
    components.setdefault("parameters", {}).update(_parameters(crs_list))
    coverage.openapi(doc)  # the terrain's parameters and answers
    tiles_openapi.add(doc)  # the vector tiles (twin/tiles.py)
    # pygeoapi's tile components go unused: twin/tiles_openapi.py describes our tiles.
    for name in ("Tiles",):
        components["responses"].pop(name, None)
    for name in ("tiles", "tilematrixsetlink"):
        components["schemas"].pop(name, None)
    paths = doc["paths"]
    paths["/conformance"]["get"].update(
        summary="Conformance declaration", description="The conformance classes this API "
        "implements.")
    paths["/conformance"]["get"]["responses"]["200"] = {
        "$ref": "#/components/responses/ConformanceDeclaration"}
    paths["/collections"]["get"].update(
        summary="Feature collections", description="The feature collections of this API, "
        "with their extents and links.")
    paths["/collections"]["get"]["responses"]["200"] = {
        "$ref": "#/components/responses/Collections"}
    for path, item in paths.items():
        if path.startswith("/collections/") and path.endswith("/items") and "get" in item:
            params = item["get"].setdefault("parameters", [])
            known = {p.get("$ref", p.get("name")) for p in params}
            # datetime on every collection (OGC 17-069r3 /req/core/fc-time-definition):
            # pygeoapi declares it only where a time field is configured, yet collections
            # without time accept it too (and ignore it).
            params += [{"$ref": f"#/components/parameters/{name}"}
                       for name in ("datetime", "filter", "filter-lang", "filter-crs")
                       if f"#/components/parameters/{name}" not in known]
            # `denkmalnummern=09100107` names one item a list holds (twin/provider.py), not
            # the whole array pygeoapi's parameter schema (the field's) would ask for.
            lists = {f.name: f for c in COLLECTIONS if path == f"/collections/{c.id}/items"
                     for f in c.all_fields if f.type is FieldType.TEXT_ARRAY}
            for p in params:
                if p.get("name") in lists:
                    f = lists[p["name"]]
                    p["schema"] = {"type": "string"}
                    p["description"] = (f"{f.title_en}: the items whose list holds this value "
                                        "(CQL2: A_CONTAINS)")
    return doc
