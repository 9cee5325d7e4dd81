"""Real clients against `twin serve`: OWSLib, the GDAL command line (OAPIF) and pyogrio.

Every expected number comes from PostGIS through the `pg` fixture, never from a literal: the
clients must see exactly what the database holds.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyogrio
import pyogrio.raw
import pytest
import shapely
from owslib.ogcapi.features import Features

from tests.conftest import Server
from twin.registry import PARCELS

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
EPSG_25833 = "http://www.opengis.net/def/crs/EPSG/0/25833"
#: Central Cottbus (Altmarkt, Oberkirche, Stadthalle), CRS84 lon/lat.
CENTRE_CRS84 = (14.32, 51.75, 14.34, 51.77)
#: A part of the centre in the storage CRS (ETRS89 / UTM 33N), metres.
CENTRE_25833 = (453100.0, 5733500.0, 453600.0, 5734000.0)
CLI_TIMEOUT = 180
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
              "ALL_PROXY")


# -- expected values from PostGIS --------------------------------------------------------------
def keys_where(pg: psycopg.Connection, where: str, params: list[Any] | tuple = ()) -> set[str]:
    """flstkennz of every stored parcel matching ``where`` (a fixed SQL text of this module)."""
    query = "SELECT flstkennz FROM twin.parcels WHERE " + where  # noqa: S608 - module constants
    return {row[0] for row in pg.execute(query, params)}


def count_where(pg: psycopg.Connection, where: str, params: list[Any] | tuple = ()) -> int:
    query = "SELECT count(*) FROM twin.parcels WHERE " + where  # noqa: S608 - module constants
    return pg.execute(query, params).fetchone()[0]


def stored_geojson(pg: psycopg.Connection, keys: set[str], srid: int,
                   flip: bool = False) -> dict[str, dict]:
    """GeoJSON geometry of each parcel in ``keys``, as stored or transformed in the database."""
    geom = "geom" if srid == 25833 else f"ST_Transform(geom, {int(srid)})"
    if flip:
        geom = f"ST_FlipCoordinates({geom})"
    rows = pg.execute(
        f"SELECT flstkennz, ST_AsGeoJSON({geom}, 12) FROM twin.parcels "  # noqa: S608
        "WHERE flstkennz = ANY(%s)", [sorted(keys)])
    return {key: json.loads(text) for key, text in rows}


def stored_bounds(pg: psycopg.Connection, keys: set[str]) -> dict[str, tuple[float, ...]]:
    rows = pg.execute(
        "SELECT flstkennz, ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) "
        "FROM twin.parcels WHERE flstkennz = ANY(%s)", [sorted(keys)])
    return {key: tuple(bounds) for key, *bounds in rows}


def flat_coordinates(coords: Any) -> list[tuple[float, float]]:
    """Every position of a GeoJSON coordinate array, in order."""
    if isinstance(coords[0], int | float):
        return [tuple(coords)]
    return [pos for part in coords for pos in flat_coordinates(part)]


def assert_same_geometry(got: dict, expected: dict, tolerance: float, key: str) -> None:
    """Same type, same rings and vertices in the same order, each within ``tolerance``."""
    assert got["type"] == expected["type"], key
    got_pos = flat_coordinates(got["coordinates"])
    exp_pos = flat_coordinates(expected["coordinates"])
    assert len(got_pos) == len(exp_pos), key
    worst = max(max(abs(g[0] - e[0]), abs(g[1] - e[1]))
                for g, e in zip(got_pos, exp_pos, strict=True))
    assert worst <= tolerance, (key, worst)


# -- OWSLib ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def owslib(server: Server) -> Features:
    return Features(server.url, timeout=60)


def test_owslib_lists_the_parcels_collection(owslib: Features) -> None:
    listed = {c["id"]: c for c in owslib.collections()["collections"]}
    assert "parcels" in listed
    assert listed["parcels"]["title"] in (PARCELS.title_de, PARCELS.title_en)
    assert "parcels" in owslib.feature_collections()
    assert owslib.collection("parcels")["id"] == "parcels"


def test_owslib_queryables_are_the_registry_fields(owslib: Features) -> None:
    queryables = owslib.collection_queryables("parcels")["properties"]
    assert {"flstkennz", "gemarkung", "flur"} <= set(queryables)
    assert set(queryables) - {"geometry"} == set(PARCELS.property_names)
    for f in PARCELS.all_fields:
        assert queryables[f.name]["type"] == f.type.json_type, f.name


def test_owslib_bbox_in_crs84_matches_postgis(owslib: Features, pg: psycopg.Connection) -> None:
    where = "ST_Intersects(ST_Transform(geom, 4326), ST_MakeEnvelope(%s, %s, %s, %s, 4326))"
    expected = keys_where(pg, where, CENTRE_CRS84)
    assert 0 < len(expected) < count_where(pg, "TRUE")  # a real selection, not everything

    result = owslib.collection_items("parcels", bbox=list(CENTRE_CRS84), limit=10000,
                                     skipGeometry="true")
    assert result["numberMatched"] == len(expected)
    assert {f["properties"]["flstkennz"] for f in result["features"]} == expected


@pytest.mark.parametrize(("cql", "where", "params"), [
    ("gemarkung='Ströbitz'", "gemarkung = %s", ["Ströbitz"]),
    ("gemarkung='Döbbrick' AND flur>1", "gemarkung = %s AND flur > %s", ["Döbbrick", 1]),
    ("lagebeztxt LIKE '%straße%' AND gemarkung<>'Sandow'",
     "lagebeztxt LIKE %s AND gemarkung <> %s", ["%straße%", "Sandow"]),
], ids=["umlaut-equal", "umlaut-and-integer", "eszett-like"])
def test_owslib_cql2_text_filter_matches_postgis(owslib: Features, pg: psycopg.Connection,
                                                 cql: str, where: str, params: list) -> None:
    expected = keys_where(pg, where, params)
    assert expected  # the sample has such parcels: the filter is really exercised

    result = owslib.collection_items("parcels", filter=cql, limit=10000)
    assert result["numberMatched"] == len(expected)
    features = result["features"]
    assert {f["properties"]["flstkennz"] for f in features} == expected
    stored = dict(pg.execute(
        "SELECT flstkennz, gemarkung FROM twin.parcels WHERE flstkennz = ANY(%s)",
        [sorted(expected)]).fetchall())
    # Names arrive as the database holds them: umlauts intact, not mangled or escaped.
    assert {f["id"]: f["properties"]["gemarkung"] for f in features} == stored


@pytest.mark.parametrize(("crs", "srid", "flip", "tolerance"), [
    (EPSG_25833, 25833, False, 0.001),  # metres: millimetres
    (CRS84, 4326, False, 1e-8),  # degrees, lon/lat: about a millimetre
    (EPSG_4326, 4326, True, 1e-8),  # degrees, lat/lon as EPSG:4326 defines
], ids=["EPSG-25833", "CRS84", "EPSG-4326"])
def test_owslib_crs_gives_the_stored_coordinates(owslib: Features, pg: psycopg.Connection,
                                                 crs: str, srid: int, flip: bool,
                                                 tolerance: float) -> None:
    result = owslib.collection_items("parcels", filter="gemarkung='Ströbitz'", crs=crs,
                                     limit=10000)
    assert owslib.response_headers["Content-Crs"] == f"<{crs}>"
    features = {f["id"]: f["geometry"] for f in result["features"]}
    assert set(features) == keys_where(pg, "gemarkung = %s", ["Ströbitz"])

    expected = stored_geojson(pg, set(features), srid, flip)
    for key, geometry in features.items():
        assert_same_geometry(geometry, expected[key], tolerance, key)


# -- GDAL command line -------------------------------------------------------------------------
def gdal_env() -> dict[str, str]:
    """Environment for GDAL: straight to the loopback server, no proxy, bounded waits."""
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
                "GDAL_HTTP_TIMEOUT": "60", "GDAL_HTTP_CONNECTTIMEOUT": "10",
                "GDAL_HTTP_MAX_RETRY": "0", "CPL_DEBUG": "OFF"})
    return env


def gdal(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(list(args), env=gdal_env(), capture_output=True, text=True,
                            timeout=CLI_TIMEOUT)
    assert result.returncode == 0, result.stderr
    return result


def test_ogrinfo_lists_parcels_and_counts_them(server: Server, pg: psycopg.Connection) -> None:
    listing = gdal("ogrinfo", "-ro", "-so", f"OAPIF:{server.url}")
    assert "1: parcels" in listing.stdout
    assert "Multi Polygon" in listing.stdout

    summary = gdal("ogrinfo", "-ro", "-so", f"OAPIF:{server.url}", "parcels")
    assert f"Feature Count: {count_where(pg, 'TRUE')}" in summary.stdout
    for name in PARCELS.property_names:
        assert f"\n{name}: " in summary.stdout, name


def read_geojson(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["features"]


@pytest.mark.parametrize("page_size", [100, 1000])
def test_ogr2ogr_pages_through_every_parcel(server: Server, pg: psycopg.Connection,
                                            tmp_path: Path, page_size: int) -> None:
    out = tmp_path / "parcels.geojson"
    gdal("ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{server.url}", "parcels",
         "-oo", f"PAGE_SIZE={page_size}")
    features = read_geojson(out)
    stored = dict(pg.execute("SELECT flstkennz, gemarkung FROM twin.parcels").fetchall())
    assert len(stored) > page_size  # more than one page: GDAL must follow `next` links

    assert len(features) == len(stored)
    assert {f["properties"]["flstkennz"] for f in features} == set(stored)
    assert {f["properties"]["flstkennz"]: f["properties"]["gemarkung"]
            for f in features} == stored


def test_ogr2ogr_where_with_umlaut(server: Server, pg: psycopg.Connection,
                                   tmp_path: Path) -> None:
    out = tmp_path / "stroebitz.geojson"
    gdal("ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{server.url}", "parcels",
         "-oo", "PAGE_SIZE=1000", "-where", "gemarkung = 'Ströbitz'")
    features = read_geojson(out)
    expected = keys_where(pg, "gemarkung = %s", ["Ströbitz"])
    assert expected
    assert len(features) == len(expected)
    assert {f["properties"]["flstkennz"] for f in features} == expected


# -- pyogrio (its own GDAL) --------------------------------------------------------------------
@pytest.fixture
def pyogrio_http(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """pyogrio's bundled GDAL straight to the loopback server with bounded waits."""
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    options = {"GDAL_HTTP_TIMEOUT": "60", "GDAL_HTTP_CONNECTTIMEOUT": "10",
               "GDAL_HTTP_MAX_RETRY": "0"}
    pyogrio.set_gdal_config_options(options)
    yield
    pyogrio.set_gdal_config_options(dict.fromkeys(options))


