"""Client mistakes get a 4xx JSON answer in our words, and the API describes itself offline.

Over HTTP against `twin serve` on the samples (issue 7, "Server errors and leaked
internals"): hostile bbox values, ill-typed CQL2, bodies that are not UTF-8 or absurdly
nested, numbers beyond PostgreSQL's bigint, paths we do not serve; the OpenAPI document
resolved with no network; the geometry in f=csv compared with PostGIS.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import jsonschema
import psycopg
import pygeoapi
import pytest
import requests
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT4
from shapely import wkt
from shapely.geometry import shape

from tests.conftest import Server
from twin import tiles
from twin.pygeoapi.compat import TEMPLATE_PAGES
from twin.registry import COLLECTIONS

# Reads the samples only: the session's shared database and server (tests/conftest.py).
pytestmark = pytest.mark.samples_read_only

ITEMS = "/collections/parcels/items"
REGISTRY_IDS = [c.id for c in COLLECTIONS]
EXECUTION = "/processes/assess-commercial-land/execution"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"
#: Words of PostgreSQL's own messages that must never reach a client.
DATABASE_WORDS = ("operator does not exist", "bigint", "smallint", "out of range",
                  "invalid input syntax", "double precision", "psycopg", "postgres",
                  "GEOS", "transform:", "parse error")
BAD_BOXES = ["0,0,1,91", "-200,-100,200,100", "nan,0,1,1", "0,inf,1,1", "1e308,0,1,1",
             "0,0,1e400,1", "-inf,-inf,inf,inf"]


def _refused(response: requests.Response, status: int = 400, *words: str) -> dict:
    """The JSON body of a refusal with ``status``, in our words, naming ``words``."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:300]
    body = response.json()
    text = body["description"]
    for word in DATABASE_WORDS:
        assert word.lower() not in text.lower(), text
    assert "&gt;" not in text and "&lt;" not in text, text  # said in JSON, not HTML
    for word in words:
        assert word in text, (word, text)
    return body


@pytest.mark.parametrize("box", BAD_BOXES)
def test_bbox_outside_its_crs_or_not_finite_is_refused_before_sql(server: Server,
                                                                   box: str) -> None:
    _refused(server.get(ITEMS, params={"bbox": box}), 400, "bbox")


def test_projected_bbox_beyond_the_earth_is_refused(server: Server) -> None:
    r = server.get(ITEMS, params={"bbox": "-1e308,-1e308,1e308,1e308",
                                  "bbox-crs": EPSG.format(3857)})
    _refused(r, 400, "bbox", "EPSG:3857")


@pytest.mark.parametrize("box", BAD_BOXES)
def test_cql2_bbox_outside_its_crs_or_not_finite_is_refused(server: Server, box: str) -> None:
    _refused(server.get(ITEMS, params={"filter": f"BBOX(geometry, {box})"}), 400)


# West of east is a box across the antimeridian only where longitudes wrap (CRS84,
# EPSG:4326); in a projected CRS it is a mistake, as is a south edge north of the north edge.
@pytest.mark.parametrize(("box", "crs", "words"), [
    ("455000,5730000,452000,5740000", EPSG.format(25833), ["EPSG:25833", "west", "east"]),
    ("1600000,6750000,1590000,6760000", EPSG.format(3857), ["EPSG:3857", "west", "east"]),
    ("452000,5740000,455000,5730000", EPSG.format(25833), ["EPSG:25833", "south", "north"]),
    ("14.3,51.8,14.4,51.7", "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
     ["south", "north"]),
    ("51.8,14.3,51.7,14.4", EPSG.format(4326), ["EPSG:4326", "south", "north"]),
    ("14.3,51.7,10,14.4,51.8,0", "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
     ["height"]),
])
def test_a_box_with_edges_the_wrong_way_round_is_refused_in_our_words(
        server: Server, box: str, crs: str, words: list[str]) -> None:
    body = _refused(server.get(ITEMS, params={"bbox": box, "bbox-crs": crs}), 400, "bbox",
                    *words)
    assert "should be less than" not in body["description"]  # pygeoapi's words
    if len(box.split(",")) == 4:
        _refused(server.get(ITEMS, params={"filter": f"S_INTERSECTS(geometry, BBOX({box}))",
                                           "filter-crs": crs}), 400, "BBOX", *words)


def test_a_good_bbox_still_answers(server: Server, pg: psycopg.Connection) -> None:
    r = server.get(ITEMS, params={"bbox": "14.3,51.7,14.4,51.8", "limit": 1})
    assert r.status_code == 200 and r.json()["numberMatched"] > 0


