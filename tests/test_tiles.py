"""OGC API - Tiles (twin/tiles.py) against `twin serve` over the samples, with real clients.

Every expected value comes from PostGIS: a tile holds exactly the features PostGIS finds
intersecting the tile's envelope, with the registry's published properties and nothing
else. The tiles are read by mapbox-vector-tile (the decoder of the MVT format in Python),
GDAL's MVT driver (Debian's ogrinfo) and QGIS 3.22 headless as a vector tile layer
(tests/qgis_vector_tiles.py).
"""

from __future__ import annotations

import json
import math
import subprocess
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import numpy as np
import psycopg
import pyogrio.raw
import pytest
import requests
import shapely
import shapely.geometry
from psycopg import sql
from pyproj import Transformer

from tests.conftest import Server
from twin import tiles, tiles_sql
from twin.pygeoapi import conformance
from twin.registry import COLLECTIONS, Collection, FieldType, get_collection

IDS = [c.id for c in COLLECTIONS]
BASE = "/collections/{cid}/tiles/WebMercatorQuad"
SYSTEM_PYTHON = "/usr/bin/python3"
QGIS_SCRIPT = Path(__file__).with_name("qgis_vector_tiles.py")
H = tiles.HALF


def tile_over_first_feature(pg: psycopg.Connection, c: Collection, z: int) -> tuple[int, int]:
    """Column and row of the zoom-``z`` tile over a point of the collection's first feature."""
    lon, lat = pg.execute(sql.SQL(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_PointOnSurface({g}), 4326) p "
        "FROM {t} ORDER BY {k} LIMIT 1) s").format(
        g=sql.Identifier(c.geometry_column), t=sql.Identifier(c.schema, c.table),
        k=sql.Identifier(c.id_field.name))).fetchone()
    return tiles.tile_of(lon, lat, z)


def in_tile(pg: psycopg.Connection, c: Collection, z: int, x: int, y: int,
            columns: tuple[str, ...] | None = None) -> list[tuple]:
    """Rows PostGIS finds intersecting tile z/x/y (its edges segmented as the server's):
    the id, or ``columns``."""
    names = columns or (c.id_field.name,)
    return pg.execute(sql.SQL(
        "SELECT {k} FROM {t} WHERE ST_Intersects({g}, ST_Transform(ST_Segmentize("
        "ST_TileEnvelope(%(z)s, %(x)s, %(y)s), %(s)s), {srid}))").format(
        k=sql.SQL(", ").join(sql.Identifier(n) for n in names),
        t=sql.Identifier(c.schema, c.table),
        g=sql.Identifier(c.geometry_column), srid=sql.Literal(c.srid)),
        {"z": z, "x": x, "y": y, "s": tiles_sql.CIRCUMFERENCE / 2 ** z / 16}).fetchall()


def decode(body: bytes) -> dict[str, Any]:
    return mapbox_vector_tile.decode(body)


def as_tile_value(t: FieldType, value: Any) -> Any:
    """A stored value as the tile carries it (twin/tiles_sql.py)."""
    if value is None:
        return None
    if t is FieldType.TEXT_ARRAY:
        return ",".join(value)
    if t is FieldType.TIMESTAMPTZ:
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date | time | datetime):
        return value.isoformat()
    return value


def tile_path(cid: str, z: int, row: int, col: int) -> str:
    return BASE.format(cid=cid) + f"/{z}/{row}/{col}"


def detail_zoom(c: Collection) -> int:
    return max(tiles.RULES[c.id].min_zoom, 15)


# -- the documents ----------------------------------------------------------------------------


def test_tile_matrix_sets_list_webmercatorquad(server: Server) -> None:
    doc = server.get("/tileMatrixSets").json()
    assert [s["id"] for s in doc["tileMatrixSets"]] == ["WebMercatorQuad"]
    href = doc["tileMatrixSets"][0]["links"][0]["href"]
    tms = requests.get(href, timeout=30).json()
    assert tms["uri"] == tiles.TMS_URI and tms["crs"].endswith("/EPSG/0/3857")
    matrices = {m["id"]: m for m in tms["tileMatrices"]}
    assert len(matrices) == 25 and matrices["12"]["matrixWidth"] == 4096
    assert matrices["0"]["pointOfOrigin"] == [-H, H]
    assert math.isclose(matrices["12"]["cellSize"], 38.21851414258813)
    assert server.get("/TileMatrixSets/WebMercatorQuad").json() == tms  # pygeoapi's spelling