def test_pyogrio_bundles_a_gdal_with_oapif() -> None:
    assert "OAPIF" in pyogrio.list_drivers()
    assert pyogrio.__gdal_version__ >= (3, 6, 0), pyogrio.__gdal_version_string__


def _read_raw(url: str, **kwargs: Any) -> tuple[str, list[str], list[Any]]:
    meta, _, geoms, fields = pyogrio.raw.read(url, layer="parcels", CRS="EPSG:25833",
                                              **kwargs)
    keys = list(fields[list(meta["fields"]).index("flstkennz")])
    return meta["crs"], keys, list(shapely.from_wkb(geoms))


def _read_arrow(url: str, **kwargs: Any) -> tuple[str, list[str], list[Any]]:
    meta, table = pyogrio.read_arrow(url, layer="parcels", CRS="EPSG:25833", **kwargs)
    geoms = table.column(meta["geometry_name"] or "wkb_geometry").to_pylist()
    return meta["crs"], table.column("flstkennz").to_pylist(), list(shapely.from_wkb(geoms))


READERS = {"raw.read": _read_raw, "read_arrow": _read_arrow}
SELECTIONS = {
    "where-umlaut": ({"where": "gemarkung = 'Ströbitz'"}, "gemarkung = %s", ["Ströbitz"]),
    "bbox-25833": ({"bbox": CENTRE_25833},
                   "ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 25833))",
                   list(CENTRE_25833)),
    "max-features": ({"max_features": 50}, None, None),
}


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("selection", list(SELECTIONS))
def test_pyogrio_reads_stored_coordinates_in_epsg_25833(
        server: Server, pg: psycopg.Connection, pyogrio_http: None, reader: str,
        selection: str) -> None:
    kwargs, where, params = SELECTIONS[selection]
    crs, keys, geoms = READERS[reader](f"OAPIF:{server.url}", **kwargs)

    assert crs == "EPSG:25833"
    assert len(keys) == len(set(keys))
    if where is None:
        assert len(keys) == kwargs["max_features"]
    else:
        expected = keys_where(pg, where, params)
        assert expected
        assert set(keys) == expected

    stored = stored_bounds(pg, set(keys))
    assert set(stored) == set(keys)  # every key read is a stored parcel
    for key, geom in zip(keys, geoms, strict=True):
        assert geom.geom_type == "MultiPolygon", key
        assert shapely.bounds(geom).tolist() == pytest.approx(list(stored[key]), abs=0.01), key
