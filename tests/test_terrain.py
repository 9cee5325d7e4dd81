"""The terrain: `twin load terrain` into a Cloud-Optimised GeoTIFF, ground heights at points,
and the coverage `terrain` through the real server (and OWSLib).

Expected values come from the source tiles and from rasterio reading the published file,
never from literals copied from our answers.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.io import MemoryFile
from rasterio.transform import from_origin
from rasterio.windows import from_bounds

from etl.core import LoadMode, LoadOptions, load
from etl.samples import sample_files
from etl.sources.terrain import TerrainSource
from tests.conftest import Server
from tests.helpers import assert_refused, last_run, run_twin
from twin.errors import LoadRefusedError, SourceError
from twin.registry import TERRAIN
from twin.settings import PROJECT_ROOT, STORAGE_CRS_URI, Settings
from twin.terrain import ground_heights, terrain_path

SAMPLES = PROJECT_ROOT / "data" / "samples"
TILES = sample_files("terrain", SAMPLES)
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
COVERAGE = "/collections/terrain/coverage"
QUIET = LoadOptions(progress=False)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def own_settings(settings: Settings, tmp_path: Path) -> Settings:
    """``settings`` with a data directory (an empty terrain) and config files of the test's
    own, on the same database."""
    return settings.model_copy(update={"data_dir": tmp_path / "data",
                                       "config_path": tmp_path / "pygeoapi.yml",
                                       "openapi_path": tmp_path / "openapi.yml"})


def write_tile(path: Path, values: np.ndarray, left: float, top: float, *, res: float = 1.0,
               crs: str | None = "EPSG:25833", nodata: float | None = -9999.0,
               driver: str = "GTiff") -> Path:
    values = values if values.ndim == 3 else values[np.newaxis]
    profile = {"driver": driver, "width": values.shape[2], "height": values.shape[1],
               "count": values.shape[0], "dtype": values.dtype.name,
               "transform": from_origin(left, top, res, res), "nodata": nodata}
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values)
    return path


def sample_tile(index: int = 0) -> tuple[np.ndarray, rasterio.Affine]:
    with rasterio.open(TILES[index]) as src:
        return src.read(1), src.transform


@pytest.fixture(scope="module")
def published(empty_settings: Settings) -> Path:
    """The sample tiles loaded once into the module's data directory."""
    report = load(TerrainSource(), TILES, QUIET, empty_settings)
    assert report.outcome == "succeeded", report
    return terrain_path(empty_settings)


# -- the load ---------------------------------------------------------------------------------

def test_samples_are_brandenburg_dgm1_tiles() -> None:
    assert [p.name for p in TILES] == ["dgm_33453-5733.tif", "dgm_33453-5734.tif",
                                       "dgm_33454-5733.tif", "dgm_33454-5734.tif"]
    assert sum(p.stat().st_size for p in TILES) < 3_000_000
    for path in TILES:
        east_km, north_km = path.stem.removeprefix("dgm_33").split("-")
        with rasterio.open(path) as src:
            assert src.crs.to_epsg() == 25833 and src.res == (1.0, 1.0)
            assert src.bounds.left == int(east_km) * 1000
            assert src.bounds.bottom == int(north_km) * 1000
            assert src.width == src.height == 1000 and src.dtypes[0] == "float32"
            heights = src.read(1)
            assert 60 < heights.min() and heights.max() < 80


