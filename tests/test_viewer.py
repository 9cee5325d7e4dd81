"""The 3D Tiles of the buildings and the viewer at /viewer/, in a real Chromium.

The buildings are the sample's LoD2 model of central Cottbus (data/samples/buildings/), loaded
by `twin load-samples` through the real loader, whose load wrote the tiles (twin/derive.py).
Expected values come from PostGIS (the surfaces' vertices, the heritage IDs) and from the
tiles as a glTF reader decodes them (pygltflib), not from the writer's own bookkeeping.
"""

from __future__ import annotations

import json
import re
import struct
from io import BytesIO
from urllib.parse import urlsplit

import numpy as np
import psycopg
import pygltflib
import pytest
import rasterio
import requests
from PIL import Image
from pyproj import Transformer

from tests.browser import artifact, chromium, watch
from tests.conftest import Server
from twin.settings import Settings
from twin.terrain import terrain_path
from twin.tiles3d import build_tiles, refresh_building_tiles, write_building_tiles
from twin.tiles3d.style import HERITAGE_COLOURS
from twin.viewer.page import TERRAIN_MAX_CELLS, TERRAIN_RAMP, render_page
from twin.viewer.routes import link_tileset

TILES = "/collections/buildings/3dtiles/"
TO_STORAGE = Transformer.from_crs("EPSG:4978", "EPSG:25833", always_xy=True)
#: Over the Altmarkt and the Oberkirche, at street level (lon, lat, zoom, pitch, bearing).
STREET_VIEW = "14.3352,51.7604,17.3,50,-10"
#: A height inside a building above a point of its footprint (below any eave: the sample's
#: files give no eave heights): it is seen where the building is, whatever the perspective.
INSIDE = "ground_height + 0.3 * (roof_height - ground_height)"


@pytest.fixture(scope="module")
def buildings(pg: psycopg.Connection) -> dict:
    """The sample's buildings, listed ones among them, with the tiles their load wrote."""
    statuses = dict(pg.execute("SELECT heritage_status, count(*) FROM twin.buildings "
                               "GROUP BY 1").fetchall())
    assert statuses.get("listed") and sum(statuses.values()) > 100, statuses
    assert pg.execute("SELECT count(*) FROM twin.building_tiles").fetchone()[0] > 1
    return statuses


def _glb(content: bytes) -> pygltflib.GLTF2:
    return pygltflib.GLTF2.load_from_bytes(content)


def _accessor(gltf: pygltflib.GLTF2, index: int) -> np.ndarray:
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    dtype = {pygltflib.FLOAT: np.float32, pygltflib.UNSIGNED_BYTE: np.uint8,
             pygltflib.UNSIGNED_SHORT: np.uint16, pygltflib.UNSIGNED_INT: np.uint32}
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[acc.type]
    data = gltf.binary_blob()[view.byteOffset + (acc.byteOffset or 0):]
    array = np.frombuffer(data, dtype[acc.componentType], acc.count * width)
    return array.reshape(acc.count, width) if width > 1 else array


def _strings(gltf: pygltflib.GLTF2, name: str) -> list[str]:
    table = gltf.extensions["EXT_structural_metadata"]["propertyTables"][0]
    prop = table["properties"][name]
    blob = gltf.binary_blob()
    values = gltf.bufferViews[prop["values"]]
    offsets_view = gltf.bufferViews[prop["stringOffsets"]]
    offsets = np.frombuffer(blob[offsets_view.byteOffset:], np.uint32, table["count"] + 1)
    raw = blob[values.byteOffset:values.byteOffset + values.byteLength]
    return [raw[a:b].decode() for a, b in zip(offsets[:-1], offsets[1:], strict=True)]


def _tiles(conn: psycopg.Connection) -> dict[str, bytes]:
    return {p: bytes(c) for p, c in conn.execute(
        "SELECT path, content FROM twin.building_tiles")}


def _nodes(tileset: dict) -> list[tuple[dict, np.ndarray]]:
    """Every tile with content and its computed transform (parents' transforms applied)."""
    out = []

    def walk(node: dict, parent: np.ndarray) -> None:
        matrix = parent @ np.array(node.get("transform", np.eye(4).T.reshape(-1))
                                   ).reshape(4, 4).T
        if "content" in node:
            out.append((node, matrix))
        for child in node.get("children", []):
            walk(child, matrix)

    walk(tileset["root"], np.eye(4))
    return out