@pytest.mark.parametrize(("cql", "words"), [
    ("gemarkung LIKE 5", ["LIKE", "quotes"]),
    ("geom='x'", ["'geom'", "geometr"]),
    ("geometry = 'x'", ["geometries", "S_INTERSECTS"]),
    ("S_EQUALS(geometry, gemarkung)", ["S_EQUALS", "'gemarkung'", "text"]),
    ("S_INTERSECTS(flur, POINT(14.3 51.7))", ["S_INTERSECTS", "'flur'"]),
    ("gemarkung = 5", ["'gemarkung'", "text", "quotes"]),
    ("flur = 'x'", ["'flur'", "number"]),
    ("flur = '1.5'", ["'flur'", "whole"]),
    ("flaeche > 'gross'", ["'flaeche'", "number"]),
    ("aktualit > 5", ["'aktualit'", "date"]),
    ("aktualit > '2022-13-45'", ["'aktualit'", "'2022-13-45'", "DATE("]),
    ("flur BETWEEN 'a' AND 3", ["'flur'"]),
    ("gemarkung IN (1, 2)", ["'gemarkung'"]),
    ("flur = gemarkung", ["'flur'", "'gemarkung'"]),
    ("gemarkung + 1 = 3", ["arithmetic", "'gemarkung'"]),
])
def test_ill_typed_filters_are_refused_in_our_words(server: Server, cql: str,
                                                    words: list[str]) -> None:
    body = _refused(server.get(ITEMS, params={"filter": cql}), 400, *words)
    assert body["description"].startswith("filter")


@pytest.mark.parametrize(("cql", "words"), [
    ({"op": "t_after", "args": [{"property": "aktualit"}, {"property": "gemarkung"}]},
     ["T_AFTER", "'gemarkung'", "date"]),
    ({"op": "s_intersects", "args": [{"property": "geometry"}, {"property": "flur"}]},
     ["S_INTERSECTS", "'flur'"]),
    ({"op": "like", "args": [{"property": "gemarkung"}, 5]}, ["LIKE"]),
])
def test_ill_typed_cql2_json_is_refused_in_our_words(server: Server, cql: dict,
                                                     words: list[str]) -> None:
    text = json.dumps(cql)
    _refused(server.get(ITEMS, params={"filter": text, "filter-lang": "cql2-json"}), 400,
             *words)
    r = requests.post(server.url + ITEMS, data=text, timeout=30,
                      headers={"Content-Type": "application/query-cql-json"})
    _refused(r, 400, *words)


def test_well_typed_literals_in_quotes_still_work(server: Server, pg: psycopg.Connection) -> None:
    expected = pg.execute("SELECT count(*) FROM twin.parcels WHERE flur = 3 "
                          "AND aktualit >= '2020-01-01'").fetchone()[0]
    r = server.get(ITEMS, params={"filter": "flur = '3' AND aktualit >= '2020-01-01'",
                                  "limit": 1})
    assert r.status_code == 200, r.text
    assert r.json()["numberMatched"] == expected > 0


def test_division_by_zero_is_said_in_our_words(server: Server) -> None:
    _refused(server.get(ITEMS, params={"filter": "flur / 0 = 1"}), 400, "divides by zero")


@pytest.mark.parametrize("name", ["offset", "limit"])
def test_paging_beyond_bigint_is_refused_before_sql(server: Server, name: str) -> None:
    r = server.get(ITEMS, params={name: "9223372036854775808"})
    _refused(r, 400, f"'{name}'", "9223372036854775807")
    assert server.get(ITEMS, params={"offset": "9223372036854775807",
                                     "limit": 1}).status_code == 200


def test_a_cql2_json_body_that_is_not_utf8_is_refused(server: Server) -> None:
    body = '{"op": "=", "args": [{"property": "gemarkung"}, "Ströbitz"]}'.encode("latin-1")
    r = requests.post(server.url + ITEMS, data=body, timeout=30,
                      headers={"Content-Type": "application/query-cql-json"})
    _refused(r, 400, "UTF-8")


def test_a_process_input_that_is_not_utf8_is_refused(server: Server) -> None:
    body = '{"inputs": {"weights": {"größe": 1}}}'.encode("latin-1")
    r = requests.post(server.url + EXECUTION, data=body, timeout=30,
                      headers={"Content-Type": "application/json"})
    _refused(r, 400, "UTF-8")


def test_a_weight_of_401_digits_is_refused(server: Server) -> None:
    body = '{"inputs": {"weights": {"rail_siding": ' + "9" * 401 + "}}}"
    r = requests.post(server.url + EXECUTION, data=body, timeout=30,
                      headers={"Content-Type": "application/json"})
    _refused(r, 400, "'rail_siding'", "401 digits")


