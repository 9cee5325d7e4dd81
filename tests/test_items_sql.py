"""The SQL behind /items (issue 11): as cheap as it can be, with the answers it always gave.

- A box in CRS84 is decided for most rows by a storage-CRS rectangle inside the box's image,
  and for the rest by PostGIS in the box's own CRS: the matches must stay exactly those of
  ``ST_Intersects(ST_Transform(geom, 4326), box)``, above all where a box's edge runs
  through parcels.
- At a realistic table size the statements use the indexes: the GiST index for a box, the
  key's index alone for the rows an offset skips.
- numberMatched is given when at most ``TWIN_COUNT_LIMIT`` items match, and is then exact.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from tests.conftest import Server
from twin.cql import box_predicate, make_box
from twin.provider import TwinPostgreSQLProvider
from twin.pygeoapi.context import CRS84, RAW_BBOX, RawBBox
from twin.registry import PARCELS
from twin.settings import Settings

ITEMS = "/collections/parcels/items"
EPSG_25833 = "http://www.opengis.net/def/crs/EPSG/0/25833"
EXACT_4326 = ("ST_Intersects(ST_Transform(geom, 4326), "
              "ST_MakeEnvelope(%s, %s, %s, %s, 4326))")
#: numberMatched is left out past this many matches in :func:`few_count_server`.
COUNT_LIMIT = 5


def _ids(pg: psycopg.Connection, where: Any, params: list) -> set[str]:
    query = psycopg.sql.SQL("SELECT flstkennz FROM twin.parcels WHERE {}").format(
        psycopg.sql.SQL(where) if isinstance(where, str) else where)
    return {r[0] for r in pg.execute(query, params)}


def _edge_boxes(pg: psycopg.Connection, n: int = 40) -> list[tuple[float, float, float, float]]:
    """CRS84 boxes each of whose edges runs exactly through a vertex of a parcel, in
    several sizes: the places where a box carried into UTM, or a rectangle inside it, would
    take a parcel too many or too few."""
    vertices = pg.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_PointN(ST_ExteriorRing("
        "ST_GeometryN(geom, 1)), 1), 4326) AS p FROM twin.parcels ORDER BY flstkennz) v"
    ).fetchall()
    rng = random.Random(11)
    boxes = []
    for _ in range(n):
        (lon, lat), size = rng.choice(vertices), rng.choice((0.0005, 0.003, 0.01, 0.05))
        corner = rng.randrange(4)  # which corner of the box the vertex is
        x1 = lon - size if corner in (1, 2) else lon
        y1 = lat - size * 0.6 if corner in (2, 3) else lat
        boxes.append((x1, y1, x1 + size, y1 + size * 0.6))
    return boxes


def test_crs84_box_through_parcel_vertices_is_postgis_in_crs84(pg: psycopg.Connection) -> None:
    """Row for row, the provider's box predicate is PostGIS's in CRS84; and its storage-CRS
    rectangle does decide rows (else it would save nothing)."""
    decided = 0
    for coords in _edge_boxes(pg):
        box = make_box(coords, CRS84, PARCELS.srid)
        assert box.inner is not None
        condition, params = box_predicate("ST_Intersects", psycopg.sql.Identifier("geom"),
                                          box, PARCELS.srid)
        expected = _ids(pg, EXACT_4326, list(coords))
        assert _ids(pg, condition, params) == expected, coords
        # The rectangle alone never takes a parcel PostGIS would not.
        inside = _ids(pg, "geom @ ST_MakeEnvelope(%s, %s, %s, %s, 25833)", list(box.inner))
        assert inside <= expected, (coords, inside - expected)
        decided += len(inside)
    assert decided > 100


def test_crs84_box_over_http_is_postgis(server: Server, pg: psycopg.Connection) -> None:
    """The API's answer to a CRS84 box through parcel vertices, and to a storage-CRS box,
    holds exactly the parcels PostGIS finds in that box's CRS."""
    for coords in _edge_boxes(pg, 6)[:6]:
        r = server.get(ITEMS, params={"bbox": ",".join(map(repr, coords)), "limit": 10000,
                                      "skipGeometry": "true"})
        assert r.status_code == 200, r.text
        assert {f["id"] for f in r.json()["features"]} == _ids(pg, EXACT_4326, list(coords))
    utm = pg.execute("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ("
                     "SELECT ST_Extent(geom) AS e FROM twin.parcels) x").fetchone()
    middle = ((utm[0] + utm[2]) / 2, (utm[1] + utm[3]) / 2)
    box = (middle[0] - 400.0, middle[1] - 300.0, middle[0] + 400.0, middle[1] + 300.0)
    r = server.get(ITEMS, params={"bbox": ",".join(map(repr, box)), "bbox-crs": EPSG_25833,
                                  "limit": 10000, "skipGeometry": "true"})
    assert r.status_code == 200, r.text
    expected = _ids(pg, "ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 25833))",
                    list(box))
    assert expected and {f["id"] for f in r.json()["features"]} == expected