def test_every_building_once_per_level(buildings: dict, pg: psycopg.Connection) -> None:
    tiles = _tiles(pg)
    tileset = json.loads(tiles["tileset.json"])
    assert tileset["asset"]["version"] == "1.1"
    expected = sorted(r[0] for r in pg.execute("SELECT building_id FROM twin.buildings"))
    detail, coarse = [], []
    for node, _ in _nodes(tileset):
        gltf = _glb(tiles[node["content"]["uri"]])
        (coarse if node["geometricError"] > 0 else detail).extend(_strings(gltf, "building_id"))
    assert sorted(detail) == expected
    assert sorted(coarse) == expected
    # every stored file is named in the tileset, and nothing else is stored
    named = {node["content"]["uri"] for node, _ in _nodes(tileset)}
    assert set(tiles) == named | {"tileset.json"}


def test_detail_vertices_are_the_surfaces_in_ecef(buildings: dict,
                                                  pg: psycopg.Connection) -> None:
    """Decoded, transformed back to EPSG:25833, every vertex is a corner of its building's
    LoD2 faces in PostGIS (within 2 cm), and every corner of a non-ground face is drawn."""
    tiles = _tiles(pg)
    tileset = json.loads(tiles["tileset.json"])
    corners: dict[str, np.ndarray] = {}
    for bid, x, y, z in pg.execute(
            "SELECT building_id, ST_X(d.geom), ST_Y(d.geom), ST_Z(d.geom) "
            "FROM twin.building_surfaces s, ST_DumpPoints(s.geom) d "
            "WHERE surface_type <> 'ground'"):
        corners.setdefault(bid, []).append((x, y, z))
    corners = {k: np.array(v) for k, v in corners.items()}
    drawn: dict[str, list] = {}
    for node, matrix in _nodes(tileset):
        if node["geometricError"] > 0:
            continue
        gltf = _glb(tiles[node["content"]["uri"]])
        primitive = gltf.meshes[0].primitives[0]
        local = _accessor(gltf, primitive.attributes.POSITION).astype(np.float64)
        enu = np.column_stack([local[:, 0], -local[:, 2], local[:, 1], np.ones(len(local))])
        ecef = (matrix @ enu.T).T[:, :3]
        x, y, z = TO_STORAGE.transform(ecef[:, 0], ecef[:, 1], ecef[:, 2])
        points = np.column_stack([x, y, z])
        ids = _strings(gltf, "building_id")
        feature = _accessor(gltf, primitive.attributes._FEATURE_ID_0).astype(int)
        for point, f in zip(points, feature, strict=True):
            distance = np.min(np.linalg.norm(corners[ids[f]] - point, axis=1))
            assert distance < 0.02, (ids[f], point, distance)
            drawn.setdefault(ids[f], []).append(point)
    for bid, points in corners.items():
        seen = np.array(drawn[bid])
        for corner in points:
            assert np.min(np.linalg.norm(seen - corner, axis=1)) < 0.02, (bid, corner)


def test_tiles_in_the_callers_transaction(buildings: dict, loaded_settings: Settings) -> None:
    with psycopg.connect(loaded_settings.dsn) as conn:
        before = conn.execute("SELECT md5(string_agg(path, ',' ORDER BY path)) "
                              "FROM twin.building_tiles").fetchone()
        conn.execute("DELETE FROM twin.building_surfaces WHERE building_id = "
                     "(SELECT min(building_id) FROM twin.buildings)")
        stats = write_building_tiles(conn)
        assert stats.extruded_buildings == 1  # the building left without faces: a prism
        conn.rollback()
        after = conn.execute("SELECT md5(string_agg(path, ',' ORDER BY path)) "
                             "FROM twin.building_tiles").fetchone()
    assert before == after


def test_tiles_are_rebuilt_only_when_their_rows_change(buildings: dict,
                                                      loaded_settings: Settings) -> None:
    """Every load runs the derivation steps; one that changes no building keeps the tiles."""
    with psycopg.connect(loaded_settings.dsn) as conn:
        def version() -> str:
            doc = json.loads(_tiles(conn)["tileset.json"])
            return doc["asset"]["tilesetVersion"]

        before = version()
        assert refresh_building_tiles(conn) is None
        assert version() == before
        conn.execute("UPDATE twin.buildings SET storeys = storeys + 1 "
                     "WHERE building_id = (SELECT min(building_id) FROM twin.buildings)")
        assert refresh_building_tiles(conn) is not None
        assert version() != before
        conn.rollback()