def test_samples_become_one_cloud_optimised_geotiff(empty_settings: Settings,
                                                    published: Path) -> None:
    with rasterio.open(published) as cog:
        assert cog.driver == "GTiff"
        assert cog.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"  # GDAL's own verdict
        assert cog.profile["tiled"] and cog.block_shapes[0] == (512, 512)
        assert cog.overviews(1), "a COG for clients that zoom out has overviews"
        assert cog.crs.to_epsg() == 25833 and cog.res == (1.0, 1.0)
        assert cog.dtypes[0] == "float32" and cog.nodata == TERRAIN.nodata
        assert cog.descriptions[0] == "height" and cog.units[0] == "m"
        bounds = [rasterio.open(p).bounds for p in TILES]
        assert tuple(cog.bounds) == (min(b.left for b in bounds), min(b.bottom for b in bounds),
                                     max(b.right for b in bounds), max(b.top for b in bounds))
        rng = np.random.default_rng(8)
        for path in TILES:
            with rasterio.open(path) as tile:
                values = tile.read(1)
                rows, cols = rng.integers(0, 1000, 300), rng.integers(0, 1000, 300)
                xs, ys = rasterio.transform.xy(tile.transform, rows, cols)
                got = np.array([v[0] for v in cog.sample(zip(xs, ys, strict=True))])
                np.testing.assert_array_equal(got, values[rows, cols])
    run = last_run(empty_settings)
    assert (run["source"], run["collection"], run["outcome"]) == ("terrain", "terrain",
                                                                  "succeeded")
    assert run["read_count"] == len(TILES) and run["inserted_count"] == 1


def test_loading_the_same_tiles_again_changes_nothing(empty_settings: Settings,
                                                      published: Path) -> None:
    before = published.stat()
    report = load(TerrainSource(), TILES, QUIET, empty_settings)
    assert report.outcome == "unchanged" and report.total("unchanged") == 1
    after = published.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not [p for p in published.parent.iterdir() if p != published], "no scratch left"


def _no_crs(tmp: Path) -> Path:
    values, t = sample_tile()
    return write_tile(tmp / "dgm_33453-5733.tif", values, t.c, t.f, crs=None)


def _wrong_crs(tmp: Path) -> Path:
    values, t = sample_tile()  # UTM 33 coordinates declared as UTM 32: far west of the state
    return write_tile(tmp / "dgm_32453-5733.tif", values, t.c, t.f, crs="EPSG:25832")


def _garbage(tmp: Path) -> Path:
    path = tmp / "dgm_33455-5733.tif"
    path.write_bytes(b"II*\x00" + bytes(range(256)) * 40)
    return path


def _centimetres(tmp: Path) -> Path:
    values, t = sample_tile(1)
    return write_tile(tmp / "dgm_33453-5734.tif", values * 100, t.c, t.f)


def _two_metre_cells(tmp: Path) -> Path:
    values, _ = sample_tile(1)
    return write_tile(tmp / "dgm2_33455-5733.tif", values[::2, ::2].copy(), 455000, 5734000,
                      res=2.0)


def _off_grid(tmp: Path) -> Path:
    values, _ = sample_tile(1)
    return write_tile(tmp / "dgm_33455-5733.tif", values, 455000.5, 5734000)


def _three_bands(tmp: Path) -> Path:
    values, t = sample_tile(1)
    return write_tile(tmp / "dgm_33453-5734.tif", np.stack([values] * 3), t.c, t.f)


@pytest.mark.parametrize(("make", "words"), [
    (_no_crs, ["declares no CRS", "--crs"]),
    (_wrong_crs, ["cannot be in Brandenburg", "CRS"]),
    (_garbage, ["not a raster file GDAL can read"]),
    (_centimetres, ["row ", "field 'height'", "not a height in metres", "more such cells"]),
    (_two_metre_cells, ["the cells are 2 m", "1 m"]),
    (_off_grid, ["off the grid"]),
    (_three_bands, ["3 bands"]),
], ids=["no-crs", "wrong-crs", "garbage", "centimetres", "2m-cells", "off-grid", "3-bands"])
def test_a_bad_tile_is_refused_and_the_published_terrain_stays(
        empty_settings: Settings, published: Path, tmp_path: Path, make, words) -> None:
    before = digest(published)
    bad = make(tmp_path)
    result = run_twin(empty_settings, "load", "terrain", *map(str, TILES), str(bad))
    assert_refused(result, bad, words)
    assert digest(published) == before
    assert not [p for p in published.parent.iterdir() if p != published], "no scratch left"
    run = last_run(empty_settings)
    assert run["outcome"] == "refused" and run["refusals"][0]["path"] == str(bad)


