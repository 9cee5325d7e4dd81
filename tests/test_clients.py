"""Real clients against `twin serve`, each against every collection of the registry: OWSLib,
GDAL 3.6's command line (Debian's gdal-bin), GDAL 3.12 inside pyogrio's wheel, and QGIS 3.22
headless (Debian's python3-qgis, run by tests/qgis_client.py).

Every expected value comes from PostGIS through the `pg` fixture (tests/client_oracle.py),
never from a literal: the clients must see exactly what the database holds. What a client
does on its own, whatever the server answers, is pinned down here as the client's behaviour
(each such test says so), so that a change in it shows.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import psycopg
import pyogrio
import pytest
from owslib.ogcapi.features import Features
from psycopg import sql
from pyproj import CRS

from tests.client_oracle import (
    ARROW_TYPES,
    CRS84,
    EPSG_4326,
    EPSG_25833,
    GDAL_TYPES,
    QGIS_TYPES,
    Stored,
    assert_same_geometries,
    cql_text,
    gdal_string_list,
    geojson_of,
    normed,
    pages,
    transformed_bounds,
)
from tests.conftest import Server
from twin.registry import COLLECTIONS, COVERAGES, PARCELS, Collection, FieldType, get_collection

# Reads the samples only: the session's shared database and server (tests/conftest.py).
pytestmark = pytest.mark.samples_read_only

IDS = [c.id for c in COLLECTIONS]
TIMED = [c.id for c in COLLECTIONS if c.time_field]
CLI_TIMEOUT = 180
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
              "ALL_PROXY")
#: Debian's Python, which python3-qgis is built for (not our virtualenv's).
SYSTEM_PYTHON = "/usr/bin/python3"
QGIS_SCRIPT = Path(__file__).with_name("qgis_client.py")
#: OGR's geometry type names in `ogrinfo`'s layer list, for the registry's types.
OGR_GEOMETRY = {"Point": "Point", "MultiPolygon": "Multi Polygon"}


@pytest.fixture(scope="module")
def stored(pg: psycopg.Connection) -> dict[str, Stored]:
    return {c.id: Stored(pg, c) for c in COLLECTIONS}


def client_env() -> dict[str, str]:
    """Environment for a client process: straight to the loopback server, bounded waits."""
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
                "GDAL_HTTP_TIMEOUT": "60", "GDAL_HTTP_CONNECTTIMEOUT": "10",
                "GDAL_HTTP_MAX_RETRY": "0", "CPL_DEBUG": "OFF"})
    return env


def without_id(c: Collection, props: dict[str, Any], key: str) -> dict[str, Any]:
    """``props`` less the ``id`` field GDAL and QGIS add (the feature's id), checked first."""
    assert props.get("id") == key, (props.get("id"), key)
    return {k: v for k, v in props.items() if k != "id"}


def assert_rows_equal(c: Collection, got: dict[str, dict], rows: dict[str, dict]) -> None:
    """``got`` (key -> properties) holds the stored ``rows`` (:attr:`Stored.rows`), each
    with its stored values."""
    assert set(got) == set(rows)
    wrong = {k: {n: (v, rows[k].get(n)) for n, v in normed(c, props).items()
                 if v != rows[k].get(n)}
             for k, props in got.items() if normed(c, props) != rows[k]}
    assert not wrong, dict(list(wrong.items())[:3])


# == OWSLib ====================================================================================
@pytest.fixture(scope="module")
def owslib(server: Server) -> Features:
    return Features(server.url, timeout=60)


def test_owslib_lists_every_collection(owslib: Features) -> None:
    # Coverages (the terrain) are listed too, after the feature collections.
    listed = [c["id"] for c in owslib.collections()["collections"]]
    assert listed == IDS + [c.id for c in COVERAGES]
    assert owslib.feature_collections() == IDS


@pytest.mark.parametrize("cid", IDS)
def test_owslib_describes_the_collection(owslib: Features, stored: dict[str, Stored],
                                         cid: str) -> None:
    c, doc = get_collection(cid), owslib.collection(cid)
    assert doc["id"] == cid and doc["title"] in (c.title_de, c.title_en)
    assert doc["storageCrs"] == EPSG_25833
    # The CRS84 box is the data's extent there, rounded outward by less than 1e-7 degrees.
    (x1, y1, x2, y2), = doc["extent"]["spatial"]["bbox"]
    ex1, ey1, ex2, ey2 = stored[cid].extent(4326)
    assert 0 <= ex1 - x1 < 1e-7 and 0 <= ey1 - y1 < 1e-7
    assert 0 <= x2 - ex2 < 1e-7 and 0 <= y2 - ey2 < 1e-7


@pytest.mark.parametrize("cid", IDS)
def test_owslib_queryables_are_the_registry_fields(owslib: Features, cid: str) -> None:
    c = get_collection(cid)
    queryables = owslib.collection_queryables(cid)["properties"]
    assert set(queryables) - {"geometry"} == {f.name for f in c.all_fields if f.queryable}
    for f in c.all_fields:
        if f.queryable:
            assert queryables[f.name]["type"] == f.type.json_type, f.name


@pytest.mark.parametrize("cid", IDS)
def test_owslib_counts_every_feature(owslib: Features, stored: dict[str, Stored],
                                     cid: str) -> None:
    result = owslib.collection_items(cid, limit=1)
    assert result["numberMatched"] == stored[cid].count
    assert result["numberReturned"] == 1


@pytest.mark.parametrize(("crs", "srid", "flip"), [
    (EPSG_25833, 25833, False), (CRS84, 4326, False), (EPSG_4326, 4326, True),
], ids=["EPSG-25833", "CRS84", "EPSG-4326-lat-lon"])
@pytest.mark.parametrize("cid", IDS)
def test_owslib_pages_through_every_feature(owslib: Features, stored: dict[str, Stored],
                                            cid: str, crs: str, srid: int,
                                            flip: bool) -> None:
    c, expected = get_collection(cid), stored[cid]
    size, offset = pages(expected.count), 0
    props: dict[str, dict] = {}
    geoms: dict[str, dict] = {}
    while True:
        page = owslib.collection_items(cid, limit=size, offset=offset, crs=crs)
        assert owslib.response_headers["Content-Crs"] == f"<{crs}>"
        assert page["numberMatched"] == expected.count
        for f in page["features"]:
            assert f["id"] not in props, f["id"]  # no feature on two pages
            props[f["id"]], geoms[f["id"]] = f["properties"], f["geometry"]
        offset += size
        if not any(link["rel"] == "next" for link in page["links"]):
            break
    assert offset > size  # more than one page
    assert {k: p[c.id_field.name] for k, p in props.items()} == {k: k for k in props}
    assert_rows_equal(c, props, expected.rows)
    assert_same_geometries(geoms, expected.geometries(srid, flip), srid)


def key_with_slash_if_any(stored: Stored) -> str:
    """A key to fetch by: one holding a slash where there is one (traffic observations are
    "station/instant"), which a client must send as a path of its own."""
    return next((k for k in sorted(stored.rows) if "/" in k), stored.first_keys[0])


@pytest.mark.parametrize("cid", IDS)
def test_owslib_fetches_a_feature_by_its_id(owslib: Features, stored: dict[str, Stored],
                                            cid: str) -> None:
    c, key = get_collection(cid), key_with_slash_if_any(stored[cid])
    feature = owslib.collection_item(cid, key)
    assert feature["id"] == key
    assert_rows_equal(c, {key: feature["properties"]},
                      {key: stored[cid].rows[key]})


@pytest.mark.parametrize("cid", IDS)
def test_owslib_bbox_in_crs84_matches_postgis(owslib: Features, stored: dict[str, Stored],
                                              cid: str) -> None:
    box = stored[cid].west_box(4326)
    expected = stored[cid].keys_in_box(box, 4326)
    assert 0 < len(expected) < stored[cid].count  # a real selection, not everything

    result = owslib.collection_items(cid, bbox=list(box), limit=10000, skipGeometry="true")
    assert result["numberMatched"] == len(expected)
    assert {f["id"] for f in result["features"]} == expected


@pytest.mark.parametrize("lang", ["cql2-text", "cql2-json"])
@pytest.mark.parametrize("cid", IDS)
def test_owslib_cql2_filter_matches_postgis(owslib: Features, stored: dict[str, Stored],
                                            cid: str, lang: str) -> None:
    name, value = stored[cid].text_selection
    expected = stored[cid].keys_with(name, value)
    if lang == "cql2-text":
        result = owslib.collection_items(cid, filter=f"{name} = {cql_text(value)}",
                                         limit=10000)
    else:
        result = owslib.collection_items(
            cid, cql={"op": "=", "args": [{"property": name}, value]}, limit=10000)
    assert result["numberMatched"] == len(expected)
    assert {f["id"] for f in result["features"]} == expected
    assert {f["properties"][name] for f in result["features"]} == {value}


@pytest.mark.parametrize("op", [">=", "<="])
@pytest.mark.parametrize("cid", TIMED)
def test_owslib_datetime_interval_matches_postgis(owslib: Features, stored: dict[str, Stored],
                                                  cid: str, op: str) -> None:
    instant = stored[cid].median_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    expected = stored[cid].keys_in_time(op, stored[cid].median_time)
    interval = f"{instant}/.." if op == ">=" else f"../{instant}"
    result = owslib.collection_items(cid, datetime_=interval, limit=10000, skipGeometry="true")
    assert {f["id"] for f in result["features"]} == expected


@pytest.mark.parametrize(("cql", "where", "params"), [
    ("gemarkung='Ströbitz'", "gemarkung = %s", ["Ströbitz"]),
    ("gemarkung='Döbbrick' AND flur>1", "gemarkung = %s AND flur > %s", ["Döbbrick", 1]),
    ("lagebeztxt LIKE '%straße%' AND gemarkung<>'Sandow'",
     "lagebeztxt LIKE %s AND gemarkung <> %s", ["%straße%", "Sandow"]),
], ids=["umlaut-equal", "umlaut-and-integer", "eszett-like"])
def test_owslib_cql2_text_with_umlauts(owslib: Features, stored: dict[str, Stored], cql: str,
                                       where: str, params: list) -> None:
    expected = stored[PARCELS.id].keys_where(sql.SQL(where), params)
    assert expected  # the sample has such parcels: the filter is really exercised

    result = owslib.collection_items(PARCELS.id, filter=cql, limit=10000)
    assert result["numberMatched"] == len(expected)
    assert {f["id"] for f in result["features"]} == expected
    # Names arrive as the database holds them: umlauts intact, not mangled or escaped.
    assert {f["id"]: f["properties"]["gemarkung"] for f in result["features"]} == {
        k: stored[PARCELS.id].rows[k]["gemarkung"] for k in expected}


# == GDAL 3.6 command line (Debian's gdal-bin) =================================================
def gdal(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(list(args), env=client_env(), capture_output=True, text=True,
                            timeout=CLI_TIMEOUT)
    assert result.returncode == 0, result.stderr
    return result


def ogr2ogr(server: Server, tmp_path: Path, cid: str, *args: str) -> dict[str, dict]:
    """``ogr2ogr`` of collection ``cid`` into a GeoPackage (as a user saves a layer), read
    back: properties and GeoJSON geometry by key."""
    out = tmp_path / "out.gpkg"
    gdal("ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{server.url}", cid, *args)
    meta, table = pyogrio.read_arrow(out)
    rows = table.to_pylist()
    geom_name = meta["geometry_name"] or "geom"
    lists = {f.name for f in get_collection(cid).all_fields if f.type is FieldType.TEXT_ARRAY}
    out = {r["id"]: {"props": {k: gdal_string_list(v) if k in lists else v
                               for k, v in r.items() if k != geom_name},
                     "geometry": geojson_of(r[geom_name])} for r in rows}
    assert len(out) == len(rows)  # no feature twice (e.g. on two pages)
    return out


def test_ogrinfo_lists_every_collection(server: Server) -> None:
    listing = gdal("ogrinfo", "-ro", "-so", f"OAPIF:{server.url}").stdout
    for i, c in enumerate(COLLECTIONS, start=1):
        # A mixed geometry type (heritage) has no name: GDAL leaves it off.
        kind = f" ({OGR_GEOMETRY[c.geometry_type]})" if c.geometry_type in OGR_GEOMETRY else ""
        assert f"\n{i}: {c.id} (title: {c.title_de}){kind}\n" in listing


@pytest.mark.parametrize("cid", IDS)
def test_ogrinfo_summary_is_the_registry_and_postgis(server: Server,
                                                     stored: dict[str, Stored],
                                                     cid: str) -> None:
    c = get_collection(cid)
    summary = gdal("ogrinfo", "-ro", "-so", f"OAPIF:{server.url}", cid).stdout
    assert f"Feature Count: {stored[cid].count}\n" in summary
    for f in c.all_fields:
        assert f"\n{f.name}: {GDAL_TYPES[f.type]} (" in summary, f.name
    # GDAL 3.6 knows no storage CRS (OGC API Features Part 2): its layer is CRS84, whose
    # extent is the published box, printed with 6 decimals.
    line = next(x for x in summary.splitlines() if x.startswith("Extent: "))
    got = [float(v) for v in line[8:].replace("(", "").replace(")", "").replace(" - ", ",")
           .split(",")]
    assert got == pytest.approx(stored[cid].extent(4326), abs=1.1e-6)


@pytest.mark.parametrize("cid", IDS)
def test_ogr2ogr_pages_through_every_feature(server: Server, stored: dict[str, Stored],
                                             tmp_path: Path, cid: str) -> None:
    c, expected = get_collection(cid), stored[cid]
    read = ogr2ogr(server, tmp_path, cid, "-oo", f"PAGE_SIZE={pages(expected.count)}")
    assert_rows_equal(c, {k: without_id(c, r["props"], k) for k, r in read.items()},
                      expected.rows)
    # GDAL 3.6 asks for no CRS: it reads CRS84.
    assert_same_geometries({k: r["geometry"] for k, r in read.items()},
                           expected.geometries(4326), 4326)


@pytest.mark.parametrize("cid", IDS)
def test_ogr2ogr_spat_in_crs84_matches_postgis(server: Server, stored: dict[str, Stored],
                                               tmp_path: Path, cid: str) -> None:
    box = stored[cid].west_box(4326)
    expected = stored[cid].keys_in_box(box, 4326)
    assert 0 < len(expected) < stored[cid].count
    read = ogr2ogr(server, tmp_path, cid, "-oo", "PAGE_SIZE=1000",
                   "-spat", *(repr(v) for v in box))
    assert set(read) == expected


@pytest.mark.parametrize("cid", IDS)
def test_ogr2ogr_where_matches_postgis(server: Server, stored: dict[str, Stored],
                                       tmp_path: Path, cid: str) -> None:
    name, value = stored[cid].text_selection
    expected = stored[cid].keys_with(name, value)
    read = ogr2ogr(server, tmp_path, cid, "-oo", "PAGE_SIZE=1000",
                   "-where", f"{name} = {cql_text(value)}")
    assert set(read) == expected


@pytest.mark.parametrize("cid", IDS)
def test_ogr2ogr_fetches_a_feature_by_its_id(server: Server, stored: dict[str, Stored],
                                             tmp_path: Path, cid: str) -> None:
    # GDAL asks for /items/{id} (the key unescaped, slash and all) for `id = '...'`.
    c, key = get_collection(cid), key_with_slash_if_any(stored[cid])
    read = ogr2ogr(server, tmp_path, cid, "-where", f"id = {cql_text(key)}")
    assert list(read) == [key]
    assert_rows_equal(c, {key: without_id(c, read[key]["props"], key)},
                      {key: stored[cid].rows[key]})


def test_ogr2ogr_where_with_umlaut(server: Server, stored: dict[str, Stored],
                                   tmp_path: Path) -> None:
    expected = stored[PARCELS.id].keys_with("gemarkung", "Ströbitz")
    assert expected
    read = ogr2ogr(server, tmp_path, PARCELS.id, "-oo", "PAGE_SIZE=1000",
                   "-where", "gemarkung = 'Ströbitz'")
    assert set(read) == expected


@pytest.mark.parametrize("op", [">=", "<="])
@pytest.mark.parametrize("cid", TIMED)
def test_ogr2ogr_where_on_time_matches_postgis(server: Server, stored: dict[str, Stored],
                                               tmp_path: Path, cid: str, op: str) -> None:
    # GDAL sends these as `datetime` intervals (OGC API Features Part 1).
    c, median = get_collection(cid), stored[cid].median_time
    expected = stored[cid].keys_in_time(op, median)
    read = ogr2ogr(server, tmp_path, cid, "-oo", "PAGE_SIZE=1000", "-where",
                   f"{c.time_field} {op} '{median.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z'")
    assert set(read) == expected


# == GDAL 3.12 inside pyogrio ==================================================================
def zone_utc(c: Collection, props: dict[str, Any]) -> dict[str, Any]:
    """GDAL 3.12's behaviour: with a schema (the describedby link) its time fields carry no
    zone, so Arrow's timestamps are naive; their values are the UTC instants."""
    times = {f.name for f in c.all_fields if f.type is FieldType.TIMESTAMPTZ}
    return {k: v.replace(tzinfo=UTC) if k in times and v is not None and v.tzinfo is None
            else v for k, v in props.items()}


@pytest.fixture(scope="module")
def pyogrio_http() -> Iterator[None]:
    """pyogrio's bundled GDAL straight to the loopback server with bounded waits."""
    with pytest.MonkeyPatch.context() as mp:
        for var in PROXY_VARS:
            mp.delenv(var, raising=False)
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        mp.setenv("no_proxy", "127.0.0.1,localhost")
        options = {"GDAL_HTTP_TIMEOUT": "60", "GDAL_HTTP_CONNECTTIMEOUT": "10",
                   "GDAL_HTTP_MAX_RETRY": "0"}
        pyogrio.set_gdal_config_options(options)
        yield
        pyogrio.set_gdal_config_options(dict.fromkeys(options))


def read_arrow(url: str, cid: str, **kwargs: Any) -> tuple[dict, dict[str, dict]]:
    """A layer read by pyogrio over OAPIF: metadata, and properties and geometry by key."""
    meta, table = pyogrio.read_arrow(f"OAPIF:{url}", layer=cid, **kwargs)
    geom_name = meta["geometry_name"] or "wkb_geometry"
    out = {r["id"]: {"props": {k: v for k, v in r.items() if k != geom_name},
                     "geometry": r[geom_name]} for r in table.to_pylist()}
    assert len(out) == table.num_rows  # no feature twice (e.g. on two pages)
    return meta, out


def test_pyogrio_bundles_a_gdal_with_oapif() -> None:
    assert "OAPIF" in pyogrio.list_drivers()
    assert pyogrio.__gdal_version__ >= (3, 6, 0), pyogrio.__gdal_version_string__


@pytest.mark.parametrize("cid", IDS)
def test_pyogrio_layer_is_the_registry_in_the_storage_crs(server: Server,
                                                          stored: dict[str, Stored],
                                                          pyogrio_http: None,
                                                          cid: str) -> None:
    c = get_collection(cid)
    info = pyogrio.read_info(f"OAPIF:{server.url}", layer=cid)
    assert info["crs"] == "EPSG:25833"  # the storage CRS (Part 2), without asking for it
    assert info["features"] == stored[cid].count
    assert info["geometry_type"] == (c.geometry_type if c.geometry_type != "Geometry"
                                     else "Unknown")
    assert list(info["fields"]) == ["id", *c.property_names]
    schema = pyogrio.read_arrow(f"OAPIF:{server.url}", layer=cid, max_features=1)[1].schema
    for f in c.all_fields:
        assert str(schema.field(f.name).type) == ARROW_TYPES[f.type], f.name


@pytest.mark.parametrize("cid", IDS)
def test_pyogrio_extent_is_the_crs84_box_carried_into_the_storage_crs(
        server: Server, stored: dict[str, Stored], pyogrio_http: None, cid: str) -> None:
    """GDAL's behaviour (3.12, ogroapifdriver.cpp): a layer's extent is ``extent.spatial.bbox``
    (CRS84) carried into the layer's CRS with densified edges; ``storageCrsBbox`` is not read.
    Its edges are curves in UTM, so that box is wider than the data by up to ~60 m here: no
    CRS84 box that covers the data can do better, and ours is the tightest one."""
    doc = server.get(f"/collections/{cid}?f=json").json()
    published, = doc["extent"]["spatial"]["bbox"]
    storage_box, = doc["extent"]["spatial"]["storageCrsBbox"]
    exact = stored[cid].extent(25833)
    got = pyogrio.read_info(f"OAPIF:{server.url}", layer=cid,
                            force_total_bounds=True)["total_bounds"]

    assert list(got) == pytest.approx(transformed_bounds(published, 25833), abs=1.0)
    tightest = transformed_bounds(stored[cid].extent(4326), 25833)
    assert tightest[0] - 1 <= got[0] <= exact[0] and tightest[1] - 1 <= got[1] <= exact[1]
    assert exact[2] <= got[2] <= tightest[2] + 1 and exact[3] <= got[3] <= tightest[3] + 1
    # The exact extent is offered in the storage CRS, for clients that read it.
    assert storage_box == pytest.approx(exact, abs=1.0)


@pytest.mark.parametrize(("crs", "srid"), [("EPSG:25833", 25833), ("OGC:CRS84", 4326)],
                         ids=["EPSG-25833", "CRS84"])
@pytest.mark.parametrize("cid", IDS)
def test_pyogrio_pages_through_every_feature(server: Server, stored: dict[str, Stored],
                                             pyogrio_http: None, cid: str, crs: str,
                                             srid: int) -> None:
    c, expected = get_collection(cid), stored[cid]
    meta, read = read_arrow(server.url, cid, CRS=crs, PAGE_SIZE=str(pages(expected.count)))
    assert CRS(meta["crs"]) == CRS(crs)
    assert_rows_equal(c, {k: zone_utc(c, without_id(c, r["props"], k))
                          for k, r in read.items()}, expected.rows)
    assert_same_geometries({k: geojson_of(r["geometry"]) for k, r in read.items()},
                           expected.geometries(srid), srid)


@pytest.mark.parametrize("cid", IDS)
def test_pyogrio_bbox_in_the_storage_crs_matches_postgis(server: Server,
                                                         stored: dict[str, Stored],
                                                         pyogrio_http: None,
                                                         cid: str) -> None:
    box = stored[cid].west_box(25833)
    expected = stored[cid].keys_in_box(box, 25833)
    assert 0 < len(expected) < stored[cid].count
    _, read = read_arrow(server.url, cid, bbox=box, PAGE_SIZE="1000")
    assert set(read) == expected


@pytest.mark.parametrize("cid", IDS)
def test_pyogrio_fetches_a_feature_by_its_id(server: Server, stored: dict[str, Stored],
                                             pyogrio_http: None, cid: str) -> None:
    # GDAL asks for /items/{id} (the key unescaped, slash and all) for `id = '...'`.
    c, key = get_collection(cid), key_with_slash_if_any(stored[cid])
    _, read = read_arrow(server.url, cid, where=f"id = {cql_text(key)}")
    assert list(read) == [key]
    assert_rows_equal(c, {key: zone_utc(c, without_id(c, read[key]["props"], key))},
                      {key: stored[cid].rows[key]})


@pytest.mark.parametrize("cid", IDS)
def test_pyogrio_where_matches_postgis(server: Server, stored: dict[str, Stored],
                                       pyogrio_http: None, cid: str) -> None:
    name, value = stored[cid].text_selection
    _, read = read_arrow(server.url, cid, where=f"{name} = {cql_text(value)}",
                         PAGE_SIZE="1000")
    assert set(read) == stored[cid].keys_with(name, value)


# == QGIS 3.22 headless ========================================================================
@pytest.fixture(scope="module")
def qgis(server: Server, stored: dict[str, Stored], tmp_path_factory) -> dict[str, dict]:
    """Every QGIS job of this module, run in one QGIS process: results by job name."""
    if not Path(SYSTEM_PYTHON).exists() or subprocess.run(
            [SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True).returncode:
        pytest.fail("QGIS 3.22's Python bindings are missing: run `make test-tools`")
    jobs: dict[str, dict] = {}
    for c in COLLECTIONS:
        size = pages(stored[c.id].count)
        jobs[f"{c.id}:all"] = {"collection": c.id, "page_size": size}
        jobs[f"{c.id}:box"] = {"collection": c.id, "page_size": 1000,
                               "rect": list(stored[c.id].west_box(4326))}
        if c.time_field:
            instant = stored[c.id].split_time.astimezone(UTC)
            for op in (">=", "<="):
                jobs[f"{c.id}:time{op}"] = {
                    "collection": c.id, "page_size": 1000,
                    "subset": f"{c.time_field} {op} '{instant:%Y-%m-%dT%H:%M:%S}Z'"}
    env = {**client_env(), "QT_QPA_PLATFORM": "offscreen",
           "XDG_RUNTIME_DIR": str(tmp_path_factory.mktemp("xdg")),
           "HOME": str(tmp_path_factory.mktemp("qgis-home"))}
    request = {"url": server.url, "jobs": list(jobs.values())}
    result = subprocess.run([SYSTEM_PYTHON, str(QGIS_SCRIPT)], input=json.dumps(request),
                            env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["qgis_version"].startswith("3.22."), out["qgis_version"]
    return dict(zip(jobs, out["results"], strict=True))


def qgis_field_types(c: Collection, stored: Stored) -> dict[str, str]:
    """QGIS 3.22's behaviour: field types come from the first 10 features (it reads no
    schema), and a property null in all of them becomes a String."""
    empty = {f.name for f in c.all_fields
             if all(stored.rows[k][f.name] is None for k in stored.first_keys)}
    return {"id": "String", **{f.name: "String" if f.name in empty else QGIS_TYPES[f.type]
                               for f in c.all_fields}}


def qgis_rows(c: Collection, stored: Stored, features: list[dict]) -> dict[str, dict]:
    """QGIS's attributes by key, a number it holds as String (see :func:`qgis_field_types`)
    read back from the decimal text QGIS keeps (dates and times as text compare as they are).
    """
    types = qgis_field_types(c, stored)
    numbers = {f.name for f in c.all_fields
               if types[f.name] == "String" and f.type in (FieldType.INTEGER, FieldType.DOUBLE)}
    # A list QGIS typed as String (null in the first features) arrives as its one item, and
    # as nothing when it holds more (QGIS 3.22 drops it): compared as such, below.
    lists = {f.name for f in c.all_fields
             if types[f.name] == "String" and f.type is FieldType.TEXT_ARRAY}
    out = {}
    for feature in features:
        attrs = dict(feature["attributes"])
        key = attrs[c.id_field.name]
        for name in numbers:
            if attrs[name] is not None:
                assert isinstance(attrs[name], str), (name, attrs[name])
                attrs[name] = json.loads(attrs[name])
        for name in lists:
            if attrs[name] is not None:
                assert isinstance(attrs[name], str), (name, attrs[name])
                attrs[name] = [attrs[name]]
        out[key] = without_id(c, attrs, key)
    return out


def qgis_expected(c: Collection, stored: Stored) -> dict[str, dict]:
    """The stored rows as QGIS 3.22 holds them: a list in a field it typed as String (see
    :func:`qgis_field_types`) keeps a single item and loses a longer list (NULL). The API
    serves every list whole; this is the client's limit (parcels' `denkmalnummern`, null in
    the first features: GDAL and OWSLib read it whole)."""
    types = qgis_field_types(c, stored)
    lists = [f.name for f in c.all_fields
             if types[f.name] == "String" and f.type is FieldType.TEXT_ARRAY]
    out = {}
    for key, row in stored.rows.items():
        out[key] = {**row, **{n: None for n in lists if row[n] is not None and len(row[n]) > 1}}
    return out


@pytest.mark.parametrize("cid", IDS)
def test_qgis_opens_the_collection(qgis: dict[str, dict], stored: dict[str, Stored],
                                   cid: str) -> None:
    c, layer = get_collection(cid), qgis[f"{cid}:all"]
    assert layer["valid"], layer.get("error")
    assert layer["crs"] == "EPSG:4326"  # QGIS 3.22 asks for CRS84 only
    assert layer["feature_count"] == stored[cid].count
    assert dict(layer["fields"]) == qgis_field_types(c, stored[cid])
    assert layer["extent"] == pytest.approx(stored[cid].extent(4326), abs=1.1e-7)
    # QGIS 3.22's behaviour: the layer takes the geometry type of the first feature.
    first = stored[cid].geometries(4326)[stored[cid].first_keys[0]]["type"]
    assert layer["wkb_type"] == first
    if c.geometry_type != "Geometry":
        assert first == c.geometry_type


@pytest.mark.parametrize("cid", IDS)
def test_qgis_reads_every_feature(qgis: dict[str, dict], stored: dict[str, Stored],
                                  cid: str) -> None:
    c, layer = get_collection(cid), qgis[f"{cid}:all"]
    assert layer["provider_errors"] == []
    assert len(layer["features"]) == stored[cid].count  # no feature twice, none lost
    assert_rows_equal(c, qgis_rows(c, stored[cid], layer["features"]),
                      qgis_expected(c, stored[cid]))
    # Every geometry as stored, whatever the layer's type (heritage mixes them).
    geoms = {f["attributes"][c.id_field.name]: geojson_of(f["wkt"]) for f in layer["features"]}
    assert_same_geometries(geoms, stored[cid].geometries(4326), 4326)


@pytest.mark.parametrize("cid", IDS)
def test_qgis_map_extent_request_matches_postgis(qgis: dict[str, dict],
                                                 stored: dict[str, Stored], cid: str) -> None:
    c, layer = get_collection(cid), qgis[f"{cid}:box"]
    expected = stored[cid].keys_in_box(stored[cid].west_box(4326), 4326)
    assert 0 < len(expected) < stored[cid].count
    assert layer["provider_errors"] == []
    assert {f["attributes"][c.id_field.name] for f in layer["features"]} == expected


@pytest.mark.parametrize("op", [">=", "<="])
@pytest.mark.parametrize("cid", TIMED)
def test_qgis_time_filter_matches_postgis(qgis: dict[str, dict], stored: dict[str, Stored],
                                          cid: str, op: str) -> None:
    """QGIS 3.22 sends a time comparison as `datetime`, ``<=`` as 0000-01-01T00:00:00Z/t:
    refused by pygeoapi (year 0), which QGIS showed as an empty layer."""
    c, layer = get_collection(cid), qgis[f"{cid}:time{op}"]
    expected = stored[cid].keys_in_time(op, stored[cid].split_time)
    assert 0 < len(expected) < stored[cid].count
    assert layer["provider_errors"] == []
    assert {f["attributes"][c.id_field.name] for f in layer["features"]} == expected