@pytest.mark.parametrize(("path", "content_type"), [
    (EXECUTION, "application/json"), (ITEMS, "application/query-cql-json")])
def test_a_body_nested_100000_deep_gets_a_json_refusal(server: Server, path: str,
                                                        content_type: str) -> None:
    # Answered by gunicorn's HTML page under the sync workers; a regression check since the
    # asynchronous front and the depth limit.
    body = '{"inputs": ' + "[" * 100_000 + "]" * 100_000 + "}" if path == EXECUTION \
        else "[" * 100_000 + "]" * 100_000
    r = requests.post(server.url + path, data=body, timeout=30,
                      headers={"Content-Type": content_type})
    _refused(r, 400, "nested")


@pytest.mark.parametrize(("path", "words"), [
    ("/stac-api/search", ["STAC"]), ("/stac", ["STAC"]), ("/jobs", ["jobs"]),
    ("/jobs/no-such-job", ["jobs"]), ("/no/such/page", ["nothing is served"]),
    # pygeoapi answered these 400 "invalid provider type" (HTML pages).
    ("/admin/config", ["admin"]),
    # Vector tiles are ours (twin/tiles.py); pygeoapi's /metadata path is not among them.
    ("/collections/parcels/tiles/WebMercatorQuad/metadata", ["nothing is served"]),
    ("/collections/parcels/map?f=html", ["maps"]),
    ("/collections/parcels/styles/default/map", ["maps"]),
    ("/collections/parcels/position?coords=POINT(14.33 51.76)&f=html", ["EDR"]),
    ("/collections/heritage/instances", ["EDR"]),
])
def test_what_we_do_not_serve_is_a_json_404(server: Server, path: str,
                                            words: list[str]) -> None:
    _refused(server.get(path), 404, *words)


@pytest.mark.parametrize("template", sorted(TEMPLATE_PAGES))
def test_pages_whose_templates_we_do_not_keep_are_never_rendered(server: Server,
                                                                 template: str) -> None:
    # We keep no offline copy of these templates (pygeoapi's name CDNs), so their page
    # must never be rendered: the WSGI layer answers 404 first, or, for the tiles'
    # pages, twin/tiles.py, which answers JSON only (400 for f=html).
    for cid in REGISTRY_IDS:
        path = TEMPLATE_PAGES[template].format(id=cid)
        r = server.get(path, params={"f": "html"})
        _refused(r, 400 if tiles.is_ours(path) else 404)


def test_get_on_a_process_execution_is_a_json_405(server: Server) -> None:
    r = server.get(EXECUTION)
    _refused(r, 405, "POST")
    assert "POST" in r.headers["Allow"]


def test_landing_page_links_no_jobs_and_only_our_tile_matrix_sets(server: Server) -> None:
    links = server.get("/?f=json").json()["links"]
    assert not [link for link in links if "/jobs" in link["href"]]
    # pygeoapi's /TileMatrixSets link is dropped; ours (twin/tiles.py) is the one left.
    assert [link["href"] for link in links if "tiling-schemes" in link["rel"]] == \
        [server.url + "/tileMatrixSets"]
    page = server.get("/?f=html").text
    assert "TileMatrixSets" not in page and "/jobs" not in page
    classes = server.get("/conformance?f=json").json()["conformsTo"]
    assert not [c for c in classes if "job-list" in c]


# -- f=csv ------------------------------------------------------------------------------------
def _csv(server: Server, cid: str, **params: str) -> list[dict]:
    r = server.get(f"/collections/{cid}/items", params={"f": "csv", "limit": "1000", **params})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(r.text, newline="")))


def test_csv_carries_polygons_as_wkt(server: Server, pg: psycopg.Connection) -> None:
    rows = _csv(server, "parcels", bbox="14.33,51.75,14.34,51.76")
    assert rows and list(rows[0])[-1] == "wkt"
    stored = dict(pg.execute(
        "SELECT flstkennz, ST_AsGeoJSON(ST_Transform(geom, 4326)) FROM twin.parcels "
        "WHERE flstkennz = ANY(%s)", [[r["flstkennz"] for r in rows]]).fetchall())
    assert len(stored) == len(rows)
    for row in rows:
        got, want = wkt.loads(row["wkt"]), shape(json.loads(stored[row["flstkennz"]]))
        assert got.geom_type == want.geom_type
        assert got.equals_exact(want, 1e-7), row["flstkennz"]