def test_the_bad_cell_is_named_by_row_and_column(tmp_path: Path,
                                                 empty_settings: Settings) -> None:
    values, t = sample_tile()
    values = values.copy()
    values[17, 42] = 9999.0  # one cell in decimetres or plain wrong
    bad = write_tile(tmp_path / "dgm_33453-5733.tif", values, t.c, t.f)
    with pytest.raises(LoadRefusedError) as caught:
        load(TerrainSource(), [bad], QUIET, own_settings(empty_settings, tmp_path))
    error = caught.value.errors[0]
    x, y = rasterio.transform.xy(t, 17, 42)
    assert (error.row, error.field) == (18, "height")
    assert f"column 43 (E {x:.1f}, N {y:.1f}): 9999 is not a height" in str(error)
    assert not terrain_path(own_settings(empty_settings, tmp_path)).exists()


def test_gridded_xyz_is_read_with_the_crs_named(tmp_path: Path,
                                                empty_settings: Settings) -> None:
    values, t = sample_tile(3)
    rows, cols = 80, 120  # an excerpt, as the LGB's former ASCII delivery: x y z per cell
    xs = t.c + np.arange(cols) + 0.5
    lines = [f"{x:.1f} {t.f - r - 0.5:.1f} {values[r, c]:.2f}"
             for r in range(rows) for c, x in enumerate(xs)]
    xyz = tmp_path / "dgm_33454-5734.xyz"
    xyz.write_text("\n".join(lines) + "\n")
    settings = own_settings(empty_settings, tmp_path)
    with pytest.raises(SourceError, match="declares no CRS"):
        load(TerrainSource(), [xyz], QUIET, settings)
    load(TerrainSource(), [xyz], LoadOptions(progress=False, crs="EPSG:25833"), settings)
    with rasterio.open(terrain_path(settings)) as cog:
        assert tuple(cog.bounds) == (t.c, t.f - rows, t.c + cols, t.f)
        np.testing.assert_allclose(cog.read(1), values[:rows, :cols], atol=0.005)


def test_a_tile_in_another_crs_is_reprojected(tmp_path: Path,
                                              empty_settings: Settings) -> None:
    from rasterio.warp import calculate_default_transform, reproject

    values, t = sample_tile(2)
    crs = "EPSG:3035"  # ETRS89-LAEA, as European datasets come
    transform, width, height = calculate_default_transform(
        "EPSG:25833", crs, 1000, 1000, *rasterio.transform.array_bounds(1000, 1000, t),
        resolution=1.0)
    warped = np.full((height, width), -9999.0, dtype="float32")
    reproject(values, warped, src_transform=t, src_crs="EPSG:25833", dst_transform=transform,
              dst_crs=crs, resampling=Resampling.bilinear, dst_nodata=-9999.0)
    tile = write_tile(tmp_path / "dgm_laea.tif", warped, transform.c, transform.f, crs=crs)
    settings = own_settings(empty_settings, tmp_path)
    report = load(TerrainSource(), [tile], QUIET, settings)
    assert any("reprojected" in note for note in report.notes)
    with rasterio.open(terrain_path(settings)) as cog:
        assert cog.crs.to_epsg() == 25833 and cog.res == (1.0, 1.0)
        assert cog.bounds.left % 1 == 0 and cog.bounds.top % 1 == 0  # on the metre grid
        rng = np.random.default_rng(3)
        rows, cols = rng.integers(50, 950, 200), rng.integers(50, 950, 200)
        xs, ys = rasterio.transform.xy(t, rows, cols)
        got = np.array([v[0] for v in cog.sample(zip(xs, ys, strict=True))])
    # Two bilinear resamplings of a smooth surface: within a few centimetres.
    np.testing.assert_allclose(got, values[rows, cols], atol=0.05)