@pytest.mark.parametrize("cid", IDS)
def test_tileset_metadata_describes_the_layer_from_the_registry(server: Server,
                                                                cid: str) -> None:
    c, rule = get_collection(cid), tiles.RULES[cid]
    listing = server.get(f"/collections/{cid}/tiles").json()
    [entry] = listing["tilesets"]
    assert entry["dataType"] == "vector" and entry["tileMatrixSetURI"] == tiles.TMS_URI
    self_link = next(link["href"] for link in entry["links"] if link["rel"] == "self")
    r = requests.get(self_link, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    doc = r.json()
    rels = {link["rel"]: link for link in doc["links"]}
    assert rels[tiles.REL_SCHEME]["href"].endswith("/tileMatrixSets/WebMercatorQuad")
    assert rels["item"]["type"] == tiles.MVT_TYPE and rels["item"]["templated"]
    assert rels["item"]["href"].endswith("/{tileMatrix}/{tileRow}/{tileCol}")
    limits = doc["tileMatrixSetLimits"]
    assert [m["tileMatrix"] for m in limits] == [str(z) for z in range(rule.min_zoom,
                                                                       rule.max_zoom + 1)]
    [layer] = doc["layers"]
    assert layer["id"] == cid and layer["minTileMatrix"] == str(rule.min_zoom)
    props = layer["propertiesSchema"]["properties"]
    assert list(props) == list(c.property_names)
    for f in c.all_fields:
        assert props[f.name]["type"] == ("string" if f.type is FieldType.TEXT_ARRAY
                                         else f.type.json_type)
    tilejson = requests.get(rels["alternate"]["href"], timeout=30).json()
    assert tilejson["tilejson"] == "3.0.0" and tilejson["minzoom"] == rule.min_zoom
    [vector_layer] = tilejson["vector_layers"]
    assert vector_layer["id"] == cid and list(vector_layer["fields"]) == list(c.property_names)
    assert tilejson["tiles"][0].endswith(BASE.format(cid=cid) + "/{z}/{y}/{x}")


def test_landing_page_collections_and_conformance_link_the_tiles(server: Server) -> None:
    links = server.get("/?f=json").json()["links"]
    assert [link["href"] for link in links if link["rel"] == tiles.REL_SCHEMES] == \
        [server.url + "/tileMatrixSets"]
    for c in COLLECTIONS:
        links = server.get(f"/collections/{c.id}?f=json").json()["links"]
        assert [link["href"] for link in links if link["rel"] == tiles.REL_TILESETS] == \
            [f"{server.url}/collections/{c.id}/tiles"]
    classes = set(server.get("/conformance?f=json").json()["conformsTo"])
    assert set(conformance.CONFORMANCE_TILES) <= classes


# -- the tiles --------------------------------------------------------------------------------


@pytest.mark.parametrize("cid", IDS)
def test_tile_holds_what_postgis_finds_with_published_typed_properties(
        server: Server, pg: psycopg.Connection, cid: str) -> None:
    c = get_collection(cid)
    z = detail_zoom(c)
    col, row = tile_over_first_feature(pg, c, z)
    r = server.get(tile_path(cid, z, row, col))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == tiles.MVT_TYPE
    layers = decode(r.content)
    assert list(layers) == [cid]
    features = layers[cid]["features"]
    assert layers[cid]["extent"] == 4096
    expected = {key for (key,) in in_tile(pg, c, z, col, row)}
    key = c.id_field.name
    assert sorted(f["properties"][key] for f in features) == sorted(expected)
    stored = {r[0]: dict(zip(c.property_names, r, strict=True))
              for r in in_tile(pg, c, z, col, row, columns=c.property_names)}
    types = {f.name: f.type for f in c.all_fields}
    for feature in features:
        props = feature["properties"]
        assert set(props) <= set(c.property_names)  # nothing unpublished
        want = {n: as_tile_value(types[n], v) for n, v in stored[props[key]].items()}
        assert props == {n: v for n, v in want.items() if v is not None}
        for name, value in props.items():  # typed as MVT values, not all text
            assert isinstance(value, {FieldType.INTEGER: int, FieldType.DOUBLE: float,
                                      FieldType.BOOLEAN: bool}.get(types[name], str)), name


def test_tile_never_carries_a_column_the_registry_does_not_publish(
        server: Server, pg: psycopg.Connection) -> None:
    c = get_collection("parcels")
    z = detail_zoom(c)
    col, row = tile_over_first_feature(pg, c, z)
    pg.execute("ALTER TABLE twin.parcels ADD COLUMN eigentuemer text DEFAULT 'Erika Muster'")
    try:
        body = server.get(tile_path(c.id, z, row, col)).content
    finally:
        pg.execute("ALTER TABLE twin.parcels DROP COLUMN eigentuemer")
    assert b"Erika" not in body and b"eigentuemer" not in body
    assert all(set(f["properties"]) <= set(c.property_names)
               for f in decode(body)["parcels"]["features"])


def test_low_zoom_tiles_are_generalised(server: Server, pg: psycopg.Connection) -> None:
    """Heritage areas at zoom 10: fewer vertices than the same tile without simplification
    (what ST_AsMVTGeom's own snapping to the grid leaves), the same features."""
    c, z = get_collection("heritage"), 10
    col, row = tile_over_first_feature(pg, c, z)
    features = decode(server.get(tile_path(c.id, z, row, col)).content)["heritage"]["features"]
    ours = sum(_vertices(f["geometry"]["coordinates"]) for f in features)
    plain = pg.execute(
        "SELECT sum(ST_NPoints(ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope("
        "%(z)s, %(x)s, %(y)s), 4096, 64, true))), count(*) FROM twin.heritage WHERE "
        "ST_Intersects(geom, ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 25833))",
        {"z": z, "x": col, "y": row}).fetchone()
    assert 0 < ours < 0.8 * plain[0], (ours, plain)


def _vertices(coords: Any) -> int:
    if isinstance(coords, (list, tuple)) and coords and isinstance(coords[0], (int, float)):
        return 1
    return sum(_vertices(c) for c in coords)


@pytest.mark.parametrize("z", [12, 14, 16])
def test_affine_cells_stay_within_the_tolerance_of_proj(z: int) -> None:
    """Each cell's affine stand-in for the projection (twin/tiles_sql.py) against PROJ's
    exact transform at random points of the cell's box, off the lattice it was fitted on."""
    col, row = tiles.tile_of(14.3343, 51.7563, z)  # Cottbus, EPSG:25833
    cells = tiles_sql.tile_affines(z, col, row, 25833)
    assert cells  # a grid exists at these zooms: no z12-16 tile is transformed point by point
    exact = Transformer.from_crs(25833, 3857, always_xy=True)
    unit = tiles_sql.CIRCUMFERENCE / 2 ** z / tiles_sql.EXTENT
    rng = np.random.default_rng(z)
    for cell in cells:
        x0, y0, x1, y1 = cell.box
        px, py = rng.uniform(x0, x1, 200), rng.uniform(y0, y1, 200)
        a, b, d, e, xoff, yoff = cell.coefficients
        mx, my = exact.transform(px, py)
        miss = np.hypot(a * px + b * py + xoff - mx, d * px + e * py + yoff - my) / unit
        assert miss.max() <= tiles_sql.AFFINE_TOLERANCE, (cell, miss.max())


@pytest.mark.parametrize("z", [14, 16])
def test_tile_geometries_are_the_exact_transforms_to_a_tile_unit(
        server: Server, pg: psycopg.Connection, z: int) -> None:
    """The served tile against the same tile carried by ST_Transform point by point: the same
    features, each vertex on the exact one's grid point or its neighbour (the affine cells
    move a point by at most AFFINE_TOLERANCE before ST_AsMVTGeom rounds it)."""
    c = get_collection("parcels")
    col, row = tile_over_first_feature(pg, c, z)
    ours = decode(server.get(tile_path(c.id, z, row, col)).content)[c.id]["features"]
    exact_tile = pg.execute(
        "SELECT ST_AsMVT(t, 'parcels', 4096, 'g') FROM (SELECT flstkennz, ST_AsMVTGeom("
        "ST_Transform(geom, 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS g "
        "FROM twin.parcels WHERE flstkennz = ANY(%(keys)s)) t",
        {"z": z, "x": col, "y": row,
         "keys": [f["properties"]["flstkennz"] for f in ours]}).fetchone()[0]
    exact = {f["properties"]["flstkennz"]: shapely.geometry.shape(f["geometry"])
             for f in decode(bytes(exact_tile))[c.id]["features"]}
    assert len(ours) == len(exact) > 0
    for f in ours:
        served = shapely.geometry.shape(f["geometry"])
        assert served.hausdorff_distance(exact[f["properties"]["flstkennz"]]) <= math.sqrt(2)


def test_empty_tile_is_204_with_the_deep_empty_hint(server: Server,
                                                    pg: psycopg.Connection) -> None:
    c = get_collection("traffic-stations")  # four points: most tiles of the extent are empty
    z = 18
    limits = server.get(BASE.format(cid=c.id)).json()["tileMatrixSetLimits"]
    [limit] = [m for m in limits if m["tileMatrix"] == str(z)]
    row, col = limit["maxTileRow"], limit["minTileCol"]
    assert not in_tile(pg, c, z, col, row)
    r = server.get(tile_path(c.id, z, row, col))
    assert r.status_code == 204 and r.content == b""
    assert r.headers["OATiles-hint"] == "empty"


def test_tile_has_etag_cache_control_and_answers_304(server: Server,
                                                     pg: psycopg.Connection) -> None:
    c = get_collection("parcels")
    z = detail_zoom(c)
    col, row = tile_over_first_feature(pg, c, z)
    path = tile_path(c.id, z, row, col)
    first, again = server.get(path), server.get(path)
    assert first.headers["ETag"] == again.headers["ETag"]  # same bytes, same tag
    assert first.headers["Cache-Control"] == tiles.CACHE_CONTROL
    r = server.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert r.status_code == 304 and r.content == b""
    head = requests.head(server.url + path, timeout=30)
    assert head.status_code == 200 and head.content == b""


@pytest.mark.parametrize(("path", "status", "words"), [
    (BASE.format(cid="parcels") + "/25/0/0", 400, ["0 to 24"]),
    (BASE.format(cid="parcels") + "/14/16384/0", 400, ["0 to 16383"]),
    (BASE.format(cid="parcels") + "/x/0/0", 400, ["tileMatrix", "whole number"]),
    (BASE.format(cid="parcels") + "/-1/0/0", 400, ["whole number"]),
    (BASE.format(cid="parcels") + "/5/10/17", 404, ["from tileMatrix 12", "pixel"]),
    (BASE.format(cid="parcels") + "/14/0/0", 404, ["outside the extent"]),
    (BASE.format(cid="parcels") + "/14/0/0/0", 404, ["nothing is served"]),
    (BASE.format(cid="parcels") + "/16/21718/35377?f=png", 400, ["'f'", "mvt"]),
    (BASE.format(cid="parcels") + "/16/21718/35377?limit=5", 400, ["unknown query"]),
    (BASE.format(cid="parcels") + "?f=html", 400, ["json"]),
    ("/collections/parcels/tiles/WorldCRS84Quad", 404, ["WebMercatorQuad"]),
    ("/collections/nope/tiles", 404, ["unknown collection", "parcels"]),
    ("/collections/terrain/tiles", 404, ["coverage"]),
    ("/tileMatrixSets/WorldCRS84Quad", 404, ["WebMercatorQuad"]),
])
def test_tile_errors_are_json_in_our_style(server: Server, path: str, status: int,
                                           words: list[str]) -> None:
    r = server.get(path)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json"
    doc = r.json()
    assert set(doc) == {"code", "description"}
    assert all(w in doc["description"] for w in words), doc


def test_writing_to_a_tile_is_405(server: Server) -> None:
    r = requests.post(server.url + BASE.format(cid="parcels") + "/12/1357/2211", data=b"x",
                      timeout=30)
    assert r.status_code == 405 and r.json()["code"] == "MethodNotAllowed"


# -- clients ----------------------------------------------------------------------------------


def test_gdal_mvt_driver_reads_the_tile(server: Server, pg: psycopg.Connection,
                                        tmp_path: Path) -> None:
    c = get_collection("parcels")
    z = detail_zoom(c)
    col, row = tile_over_first_feature(pg, c, z)
    path = tmp_path / "tile.mvt"
    path.write_bytes(server.get(tile_path(c.id, z, row, col)).content)
    done = subprocess.run(["ogrinfo", "-ro", "-al", "-so", "-oo", f"X={col}", "-oo", f"Y={row}",
                           "-oo", f"Z={z}", str(path)], capture_output=True, text=True,
                          timeout=60, check=True)
    out = done.stdout
    assert "Layer name: parcels" in out, out
    count = int(out.split("Feature Count: ")[1].split()[0])
    assert count == len(in_tile(pg, c, z, col, row))
    for f in c.all_fields:
        assert f"{f.name}: " in out, (f.name, out)
    assert "flur: Integer" in out and "flaeche: Real" in out


@pytest.fixture(scope="module")
def qgis_tiles(server: Server, pg: psycopg.Connection, tmp_path_factory) -> dict[str, Any]:
    """QGIS 3.22 rendering the parcels' vector tiles over one zoom-14 tile of the samples."""
    if not Path(SYSTEM_PYTHON).exists() or subprocess.run(
            [SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True).returncode:
        pytest.fail("QGIS 3.22's Python bindings are missing: run `make test-tools`")
    c = get_collection("parcels")
    col, row = tile_over_first_feature(pg, c, 14)
    size = 2 * H / 2 ** 14
    key = min(k for (k,) in in_tile(pg, c, 14, col, row))
    tileset = server.get(BASE.format(cid=c.id)).json()
    item = next(link["href"] for link in tileset["links"] if link["rel"] == "item")
    job = {"url": item.replace("{tileMatrix}", "{z}").replace("{tileRow}", "{y}")
           .replace("{tileCol}", "{x}"),
           "zmin": int(tileset["layers"][0]["minTileMatrix"]),
           "zmax": int(tileset["layers"][0]["maxTileMatrix"]),
           "layer": c.id, "geometry": "polygon",
           "extent": [-H + col * size, H - (row + 1) * size, -H + (col + 1) * size,
                      H - row * size],
           "filters": {"all": None, "one": f"\"flstkennz\" = '{key}'",
                       "none": "\"flstkennz\" = 'no such parcel'",
                       "numbers": "\"flaeche\" * 1 > 0 AND \"flur\" + 1 > 0",
                       "huge": "\"flaeche\" > 1e12"}}
    env = {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin",
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
           "XDG_RUNTIME_DIR": str(tmp_path_factory.mktemp("xdg")),
           "HOME": str(tmp_path_factory.mktemp("qgis-home"))}
    result = subprocess.run([SYSTEM_PYTHON, str(QGIS_SCRIPT)], input=json.dumps(job), env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_qgis_opens_the_tiles_as_a_vector_tile_layer(qgis_tiles: dict[str, Any]) -> None:
    assert qgis_tiles["qgis_version"].startswith("3.22."), qgis_tiles["qgis_version"]
    assert qgis_tiles["valid"] and qgis_tiles["crs"] == "EPSG:3857"
    assert (qgis_tiles["min_zoom"], qgis_tiles["max_zoom"]) == (12, 18)


def test_qgis_draws_the_features_by_their_attributes(qgis_tiles: dict[str, Any]) -> None:
    red = qgis_tiles["red"]
    # Parcels cover the sample's tile; one parcel by its key is a small part of it; a
    # numeric expression over the typed fields selects all; nothing matches an absent key.
    assert red["all"] > 0.5 * 256 * 256
    assert 0 < red["one"] < red["all"] / 10
    assert red["numbers"] == red["all"]
    assert red["none"] == 0 and red["huge"] == 0


def test_openapi_describes_the_tile_operations(server: Server) -> None:
    paths = server.get("/openapi?f=json").json()["paths"]
    assert {"/tileMatrixSets", "/tileMatrixSets/{tileMatrixSetId}"} <= set(paths)
    for c in COLLECTIONS:
        tile = paths[f"/collections/{c.id}/tiles/{{tileMatrixSetId}}/{{tileMatrix}}/{{tileRow}}"
                     "/{tileCol}"]["get"]
        assert tiles.MVT_TYPE in tile["responses"]["200"]["content"]
        assert {"204", "400", "404"} <= set(tile["responses"])
        assert f"/collections/{c.id}/tiles/{{tileMatrixSetId}}" in paths


@pytest.mark.parametrize("z", [0, 1, 3, 6, 9])
def test_low_zoom_tiles_hold_what_is_large_enough_to_see(server: Server, pg: psycopg.Connection,
                                                         z: int) -> None:
    """A tile wider than EPSG:25833 reaches (zoom 0 is the world) is cut to where the CRS
    holds. It holds only features under it, and every one at least four tile units across;
    smaller ones may fall to the generalisation (a polygon under a unit has no area left)."""
    c = get_collection("heritage")
    col, row = tile_over_first_feature(pg, c, z)
    r = server.get(tile_path(c.id, z, row, col))
    assert r.status_code in (200, 204), r.text
    keys = {f["properties"][c.id_field.name]
            for f in (decode(r.content)[c.id]["features"] if r.content else [])}
    everything = {k for (k,) in pg.execute("SELECT denkmalnummer FROM twin.heritage")}
    unit = tiles_sql.ground_unit(z, row)
    large = {k for (k,) in pg.execute(
        "SELECT denkmalnummer FROM twin.heritage WHERE greatest(ST_XMax(geom) - ST_XMin(geom), "
        "ST_YMax(geom) - ST_YMin(geom)) >= %s", (4 * unit,))}
    # The samples lie in one tile at each of these zooms (PostGIS itself cannot carry the
    # tiles of zooms 0 and 1 into EPSG:25833).
    if z > 1:
        assert len(in_tile(pg, c, z, col, row)) == len(everything)
    assert large <= keys <= everything


def test_gdal_ogc_api_tiles_client_reads_a_tile_of_parcels(server: Server,
                                                           pg: psycopg.Connection) -> None:
    """GDAL's OGCAPI driver (pyogrio's GDAL) as an OGC API - Tiles client: from the
    collection's tilesets link to the tileset, the tiling scheme, the limits (a layer per
    zoom from 12) and the tiles. GDAL's behaviour: it does not carry the collection's CRS84
    extent into EPSG:3857 for vector tiles, so the extent is given in EPSG:3857 here."""
    c, z = get_collection("parcels"), 16
    col, row = tile_over_first_feature(pg, c, z)
    size = 2 * H / 2 ** z
    extent = {"MINX": -H + col * size + 10, "MAXX": -H + (col + 1) * size - 10,
              "MINY": H - (row + 1) * size + 10, "MAXY": H - row * size - 10}
    url = f"OGCAPI:{server.url}/collections/{c.id}"
    names = [pyogrio.read_info(url, layer=i, API="TILES", **extent)["layer_name"]
             for i in range(7)]
    assert names == [f"Zoom level {level}" for level in range(12, 19)]
    meta, _, geometry, values = pyogrio.raw.read(url, layer=f"Zoom level {z}", API="TILES",
                                                 **extent)
    columns = dict(zip(meta["fields"], values, strict=True))
    assert sorted(columns["flstkennz"]) == sorted(k for (k,) in in_tile(pg, c, z, col, row))
    assert meta["crs"] == "EPSG:3857" and len(geometry) == len(columns["flstkennz"])
