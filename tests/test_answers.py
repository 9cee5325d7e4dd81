"""Right answers (issue 7, "Wrong answers (silent)"): every count equals the same query written
directly in PostGIS, over HTTP against `twin serve` on the sample data.

Boxes in a geographic or Web Mercator CRS are boxes in that CRS: a feature matches when it
meets the box drawn there (edges along parallels and meridians), as
``ST_Intersects(ST_Transform(geom, <box CRS>), ST_MakeEnvelope(..., <box CRS>))`` says.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pyogrio.raw
import pytest
import requests

from tests.conftest import Server
from twin.registry import (
    COMMERCIAL_LAND,
    HERITAGE,
    PARCELS,
    STREET_DAMAGE,
    TRAFFIC_COUNTS,
    Collection,
)

PARCEL_ITEMS = "/collections/parcels/items"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"


def count(pg: psycopg.Connection, table: str, where: str, params: Any = ()) -> int:
    """Rows of twin.``table`` matching ``where`` (fixed SQL texts of this module)."""
    query = f"SELECT count(*) FROM twin.{table} WHERE {where}"  # noqa: S608 - module constants
    return pg.execute(query, params or None).fetchone()[0]


def matched(server: Server, cid: str, **params: Any) -> int:
    r = server.get(f"/collections/{cid}/items", params={"limit": 1, **params})
    assert r.status_code == 200, r.text
    return r.json()["numberMatched"]


# -- 1. boxes in CRS84, EPSG:4326 and EPSG:3857 --------------------------------------------
IN_4326 = "ST_Intersects(ST_Transform(geom, 4326), ST_MakeEnvelope(%s, %s, %s, %s, 4326))"
IN_3857 = "ST_Intersects(ST_Transform(geom, 3857), ST_MakeEnvelope(%s, %s, %s, %s, 3857))"
BOXES = {
    # A thin band across the city: corners carried into UTM gave two parcels too many.
    "band-crs84": ((14.25, 51.735, 14.45, 51.745), CRS84, IN_4326, (14.25, 51.735, 14.45, 51.745)),
    "band-4326-lat-first": ((51.735, 14.25, 51.745, 14.45), EPSG.format(4326), IN_4326,
                            (14.25, 51.735, 14.45, 51.745)),
    "world-crs84": ((-180, -90, 180, 90), CRS84, "TRUE", ()),
    # ogr2ogr -spat 9 51.7 21 51.8: far wider than UTM zone 33.
    "wide-crs84": ((9, 51.7, 21, 51.8), CRS84, IN_4326, (9, 51.7, 21, 51.8)),
    "wide-south-crs84": ((9, 51.0, 21, 51.755), CRS84, IN_4326, (9, 51.0, 21, 51.755)),
    "band-3857": ((1586000, 6755000, 1610000, 6756000), EPSG.format(3857), IN_3857,
                  (1586000, 6755000, 1610000, 6756000)),
    "world-3857": ((-2.1e7, -2.1e7, 2.1e7, 2.1e7), EPSG.format(3857), "TRUE", ()),
}


@pytest.mark.parametrize("name", list(BOXES))
def test_bbox_parameter_equals_postgis_in_the_box_crs(server: Server, pg: psycopg.Connection,
                                                      name: str) -> None:
    box, crs, where, params = BOXES[name]
    expected = count(pg, "parcels", where, params)
    assert expected > 0
    got = matched(server, "parcels", bbox=",".join(map(str, box)), **{"bbox-crs": crs})
    assert got == expected


@pytest.mark.parametrize("name", ["band-crs84", "world-crs84", "wide-crs84", "band-3857",
                                  "world-3857"])
def test_cql2_bbox_equals_postgis_in_the_filter_crs(server: Server, pg: psycopg.Connection,
                                                    name: str) -> None:
    box, crs, where, params = BOXES[name]
    expected = count(pg, "parcels", where, params)
    text = ", ".join(map(str, box))
    for cql in (f"BBOX(geom, {text})", f"S_INTERSECTS(geometry, BBOX({text}))"):
        assert matched(server, "parcels", filter=cql, **{"filter-crs": crs}) == expected, cql
    # The same box as a disjointness test: the rest of the parcels.
    total = count(pg, "parcels", "TRUE")
    assert matched(server, "parcels", filter=f"S_DISJOINT(geometry, BBOX({text}))",
                   **{"filter-crs": crs}) == total - expected


def test_the_band_differs_from_its_corners_in_utm(pg: psycopg.Connection) -> None:
    """The band's test data is a real case: its corners carried into UTM match more."""
    corners = ("ST_Intersects(geom, ST_Transform(ST_MakeEnvelope(%s, %s, %s, %s, 4326), "
               "25833))")
    box = BOXES["band-crs84"][0]
    assert count(pg, "parcels", corners, box) != count(pg, "parcels", IN_4326, box)