def test_bad_faces_are_skipped_or_triangulated(buildings: dict,
                                               loaded_settings: Settings) -> None:
    """A face without area is skipped and counted; a non-planar face is still drawn."""
    with psycopg.connect(loaded_settings.dsn) as conn:
        bid = conn.execute("SELECT min(building_id) FROM twin.buildings").fetchone()[0]
        x, y = conn.execute("SELECT ST_X(ST_PointOnSurface(geom)), "
                            "ST_Y(ST_PointOnSurface(geom)) FROM twin.buildings "
                            "WHERE building_id = %s", (bid,)).fetchone()
        _, base = build_tiles(conn)
        conn.execute(
            "INSERT INTO twin.building_surfaces (building_id, surface_no, surface_type, geom) "
            "VALUES (%(b)s, 10001, 'wall', ST_GeomFromText(%(line)s, 25833)), "
            "(%(b)s, 10002, 'roof', ST_GeomFromText(%(warped)s, 25833))",
            {"b": bid,
             "line": f"POLYGON Z(({x} {y} 80, {x + 1} {y} 80, {x + 2} {y} 80, {x} {y} 80))",
             "warped": f"POLYGON Z(({x} {y} 90, {x + 4} {y} 90.6, {x + 4} {y + 3} 90, "
                       f"{x} {y + 3} 90.5, {x} {y} 90))"})
        _, stats = build_tiles(conn)
        conn.rollback()
    assert stats.skipped_faces == base.skipped_faces + 1
    assert stats.triangles == base.triangles + 2


