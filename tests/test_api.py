"""The OGC API as a client sees it, over HTTP against `twin serve` on the sample parcels.

Expected numbers come from PostGIS, never from literals.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

import psycopg
import pytest
import requests

from tests.conftest import Server
from twin.registry import PARCELS
from twin.settings import Settings

# Reads the samples only: the session's shared database and server (tests/conftest.py).
pytestmark = pytest.mark.samples_read_only

ITEMS = "/collections/parcels/items"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"


def count(pg: psycopg.Connection, where: str = "TRUE", params: tuple = ()) -> int:
    sql_text = f"SELECT count(*) FROM twin.parcels WHERE {where}"  # noqa: S608 - test literals
    return pg.execute(sql_text, params or None).fetchone()[0]


def test_landing_page_links_what_a_client_needs(server: Server) -> None:
    doc = server.get("/?f=json").json()
    rels = {link["rel"] for link in doc["links"]}
    assert {"service-desc", "conformance", "data"} <= rels


def test_openapi_served_is_the_written_document(server: Server,
                                               loaded_settings: Settings) -> None:
    # pygeoapi serves the JSON copy unparsed (twin/pygeoapi/app.py): it must hold the same
    # document as the YAML file people read, with the escaping pygeoapi's to_json applies.
    import yaml

    served = server.get("/openapi?f=json")
    assert served.headers["Content-Type"].startswith("application/vnd.oai.openapi+json")
    written = yaml.safe_load(loaded_settings.openapi_path.read_text(encoding="utf-8"))
    escaped = json.dumps(written, separators=(",", ":")).replace("<", "&lt;") \
        .replace(">", "&gt;")
    assert served.json() == json.loads(escaped)
    assert written["paths"]["/collections/parcels/items"]["get"]


def test_conformance_lists_what_works_and_nothing_else(server: Server) -> None:
    classes = set(server.get("/conformance?f=json").json()["conformsTo"])
    for c in ("ogcapi-features-1/1.0/conf/core", "ogcapi-features-1/1.0/conf/geojson",
              "ogcapi-features-1/1.0/conf/html", "ogcapi-features-1/1.0/conf/oas30",
              "ogcapi-features-2/1.0/conf/crs", "ogcapi-features-3/1.0/conf/filter",
              "ogcapi-features-3/1.0/conf/features-filter", "cql2/1.0/conf/cql2-text",
              "cql2/1.0/conf/cql2-json", "cql2/1.0/conf/basic-cql2"):
        assert f"http://www.opengis.net/spec/{c}" in classes
    # Part 4 is claimed because street-damage implements it (tests/test_writes.py); every
    # other collection refuses writes (test_public_api_is_read_only).
    assert "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete" \
        in classes


def test_collection_describes_itself_in_both_languages(server: Server,
                                                       pg: psycopg.Connection) -> None:
    de = server.get("/collections/parcels?f=json", headers={"Accept-Language": "de"}).json()
    en = server.get("/collections/parcels?f=json&lang=en").json()
    assert de["title"] == PARCELS.title_de and en["title"] == PARCELS.title_en
    assert de["storageCrs"] == EPSG.format(25833)
    assert {CRS84, EPSG.format(4326), EPSG.format(25833), EPSG.format(3857)} <= set(de["crs"])
    xmin, ymin, xmax, ymax = pg.execute(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
        "(SELECT ST_Extent(ST_Transform(geom, 4326)) e FROM twin.parcels) s").fetchone()
    bbox = de["extent"]["spatial"]["bbox"][0]
    assert bbox[0] <= xmin and bbox[1] <= ymin and bbox[2] >= xmax and bbox[3] >= ymax
    assert bbox[2] - bbox[0] < (xmax - xmin) + 0.001  # from the data, not a default


def test_queryables_are_the_published_fields(server: Server) -> None:
    doc = server.get("/collections/parcels/queryables?f=json").json()
    assert set(PARCELS.property_names) <= set(doc["properties"])
    assert doc["properties"]["flur"]["type"] == "integer"


def test_paging_follows_next_links_through_every_parcel(server: Server,
                                                        pg: psycopg.Connection) -> None:
    url, seen, pages = f"{server.url}{ITEMS}?limit=1000&skipGeometry=true", [], 0
    while url:
        doc = requests.get(url, timeout=60).json()
        seen += [f["id"] for f in doc["features"]]
        url = next((link["href"] for link in doc["links"] if link["rel"] == "next"), None)
        pages += 1
    assert len(seen) == len(set(seen)) == count(pg)
    assert pages >= 2


def test_limit_above_ten_is_honoured(server: Server) -> None:
    doc = server.get(f"{ITEMS}?limit=1000&skipGeometry=true").json()
    assert doc["numberReturned"] == len(doc["features"]) == 1000


def test_geojson_media_type(server: Server) -> None:
    for path in (ITEMS, f"{ITEMS}?f=json"):
        r = server.get(path, headers={"Accept": "application/geo+json"})
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("application/geo+json")


@pytest.mark.parametrize(("params", "where"), [
    ({"bbox": "14.32,51.75,14.34,51.77"},
     "ST_Intersects(ST_Transform(geom, 4326), ST_MakeEnvelope(14.32, 51.75, 14.34, 51.77, 4326))"),
    ({"bbox": "453500,5734000,454500,5735000", "bbox-crs": EPSG.format(25833)},
     "ST_Intersects(geom, ST_MakeEnvelope(453500, 5734000, 454500, 5735000, 25833))"),
    ({"bbox": "453500,5734000,0,454500,5735000,100", "bbox-crs": EPSG.format(25833)},
     "ST_Intersects(geom, ST_MakeEnvelope(453500, 5734000, 454500, 5735000, 25833))"),
    ({"gemarkung": "Sandow"}, "gemarkung = 'Sandow'"),
    ({"flur": "1", "gemarkung": "Cottbus"}, "flur = 1 AND gemarkung = 'Cottbus'"),
    ({"filter": "gemarkung = 'Ströbitz'"}, "gemarkung = 'Ströbitz'"),
    ({"filter": "gemarkung = 'Döbbrick' OR flaeche > 5000"},
     "gemarkung = 'Döbbrick' OR flaeche > 5000"),
    ({"filter": "lagebeztxt LIKE 'Straße der Jugend%'"}, "lagebeztxt LIKE 'Straße der Jugend%'"),
    # CQL2 doubles a quote inside a string, as SQL does (pygeofilter ended the string there).
    ({"filter": "lagebeztxt LIKE '%''%' OR gemarkung = 'Sandow'"},
     "lagebeztxt LIKE '%''%' OR gemarkung = 'Sandow'"),
    ({"filter": "flur IN (1, 2) AND flaeche BETWEEN 300 AND 900"},
     "flur IN (1, 2) AND flaeche BETWEEN 300 AND 900"),
    ({"filter": "BBOX(geom, 14.32, 51.75, 14.34, 51.77)"},
     "ST_Intersects(ST_Transform(geom, 4326), ST_MakeEnvelope(14.32, 51.75, 14.34, 51.77, 4326))"),
    ({"filter": "S_INTERSECTS(geometry, BBOX(14.32, 51.75, 14.34, 51.77))"},
     "ST_Intersects(ST_Transform(geom, 4326), ST_MakeEnvelope(14.32, 51.75, 14.34, 51.77, 4326))"),
    ({"filter": "S_INTERSECTS(geom, BBOX(453500, 5734000, 454500, 5735000))",
      "filter-crs": EPSG.format(25833)},
     "ST_Intersects(geom, ST_MakeEnvelope(453500, 5734000, 454500, 5735000, 25833))"),
    ({"filter": "S_INTERSECTS(geom, POINT(14.3342 51.7606))"},
     "ST_Intersects(geom, ST_Transform(ST_SetSRID(ST_MakePoint(14.3342, 51.7606), 4326), 25833))"),
    ({"filter": "flaeche > flur * 1000"}, "flaeche > flur * 1000"),
    ({"filter": "aktualit > DATE('2024-06-01')"}, "aktualit > '2024-06-01'"),
    ({"filter-lang": "cql2-json", "filter": json.dumps(
        {"op": "and", "args": [{"op": "=", "args": [{"property": "gemarkung"}, "Ströbitz"]},
                               {"op": ">", "args": [{"property": "flaeche"}, 500]}]})},
     "gemarkung = 'Ströbitz' AND flaeche > 500"),
])
def test_filters_match_postgis(server: Server, pg: psycopg.Connection, params: dict,
                               where: str) -> None:
    r = server.get(ITEMS, params={**params, "limit": 10000, "skipGeometry": "true"})
    assert r.status_code == 200, r.text
    doc = r.json()
    expected = count(pg, where)
    assert expected > 0, "a filter that matches nothing proves little"
    assert doc["numberMatched"] == doc["numberReturned"] == expected


def test_cql2_json_by_post_and_get_agree_and_paging_keeps_the_filter(
        server: Server, pg: psycopg.Connection) -> None:
    body = {"op": "=", "args": [{"property": "gemarkung"}, "Sandow"]}
    posted = requests.post(f"{server.url}{ITEMS}?limit=5", data=json.dumps(body), timeout=60,
                           headers={"Content-Type": "application/query-cql-json"}).json()
    got = server.get(ITEMS, params={"filter-lang": "cql2-json", "filter": json.dumps(body),
                                    "limit": 5}).json()
    assert posted["numberMatched"] == got["numberMatched"] == count(pg, "gemarkung = 'Sandow'")
    next_url = next(link["href"] for link in got["links"] if link["rel"] == "next")
    page2 = requests.get(next_url, timeout=60).json()
    assert page2["numberMatched"] == got["numberMatched"]
    assert {f["properties"]["gemarkung"] for f in page2["features"]} == {"Sandow"}


def test_sortby_and_properties(server: Server, pg: psycopg.Connection) -> None:
    doc = server.get(ITEMS, params={"sortby": "-flaeche", "limit": 3,
                                    "properties": "flaeche,gemarkung"}).json()
    largest = [r[0] for r in pg.execute(
        "SELECT flaeche FROM twin.parcels ORDER BY flaeche DESC, flstkennz LIMIT 3")]
    assert [f["properties"]["flaeche"] for f in doc["features"]] == largest
    assert set(doc["features"][0]["properties"]) == {"flaeche", "gemarkung"}  # as asked


@pytest.mark.parametrize("crs", [CRS84, EPSG.format(4326), EPSG.format(25833),
                                 EPSG.format(3857)])
def test_crs_answers_in_the_asked_crs(server: Server, pg: psycopg.Connection,
                                      crs: str) -> None:
    key = pg.execute("SELECT flstkennz FROM twin.parcels ORDER BY flstkennz LIMIT 1").fetchone()[0]
    r = server.get(f"{ITEMS}/{key}", params={"crs": crs})
    assert r.status_code == 200
    assert r.headers["Content-Crs"] == f"<{crs}>"
    x, y = r.json()["geometry"]["coordinates"][0][0][0]
    srid = int(crs.rsplit("/", 1)[1]) if "EPSG" in crs else 4326
    ex, ey = pg.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointN(ST_ExteriorRing(ST_GeometryN("
        "ST_Transform(geom, %s), 1)), 1) p FROM twin.parcels WHERE flstkennz = %s) s",
        (srid, key)).fetchone()
    if crs == EPSG.format(4326):  # latitude first, as EPSG:4326 defines its axes
        ex, ey = ey, ex
    tolerance = 1e-7 if srid == 4326 else 0.001
    assert abs(x - ex) < tolerance and abs(y - ey) < tolerance


def test_single_item_by_parcel_key(server: Server, pg: psycopg.Connection) -> None:
    key, gemarkung = pg.execute(
        "SELECT flstkennz, gemarkung FROM twin.parcels ORDER BY flstkennz DESC LIMIT 1"
    ).fetchone()
    r = server.get(f"{ITEMS}/{key}")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/geo+json")
    assert r.json()["id"] == key and r.json()["properties"]["gemarkung"] == gemarkung


@pytest.mark.parametrize(("path", "status", "words"), [
    (f"{ITEMS}/12345", 404, "No parcels item"),
    (f"{ITEMS}/not-a-key", 404, "No parcels item"),
    (f"{ITEMS}/{'9' * 500}", 404, "No parcels item"),
    (f"{ITEMS}/%27%3B%20DROP%20TABLE%20twin.parcels%3B--", 404, "No parcels item"),
    (f"{ITEMS}?sortby=", 400, "sortby"),
    (f"{ITEMS}?sortby=owner", 400, "sortby"),
    (f"{ITEMS}?filter=eigentuemer%3D%27x%27", 400, "unknown property 'eigentuemer'"),
    (f"{ITEMS}?filter=gemarkung%20%3D", 400, "CQL"),
    (f"{ITEMS}?filter=flur%3D%27abc%27", 400, "'flur' (a number) cannot be compared"),
    (f"{ITEMS}?eigentuemer=Schmidt", 400, "unknown query parameter 'eigentuemer'"),
    (f"{ITEMS}?limt=5", 400, "unknown query parameter 'limt'"),
    (f"{ITEMS}?limit=-1", 400, "limit"),
    (f"{ITEMS}?limit=true", 400, "whole number"),
    (f"{ITEMS}?offset=1.5", 400, "whole number"),
    (f"{ITEMS}?bbox=1,2,3", 400, "bbox"),
    (f"{ITEMS}?crs=EPSG:31468", 400, "CRS"),
    # A collection without time ignores a well-formed datetime (tests/test_answers.py).
    (f"{ITEMS}?datetime=20240101", 400, "RFC 3339"),
    (f"{ITEMS}?filter=S_INTERSECTS(geometry%2CBBOX(flaeche%2C1%2C2%2C3))", 400, "BBOX"),
    (f"{ITEMS}?bbox=14.32,51.75,0,14.34,51.77", 400, "bbox"),
    ("/collections/nosuch/items", 404, "not found"),
])
def test_bad_requests_get_clear_client_errors(server: Server, path: str, status: int,
                                              words: str) -> None:
    r = server.get(path)
    assert r.status_code == status, r.text
    assert words.lower() in r.text.lower()
    assert r.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("body", ["0", "null", '"text"', "[1, 2]", "true"])
def test_cql2_json_body_that_is_no_condition_is_a_client_error(server: Server,
                                                               body: str) -> None:
    r = requests.post(f"{server.url}{ITEMS}", data=body, timeout=30,
                      headers={"Content-Type": "application/query-cql-json"})
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_public_api_is_read_only(server: Server, pg: psycopg.Connection, method: str) -> None:
    before = count(pg)
    key = pg.execute("SELECT flstkennz FROM twin.parcels LIMIT 1").fetchone()[0]
    feature = {"type": "Feature", "id": "x", "properties": {"flstkennz": "x"},
               "geometry": {"type": "Point", "coordinates": [14.3, 51.7]}}
    path = ITEMS if method == "POST" else f"{ITEMS}/{key}"
    r = requests.request(method, server.url + path, json=feature, timeout=30,
                         headers={"Content-Type": "application/geo+json"})
    assert r.status_code == 405
    assert count(pg) == before


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag in ("script", "img") and a.get("src"):
            self.urls.append(a["src"])
        if tag == "link" and a.get("rel") in ("stylesheet", "icon") and a.get("href"):
            self.urls.append(a["href"])


@pytest.mark.parametrize("path", [
    "/", "/collections", "/collections/parcels", f"{ITEMS}?limit=5", "/openapi",
    "/openapi?ui=redoc",
    # Rendered from pygeoapi's own templates, which extend our _base.html.
    "/conformance", "/collections/parcels/queryables", "/collections/parcels/schema",
    "/processes", "/processes/assess-commercial-land"])
def test_html_pages_load_nothing_from_elsewhere(server: Server, path: str) -> None:
    sep = "&" if "?" in path else "?"
    r = server.get(f"{path}{sep}f=html")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    parser = _Assets()
    parser.feed(r.text)
    assert parser.urls, "a styled page loads assets"
    for url in parser.urls:
        absolute = urljoin(server.url + path, url)
        assert urlparse(absolute).netloc == urlparse(server.url).netloc, url
        assert requests.get(absolute, timeout=30).status_code == 200, url
    assert not re.search(r"tile\.openstreetmap|unpkg\.com|cdn\.jsdelivr|cdnjs", r.text)


def test_database_down_answers_503_json_revealing_nothing(tmp_path_factory) -> None:
    base = tmp_path_factory.mktemp("down")
    settings = Settings(database_url="postgresql://secretuser@127.0.0.1:1/secretdb",
                        config_path=base / "pygeoapi.yml", openapi_path=base / "openapi.yml")
    srv = Server(settings, base / "server.log", forked=True)
    try:
        for path in (ITEMS, f"{ITEMS}?f=html", f"{ITEMS}/124166001000120003__"):
            r = srv.get(path)
            assert r.status_code == 503, r.text
            assert r.headers["Content-Type"].startswith("application/json")
            body = r.text.lower()
            for secret in ("secretuser", "secretdb", "127.0.0.1:1", "postgres", "psycopg",
                           "traceback", "connection"):
                assert secret not in body
        assert srv.get("/collections").status_code == 200  # metadata still served
    finally:
        srv.stop()