def test_upsert_lays_tiles_over_the_published_terrain(tmp_path: Path,
                                                      empty_settings: Settings,
                                                      published: Path) -> None:
    settings = own_settings(empty_settings, tmp_path)
    load(TerrainSource(), TILES[:2], QUIET, settings)
    report = load(TerrainSource(), TILES[2:], LoadOptions(progress=False, mode=LoadMode.UPSERT),
                  settings)
    assert report.outcome == "succeeded" and report.total("updated") == 1
    with rasterio.open(terrain_path(settings)) as mine, rasterio.open(published) as whole:
        assert mine.bounds == whole.bounds
        np.testing.assert_array_equal(mine.read(1), whole.read(1))
    with pytest.raises(SourceError, match="valid: replace, upsert"):
        load(TerrainSource(), TILES, LoadOptions(progress=False, mode=LoadMode.APPEND), settings)


# -- ground heights ---------------------------------------------------------------------------

def test_ground_heights_at_cell_centres_are_the_cells(published: Path) -> None:
    with rasterio.open(published) as cog:
        values = cog.read(1)
        rng = np.random.default_rng(5)
        rows, cols = rng.integers(0, cog.height, 500), rng.integers(0, cog.width, 500)
        xs, ys = rasterio.transform.xy(cog.transform, rows, cols)
    got = ground_heights(published, list(zip(xs, ys, strict=True)))
    np.testing.assert_array_equal(np.array(got), values[rows, cols])


def test_ground_heights_between_centres_are_bilinear(published: Path,
                                                     empty_settings: Settings) -> None:
    with rasterio.open(published) as cog:
        values = cog.read(1).astype("float64")
        t = cog.transform
    rng = np.random.default_rng(6)
    points = [(t.c + rng.uniform(1, 1998), t.f - rng.uniform(1, 1998)) for _ in range(300)]
    got = ground_heights(empty_settings, points)
    for (x, y), h in zip(points, got, strict=True):
        fc, fr = x - t.c - 0.5, t.f - y - 0.5
        c, r = math.floor(fc), math.floor(fr)
        dx, dy = fc - c, fr - r
        expected = (values[r, c] * (1 - dx) * (1 - dy) + values[r, c + 1] * dx * (1 - dy)
                    + values[r + 1, c] * (1 - dx) * dy + values[r + 1, c + 1] * dx * dy)
        assert h == pytest.approx(expected, abs=1e-9)


def test_ground_heights_outside_the_model_or_on_nodata_are_none(
        tmp_path: Path, empty_settings: Settings) -> None:
    values, t = sample_tile()
    values = values.copy()
    values[100:110, 200:210] = -9999.0  # a hole, as at the state border
    settings = own_settings(empty_settings, tmp_path)
    assert ground_heights(settings, [(453500.0, 5733500.0)]) == [None]  # nothing loaded
    load(TerrainSource(), [write_tile(tmp_path / "dgm_33453-5733.tif", values, t.c, t.f)],
         QUIET, settings)
    x_hole, y_hole = rasterio.transform.xy(t, 105, 205)
    x_ok, y_ok = rasterio.transform.xy(t, 300, 300)
    got = ground_heights(settings, [(x_hole, y_hole), (t.c - 10, t.f - 10),
                                    (t.c + 500, t.f + 0.5), (x_ok, y_ok)])
    assert got[:3] == [None, None, None]
    assert got[3] == float(values[300, 300])
    assert ground_heights(settings, []) == []


# -- the coverage through the server ----------------------------------------------------------

@pytest.fixture(scope="module")
def cog(loaded_settings: Settings) -> Path:
    """The terrain the server publishes (loaded with the samples)."""
    return terrain_path(loaded_settings)


def window_of(cog_path: Path, left: float, bottom: float, right: float, top: float,
              **read: object) -> np.ndarray:
    with rasterio.open(cog_path) as src:
        window = from_bounds(left, bottom, right, top, src.transform)
        return src.read(1, window=window, **read)