def test_serving(buildings: dict, server: Server, pg: psycopg.Connection) -> None:
    digest, stored = pg.execute("SELECT md5(content), content FROM twin.building_tiles "
                                "WHERE path = 'tileset.json'").fetchone()
    plain = server.get(TILES + "tileset.json", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["Content-Type"] == "application/json"
    assert plain.headers["Cache-Control"] == "no-cache"
    assert "Content-Encoding" not in plain.headers
    assert plain.headers["ETag"] == f'"{digest}"'
    assert plain.content == bytes(stored)
    answer = server.get(TILES + "tileset.json")  # requests accepts gzip
    assert answer.headers["Content-Encoding"] == "gzip"
    assert answer.headers["ETag"] == f'"{digest}-gz"'
    assert answer.content == bytes(stored)  # as decompressed by requests
    for etag in (plain.headers["ETag"], answer.headers["ETag"]):
        again = server.get(TILES + "tileset.json", headers={"If-None-Match": etag})
        assert again.status_code == 304
    uri = _nodes(answer.json())[-1][0]["content"]["uri"]
    glb = server.get(TILES + uri)
    assert glb.status_code == 200
    assert glb.headers["Content-Type"] == "model/gltf-binary"
    assert "immutable" in glb.headers["Cache-Control"]
    assert glb.content[:4] == b"glTF" and struct.unpack("<I", glb.content[4:8])[0] == 2
    missing = server.get(TILES + "tiles/d/0_0-000000000000.glb")
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/json"
    assert "tileset.json" in missing.json()["description"]
    moved = server.get(TILES.rstrip("/"), allow_redirects=False)
    assert moved.status_code == 302
    assert moved.headers["Location"].endswith(TILES + "tileset.json")
    refused = requests.post(server.url + TILES + "tileset.json", timeout=30)
    assert refused.status_code == 405
    links = server.get("/", params={"f": "json"}).json()["links"]
    assert any(link["href"].endswith("/viewer/") for link in links)


def test_buildings_collection_links_its_tileset() -> None:
    body = json.dumps({"id": "buildings", "links": []}).encode()
    doc = json.loads(link_tileset("/collections/buildings", body, "http://twin.example"))
    link = doc["links"][0]
    assert link["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/3dtiles"
    assert link["href"] == "http://twin.example/collections/buildings/3dtiles/tileset.json"
    assert doc["content"] == [link]
    other = json.dumps({"id": "parcels", "links": []}).encode()
    assert link_tileset("/collections/parcels", other, "http://twin.example") == other


def _colour_pixels(png: bytes) -> dict[str, int]:
    """Pixels drawn in each heritage colour, shaded by any light from 0.45 to 1.1."""
    rgb = np.asarray(Image.open(BytesIO(png)).convert("RGB"), np.float64).reshape(-1, 3)
    bright = rgb.sum(axis=1)
    counts = {}
    for status, colour in HERITAGE_COLOURS.items():
        ref = np.array(colour, np.float64)
        chroma = rgb / np.maximum(bright, 1)[:, None]
        close = np.linalg.norm(chroma - ref / ref.sum(), axis=1) < 0.03
        scale = bright / ref.sum()
        counts[status] = int(np.sum(close & (scale > 0.4) & (scale < 1.12)))
    return counts


def test_viewer_in_chromium(buildings: dict, server: Server, pg: psycopg.Connection,
                            record_property) -> None:
    """The page draws the buildings in their heritage colours, asks no other host, logs no
    error, and hovering a listed building shows its heritage ID."""
    listed = pg.execute(
        "SELECT building_id, heritage_id, heritage_name, "
        "ST_X(ST_Transform(ST_PointOnSurface(geom), 4326)), "
        "ST_Y(ST_Transform(ST_PointOnSurface(geom), 4326)), " + INSIDE + ", geom "
        "FROM twin.buildings WHERE heritage_status = 'listed' ORDER BY ST_Distance("
        "geom, ST_Transform(ST_SetSRID(ST_Point(14.3352, 51.7604), 4326), 25833)) LIMIT 1"
    ).fetchone()
    other = pg.execute(
        "SELECT building_id, ST_X(ST_Transform(ST_PointOnSurface(geom), 4326)), "
        "ST_Y(ST_Transform(ST_PointOnSurface(geom), 4326)), " + INSIDE + " "
        "FROM twin.buildings WHERE heritage_status <> 'listed' "
        "ORDER BY ST_Distance(geom, %s) LIMIT 1", (listed[6],)).fetchone()
    host = urlsplit(server.url).netloc
    with chromium() as browser:
        page = browser.new_page()
        errors, seen = watch(page)
        page.goto(f"{server.url}/viewer/?view={STREET_VIEW}")
        page.wait_for_selector("body[data-first-frame]", state="attached", timeout=120_000)
        shot = artifact("viewer-street.png")
        png = page.screenshot(path=str(shot))
        record_property("screenshot", str(shot))
        counts = _colour_pixels(png)

        # Straight down on the listed building: nothing can stand in front of it.
        page.goto(f"{server.url}/viewer/?view={listed[3]:.6f},{listed[4]:.6f},18.5,0,0")
        page.wait_for_selector("body[data-first-frame]", state="attached", timeout=120_000)

        def hover(lon: float, lat: float, z: float) -> str:
            x, y = page.evaluate("(p) => twinViewer.deck.getViewports()[0].project(p).slice(0, 2)",
                                 [lon, lat, z])
            page.mouse.move(x + 3, y + 3)
            page.mouse.move(x, y)
            tip = page.locator(".twin-tooltip")
            tip.wait_for(state="visible", timeout=30_000)
            return tip.inner_text()

        listed_tip = hover(*listed[3:6])
        other_tip = hover(*other[1:4])
        page.screenshot(path=str(artifact("viewer-hover.png")))
        # the other layers switch on and load from this API
        page.locator("input[data-layer='street-damage']").check()
        page.wait_for_timeout(3000)
    foreign = [u for u in seen if urlsplit(u).scheme in ("http", "https")
               and urlsplit(u).netloc != host]
    assert foreign == []
    assert not [u for u in seen if urlsplit(u).scheme not in ("http", "https", "data", "blob")]
    assert errors == []
    assert counts["listed"] > 500, counts
    assert counts["area"] + counts["none"] > 2000, counts
    assert listed[1] in listed_tip and listed[2] in listed_tip
    assert other[0] in other_tip and listed[1] not in other_tip
    assert any("/collections/street-damage/items" in u for u in seen)


def _ramp_pixels(png: bytes) -> int:
    """Pixels drawn in a colour of the terrain's ramp, shaded by any light from 0.45 to 1.1."""
    rgb = np.asarray(Image.open(BytesIO(png)).convert("RGB"), np.float64).reshape(-1, 3)
    bright = rgb.sum(axis=1)
    chroma = rgb / np.maximum(bright, 1)[:, None]
    stops = np.array(TERRAIN_RAMP, np.float64)
    hit = np.zeros(len(rgb), bool)
    for t in np.linspace(0, len(stops) - 1, 61):
        i = min(int(t), len(stops) - 2)
        ref = stops[i] + (stops[i + 1] - stops[i]) * (t - i)
        scale = bright / ref.sum()
        hit |= (np.linalg.norm(chroma - ref / ref.sum(), axis=1) < 0.02) & (scale > 0.4) \
            & (scale < 1.12)
    return int(hit.sum())


TERRAIN_SAMPLE = """() => {
  const t = twinViewer.terrain;
  const cells = [[0, 0], [t.rows - 1, t.cols - 1], [t.rows >> 1, t.cols >> 1], [5, t.cols - 7]];
  return {url: t.url, rows: t.rows, cols: t.cols, points: cells.map(([r, c]) => {
    const i = (r * t.cols + c) * 3;
    return [t.origin[0] + t.positions[i], t.origin[1] + t.positions[i + 1], t.positions[i + 2]];
  })};
}"""


def test_terrain_layer_in_chromium(buildings: dict, server: Server, pg: psycopg.Connection,
                                   loaded_settings: Settings, record_property) -> None:
    """Switched on, the terrain comes from this API's coverage only (scaled down for a wide
    view), is drawn in its colours, and its vertices are the published heights at the
    cells' centres."""
    lon, lat = pg.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_Centroid(ST_Collect(geom)), 4326) "
        "AS p FROM twin.buildings) s").fetchone()
    host = urlsplit(server.url).netloc
    with chromium() as browser:
        page = browser.new_page()
        errors, seen = watch(page)

        def terrain_on(view: str) -> dict:
            page.goto(f"{server.url}/viewer/?view={view}")
            page.wait_for_selector("body[data-first-frame]", state="attached", timeout=120_000)
            assert page.evaluate("() => twinViewer.terrain") is None  # nothing before the switch
            before = len(seen)
            page.locator("input[data-layer='terrain']").check()
            page.wait_for_function("() => twinViewer.terrain !== null", timeout=60_000)
            page.wait_for_timeout(1500)  # a frame or two with the mesh
            return {"requests": seen[before:], **page.evaluate(TERRAIN_SAMPLE)}

        wide = terrain_on(STREET_VIEW)
        shot = artifact("viewer-terrain.png")
        drawn = _ramp_pixels(page.screenshot(path=str(shot)))
        record_property("terrain_screenshot", str(shot))
        legend = page.locator("#terrain-legend").inner_text()
        page.locator("input[data-layer='terrain']").uncheck()
        page.wait_for_timeout(1000)
        off = _ramp_pixels(page.screenshot())
        # Straight down, close up: the view holds fewer cells than the limit, so they come as
        # they are.
        close = terrain_on(f"{lon:.6f},{lat:.6f},20,0,0")
    assert errors == []
    assert [u for u in seen if urlsplit(u).netloc != host] == []
    for answer in (wide, close):
        assert answer["requests"], answer
        assert {urlsplit(u).path for u in answer["requests"]} == {"/collections/terrain/coverage"}
    assert "scale-size=" in wide["url"]
    assert wide["rows"] <= TERRAIN_MAX_CELLS and wide["cols"] <= TERRAIN_MAX_CELLS
    assert drawn > 50_000 and off < drawn / 50, (drawn, off)
    assert "m ü. NHN" in legend
    assert "scale-size=" not in close["url"]
    to_storage = Transformer.from_crs("EPSG:4326", "EPSG:25833", always_xy=True)
    with rasterio.open(terrain_path(loaded_settings)) as cog:
        for vlon, vlat, z in close["points"]:
            x, y = to_storage.transform(vlon, vlat)
            col, row = (x - cog.bounds.left) / cog.res[0], (cog.bounds.top - y) / cog.res[1]
            # the vertex is a cell's centre (within 1 cm) and its height that cell's
            assert abs(col % 1 - 0.5) < 0.01 and abs(row % 1 - 0.5) < 0.01, (col, row)
            cell = cog.read(1, window=((int(row), int(row) + 1), (int(col), int(col) + 1)))
            assert abs(z - float(cell[0, 0])) < 0.001, (x, y, z, cell)


def test_page_without_terrain_disables_its_switch(tmp_path) -> None:
    html = render_page(Settings(public_url="http://twin.example", data_dir=tmp_path), None)
    config = json.loads(re.search(r'id="viewer-config"[^>]*>(.*?)</script>', html, re.S)[1])
    assert "terrain" in config["unavailable"]
    assert "TerrainCoverageLayer" not in html


def test_page_without_buildings_asks_for_no_tileset() -> None:
    html = render_page(Settings(public_url="http://twin.example"), None)
    assert "BuildingTilesLayer" not in html and "3dtiles/tileset.json\"," not in html
    assert "Keine Gebäude" in html
    hosts = set(re.findall(r'(?:src|href)="(https?://[^/"]+)', html))
    assert hosts == {"http://twin.example"}