# -- plans at a realistic size ------------------------------------------------------------
#: Parcels generated in SQL for the plan tests: 40 m squares on a 450 x 450 grid (18 km).
GRID = 450


@pytest.fixture(scope="module")
def big_parcels(empty_settings: Settings) -> Iterator[TwinPostgreSQLProvider]:
    """A provider over 202,500 generated parcels, analysed (as after a load)."""
    with psycopg.connect(empty_settings.dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO twin.parcels (flstkennz, gemarkung, flaeche, geom) "
            "SELECT format('12%%s', lpad(i::text, 18, '0')), 'G' || (i %% 7), 1600, "
            "ST_Multi(ST_MakeEnvelope(440000 + (i %% g) * 40, 5725000 + (i / g) * 40, "
            "440000 + (i %% g) * 40 + 40, 5725000 + (i / g) * 40 + 40, 25833)) "
            "FROM CAST(%s AS integer) g, generate_series(0, CAST(%s AS integer)) i",
            [GRID, GRID * GRID - 1])
        conn.execute("VACUUM ANALYZE twin.parcels")
    yield TwinPostgreSQLProvider({"name": "parcels", "type": "feature",
                                  "data": empty_settings.dsn, "table": "parcels",
                                  "id_field": "flstkennz"})


class _Spec:  # what pygeoapi hands a provider for an answer in CRS84
    target_crs_uri = CRS84


def _plan(provider: TwinPostgreSQLProvider, statement: Any, params: list) -> dict:
    with psycopg.connect(provider.dsn) as conn:
        conn.execute("SET jit = off")
        query = psycopg.sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) {}").format(statement)
        return conn.execute(query, params).fetchone()[0][0]["Plan"]


def _nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@contextmanager
def _raw_bbox(box: RawBBox) -> Iterator[None]:
    token = RAW_BBOX.set(box)
    try:
        yield
    finally:
        RAW_BBOX.reset(token)


@pytest.mark.parametrize("crs", [CRS84, EPSG_25833])
def test_bbox_page_and_count_use_the_gist_index(big_parcels: TwinPostgreSQLProvider,
                                                crs: str) -> None:
    utm = (447000.0, 5732000.0, 448200.0, 5733200.0)  # about 900 of the squares
    if crs == CRS84:
        from pyproj import Transformer
        raw = Transformer.from_crs(25833, 4326, always_xy=True).transform_bounds(*utm)
    else:
        raw = utm
    provider = big_parcels
    with _raw_bbox(RawBBox(tuple(raw), crs)):
        where, params = provider._where(list(utm), None, [], None)
    columns = provider._select([], False, _Spec())
    page = provider.page_statement(columns, where, provider._order([]), 0)
    for statement, args in ((page, [*params, 101, 0]),
                            (provider.count_statement(where, 10000), params)):
        nodes = list(_nodes(_plan(provider, statement, args)))
        assert any(n.get("Index Name") == "parcels_geom_idx" for n in nodes), nodes
        scanned = sum(n.get("Actual Rows", 0) for n in nodes
                      if n.get("Relation Name") == "parcels")
        assert scanned < 2000, nodes  # the box's squares, not the table


def test_deep_page_skips_over_the_key_index_only(big_parcels: TwinPostgreSQLProvider) -> None:
    """The rows an offset skips are read from the key's index, and the page's columns
    (GeoJSON, transform) are built for the page alone."""
    provider = big_parcels
    where, params = provider._where([], None, [], None)
    page = provider.page_statement(provider._select([], False, _Spec()), where,
                                   provider._order([]), 100_000)
    nodes = list(_nodes(_plan(provider, page, [*params, 101, 100_000])))
    skipping = [n for n in nodes if n.get("Index Name") == "parcels_pkey"
                and n.get("Actual Rows", 0) > 100_000]
    assert skipping and all(n["Node Type"] == "Index Only Scan" for n in skipping), nodes
    with psycopg.connect(provider.dsn) as conn:
        expected = [r[0] for r in conn.execute(
            "SELECT flstkennz FROM twin.parcels ORDER BY flstkennz OFFSET 100000 LIMIT 101")]
        got = [r[0] for r in conn.execute(page, [*params, 101, 100_000])]
    assert got == expected


# -- numberMatched --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def few_count_server(loaded_settings: Settings, tmp_path_factory) -> Iterator[Server]:
    """The API with numberMatched only up to :data:`COUNT_LIMIT` matches."""
    saved = os.environ.get("TWIN_COUNT_LIMIT")
    os.environ["TWIN_COUNT_LIMIT"] = str(COUNT_LIMIT)
    try:
        srv = Server(loaded_settings, tmp_path_factory.mktemp("count") / "server.log",
                     forked=True)
    finally:
        if saved is None:
            os.environ.pop("TWIN_COUNT_LIMIT")
        else:
            os.environ["TWIN_COUNT_LIMIT"] = saved
    yield srv
    srv.stop()