# Across the antimeridian (OGC API Features Part 1, 7.15.3): a west edge east of the east edge
# is the box from the west edge eastward round the globe to the east edge, i.e. the two boxes
# on either side of the antimeridian. West, south, east, north in degrees.
ACROSS = {
    "pacific": (170.0, -10.0, -170.0, 10.0),  # matches nothing here, and says so (200)
    "east-of-14": (14.0, 51.0, -170.0, 52.0),  # almost the whole world east of 14°: Cottbus
    "all-but-a-band": (14.34, 51.0, 14.33, 52.0),  # both pieces over the city
    "west-of-14.3": (180.0, 51.7, 14.3, 51.8),  # an empty east piece, the west one over it
}
ACROSS_4326 = f"({IN_4326} OR {IN_4326})"


@pytest.mark.parametrize("name", list(ACROSS))
@pytest.mark.parametrize("crs", [CRS84, EPSG.format(4326)])
def test_a_box_across_the_antimeridian_equals_postgis(server: Server, pg: psycopg.Connection,
                                                      name: str, crs: str) -> None:
    """As `bbox` (with `bbox-crs`) and as CQL2 text and JSON BBOX (with `filter-crs`), in
    CRS84 and in EPSG:4326, which is written latitude first."""
    west, south, east, north = ACROSS[name]
    expected = count(pg, "parcels", ACROSS_4326, (west, south, 180.0, north,
                                                  -180.0, south, east, north))
    assert (expected == 0) == (name == "pacific")
    box = (west, south, east, north) if crs == CRS84 else (south, west, north, east)
    text = ", ".join(map(str, box))
    assert matched(server, "parcels", bbox=",".join(map(str, box)),
                   **{"bbox-crs": crs}) == expected
    assert matched(server, "parcels", filter=f"S_INTERSECTS(geometry, BBOX({text}))",
                   **{"filter-crs": crs}) == expected
    body = {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": list(box)}]}
    assert matched(server, "parcels", filter=json.dumps(body), **{
        "filter-lang": "cql2-json", "filter-crs": crs}) == expected


def test_a_box_across_the_antimeridian_keeps_itself_in_the_links(server: Server) -> None:
    """pygeoapi is shown a stand-in for an EPSG:4326 box across the antimeridian (it refuses
    one); the answer's links carry the box as the client wrote it, in JSON and HTML."""
    bbox = "51.0,14.0,52.0,-170.0"
    params = {"bbox": bbox, "bbox-crs": EPSG.format(4326), "limit": 2}
    doc = server.get(PARCEL_ITEMS, params=params).json()
    nxt = next(link["href"] for link in doc["links"] if link["rel"] == "next")
    assert parse_qs(urlsplit(nxt).query)["bbox"] == [bbox]
    html = server.get(PARCEL_ITEMS, params={**params, "f": "html"}).text
    # Every link to this page in another format or to the next one (not the bare canonical).
    hrefs = [href for _, href in page_links(html) if "/items?" in href and "limit=" in href]
    assert len(hrefs) >= 4
    assert all(parse_qs(urlsplit(h).query)["bbox"] == [bbox] for h in hrefs), hrefs


# -- 2. CQL2 JSON bbox literals -------------------------------------------------------------
def test_cql2_json_bbox_is_minx_miny_maxx_maxy(server: Server, pg: psycopg.Connection) -> None:
    box = (14.30, 51.74, 14.34, 51.77)
    expected = count(pg, "parcels", IN_4326, box)
    assert 0 < expected < count(pg, "parcels", "TRUE")
    body = {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": list(box)}]}
    by_get = matched(server, "parcels", filter=json.dumps(body), **{"filter-lang": "cql2-json"})
    posted = requests.post(f"{server.url}{PARCEL_ITEMS}?limit=1", data=json.dumps(body),
                           headers={"Content-Type": "application/query-cql-json"}, timeout=60)
    text = matched(server, "parcels", filter=f"S_INTERSECTS(geometry, BBOX({', '.join(
        map(str, box))}))")
    assert by_get == posted.json()["numberMatched"] == text == expected