def covjson_values(doc: dict) -> np.ndarray:
    rng = doc["ranges"]["height"]
    return np.array([np.nan if v is None else v for v in rng["values"]],
                    dtype="float64").reshape(rng["shape"])


def test_collection_describes_the_grid_and_its_crs(server: Server, cog: Path) -> None:
    doc = server.get("/collections/terrain?f=json").json()
    assert doc["storageCrs"] == STORAGE_CRS_URI == "http://www.opengis.net/def/crs/EPSG/0/25833"
    with rasterio.open(cog) as src:
        spatial = doc["extent"]["spatial"]
        assert spatial["storageCrsBbox"] == [list(src.bounds)]
        assert [g["cellsCount"] for g in spatial["grid"]] == [src.width, src.height]
        assert [g["resolution"] for g in spatial["grid"]] == list(src.res)
        corners = Transformer.from_crs(25833, 4326, always_xy=True).transform(
            [src.bounds.left, src.bounds.right], [src.bounds.bottom, src.bounds.top])
    west, south, east, north = spatial["bbox"][0]
    assert west <= min(corners[0]) and east >= max(corners[0])
    assert south <= min(corners[1]) and north >= max(corners[1])
    links = {link["rel"]: link for link in doc["links"]}
    assert "http://www.opengis.net/def/rel/ogc/1.0/coverage" in links
    schema = server.get("/collections/terrain/schema?f=json").json()
    assert schema["properties"]["height"]["type"] == "number"
    assert schema["properties"]["height"]["x-ogc-unit"] == "m"
    classes = server.get("/conformance?f=json").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/coverage-scaling" in classes