def _next_offset(doc: dict) -> int | None:
    link = next((x for x in doc["links"] if x["rel"] == "next"), None)
    return None if link is None else int(parse_qs(urlsplit(link["href"]).query)["offset"][0])


def test_number_matched_is_exact_or_absent(few_count_server: Server,
                                           pg: psycopg.Connection) -> None:
    total = pg.execute("SELECT count(*) FROM twin.parcels").fetchone()[0]
    assert total > 3 * COUNT_LIMIT
    keys = [r[0] for r in pg.execute("SELECT flstkennz FROM twin.parcels ORDER BY flstkennz")]

    def page(**params: Any) -> dict:
        r = few_count_server.get(ITEMS, params={"skipGeometry": "true", **params})
        assert r.status_code == 200, r.text
        return r.json()

    first = page(limit=10)  # more match than the limit: not counted
    assert "numberMatched" not in first and _next_offset(first) == 10
    assert [f["id"] for f in first["features"]] == keys[:10]
    # A page that ends the matches says how many there are, counted or not.
    for offset, limit in ((total - 3, 10), (total - 10, 10)):
        doc = page(limit=limit, offset=offset)
        assert doc.get("numberMatched") == total, (offset, limit)
        assert [f["id"] for f in doc["features"]] == keys[offset:offset + limit]
        assert _next_offset(doc) is None  # no link to an empty page
    past = page(limit=10, offset=total)  # past the end: nothing, and no count beyond the limit
    assert past["features"] == [] and "numberMatched" not in past and _next_offset(past) is None
    middle = page(limit=7, offset=total // 2)
    assert "numberMatched" not in middle and _next_offset(middle) == total // 2 + 7
    assert [f["id"] for f in middle["features"]] == keys[total // 2:total // 2 + 7]
    # Asked for: always counted.
    assert page(resulttype="hits")["numberMatched"] == total
    few = keys[5:5 + COUNT_LIMIT]  # as many as are still counted
    doc = page(limit=1, filter="flstkennz IN ({})".format(", ".join(f"'{k}'" for k in few)))
    assert doc["numberMatched"] == COUNT_LIMIT and doc["numberReturned"] == 1
    assert _next_offset(doc) == 1


@pytest.mark.parametrize("sortby", [None, "-flaeche"])
@pytest.mark.parametrize("many", [True, False], ids=["over-the-limit", "within-the-limit"])
def test_fast_lane_pages_and_counts_around_the_limit(few_count_server: Server,
                                                     pg: psycopg.Connection, many: bool,
                                                     sortby: str | None) -> None:
    """A filtered GeoJSON page (the fast lane) finds the matches once: their keys up to the
    limit, counted, with the page taken from them when they are all and from the table
    when more match. Either way the page is the one the filter and order give, and
    numberMatched follows the rule of the provider."""
    keys = [r[0] for r in pg.execute("SELECT flstkennz FROM twin.parcels ORDER BY flstkennz")]
    if many:
        cql, where = "flaeche > 500", "flaeche > 500"
    else:
        few = keys[3:3 + COUNT_LIMIT - 1]
        cql = "flstkennz IN ({})".format(", ".join(f"'{k}'" for k in few))
        where = psycopg.sql.SQL("flstkennz = ANY({})").format(psycopg.sql.Literal(few))
    order = "flaeche DESC, flstkennz" if sortby else "flstkennz"
    expected = [r[0] for r in pg.execute(psycopg.sql.SQL(
        "SELECT flstkennz FROM twin.parcels WHERE {} ORDER BY {}").format(
        psycopg.sql.SQL(where) if isinstance(where, str) else where, psycopg.sql.SQL(order)))]
    n = len(expected)
    assert (n > 3 * COUNT_LIMIT) if many else (0 < n <= COUNT_LIMIT)
    for offset, limit in ((0, 3), (2, 2), (n - 2, 5), (n, 2)):
        params = {"f": "json", "limit": limit, "offset": offset, "filter": cql}
        if sortby:
            params["sortby"] = sortby
        r = few_count_server.get(ITEMS, params=params)
        assert r.status_code == 200, r.text
        doc = r.json()
        got = [f["id"] for f in doc["features"]]
        assert got == expected[offset:offset + limit], (offset, limit)
        returned = len(got)
        ends = returned < limit and (returned or offset == 0)
        matched = n if n <= COUNT_LIMIT else (offset + returned if ends else None)
        assert doc.get("numberMatched") == matched, (offset, limit)
        assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon")
                   for f in doc["features"])