# -- 3. datetime ----------------------------------------------------------------------------
def test_datetime_does_not_filter_a_collection_without_time(server: Server,
                                                            pg: psycopg.Connection) -> None:
    assert PARCELS.time_field is None
    total = count(pg, "parcels", "TRUE")
    for value in ("2024-01-01", "2024-01-01T00:00:00Z/..", "../2020-01-01", "9999-12-31"):
        assert matched(server, "parcels", datetime=value) == total, value
    # Still read: a malformed value is refused, not silently ignored.
    r = server.get(PARCEL_ITEMS, params={"datetime": "yesterday"})
    assert r.status_code == 400
    assert "RFC 3339" in r.json()["description"]


@pytest.mark.parametrize(("value", "where", "params"), [
    # What GDAL sends for -where "reported_at >= '2024-01-01'" (a date, then a bare T).
    ("2024-01-01T/..", "reported_at >= %s::date::timestamp AT TIME ZONE 'Europe/Berlin'",
     ["2024-01-01"]),
    ("../2024-01-01T", "reported_at < (%s::date + 1)::timestamp AT TIME ZONE 'Europe/Berlin'",
     ["2024-01-01"]),
    # GDAL's hour-precision form of a date-time: "T10Z".
    ("2024-01-01T10Z/..", "reported_at >= %s::timestamptz", ["2024-01-01T10:00:00Z"]),
])
def test_datetime_as_gdal_writes_it(server: Server, pg: psycopg.Connection, value: str,
                                    where: str, params: list) -> None:
    expected = count(pg, "street_damage", where, params)
    assert 0 < expected < count(pg, "street_damage", "TRUE")
    assert matched(server, STREET_DAMAGE.id, datetime=value) == expected