def test_csv_carries_points_as_x_and_y_in_the_response_crs(server: Server,
                                                           pg: psycopg.Connection) -> None:
    rows = _csv(server, "traffic-stations", crs=EPSG.format(25833))
    assert rows and list(rows[0])[:2] == ["x", "y"]
    stored = {str(k): (x, y) for k, x, y in pg.execute(
        "SELECT station_id, ST_X(geom), ST_Y(geom) FROM twin.traffic_stations")}
    assert len(rows) == len(stored)
    for row in rows:
        x, y = stored[row["station_id"]]
        assert abs(float(row["x"]) - x) < 1e-3 and abs(float(row["y"]) - y) < 1e-3


def test_csv_without_geometry_leaves_the_cells_empty(server: Server) -> None:
    rows = _csv(server, "street-damage", skipGeometry="true")
    assert rows and {(r["x"], r["y"]) for r in rows} == {("", "")}
    assert _csv(server, "parcels", bbox="0,0,1,1") == []  # a header, no rows


# -- the OpenAPI document ---------------------------------------------------------------------
def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + \
            [r for k, v in node.items() if k != "$ref" for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_openapi_resolves_without_network_and_is_valid(server: Server) -> None:
    doc = server.get("/openapi?f=json").json()
    base = server.url + "/openapi"
    # A registry holding only this document: any reference outside it is unresolvable.
    registry = Registry().with_resource(base, Resource.from_contents(
        doc, default_specification=DRAFT4))
    resolver = registry.resolver(base_uri=base)
    refs = sorted(set(_refs(doc)))
    unresolved = []
    for ref in refs:
        try:
            resolver.lookup(ref)
        except Unresolvable:
            unresolved.append(ref)
    assert refs and not unresolved, unresolved
    # The OpenAPI 3.0 schema pygeoapi ships, so no network is needed for it either.
    meta = json.loads((Path(pygeoapi.__file__).parent / "resources" / "schemas" / "openapi"
                       / "openapi-3.0.x.json").read_text(encoding="utf-8"))
    errors = [e.message for e in jsonschema.Draft4Validator(meta).iter_errors(doc)]
    assert not errors, errors[:3]


def test_openapi_describes_conformance_collections_and_filters(server: Server) -> None:
    doc = server.get("/openapi?f=json").json()
    components, paths = doc["components"], doc["paths"]

    def schema_of(path: str) -> dict:
        ref = paths[path]["get"]["responses"]["200"]["$ref"].rsplit("/", 1)[-1]
        return components["responses"][ref]["content"]["application/json"]["schema"]

    assert schema_of("/conformance") == {"$ref": "#/components/schemas/confClasses"}
    assert schema_of("/collections") == {"$ref": "#/components/schemas/collections"}
    assert schema_of("/") == {"$ref": "#/components/schemas/landingPage"}
    assert "landing" not in json.dumps(paths["/conformance"]).lower()
    assert "landing" not in json.dumps(paths["/collections"]).lower()
    for path, item in paths.items():
        if path.endswith("/items"):
            names = {p.get("$ref", p.get("name")).rsplit("/", 1)[-1]
                     for p in item["get"]["parameters"]}
            assert {"filter", "filter-lang", "filter-crs"} <= names, path
    assert set(components["parameters"]["filter-lang"]["schema"]["enum"]) == {
        "cql2-text", "cql2-json"}
    assert "201" not in paths[EXECUTION]["post"]["responses"]  # synchronous only


def test_start_up_fails_when_pygeoapi_would_serve_its_own_csv() -> None:
    from pygeoapi.util import yaml_load

    from twin.csv_format import check_in_use
    from twin.errors import ConfigurationError
    from twin.settings import PROJECT_ROOT

    config = yaml_load((PROJECT_ROOT / "config" / "pygeoapi.yml").read_text(encoding="utf-8"))
    check_in_use(config["resources"])  # the committed config: every collection has ours
    without = {k: {**v, "formatters": []} for k, v in config["resources"].items()}
    with pytest.raises(ConfigurationError, match="f=csv of collection"):
        check_in_use(without)


def test_openapi_generation_fails_on_a_reference_it_does_not_bundle() -> None:
    from twin.errors import ConfigurationError
    from twin.openapi_bundle import bundle

    doc = {"paths": {"/conformance": {"get": {"responses": {}}},
                     "/collections": {"get": {"responses": {}}},
                     "/x": {"get": {"responses": {"200": {
                         "$ref": "https://schemas.opengis.net/somewhere/new.yaml"}}}}}}
    with pytest.raises(ConfigurationError, match="new.yaml"):
        bundle(doc, [])