def test_coverage_in_storage_crs_equals_the_cog(server: Server, cog: Path) -> None:
    box = (453610.0, 5734480.0, 453750.0, 5734560.0)
    r = server.get(COVERAGE, params={"bbox": ",".join(map(str, box)),
                                     "bbox-crs": STORAGE_CRS_URI, "f": "json"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/prs.coverage+json")
    doc = r.json()
    system = doc["domain"]["referencing"][0]["system"]
    assert system == {"type": "ProjectedCRS", "id": STORAGE_CRS_URI}
    axes = doc["domain"]["axes"]
    assert (axes["x"]["start"], axes["x"]["stop"], axes["x"]["num"]) == (
        box[0] + 0.5, box[2] - 0.5, box[2] - box[0])
    assert (axes["y"]["start"], axes["y"]["stop"], axes["y"]["num"]) == (
        box[3] - 0.5, box[1] + 0.5, box[3] - box[1])
    np.testing.assert_allclose(covjson_values(doc), window_of(cog, *box), atol=0.0005)


@pytest.mark.parametrize("crs", [CRS84, EPSG4326])
def test_a_lonlat_bbox_covers_its_densified_outline(server: Server, cog: Path,
                                                    crs: str) -> None:
    lon0, lat0, lon1, lat1 = 14.3275, 51.7535, 14.3321, 51.7561
    box = (lon0, lat0, lon1, lat1) if crs == CRS84 else (lat0, lon0, lat1, lon1)
    r = server.get(COVERAGE, params={"bbox": ",".join(map(str, box)), "bbox-crs": crs})
    assert r.status_code == 200, r.text
    doc = r.json()
    # The box's edges carried into EPSG:25833 point by point: its outline bulges.
    to_utm = Transformer.from_crs(4326, 25833, always_xy=True)
    edge = np.linspace(0, 1, 101)
    lons = np.concatenate([lon0 + (lon1 - lon0) * edge, np.full(101, lon1),
                           lon1 - (lon1 - lon0) * edge, np.full(101, lon0)])
    lats = np.concatenate([np.full(101, lat0), lat0 + (lat1 - lat0) * edge,
                           np.full(101, lat1), lat1 - (lat1 - lat0) * edge])
    xs, ys = to_utm.transform(lons, lats)
    left, right = math.floor(xs.min()), math.ceil(xs.max())
    bottom, top = math.floor(ys.min()), math.ceil(ys.max())
    axes = doc["domain"]["axes"]
    assert (axes["x"]["start"], axes["x"]["num"]) == (left + 0.5, right - left)
    assert (axes["y"]["start"], axes["y"]["num"]) == (top - 0.5, top - bottom)
    np.testing.assert_allclose(covjson_values(doc), window_of(cog, left, bottom, right, top),
                               atol=0.0005)


@pytest.mark.parametrize(("params", "shape"), [
    ({"scale-factor": "4"}, (500, 500)),
    ({"scale-factor": "2.5", "subset": "E(453000:454000),N(5733000:5734000)"}, (400, 400)),
    ({"width": "300", "height": "200"}, (200, 300)),
    ({"scale-size": "E(250),N(125)"}, (125, 250)),
    ({"scale-axes": "E(8),N(2)", "subset": "E(454000:455000),N(5734000:5734400)"}, (200, 125)),
])
def test_scaling_gives_the_shape_asked_for(server: Server, cog: Path, params: dict,
                                           shape: tuple[int, int]) -> None:
    r = server.get(COVERAGE, params=params)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["ranges"]["height"]["shape"] == list(shape)
    bounds = rasterio.open(cog).bounds
    if "subset" in params:
        (e0, e1), (n0, n1) = [tuple(map(float, part.split("(")[1].rstrip(")").split(":")))
                              for part in params["subset"].split(",")]
        bounds = rasterio.coords.BoundingBox(e0, n0, e1, n1)
    expected = window_of(cog, *bounds, out_shape=shape, resampling=Resampling.average)
    np.testing.assert_allclose(covjson_values(doc), expected, atol=0.0005)


def test_geotiff_is_the_window_asked_for(server: Server, cog: Path) -> None:
    box = (454120.0, 5734600.0, 454380.0, 5734790.0)  # around the Oberkirche
    r = server.get(COVERAGE, params={"bbox": ",".join(map(str, box)),
                                     "bbox-crs": STORAGE_CRS_URI, "f": "GTiff"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("image/tiff")
    assert len(r.content) < os.path.getsize(cog) / 10, "only the window, not the file"
    with MemoryFile(r.content) as mem, mem.open() as tif:
        assert tif.driver == "GTiff" and tif.crs.to_epsg() == 25833
        assert tuple(tif.bounds) == box and tif.res == (1.0, 1.0)
        np.testing.assert_array_equal(tif.read(1), window_of(cog, *box))
    r = server.get(COVERAGE, params={"bbox": ",".join(map(str, box)),
                                     "bbox-crs": STORAGE_CRS_URI, "f": "GTiff",
                                     "scale-factor": "10"})
    with MemoryFile(r.content) as mem, mem.open() as tif:
        assert (tif.width, tif.height) == (26, 19) and tuple(tif.bounds) == box
        np.testing.assert_array_equal(tif.read(1), window_of(
            cog, *box, out_shape=(19, 26), resampling=Resampling.average))


def test_a_request_past_the_cell_limit_is_refused_in_words(server: Server,
                                                           loaded_settings: Settings,
                                                           cog: Path) -> None:
    with rasterio.open(cog) as src:
        cells = src.width * src.height
    assert cells > loaded_settings.max_coverage_cells
    r = server.get(COVERAGE, params={"f": "json"})
    assert r.status_code == 400
    text = r.json()["description"]
    assert f"{cells:,} cells" in text and f"{loaded_settings.max_coverage_cells:,}" in text
    assert "scale-factor=" in text


@pytest.mark.parametrize(("query", "words"), [
    ("crs=EPSG:4326", "unknown query parameter 'crs'"),
    ("bbox=14.3,51.7,14.4", "bbox takes 4 numbers"),
    ("bbox=14.4,51.7,14.3,51.8", "lower corner first"),
    ("bbox=14.3,51.7,14.4,51.8&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/31468",
     "is not offered"),
    ("bbox=10,50,10.1,50.1", "lies outside the terrain"),
    ("subset=Lat(51.7:51.8)", "unknown axis 'Lat'"),
    ("subset=E(454000:453000)", "low value comes first"),
    ("bbox=14.3,51.7,14.4,51.8&subset=E(453000:453100)", "either bbox or subset"),
    ("scale-factor=0", "scale-factor"),
    ("scale-factor=5e-324", "the limit is"),
    ("scale-factor=2&width=10", "one way of scaling"),
    ("width=-3", "width"),
    ("f=png", "f must be one of"),
    ("scale-factor=", "is empty"),
])
def test_bad_coverage_requests_are_told_why(server: Server, query: str, words: str) -> None:
    r = server.get(f"{COVERAGE}?{query}")
    assert r.status_code == 400, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert words in r.json()["description"]


def test_openapi_documents_the_coverage_parameters(server: Server) -> None:
    doc = server.get("/openapi?f=json").json()
    names = {p["$ref"].rsplit("/", 1)[1] for p in doc["paths"][COVERAGE]["get"]["parameters"]
             if "$ref" in p}
    assert {"subset", "scale-factor", "scale-size", "width", "height"} <= names
    refs = [v for k, v in _items(doc["paths"][COVERAGE]) if k == "$ref"]
    assert refs and all(ref.startswith("#/") for ref in refs)  # none leaves the document


def _items(node: object) -> list[tuple[str, object]]:
    if isinstance(node, dict):
        return [*node.items(), *(i for v in node.values() for i in _items(v))]
    if isinstance(node, list):
        return [i for v in node for i in _items(v)]
    return []


def test_owslib_reads_the_coverage(server: Server, cog: Path) -> None:
    from owslib.ogcapi.coverages import Coverages

    client = Coverages(server.url)
    assert "terrain" in client.coverages()
    data = client.coverage("terrain", subset=[("E", 453900, 454100), ("N", 5734500, 5734600)],
                           scale_factor=2)
    doc = json.load(data)
    assert doc["ranges"]["height"]["shape"] == [50, 100]
    np.testing.assert_allclose(covjson_values(doc), window_of(
        cog, 453900, 5734500, 454100, 5734600, out_shape=(50, 100),
        resampling=Resampling.average), atol=0.0005)


def test_a_terrain_replaced_under_the_server_is_served_at_once(
        server: Server, loaded_settings: Settings, tmp_path: Path) -> None:
    # Workers open the file per request: a load's atomic swap is seen by the next one. The
    # module's data directory is shared with other modules, so this works on a copy.
    shared = terrain_path(loaded_settings)
    own = own_settings(loaded_settings, tmp_path)
    own.data_dir.mkdir()
    shutil.copy(shared, terrain_path(own))
    srv = Server(own, tmp_path / "server.log", forked=True)
    try:
        box = "453000,5733000,453010,5733010"
        params = {"bbox": box, "bbox-crs": STORAGE_CRS_URI}
        before = covjson_values(srv.get(COVERAGE, params=params).json())
        values, t = sample_tile()
        raised = write_tile(tmp_path / "dgm_33453-5733.tif", values + 1.0, t.c, t.f)
        load(TerrainSource(), [raised], LoadOptions(progress=False, mode=LoadMode.UPSERT), own)
        after = covjson_values(srv.get(COVERAGE, params=params).json())
        np.testing.assert_allclose(after, before + 1.0, atol=0.0005)
    finally:
        srv.stop()


def test_before_any_terrain_is_loaded_the_coverage_says_so(empty_settings: Settings,
                                                           tmp_path: Path) -> None:
    srv = Server(own_settings(empty_settings, tmp_path), tmp_path / "server.log",
                 forked=True)
    try:
        assert srv.get("/collections/terrain?f=json").status_code == 200
        assert "terrain" in {c["id"] for c in srv.get("/collections?f=json").json()["collections"]}
        r = srv.get(COVERAGE)
        assert r.status_code == 404 and "has not been loaded" in r.json()["description"]
    finally:
        srv.stop()