def test_ogr2ogr_where_on_a_time_property(server: Server, pg: psycopg.Connection,
                                          tmp_path: Any) -> None:
    """GDAL 3.6 turns the -where into `datetime=2024-01-01T%2F..`; it must not abort."""
    out = tmp_path / "damage.geojson"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    result = subprocess.run(
        ["ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{server.url}", STREET_DAMAGE.id,
         "-where", "reported_at >= '2024-01-01'"], env={**env, "GDAL_HTTP_TIMEOUT": "60"},
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    # A date is a day of the city's calendar: from local midnight.
    expected = count(pg, "street_damage",
                     "reported_at >= %s::date::timestamp AT TIME ZONE 'Europe/Berlin'",
                     ["2024-01-01"])
    assert 0 < expected
    assert len(json.loads(out.read_text(encoding="utf-8"))["features"]) == expected
    assert "datetime=2024-01-01T%2F.." in server.log.read_text(encoding="utf-8")


def test_pyogrio_where_on_a_time_property(server: Server, pg: psycopg.Connection,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """GDAL 3.12 (pyogrio) sends the same `datetime=2024-01-01T%2F..`."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    _, _, geometries, _ = pyogrio.raw.read(f"OAPIF:{server.url}", layer=STREET_DAMAGE.id,
                                           where="reported_at >= '2024-01-01'")
    expected = count(pg, "street_damage",
                     "reported_at >= %s::date::timestamp AT TIME ZONE 'Europe/Berlin'",
                     ["2024-01-01"])
    assert len(geometries) == expected > 0


def test_datetime_in_basic_format_is_refused(server: Server) -> None:
    """RFC 3339 requires the extended format: 20240101 is refused, not read as an instant."""
    for value in ("20240101", "20240101T000000Z", "2024-01-01/20240201"):
        r = server.get(f"/collections/{STREET_DAMAGE.id}/items", params={"datetime": value})
        assert r.status_code == 400, value
        assert "RFC 3339" in r.json()["description"]


# pygeoapi refused (400 "datetime parameter out of range") any `datetime` that misses the
# collection's temporal extent; it is a valid interval that matches nothing (200, 0).
TIMED = (STREET_DAMAGE, TRAFFIC_COUNTS)


def _z(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def time_extent(pg: psycopg.Connection, c: Collection) -> tuple[datetime, datetime]:
    query = f"SELECT min({c.time_field}), max({c.time_field}) FROM twin.{c.table}"  # noqa: S608
    return pg.execute(query).fetchone()


def datetime_cases(lo: datetime, hi: datetime) -> dict[str, tuple[str, str, list]]:
    """`datetime` values around an extent [lo, hi], with the condition each stands for."""
    mid = lo + (hi - lo) / 2
    day_after = (hi + timedelta(days=2)).astimezone(UTC).date().isoformat()
    return {
        "instant before": (_z(lo - timedelta(days=400)), "{c} = %s", [lo - timedelta(days=400)]),
        "instant after": (_z(hi + timedelta(days=1)), "{c} = %s", [hi + timedelta(days=1)]),
        "day after": (day_after, "{c} >= %s::date::timestamp AT TIME ZONE 'Europe/Berlin' AND "
                                 "{c} < (%s::date + 1)::timestamp AT TIME ZONE 'Europe/Berlin'",
                      [day_after, day_after]),
        "interval before": (f"{_z(lo - timedelta(days=10))}/{_z(lo - timedelta(days=1))}",
                            "{c} BETWEEN %s AND %s",
                            [lo - timedelta(days=10), lo - timedelta(days=1)]),
        "interval after": (f"{_z(hi + timedelta(days=1))}/{_z(hi + timedelta(days=10))}",
                           "{c} BETWEEN %s AND %s",
                           [hi + timedelta(days=1), hi + timedelta(days=10)]),
        "open after": (f"{_z(hi + timedelta(seconds=1))}/..", "{c} >= %s",
                       [hi + timedelta(seconds=1)]),
        "open before": (f"../{_z(lo - timedelta(seconds=1))}", "{c} <= %s",
                        [lo - timedelta(seconds=1)]),
        "overlapping the start": (f"{_z(lo - timedelta(days=30))}/{_z(mid)}",
                                  "{c} BETWEEN %s AND %s", [lo - timedelta(days=30), mid]),
        "overlapping the end": (f"{_z(mid)}/{_z(hi + timedelta(days=30))}",
                                "{c} BETWEEN %s AND %s", [mid, hi + timedelta(days=30)]),
        "open to the middle": (f"../{_z(mid)}", "{c} <= %s", [mid]),
        "open from the middle": (f"{_z(mid)}/", "{c} >= %s", [mid]),
        "the first instant": (_z(lo), "{c} = %s", [lo.replace(microsecond=0)]),
        "the last instant": (_z(hi), "{c} = %s", [hi.replace(microsecond=0)]),
        # The last date there is: its day has no next one to end at (answered 500).
        "up to the last date": ("../9999-12-31", "{c} < '10000-01-01'::timestamptz", []),
        "the last date": ("9999-12-31", "{c} >= '9999-12-31'::date::timestamp AT TIME ZONE "
                                        "'Europe/Berlin'", []),
        "around everything": ("2000-01-01/2100-01-01T00:00:00Z",
                              "{c} >= '2000-01-01'::timestamp AT TIME ZONE 'Europe/Berlin' "
                              "AND {c} <= %s", [datetime(2100, 1, 1, tzinfo=UTC)]),
    }


@pytest.mark.parametrize("case", list(datetime_cases(datetime(2024, 1, 1, tzinfo=UTC),
                                                     datetime(2024, 6, 1, tzinfo=UTC))))
@pytest.mark.parametrize("collection", TIMED, ids=lambda c: c.id)
def test_datetime_outside_or_across_the_extent_equals_postgis(
        server: Server, pg: psycopg.Connection, collection: Collection, case: str) -> None:
    value, where, params = datetime_cases(*time_extent(pg, collection))[case]
    expected = count(pg, collection.table, where.replace("{c}", collection.time_field), params)
    if case in ("the first instant", "the last instant", "around everything",
                "up to the last date") or \
            case.startswith(("overlapping", "open to", "open from")):
        assert expected > 0
    r = server.get(f"/collections/{collection.id}/items",
                   params={"datetime": value, "limit": 1})
    assert r.status_code == 200, (value, r.text)
    assert r.json()["numberMatched"] == expected, value


@pytest.mark.parametrize(("value", "words"), [
    ("yesterday", ["'yesterday'", "RFC 3339"]),
    ("2024-13-01", ["'2024-13-01'", "RFC 3339"]),
    ("2024-01-01T25:00:00Z", ["RFC 3339"]),
    ("2024-02-01/2024-01-01", ["starts after it ends"]),
    ("2024-02-01T00:00:00Z/2024-01-31T23:59:59Z", ["starts after it ends"]),
    ("2024-01-01/2024-01-01/2024-01-02", ["RFC 3339"]),
])
@pytest.mark.parametrize("cid", [STREET_DAMAGE.id, PARCELS.id])
def test_an_invalid_datetime_is_refused_in_our_words(server: Server, cid: str, value: str,
                                                     words: list[str]) -> None:
    """With a time field or without one; pygeoapi's parser said "Unknown string format"."""
    r = server.get(f"/collections/{cid}/items", params={"datetime": value})
    assert r.status_code == 400, (value, r.text)
    description = r.json()["description"]
    assert "datetime" in description
    for word in words:
        assert word in description, (word, description)


def test_the_temporal_extent_is_the_data_s(server: Server, pg: psycopg.Connection) -> None:
    """The collections still offer their time span, in JSON and JSON-LD."""
    for c in TIMED:
        lo, hi = time_extent(pg, c)
        doc = server.get(f"/collections/{c.id}?f=json").json()
        (begin, end), = doc["extent"]["temporal"]["interval"]
        assert (datetime.fromisoformat(begin), datetime.fromisoformat(end)) == (lo, hi)
        listed = server.get("/collections?f=json").json()["collections"]
        assert next(x for x in listed if x["id"] == c.id)["extent"]["temporal"] == \
            doc["extent"]["temporal"]
        ld = server.get(f"/collections/{c.id}?f=jsonld").json()
        begin, end = ld["dataset"]["temporalCoverage"].split("/")
        assert (datetime.fromisoformat(begin), datetime.fromisoformat(end)) == (lo, hi)


# -- 4. CQL2 arithmetic ---------------------------------------------------------------------
ARITHMETIC = [
    ("hour / 2 = 1.5", "hour::float8 / 2 = 1.5",
     {"op": "=", "args": [{"op": "/", "args": [{"property": "hour"}, 2]}, 1.5]}),
    ("hour % 5 = 0", "hour % 5 = 0",
     {"op": "=", "args": [{"op": "%", "args": [{"property": "hour"}, 5]}, 0]}),
    ("hour div 5 = 2", "hour / 5 = 2",
     {"op": "=", "args": [{"op": "div", "args": [{"property": "hour"}, 5]}, 2]}),
    ("hour ^ 2 = 144", "hour * hour = 144",
     {"op": "=", "args": [{"op": "^", "args": [{"property": "hour"}, 2]}, 144]}),
    ("2 ^ 3 ^ 2 = hour * 16 + 256", "512 = hour * 16 + 256",
     None),  # ^ is right-associative: 2^(3^2) = 512, so hour = 16
]


@pytest.mark.parametrize(("text", "where", "json_filter"), ARITHMETIC)
def test_cql2_arithmetic_equals_postgis(server: Server, pg: psycopg.Connection, text: str,
                                        where: str, json_filter: dict | None) -> None:
    expected = count(pg, "traffic_counts", where)
    assert 0 < expected < count(pg, "traffic_counts", "TRUE")
    assert matched(server, TRAFFIC_COUNTS.id, filter=text) == expected
    if json_filter is not None:
        assert matched(server, TRAFFIC_COUNTS.id, filter=json.dumps(json_filter),
                       **{"filter-lang": "cql2-json"}) == expected


def test_arithmetic_is_declared(server: Server) -> None:
    classes = server.get("/conformance?f=json").json()["conformsTo"]
    assert "http://www.opengis.net/spec/cql2/1.0/conf/arithmetic" in classes


def test_division_by_zero_is_a_client_error(server: Server) -> None:
    r = server.get(f"/collections/{TRAFFIC_COUNTS.id}/items", params={"filter": "hour / 0 = 1"})
    assert r.status_code == 400


def test_like_dot_is_a_dot(server: Server, pg: psycopg.Connection) -> None:
    """CQL2's single-character wildcard is `_`; pygeofilter reports '.', which is no
    wildcard in CQL2."""
    expected = count(pg, "parcels", "lagebeztxt LIKE %s", ["%.%"])
    assert matched(server, "parcels", filter="lagebeztxt LIKE '%.%'") == expected
    assert expected < count(pg, "parcels", "lagebeztxt IS NOT NULL")


# -- 5. properties, skipGeometry, resulttype, the last page -------------------------------
def test_properties_lists_only_what_was_asked(server: Server) -> None:
    doc = server.get(PARCEL_ITEMS, params={"properties": "flaeche", "limit": 2}).json()
    for feature in doc["features"]:
        assert set(feature["properties"]) == {"flaeche"}
        assert feature["id"]
    doc = server.get(PARCEL_ITEMS, params={"properties": "flstkennz,flur", "limit": 1}).json()
    assert set(doc["features"][0]["properties"]) == {"flstkennz", "flur"}


@pytest.mark.parametrize(("param", "value"), [
    ("skipGeometry", "yes"), ("skipGeometry", "1"), ("skipGeometry", "on"),
    ("resulttype", "count"), ("resulttype", "Hits"),
])
def test_boolean_and_choice_parameters_take_only_their_values(server: Server, param: str,
                                                              value: str) -> None:
    r = server.get(PARCEL_ITEMS, params={param: value})
    assert r.status_code == 400
    assert param in r.json()["description"]


def test_skip_geometry_and_hits_still_work(server: Server, pg: psycopg.Connection) -> None:
    doc = server.get(PARCEL_ITEMS, params={"skipGeometry": "true", "limit": 1}).json()
    assert doc["features"][0]["geometry"] is None
    doc = server.get(PARCEL_ITEMS, params={"resulttype": "hits"}).json()
    assert doc["numberMatched"] == count(pg, "parcels", "TRUE")


def test_a_full_last_page_links_no_empty_next_page(server: Server,
                                                   pg: psycopg.Connection) -> None:
    n = count(pg, "parcels", "gemarkung = %s", ["Döbbrick"])
    assert n % 2 == 1 or n > 2

    def page(limit: int, offset: int = 0) -> dict:
        return server.get(PARCEL_ITEMS, params={"gemarkung": "Döbbrick", "limit": limit,
                                                "offset": offset}).json()

    def rels(doc: dict) -> set[str]:
        return {link["rel"] for link in doc["links"]}

    assert "next" not in rels(page(n))  # one full page holds everything
    assert "next" in rels(page(n - 1))  # ... one fewer does not
    last = page(n - 1)
    assert "next" not in rels(page(1, offset=n - 1))
    assert last["numberReturned"] == n - 1


class _PageLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("link", "a") and a.get("href"):
            self.links.append((f"link rel={a.get('rel')}" if tag == "link" else "a",
                               a["href"] or ""))


def page_links(html: str) -> list[tuple[str, str]]:
    """(kind, href) of every <link> and <a> of an HTML page; kind is 'a' or 'link rel=...'."""
    parser = _PageLinks()
    parser.feed(html)
    return parser.links


#: Collections paged in HTML, with a condition keeping a page of all matches small.
PAGED = [(PARCELS, {"gemarkung": "Döbbrick"}, "gemarkung = 'Döbbrick'"),
         (HERITAGE, {}, "TRUE"), (STREET_DAMAGE, {}, "TRUE"),
         (TRAFFIC_COUNTS, {"hour": "12"}, "hour = 12"), (COMMERCIAL_LAND, {}, "TRUE")]


def paging_cases(n: int) -> list[tuple[int, int]]:
    """(limit, offset) pages of ``n`` matches: last pages that are full (the total a multiple
    of the limit), one page holding all, a partial last page, and pages before the last."""
    d = max(k for k in range(1, min(n - 1, 40) + 1) if n % k == 0)
    odd = next(k for k in range(3, n) if n % k)
    cases = [(d, n - d), (n, 0), (odd, n // odd * odd), (d, 0), (odd, 0)]
    if n >= 2 * d:
        cases.append((d, n - 2 * d))
    return cases


@pytest.mark.parametrize(("collection", "params", "where"), PAGED, ids=[c.id for c, *_ in PAGED])
def test_html_pages_link_next_exactly_when_json_does(server: Server, pg: psycopg.Connection,
                                                     collection: Collection, params: dict,
                                                     where: str) -> None:
    """No `next` in the HTML page (a <link> in its head, a button in its body) when the page
    ends the matches, as in JSON; one, to the following page, when it does not."""
    n = count(pg, collection.table, where)
    assert n > 2
    items = f"/collections/{collection.id}/items"
    exact = 0
    for limit, offset in paging_cases(n):
        more = offset + limit < n
        exact += not more and (n - offset) == limit
        query = {**params, "limit": limit, "offset": offset}
        doc = server.get(items, params=query).json()
        assert ("next" in {link["rel"] for link in doc["links"]}) == more, (limit, offset)
        r = server.get(items, params={**query, "f": "html"})
        assert r.status_code == 200
        assert "next" not in r.links or more, (limit, offset, r.headers.get("Link"))
        forward = [(kind, int(parse_qs(urlsplit(href).query)["offset"][0]))
                   for kind, href in page_links(r.text)
                   if urlsplit(href).path.endswith(items)
                   and int(parse_qs(urlsplit(href).query).get("offset", ["0"])[0]) > offset]
        if more:
            assert ("link rel=next", offset + limit) in forward, (limit, offset, forward)
            assert ("a", offset + limit) in forward, (limit, offset, forward)
        assert forward if more else not forward, (limit, offset, forward)
    assert exact >= 2  # a full last page and a page holding all, at least


# -- 6. extent in the storage CRS, queryables ------------------------------------------------
def test_collection_offers_its_extent_in_the_storage_crs(server: Server,
                                                          pg: psycopg.Connection) -> None:
    xmin, ymin, xmax, ymax = pg.execute(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
        "(SELECT ST_Extent(geom) e FROM twin.parcels) s").fetchone()
    doc = server.get("/collections/parcels?f=json").json()
    assert doc["storageCrs"] == EPSG.format(25833)
    spatial = doc["extent"]["spatial"]
    assert spatial["crs"] == CRS84  # the CRS84 box stays first, as Part 1 wants
    (sx1, sy1, sx2, sy2), = spatial["storageCrsBbox"]
    assert sx1 <= xmin < sx1 + 1 and sy1 <= ymin < sy1 + 1
    assert sx2 - 1 < xmax <= sx2 and sy2 - 1 < ymax <= sy2
    listed = server.get("/collections?f=json").json()["collections"]
    assert next(c for c in listed if c["id"] == "parcels")["extent"]["spatial"][
        "storageCrsBbox"] == spatial["storageCrsBbox"]


def test_queryables_list_only_what_a_filter_may_name(server: Server) -> None:
    unfilterable = {f.name for f in COMMERCIAL_LAND.all_fields if not f.queryable}
    assert "score_breakdown" in unfilterable
    doc = server.get(f"/collections/{COMMERCIAL_LAND.id}/queryables?f=json").json()
    listed = set(doc["properties"]) - {"geometry"}
    assert listed == {f.name for f in COMMERCIAL_LAND.all_fields if f.queryable}
    r = server.get(f"/collections/{COMMERCIAL_LAND.id}/items",
                   params={"filter": "score_breakdown = 'x'"})
    assert r.status_code == 400
    # The schema still describes every property a feature has.
    schema = server.get(f"/collections/{COMMERCIAL_LAND.id}/schema?f=json").json()
    assert "score_breakdown" in schema["properties"]


# -- 7. count and page from one snapshot ----------------------------------------------------
def test_number_matched_and_page_come_from_one_snapshot(server: Server,
                                                        pg: psycopg.Connection) -> None:
    """Rows changed by a transaction that commits while the request runs are seen by neither
    its count nor its page.

    The request starts while another transaction holds the table locked with its change
    made; it waits at its count, and runs count and page after that commit. From the snapshot
    it took before waiting, both still see the old rows; two autocommit statements (or a
    second snapshot for the page) would see the new ones.
    """
    where, value, other = "gemarkung = %s", "Branitz", "Branitz (moved)"
    before = count(pg, "parcels", where, [value])
    moved = [k for (k,) in pg.execute("SELECT flstkennz FROM twin.parcels WHERE gemarkung = "
                                      "%s ORDER BY flstkennz LIMIT 10", [value])]
    assert before > len(moved) == 10
    answer: dict[str, Any] = {}

    def ask() -> None:
        answer["r"] = server.get(PARCEL_ITEMS, params={"gemarkung": value, "limit": 1000,
                                                       "skipGeometry": "true"})

    thread = threading.Thread(target=ask)
    try:
        with psycopg.connect(pg.info.dsn) as locker:
            locker.execute("LOCK TABLE twin.parcels IN ACCESS EXCLUSIVE MODE")
            locker.execute("UPDATE twin.parcels SET gemarkung = %s WHERE flstkennz = ANY(%s)",
                           [other, moved])
            thread.start()
            deadline, waiting = time.monotonic() + 30, 0
            while time.monotonic() < deadline and not waiting:
                time.sleep(0.05)
                waiting = pg.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE c.relname = 'parcels' AND NOT l.granted").fetchone()[0]
            assert waiting, "the request never reached its count"
            locker.commit()
        thread.join(timeout=60)
        assert count(pg, "parcels", where, [value]) == before - 10  # the change is there
        doc = answer["r"].json()
        assert answer["r"].status_code == 200, doc
        assert doc["numberMatched"] == doc["numberReturned"] == before
        assert {f["properties"]["gemarkung"] for f in doc["features"]} == {value}
    finally:
        if thread.is_alive():
            thread.join(timeout=60)
        pg.execute("UPDATE twin.parcels SET gemarkung = %s WHERE gemarkung = %s",
                   [value, other])
