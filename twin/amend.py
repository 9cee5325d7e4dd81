"""Corrections to pygeoapi's JSON answers that no provider hook can make.

pygeoapi links a `next` page whenever a page is full, lists every field of a collection as
queryable, copies only ``bbox`` and ``crs`` of a configured spatial extent, describes a
collection's features only by a schema GDAL cannot read, and writes an items link GDAL cannot
extend by a feature id; and it is shown an open temporal extent (twin/pygeoapi_config.py), so
the data's time span is added here. The WSGI layer (twin/pygeoapi/wsgi.py) passes each
successful JSON answer of these paths through :func:`amend`.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from twin import coverage, yamltext
from twin.registry import COLLECTIONS, Collection, Field, definition, get_collection

#: Properties a filter may name, per collection (the rest, e.g. score_breakdown, may not).
QUERYABLE = {c.id: frozenset(f.name for f in c.all_fields if f.queryable) for c in COLLECTIONS}
_COLLECTION = re.compile(r"^/collections/(?P<cid>[^/]+)/?$")
_QUERYABLES = re.compile(r"^/collections/(?P<cid>[^/]+)/queryables/?$")
_ITEMS = re.compile(r"^/collections/(?P<cid>[^/]+)/items/?$")
_SCHEMA = re.compile(r"^/collections/(?P<cid>[^/]+)/schema/?$")
#: `profile` of /collections/{id}/schema that answers :func:`feature_schema`.
FEATURE_PROFILE = "geojson-feature"
SCHEMA_REL = "http://www.opengis.net/def/rel/ogc/1.0/schema"


def amend(path: str, query: dict[str, str], body: bytes, config_path: Path, *,
          language: str | None = None, base_url: str = "") -> bytes:
    """``body`` (a 200 JSON answer to ``path``) with pygeoapi's mistakes corrected.

    Parameters
    ----------
    path
        The request path.
    query
        The request's query parameters (one value each; the layer refuses repeats).
    body
        The JSON answer as pygeoapi rendered it.
    config_path
        The pygeoapi configuration the server runs with (for the storage-CRS extents).
    language
        The request's ``Accept-Language`` (``lang`` in ``query`` wins): the language of
        the queryables' titles.
    base_url
        The API's public URL, for links to the pages that define derived fields.

    Returns
    -------
    bytes
        The answer to send; ``body`` itself when nothing needed correcting.
    """
    if (m := _ITEMS.match(path)) and m["cid"] in QUERYABLE:
        if not _next_past_end(body, query):  # the common case: no need to decode the page
            return body
        return _edit(body, lambda doc: _no_next_past_end(doc, query))
    if (m := _QUERYABLES.match(path)) and m["cid"] in QUERYABLE:
        english = (query.get("lang") or language or "de").strip().lower().startswith("en")
        return _edit(body, lambda doc: _titled_queryables(
            doc, get_collection(m["cid"]), english, base_url))
    if (m := _SCHEMA.match(path)) and m["cid"] in QUERYABLE \
            and query.get("profile") == FEATURE_PROFILE:
        return json.dumps(feature_schema(get_collection(m["cid"]))).encode()
    if (m := _COLLECTION.match(path)) and m["cid"] in QUERYABLE:
        return _edit(body, lambda doc: _describe(doc, configured_extents(config_path)))
    if (m := _COLLECTION.match(path)) and m["cid"] in coverage.COVERAGE_IDS:
        return _edit(body, coverage.describe)
    if path.rstrip("/") == "/collections":
        extents = configured_extents(config_path)
        # JSON lists the collections; JSON-LD is one catalogue of datasets.
        return _edit(body, lambda doc: [(_describe(c, extents), coverage.describe(c))
                                        for c in doc.get("collections", [doc])])
    return body


def _describe(doc: dict, extents: dict[str, dict[str, Any]]) -> None:
    _add_extents(doc, extents)
    _add_describedby(doc)
    _plain_items_link(doc)


def _plain_items_link(doc: dict) -> None:
    """The GeoJSON ``items`` link without pygeoapi's ``?f=json``.

    GDAL's OAPIF driver fetches a feature by id (``-where "id = '…'"``) at the items link's
    href plus "/{id}", query string or not: ``…/items?f=json/1201``, which is refused. A
    GeoJSON client sends Accept (or nothing), and either way the items path answers GeoJSON.
    """
    for link in doc.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "items" \
                and link.get("type") == "application/geo+json":
            base, _, query = str(link.get("href", "")).partition("?")
            rest = "&".join(p for p in query.split("&") if p and not p.startswith("f="))
            link["href"] = f"{base}?{rest}" if rest else base


def _edit(body: bytes, change: Any) -> bytes:
    try:
        doc = json.loads(body)
    except ValueError:  # not what pygeoapi says it is: pass it on untouched
        return body
    if not isinstance(doc, dict):
        return body
    change(doc)
    return json.dumps(doc).encode()


_NEXT_LINK = re.compile(rb'"rel":\s*"next"')
# Keys as JSON writes them: inside a string value the quotes would be escaped (\"), so these
# match only the collection's own members (no registry field has these names).
_MATCHED = re.compile(rb'"numberMatched":\s*(\d+)')
_RETURNED = re.compile(rb'"numberReturned":\s*(\d+)')


def _next_past_end(body: bytes, query: dict[str, str]) -> bool:
    """Whether ``body`` links `next` although it ends the matches, read without decoding a
    page of up to 10,000 features (every items answer passes here)."""
    if not _NEXT_LINK.search(body):
        return False
    matched, returned = _MATCHED.search(body), _RETURNED.search(body)
    if matched is None or returned is None:
        return False
    offset = int(query.get("offset") or 0)
    return offset + int(returned[1]) >= int(matched[1])


def _no_next_past_end(doc: dict, query: dict[str, str]) -> None:
    """Drop `next` when this page ends the matches: a full last page must not lead to an
    empty one (pygeoapi links `next` whenever a page is full)."""
    matched = doc.get("numberMatched")
    if matched is None:
        return
    offset = int(query.get("offset") or 0)
    if offset + doc.get("numberReturned", 0) >= matched:
        doc["links"] = [link for link in doc.get("links", []) if link.get("rel") != "next"]


def _titled_queryables(doc: dict, c: Collection, english: bool, base_url: str) -> None:
    """Only the queryable fields, each with its title (pygeoapi repeats the name), the other
    language's title as description, and a derived field's link to its formula."""
    props = doc.get("properties", {})
    names = QUERYABLE[c.id]
    doc["properties"] = {k: v for k, v in props.items() if k in names or k == "geometry"}
    for name, entry in doc["properties"].items():
        if name == "geometry" or not isinstance(entry, dict):
            continue
        f = c.field(name)
        entry["title"] = f.title_en if english else f.title_de
        entry["description"] = f.title_de if english else f.title_en
        if page := definition(c, name):
            entry["x-ogc-definition"] = f"{base_url.rstrip('/')}/{page}"
    # pygeoapi copies a field's type and format only: an array's items are added here.
    for f in c.all_fields:
        if f.type.json_items and f.name in doc["properties"]:
            doc["properties"][f.name]["items"] = f.type.json_items


def _add_extents(doc: dict, extents: dict[str, dict[str, Any]]) -> None:
    """Add what `twin config` wrote beside pygeoapi's extents to a collection (JSON) or to
    the datasets of a JSON-LD catalogue.

    ``extent.spatial.storageCrsBbox`` is the data's extent in its storage CRS (as OGC API
    Common Part 2 and Features Part 2 servers offer it), exact where the CRS84 box, carried
    into the storage CRS, is bigger; ``extent.temporal.interval`` (JSON-LD:
    ``temporalCoverage``) the data's time span, which pygeoapi is not shown.
    """
    if "dataset" in doc:  # JSON-LD: a catalogue of one dataset or of all
        datasets = doc["dataset"] if isinstance(doc["dataset"], list) else [doc["dataset"]]
        for dataset in (d for d in datasets if isinstance(d, dict)):
            cid = str(dataset.get("@id", "")).rsplit("/collections/", 1)[-1]
            if "interval" in extents.get(cid, {}):
                dataset["temporalCoverage"] = "/".join(extents[cid]["interval"])
        return
    extent, found = doc.get("extent", {}), extents.get(doc.get("id", ""), {})
    if isinstance(extent.get("spatial"), dict) and "storage" in found:
        extent["spatial"]["storageCrsBbox"] = [found["storage"]]
    if isinstance(extent.get("temporal"), dict) and "interval" in found:
        extent["temporal"]["interval"] = [found["interval"]]


def _add_describedby(doc: dict) -> None:
    """Link the collection's :func:`feature_schema` as ``describedby``.

    GDAL's OAPIF driver takes field types from such a link (type application/schema+json)
    and otherwise guesses them from the first page of items, where a property that is null
    in every feature of that page becomes a string: street damage reported by citizens has no
    condition class, so GDAL 3.6 and 3.12 typed ``condition_class`` as text. Written
    "describedBy": GDAL up to 3.6 compares the relation case-sensitively with that spelling,
    later versions ignore case (as RFC 8288 says relation types are compared).
    """
    links = doc.get("links")
    if not isinstance(links, list):
        return
    schema = next((link for link in links if isinstance(link, dict)
                   and link.get("rel") == SCHEMA_REL
                   and link.get("type") == "application/schema+json"), None)
    if schema is None or any(str(link.get("rel")).lower() == "describedby" for link in links
                             if isinstance(link, dict)):
        return
    base = str(schema["href"]).split("?", 1)[0]
    links.append({"rel": "describedBy", "type": "application/schema+json",
                  "title": "Schema of a GeoJSON feature of this collection",
                  "href": f"{base}?f=json&profile={FEATURE_PROFILE}"})


def feature_schema(c: Collection) -> dict[str, Any]:
    """JSON Schema of one GeoJSON feature of ``c``, derived from the registry.

    Each property has a single ``type`` (null is allowed for nullable fields, as in pygeoapi's
    own /schema): GDAL reads a list of types as text.
    """
    def prop(f: Field) -> dict[str, Any]:
        return {**f.type.json_schema(), "title": f.title_en, "description": f.title_de}

    geometry_types = ([c.geometry_type] if c.geometry_type != "Geometry" else
                      ["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                       "MultiPolygon", "GeometryCollection"])
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "title": c.title_en,
        "type": "object",
        "required": ["type", "id", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": c.id_field.type.json_type},
            "geometry": {"type": "object", "required": ["type"],
                         "properties": {"type": {"type": "string",
                                                 "enum": geometry_types}}},
            "properties": {"type": "object",
                           "properties": {f.name: prop(f) for f in c.all_fields}},
        },
    }


@lru_cache(maxsize=4)
def configured_extents(config_path: Path) -> dict[str, dict[str, Any]]:
    """By collection id, as `twin config` wrote them: ``storage``, the storage-CRS extent, and
    ``interval``, the time span as two RFC 3339 strings (pygeoapi writes its dates so)."""
    config = yamltext.load(config_path.read_text(encoding="utf-8"))
    out: dict[str, dict[str, Any]] = {}
    for cid, resource in (config.get("resources") or {}).items():
        extents = resource.get("extents") or {}
        found = out[cid] = {}
        if "storage_crs_bbox" in (spatial := extents.get("spatial") or {}):
            found["storage"] = spatial["storage_crs_bbox"]
        if "data_interval" in (temporal := extents.get("temporal") or {}):
            found["interval"] = [v if isinstance(v, str) else v.isoformat()
                                 for v in temporal["data_interval"]]
    return out
