"""LoD2 buildings from CityJSON: `twin load buildings`, the CRS normaliser, the AdV codes, the
tile-scoped replace, the links to parcels and heritage, and the collection `buildings` served.

The real models in ../shared/data/cityjson/ (versions 1.0-2.0, with and without CRS, Swiss and
Dutch CRS, Solids, several LoDs, building parts, 2,572 Saxon LoD2 buildings) are read here
independently (json, numpy, pyproj, shapely): expected values come from them and from PostGIS,
never from the code under test.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import psycopg
import pyogrio
import pyogrio.raw
import pytest
import requests
import shapely
from owslib.ogcapi.features import Features
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from etl import adv_codes
from etl.city_crs import CRSNotUnderstood, parse_city_crs
from etl.cityjson import cityjson_class
from tests.conftest import PARCELS_SAMPLE, Server
from tests.helpers import assert_refused, last_run, run_twin
from twin.settings import PROJECT_ROOT, Settings

CITYJSON = PROJECT_ROOT.parent / "shared" / "data" / "cityjson"
SAXON_TILE = CITYJSON / "sn_goerlitz_schoenbach_lod2_33468_5654_2.city.json"
SAXON_6 = CITYJSON / "sn_schoenbach_merged_6tiles.city.json"
ZURICH = CITYJSON / "zurich_subset_lod2.city.json"
ROSTOCK = CITYJSON / "rostock_hdbuu_v1.0.city.json"
ROTTERDAM = CITYJSON / "rotterdam_subset.city.json"
DEN_HAAG = CITYJSON / "denhaag_DH_01_subs.city.json"
MULTI_LOD = CITYJSON / "3dbag_multi_lod.city.json"
SAMPLES = PROJECT_ROOT / "data" / "samples"
SAMPLE_TILES = sorted((SAMPLES / "buildings").glob("*.city.json"))
HERITAGE_GEOMS = SAMPLES / "heritage" / "denkmale_cottbus.gpkg"
ITEMS = "/collections/buildings/items"
TYPES = {"RoofSurface": "roof", "WallSurface": "wall", "GroundSurface": "ground",
         "ClosureSurface": "closure"}
COMPOUND_URL = ("http://www.opengis.net/def/crs-compound?"
                "1=http://www.opengis.net/def/crs/EPSG/0/25833&"
                "2=http://www.opengis.net/def/crs/EPSG/0/7837")
ADV_URN = "urn:adv:crs:ETRS89_UTM33*DE_DHHN2016_NH"


# -- the models, read independently ---------------------------------------------------------------
class Model:
    """A CityJSON file as plain JSON: Buildings, their parts, LoD2 faces, real coordinates."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.doc = json.loads(path.read_text(encoding="utf-8"))
        t = self.doc.get("transform", {"scale": [1, 1, 1], "translate": [0, 0, 0]})
        self.vertices = np.asarray(self.doc["vertices"], dtype=float) * t["scale"] \
            + t["translate"]
        self.objects = self.doc["CityObjects"]

    @property
    def buildings(self) -> list[str]:
        return [k for k, o in self.objects.items() if o["type"] == "Building"]

    def parts(self, building: str) -> list[str]:
        return [k for k, o in self.objects.items() if o["type"] == "BuildingPart"
                and building in o.get("parents", [])]

    @staticmethod
    def chosen(obj: dict) -> dict | None:
        """The LoD2 geometry (the finest 2.x), else the finest."""
        geoms = obj.get("geometry") or []
        if not geoms:
            return None

        def lod(g: dict) -> tuple[float, ...]:
            return tuple(float(p) for p in str(g["lod"]).split("."))
        two = [g for g in geoms if lod(g)[0] == 2]
        return max(two or geoms, key=lod)

    @staticmethod
    def faces(geom: dict) -> list[tuple[list[list[int]], str]]:
        """(rings, published type) of every face."""
        sem = geom.get("semantics") or {}
        surfaces, values = sem.get("surfaces", []), sem.get("values")
        if geom["type"] in ("MultiSurface", "CompositeSurface"):
            shells, vals = [geom["boundaries"]], [values]
        elif geom["type"] == "Solid":
            shells, vals = geom["boundaries"], values or [None] * len(geom["boundaries"])
        else:
            raise AssertionError(geom["type"])
        out = []
        for shell, sv in zip(shells, vals, strict=True):
            for i, rings in enumerate(shell):
                index = sv[i] if sv is not None else None
                kind = TYPES.get(surfaces[index]["type"], "other") if index is not None \
                    else "other"
                out.append((rings, kind))
        return out

    def building_faces(self, building: str) -> list[tuple[list[list[int]], str]]:
        out = []
        for member in [building, *self.parts(building)]:
            geom = self.chosen(self.objects[member])
            if geom is not None:
                out.extend(self.faces(geom))
        return out

    def surface_types(self) -> Counter:
        return Counter(kind for b in self.buildings for _, kind in self.building_faces(b))

    def points(self, building: str) -> np.ndarray:
        """Every vertex of the building's faces, as the file has it."""
        idx = [i for rings, _ in self.building_faces(building) for ring in rings for i in ring]
        return self.vertices[idx]

    def write(self, path: Path, **changes) -> Path:
        doc = copy.deepcopy(self.doc)
        for key, value in changes.items():
            doc[key] = value
        path.write_text(json.dumps(doc), encoding="utf-8")
        return path


def load(settings: Settings, *paths: Path, extra: tuple[str, ...] = ()):
    return run_twin(settings, "load", "buildings", *map(str, paths), *extra)


def loaded(settings: Settings, *paths: Path, extra: tuple[str, ...] = ()) -> None:
    result = load(settings, *paths, extra=extra)
    assert result.returncode == 0, result.stderr


def rows(settings: Settings, sql: str, params: tuple = ()) -> list[dict]:
    with psycopg.connect(settings.dsn, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def state(settings: Settings) -> tuple:
    """What a reader sees of both tables, and their row versions."""
    return rows(settings, """
        SELECT (SELECT count(*) FROM twin.buildings) AS b,
               (SELECT md5(string_agg(t::text, '|' ORDER BY building_id))
                FROM twin.buildings t) AS bd,
               (SELECT string_agg(xmin::text, ',' ORDER BY building_id)
                FROM twin.buildings) AS bx,
               (SELECT count(*) FROM twin.building_surfaces) AS s,
               (SELECT md5(string_agg(t::text, '|' ORDER BY building_id, surface_no))
                FROM twin.building_surfaces t) AS sd,
               (SELECT string_agg(xmin::text, ',' ORDER BY building_id, surface_no)
                FROM twin.building_surfaces) AS sx""")[0]


def stored_points(settings: Settings, tile: str) -> dict[str, np.ndarray]:
    """Building id -> every vertex of its stored faces (closing points included)."""
    found = rows(settings, "SELECT s.building_id, ST_AsBinary(s.geom) AS wkb "
                 "FROM twin.building_surfaces s JOIN twin.buildings b USING (building_id) "
                 "WHERE b.tile = %s", (tile,))
    geoms = shapely.from_wkb([r["wkb"] for r in found])
    coords, index = shapely.get_coordinates(geoms, include_z=True, return_index=True)
    ids = np.asarray([r["building_id"] for r in found])[index]
    return {b: coords[ids == b] for b in np.unique(ids)}


def same_points(a: np.ndarray, b: np.ndarray, tol: float = 0.0005) -> bool:
    """The same set of points, to ``tol`` metres."""
    ka = {tuple(p) for p in np.round(a / tol).astype(np.int64)}
    kb = {tuple(p) for p in np.round(b / tol).astype(np.int64)}
    return ka == kb


@pytest.fixture(scope="module")
def db(empty_settings: Settings) -> Settings:
    return empty_settings


# -- the CRS normaliser ---------------------------------------------------------------------------
@pytest.mark.parametrize(("spelling", "horizontal", "datum"), [
    ("EPSG:25833", "EPSG:25833", None),
    ("epsg::25833", "EPSG:25833", None),
    ("25833", "EPSG:25833", None),
    ("http://www.opengis.net/def/crs/EPSG/0/25833", "EPSG:25833", None),
    ("https://www.opengis.net/def/crs/EPSG/0/25833", "EPSG:25833", None),
    ("urn:ogc:def:crs:EPSG::25833", "EPSG:25833", None),
    ("urn:ogc:def:crs,crs:EPSG::25833,crs:EPSG::7837", "EPSG:25833", "EPSG:7837"),
    (COMPOUND_URL, "EPSG:25833", "EPSG:7837"),
    (COMPOUND_URL.replace("http:", "https:"), "EPSG:25833", "EPSG:7837"),
    ("EPSG:25833+7837", "EPSG:25833", "EPSG:7837"),
    (ADV_URN, "EPSG:25833", "EPSG:7837"),
    ("urn:adv:crs:ETRS89_UTM33", "EPSG:25833", None),
    ("urn:adv:crs:ETRS89_UTM32*DE_DHHN92_NH", "EPSG:25832", "EPSG:5783"),
    ("EPSG:2056", "EPSG:2056", None),
    ("EPSG:7415", "EPSG:28992", "EPSG:5709"),
])
def test_every_crs_spelling_names_its_horizontal_crs_and_height_datum(
        spelling: str, horizontal: str, datum: str | None) -> None:
    crs = parse_city_crs(spelling)
    assert (crs.horizontal_code, crs.height_datum) == (horizontal, datum)


def test_neither_cjio_nor_pyproj_alone_reads_what_real_files_carry() -> None:
    # Why the normaliser exists: cjio takes the height datum of the compound URL for the CRS,
    # and PROJ does not know the AdV URN.
    cityjson = cityjson_class()(j={"type": "CityJSON",
                                   "metadata": {"referenceSystem": COMPOUND_URL}})
    assert cityjson.get_epsg() == 7837
    with pytest.raises(CRSError):
        CRS.from_user_input(ADV_URN)


@pytest.mark.parametrize(("spelling", "words"), [
    ("EPSG:7837", "only a height datum"),
    ("EPSG:4978", "not a projected or geographic CRS"),
    ("urn:adv:crs:ETRS89_UTM99", "unknown AdV CRS"),
    ("not a crs", "not a CRS that PROJ knows"),
])
def test_crs_that_name_no_horizontal_crs_are_refused(spelling: str, words: str) -> None:
    with pytest.raises(CRSNotUnderstood, match=words):
        parse_city_crs(spelling)


# -- the AdV codes ------------------------------------------------------------------------------
def test_roof_forms_are_the_adv_list_with_german_and_english_labels() -> None:
    # AX_Dachform of the GeoInfoDok, as the catalogue lists it.
    catalogue = {"1000": "Flachdach", "2100": "Pultdach", "2200": "Versetztes Pultdach",
                 "3100": "Satteldach", "3200": "Walmdach", "3300": "Krüppelwalmdach",
                 "3400": "Mansardendach", "3500": "Zeltdach", "3600": "Kegeldach",
                 "3700": "Kuppeldach", "3800": "Sheddach", "3900": "Bogendach",
                 "4000": "Turmdach", "5000": "Mischform", "9999": "Sonstiges"}
    for code, german in catalogue.items():
        decoded = adv_codes.roof_type(code)
        assert (decoded.code, decoded.de) == (code, german)
        assert decoded.en
    assert adv_codes.roof_type(3100.0).de == "Satteldach"
    # Not AdV: Saxony's 0, SIG3D's CityGML code 1030, free text.
    assert {adv_codes.roof_type(v) for v in ("0", "1030", "Satteldach", None)} == {None}


def test_building_functions_decode_the_alkis_code_after_the_object_type() -> None:
    assert adv_codes.function("31001_1010").de == "Wohnhaus"
    assert adv_codes.function("31001_3041").en == "Church"
    assert adv_codes.function(["31001_2000"]).de == "Gebäude für Wirtschaft oder Gewerbe"
    assert adv_codes.function("31001_9998").de == "Nach Quellenlage nicht zu spezifizieren"
    unknown = adv_codes.function("31001_1234")  # well-formed, not in the list: kept, no label
    assert (unknown.code, unknown.de, unknown.en) == ("31001_1234", None, None)
    assert {adv_codes.function(v) for v in ("1010", "Wohnhaus", "31002_1000", None)} == {None}


# -- real models -----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [SAXON_TILE, ROSTOCK, ZURICH, SAXON_6],
                         ids=lambda p: p.name)
def test_real_models_load_with_their_buildings_faces_and_coordinates(db: Settings,
                                                                      path: Path) -> None:
    model = Model(path)
    loaded(db, path)
    tile = path.name.removesuffix(".city.json")
    stored = {r["building_id"]: r for r in rows(
        db, "SELECT *, ST_Area(geom) AS area, ST_IsValid(geom) AS valid FROM twin.buildings "
            "WHERE tile = %s", (tile,))}
    assert sorted(stored) == sorted(model.buildings)
    assert all(r["valid"] and r["area"] > 0 for r in stored.values())
    assert {r["lod"] for r in stored.values()} == {"2"}
    types = {r["surface_type"]: r["n"] for r in rows(
        db, "SELECT surface_type, count(*) AS n FROM twin.building_surfaces s "
            "JOIN twin.buildings b USING (building_id) WHERE b.tile = %s GROUP BY 1", (tile,))}
    assert types == dict(model.surface_types())
    parts = rows(db, "SELECT count(DISTINCT part_id) AS n FROM twin.building_surfaces s "
                     "JOIN twin.buildings b USING (building_id) WHERE b.tile = %s", (tile,))
    assert parts[0]["n"] == sum(len(model.parts(b)) for b in model.buildings)

    # Coordinates: the file's vertices carried into EPSG:25833 by pyproj, heights as they are.
    crs = model.doc["metadata"]["referenceSystem"]
    points = stored_points(db, tile)
    to_25833 = Transformer.from_crs(CRS.from_user_input(crs), "EPSG:25833", always_xy=True)
    for b in model.buildings[:300]:
        source = model.points(b)
        x, y = to_25833.transform(source[:, 0], source[:, 1])
        assert same_points(points[b], np.column_stack([x, y, source[:, 2]])), b
        assert stored[b]["roof_height"] == pytest.approx(source[:, 2].max(), abs=0.001)
        assert stored[b]["height_datum"] is None  # none of these files names one


def test_swiss_model_is_reprojected_and_keeps_its_holes(db: Settings) -> None:
    loaded(db, ZURICH)
    found = rows(db, "SELECT ST_XMin(e) AS x0, ST_YMin(e) AS y0, ST_XMax(e) AS x1, "
                     "ST_YMax(e) AS y1 FROM (SELECT ST_Extent(geom) AS e FROM twin.buildings "
                     "WHERE tile = 'zurich_subset_lod2') s")[0]
    # Zurich, 8.5 E 47.4 N, lies some 500 km west of UTM 33's false easting.
    lon, lat = Transformer.from_crs("EPSG:25833", "EPSG:4258", always_xy=True).transform(
        (found["x0"] + found["x1"]) / 2, (found["y0"] + found["y1"]) / 2)
    assert 8.4 < lon < 8.7 and 47.3 < lat < 47.5
    model = Model(ZURICH)
    holes = sum(len(rings) > 1 for b in model.buildings for rings, _ in model.building_faces(b))
    assert holes > 0
    assert rows(db, "SELECT count(*) AS n FROM twin.building_surfaces s JOIN twin.buildings b "
                    "USING (building_id) WHERE b.tile = 'zurich_subset_lod2' "
                    "AND ST_NumInteriorRings(s.geom) > 0")[0]["n"] == holes


def test_saxon_attributes_are_decoded_and_kept_by_allow_list(db: Settings) -> None:
    loaded(db, SAXON_6)
    model = Model(SAXON_6)
    stored = {r["building_id"]: r for r in rows(
        db, "SELECT * FROM twin.buildings WHERE tile = 'sn_schoenbach_merged_6tiles'")}
    assert len(stored) == 2572
    for b in model.buildings:
        attrs, row = model.objects[b]["attributes"], stored[b]
        assert row["height"] == pytest.approx(attrs["measuredHeight"])
        assert row["storeys"] == attrs["storeysAboveGround"]
        assert row["ground_height"] == pytest.approx(attrs["H_Boden"])
        assert row["eave_height"] == pytest.approx(attrs["H_Traufe"])
        assert row["function_code"] == attrs["function"]
        assert row["roof_type_code"] == (None if attrs["roofType"] == "0" else attrs["roofType"])
    functions = Counter(model.objects[b]["attributes"]["function"] for b in model.buildings)
    decoded = Counter((r["function_code"], r["function_de"], r["function_en"])
                      for r in stored.values())
    # Labels of the ALKIS catalogue (AX_Gebaeudefunktion).
    assert decoded[("31001_2000", "Gebäude für Wirtschaft oder Gewerbe",
                    "Building for business or trade")] == functions["31001_2000"]
    assert decoded[("31001_3072", "Feuerwehr", "Fire station")] == functions["31001_3072"]
    roofs = Counter(model.objects[b]["attributes"]["roofType"] for b in model.buildings)
    stored_roofs = Counter((r["roof_type_code"], r["roof_type_de"]) for r in stored.values())
    assert stored_roofs[("3100", "Satteldach")] == roofs["3100"]
    assert stored_roofs[("5000", "Mischform")] == roofs["5000"]
    assert stored_roofs[(None, None)] == roofs["0"] > 0
    notes = " ".join(last_run(db)["notes"])
    assert f"{roofs['0']} value(s) of roofType are no AdV code" in notes
    for dropped in ("Dachneig", "Gemeinde", "Obj_Datum", "name"):
        assert dropped in notes
    # Values of attributes off the allow-list go nowhere (the names of public buildings).
    names = {model.objects[b]["attributes"].get("name") for b in model.buildings} - {None}
    dump = json.dumps([{k: str(v) for k, v in r.items()} for r in stored.values()])
    assert names and not any(n in dump for n in names)


def test_a_v1_0_model_without_ground_faces_is_upgraded_with_a_footprint_from_its_roof(
        db: Settings) -> None:
    result = load(db, ROSTOCK)
    assert result.returncode == 0, result.stderr
    assert "CityJSON 1.0 upgraded to 2.0" in result.stderr
    model = Model(ROSTOCK)
    roof = [rings for b in model.buildings for rings, kind in model.building_faces(b)
            if kind == "roof"]
    expected = shapely.union_all([shapely.Polygon(model.vertices[r[0]][:, :2]) for r in roof])
    (row,) = rows(db, "SELECT ST_AsBinary(geom) AS wkb FROM twin.buildings "
                      "WHERE tile = 'rostock_hdbuu_v1.0'")
    footprint = shapely.from_wkb(row["wkb"])
    assert footprint.symmetric_difference(expected).area < 0.01 * expected.area


# -- Solids, several LoDs, other compound CRS: the Dutch models moved to Cottbus ------------------
def moved(model: Model, tmp_path: Path, crs: str = "EPSG:25833+7837") -> Path:
    """The model with its vertices moved to central Cottbus and its CRS declared as ``crs``:
    its geometry as it is, somewhere it may be loaded."""
    lower = model.vertices.min(axis=0)
    t = model.doc["transform"]
    translate = [t["translate"][0] - lower[0] + 453500, t["translate"][1] - lower[1] + 5733500,
                 t["translate"][2]]
    metadata = {**model.doc.get("metadata", {}), "referenceSystem": crs}
    return model.write(tmp_path / model.path.name.replace(".city", "_cottbus.city"),
                       transform={**t, "translate": translate}, metadata=metadata)


def test_solids_with_building_parts_load_face_by_face(db: Settings, tmp_path: Path) -> None:
    model = Model(DEN_HAAG)
    assert {g["type"] for o in model.objects.values() for g in o.get("geometry", [])} == \
        {"Solid"}
    path = moved(model, tmp_path)
    loaded(db, path)
    tile = path.name.removesuffix(".city.json")
    found = rows(db, "SELECT surface_type, count(*) AS n, count(part_id) AS in_parts "
                     "FROM twin.building_surfaces s JOIN twin.buildings b USING (building_id) "
                     "WHERE b.tile = %s GROUP BY 1", (tile,))
    assert {r["surface_type"]: r["n"] for r in found} == dict(model.surface_types())
    in_parts = sum(len(model.faces(model.chosen(model.objects[p])))
                   for b in model.buildings for p in model.parts(b))
    assert sum(r["in_parts"] for r in found) == in_parts > 0
    assert {r["height_datum"] for r in rows(db, "SELECT height_datum FROM twin.buildings "
                                               "WHERE tile = %s", (tile,))} == {"EPSG:7837"}


def test_of_several_lods_the_lod2_geometry_is_kept(db: Settings, tmp_path: Path) -> None:
    model = Model(MULTI_LOD)
    lods = {str(g["lod"]) for o in model.objects.values() for g in o["geometry"]}
    assert lods == {"1.2", "1.3", "2.2"}
    path = moved(model, tmp_path)
    result = load(db, path)
    assert result.returncode == 0, result.stderr
    assert "10 object(s) have several LoDs; LoD2 kept" in result.stderr
    tile = path.name.removesuffix(".city.json")
    assert {r["lod"] for r in rows(db, "SELECT lod FROM twin.buildings WHERE tile = %s",
                                   (tile,))} == {"2.2"}
    lod22 = sum(len(o["geometry"][[str(g["lod"]) for g in o["geometry"]].index("2.2")]
                    ["boundaries"][0]) for o in model.objects.values())
    assert rows(db, "SELECT count(*) AS n FROM twin.building_surfaces s JOIN twin.buildings b "
                    "USING (building_id) WHERE b.tile = %s", (tile,))[0]["n"] == lod22


@pytest.mark.parametrize("spelling", [COMPOUND_URL, ADV_URN, "EPSG:25833+7837",
                                      "urn:ogc:def:crs,crs:EPSG::25833,crs:EPSG::7837"])
def test_compound_and_adv_crs_keep_coordinates_and_record_the_height_datum(
        db: Settings, tmp_path: Path, spelling: str) -> None:
    model = Model(SAXON_TILE)
    path = model.write(tmp_path / SAXON_TILE.name,
                       metadata={**model.doc["metadata"], "referenceSystem": spelling})
    loaded(db, path)
    tile = SAXON_TILE.name.removesuffix(".city.json")
    found = rows(db, "SELECT DISTINCT height_datum FROM twin.buildings WHERE tile = %s", (tile,))
    assert [r["height_datum"] for r in found] == ["EPSG:7837"]
    points = stored_points(db, tile)
    for b in model.buildings:
        assert same_points(points[b], model.points(b)), b


# -- refusals --------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [ROTTERDAM, DEN_HAAG, MULTI_LOD], ids=lambda p: p.name)
def test_a_model_without_crs_is_refused_unless_crs_is_given(db: Settings, path: Path) -> None:
    before = state(db)
    result = load(db, path)
    assert_refused(result, path, ["declares no CRS", "--crs"])
    # The Dutch CRS given: the coordinates land in the Netherlands, where no Cottbus building
    # can be: refused as the sign of a wrong CRS.
    result = load(db, path, extra=("--crs", "EPSG:7415"))
    assert_refused(result, path, ["cannot be in Germany", "EPSG:28992", "is the CRS of the "
                                  "file right?", "field 'geometry'"])
    assert state(db) == before
    assert last_run(db)["outcome"] == "refused"


def test_a_model_given_the_wrong_crs_is_refused(db: Settings) -> None:
    before = state(db)
    result = load(db, SAXON_TILE, extra=("--crs", "EPSG:2056"))
    assert_refused(result, SAXON_TILE, ["cannot be in Germany", "EPSG:2056",
                                        f"{len(Model(SAXON_TILE).buildings)} building(s)"])
    assert state(db) == before


def test_a_model_without_crs_loads_with_crs_given(db: Settings, tmp_path: Path) -> None:
    model = Model(SAXON_TILE)
    path = model.write(tmp_path / "ohne_crs.city.json", metadata={"title": "no CRS"})
    assert_refused(load(db, path), path, ["declares no CRS"])
    loaded(db, path, extra=("--crs", "EPSG:25833"))
    assert rows(db, "SELECT count(*) AS n FROM twin.buildings WHERE tile = 'ohne_crs'"
                )[0]["n"] == len(model.buildings)


@pytest.mark.parametrize(("name", "content", "words"), [
    ("leer.city.json", b"", ["empty"]),
    ("kaputt.city.json", b'{"type": "CityJSON", "version": "2.0", "CityObj',
     ["not a CityJSON file"]),
    ("geojson.city.json", b'{"type": "FeatureCollection", "features": []}',
     ["not a CityJSON file"]),
    ("alt.city.json", b'{"type": "CityJSON", "version": "0.9", "CityObjects": {}, '
                      b'"vertices": []}', ["version 0.9", "1.0, 1.1, 2.0"]),
    ("latin1.city.json", '{"type": "CityJSON", "x": "Straße"}'.encode("latin-1"),
     ["not UTF-8"]),
])
def test_files_that_are_no_readable_cityjson_are_refused(db: Settings, tmp_path: Path,
                                                         name: str, content: bytes,
                                                         words: list[str]) -> None:
    before = state(db)
    path = tmp_path / name
    path.write_bytes(content)
    assert_refused(load(db, path), path, words)
    assert state(db) == before


def test_crs_naming_only_heights_is_refused(db: Settings) -> None:
    assert_refused(load(db, SAXON_TILE, extra=("--crs", "EPSG:7837")), SAXON_TILE,
                   ["--crs is not understood", "only a height datum"])


def test_a_part_without_its_building_is_refused_with_row_and_field(db: Settings,
                                                                   tmp_path: Path) -> None:
    model = Model(SAXON_TILE)
    objects = copy.deepcopy(model.objects)
    part = next(k for k, o in objects.items() if o["type"] == "BuildingPart")
    objects[part]["parents"] = ["DENOTHERE"]
    path = model.write(tmp_path / SAXON_TILE.name, CityObjects=objects)
    before = state(db)
    row = list(objects).index(part) + 1
    assert_refused(load(db, path), path, [f"row {row} ({part})", "field 'parents'",
                                          "belongs to no Building"])
    assert state(db) == before


def test_a_geometry_that_is_no_cityjson_geometry_is_refused_with_row_and_field(
        db: Settings, tmp_path: Path) -> None:
    model = Model(SAXON_TILE)
    objects = copy.deepcopy(model.objects)
    b = model.buildings[3]
    objects[b]["geometry"][0]["boundaries"] = 5
    path = model.write(tmp_path / SAXON_TILE.name, CityObjects=objects)
    before = state(db)
    row = list(objects).index(b) + 1
    assert_refused(load(db, path), path, [f"row {row} ({b})", "field 'geometry'",
                                          "not valid CityJSON"])
    assert state(db) == before


def test_a_failed_file_leaves_every_file_of_the_load_unloaded(db: Settings,
                                                              tmp_path: Path) -> None:
    loaded(db, SAXON_TILE)
    broken = tmp_path / "zweite.city.json"
    broken.write_text('{"type": "CityJSON"', encoding="utf-8")
    model = Model(ZURICH)
    fewer = {k: v for k, v in model.objects.items() if k not in model.buildings[:5]
             and v.get("parents", [None])[0] not in model.buildings[:5]}
    changed = model.write(tmp_path / ZURICH.name, CityObjects=fewer)
    before = state(db)
    assert_refused(load(db, changed, broken), broken, ["not a CityJSON file"])
    assert state(db) == before


# -- faces that are not clean ---------------------------------------------------------------------
def test_degenerate_faces_are_skipped_and_counted_and_non_planar_ones_kept(
        db: Settings, tmp_path: Path) -> None:
    model = Model(SAXON_TILE)
    objects = copy.deepcopy(model.objects)
    vertices = [list(v) for v in model.doc["vertices"]]
    b = next(b for b in model.buildings if "RoofSurface" in {
        s["type"] for s in objects[b]["geometry"][0]["semantics"]["surfaces"]})
    faces = objects[b]["geometry"][0]["boundaries"]
    n_before = len(model.building_faces(b))
    # A face of two points repeated, a face of three points on a line, a hole of one point.
    faces.append([[faces[0][0][0], faces[0][0][1], faces[0][0][0], faces[0][0][1]]])
    p, q = np.asarray(vertices[faces[0][0][0]]), np.asarray(vertices[faces[0][0][1]])
    vertices.append([int(v) for v in p + 2 * (q - p)])
    faces.append([[faces[0][0][0], faces[0][0][1], len(vertices) - 1]])
    faces[0].append([faces[0][0][0]])
    objects[b]["geometry"][0]["semantics"]["values"] += [0, 0]
    # A roof face lifted at one corner by half a metre: no longer planar.
    roof = next(i for i, v in enumerate(objects[b]["geometry"][0]["semantics"]["values"])
                if objects[b]["geometry"][0]["semantics"]["surfaces"][v]["type"] ==
                "RoofSurface")
    corner = faces[roof][0][0]
    vertices.append([vertices[corner][0], vertices[corner][1], vertices[corner][2] + 500])
    faces[roof][0][0] = len(vertices) - 1
    path = model.write(tmp_path / SAXON_TILE.name, CityObjects=objects, vertices=vertices)
    result = load(db, path)
    assert result.returncode == 0, result.stderr
    assert "2 degenerate face(s) skipped" in result.stderr
    assert "1 degenerate hole(s) of faces skipped" in result.stderr
    found = rows(db, "SELECT count(*) AS n, bool_and(ST_NumInteriorRings(geom) = 0) AS no_hole,"
                     " count(*) FILTER (WHERE ST_ZMax(geom) - ST_ZMin(geom) > 0.4 AND "
                     "surface_type = 'roof') AS tilted FROM twin.building_surfaces "
                     "WHERE building_id = %s", (b,))[0]
    assert found["n"] == n_before and found["no_hole"] and found["tilted"] >= 1
    # Every face serialises, planar or not: one face never aborts a query.
    assert rows(db, "SELECT count(ST_AsGeoJSON(geom)) AS n FROM twin.building_surfaces"
                )[0]["n"] == rows(db, "SELECT count(*) AS n FROM twin.building_surfaces")[0]["n"]


# -- tiles -----------------------------------------------------------------------------------------
def test_a_tile_replaces_its_own_buildings_and_keeps_the_others(db: Settings,
                                                               tmp_path: Path) -> None:
    loaded(db, SAXON_TILE, ZURICH)
    zurich_before = rows(db, "SELECT md5(string_agg(t::text, '|' ORDER BY building_id)) AS d "
                             "FROM twin.buildings t WHERE tile = 'zurich_subset_lod2'")
    model = Model(SAXON_TILE)
    gone = model.buildings[:10]
    kept = {k: v for k, v in model.objects.items()
            if k not in gone and not set(v.get("parents", [])) & set(gone)}
    smaller = model.write(tmp_path / SAXON_TILE.name, CityObjects=kept)
    loaded(db, smaller)
    tile = SAXON_TILE.name.removesuffix(".city.json")
    assert rows(db, "SELECT count(*) AS n FROM twin.buildings WHERE tile = %s", (tile,)
                )[0]["n"] == len(model.buildings) - 10
    assert last_run(db)["deleted_count"] == 10
    assert rows(db, "SELECT md5(string_agg(t::text, '|' ORDER BY building_id)) AS d "
                    "FROM twin.buildings t WHERE tile = 'zurich_subset_lod2'") == zurich_before
    # The faces went with their buildings: none is left without one.
    assert rows(db, "SELECT count(*) AS n FROM twin.building_surfaces s WHERE NOT EXISTS "
                    "(SELECT 1 FROM twin.buildings b WHERE b.building_id = s.building_id)"
                )[0]["n"] == 0
    assert rows(db, "SELECT count(*) AS n FROM twin.building_surfaces WHERE building_id = ANY(%s)",
                (gone,))[0]["n"] == 0

    # The same tile under another file name, named with --tile.
    renamed = Model(SAXON_TILE).write(tmp_path / "LoD2_renamed.city.json")
    loaded(db, renamed, extra=("--tile", tile))
    assert rows(db, "SELECT count(*) AS n FROM twin.buildings WHERE tile = %s", (tile,)
                )[0]["n"] == len(model.buildings)
    assert rows(db, "SELECT count(*) AS n FROM twin.buildings WHERE tile = 'LoD2_renamed'"
                )[0]["n"] == 0


def test_loading_the_same_tiles_again_changes_nothing(db: Settings) -> None:
    loaded(db, SAXON_TILE, ZURICH)
    before = state(db)
    loaded(db, SAXON_TILE, ZURICH)
    assert state(db) == before  # not even rewritten: the row versions are the same
    run = last_run(db)
    assert (run["outcome"], run["inserted_count"], run["updated_count"],
            run["deleted_count"]) == ("unchanged", 0, 0, 0)


# -- the samples, their links and the API ----------------------------------------------------------
def sample_buildings() -> dict[str, tuple[Model, str]]:
    return {b: (m, b) for m in map(Model, SAMPLE_TILES) for b in m.buildings}


def test_samples_are_lod2_cityjson_2_with_a_compound_crs_and_small() -> None:
    assert SAMPLE_TILES and sum(p.stat().st_size for p in SAMPLE_TILES) < 2_000_000
    for path in SAMPLE_TILES:
        model = Model(path)
        assert model.doc["version"] == "2.0"
        assert parse_city_crs(model.doc["metadata"]["referenceSystem"]).height_datum == \
            "EPSG:7837"
        types = model.surface_types()
        assert types["roof"] and types["wall"] and types["ground"]
    assert 200 <= len(sample_buildings()) <= 600


def test_samples_load_with_their_faces_and_attributes(loaded_settings: Settings) -> None:
    stored = {r["building_id"]: r for r in rows(loaded_settings,
                                                "SELECT * FROM twin.buildings")}
    expected = sample_buildings()
    assert sorted(stored) == sorted(expected)
    for path in SAMPLE_TILES:
        model = Model(path)
        tile = path.name.removesuffix(".city.json")
        found = rows(loaded_settings, "SELECT surface_type, count(*) AS n FROM "
                     "twin.building_surfaces s JOIN twin.buildings b USING (building_id) "
                     "WHERE b.tile = %s GROUP BY 1", (tile,))
        assert {r["surface_type"]: r["n"] for r in found} == dict(model.surface_types())
    for b, (model, _) in expected.items():
        attrs, row = model.objects[b]["attributes"], stored[b]
        assert (row["function_code"], row["roof_type_code"], row["storeys"], row["height_datum"]
                ) == (attrs["function"], attrs["roofType"], attrs["storeysAboveGround"],
                      "EPSG:7837")
        address = model.objects[b].get("address")
        if address:
            a = address[0]
            assert row["address"].startswith(" ".join(
                str(a[k]) for k in ("ThoroughfareName", "ThoroughfareNumber") if k in a))


def test_buildings_are_linked_to_the_parcel_under_most_of_their_footprint(
        loaded_settings: Settings) -> None:
    meta, _, wkb, cols = pyogrio.raw.read(PARCELS_SAMPLE)
    keys = np.asarray(cols[list(meta["fields"]).index("flstkennz")])
    parcels = shapely.from_wkb(wkb)
    tree = shapely.STRtree(parcels)
    for r in rows(loaded_settings, "SELECT building_id, parcel, ST_AsBinary(geom) AS wkb "
                                   "FROM twin.buildings"):
        foot = shapely.from_wkb(r["wkb"])
        hits = tree.query(foot, predicate="intersects")
        shares = shapely.area(shapely.intersection(parcels[hits], foot))
        best = hits[np.lexsort((keys[hits], -shares))[0]]
        assert r["parcel"] == keys[best], r["building_id"]


def test_listed_buildings_and_heritage_areas_are_linked(loaded_settings: Settings) -> None:
    meta, _, wkb, cols = pyogrio.raw.read(HERITAGE_GEOMS, layer="denkmale")
    ids = cols[list(meta["fields"]).index("objektnummer")]
    kinds = cols[list(meta["fields"]).index("denkmalart")]
    published = {r["denkmalnummer"]: r for r in rows(
        loaded_settings, "SELECT denkmalnummer, bezeichnung FROM twin.heritage")}
    monuments = [(i, k, g) for i, k, g in zip(ids, kinds, shapely.from_wkb(wkb), strict=True)
                 if i in published]
    for r in rows(loaded_settings, "SELECT building_id, heritage_status, heritage_id, "
                                   "heritage_name, ST_AsBinary(geom) AS wkb FROM twin.buildings"):
        foot = shapely.from_wkb(r["wkb"])
        listed = [i for i, k, g in monuments if k != "Denkmalbereich" and (
            (g.geom_type in ("Point", "MultiPoint") and foot.intersects(g))
            or (g.geom_type in ("Polygon", "MultiPolygon")
                and foot.intersection(g).area > 0.5 * min(foot.area, g.area)))]
        areas = [i for i, k, g in monuments if k == "Denkmalbereich"
                 and g.intersects(foot.point_on_surface())]
        if listed:
            assert r["heritage_status"] == "listed" and r["heritage_id"] in listed
        elif areas:
            assert r["heritage_status"] == "area" and r["heritage_id"] in areas
        else:
            assert (r["heritage_status"], r["heritage_id"]) == ("none", None)
        if r["heritage_id"]:
            assert r["heritage_name"] == published[r["heritage_id"]]["bezeichnung"]
    # The landmarks of the issue, at their real places.
    landmarks = {r["heritage_id"]: r for r in rows(
        loaded_settings, "SELECT * FROM twin.buildings WHERE heritage_status = 'listed'")}
    assert landmarks["09100101"]["heritage_name"] == "Oberkirche St. Nikolai"
    assert landmarks["09100101"]["function_de"] == "Kirche"
    assert landmarks["09100102"]["heritage_name"] == "Spremberger Turm"
    assert landmarks["09100102"]["roof_type_de"] == "Turmdach"
    assert landmarks["09100103"]["function_en"] == "Theatre, opera"
    assert landmarks["09100113"]["address"] == "Altmarkt 1, 03046 Cottbus"
    statuses = Counter(r["heritage_status"] for r in rows(
        loaded_settings, "SELECT heritage_status FROM twin.buildings"))
    assert statuses["listed"] >= 15 and statuses["area"] and statuses["none"]


def test_the_collection_serves_the_buildings_as_postgis_has_them(server: Server,
                                                                 pg: psycopg.Connection) -> None:
    meta = server.get("/collections/buildings?f=json").json()
    assert meta["id"] == "buildings" and meta["title"]
    total = pg.execute("SELECT count(*) FROM twin.buildings").fetchone()[0]
    page = server.get(f"{ITEMS}?f=json&limit=1000").json()
    assert page["numberMatched"] == total == len(page["features"])
    feature = next(f for f in page["features"] if f["properties"]["heritage_id"] == "09100101")
    expected = pg.execute("SELECT ST_Area(geom), roof_height FROM twin.buildings WHERE "
                          "heritage_id = '09100101'").fetchone()
    polygon = shapely.geometry.shape(feature["geometry"])
    assert polygon.geom_type == "MultiPolygon"
    assert feature["properties"]["roof_height"] == pytest.approx(expected[1])
    assert feature["properties"]["heritage_status"] == "listed"


SELECT_IDS = "SELECT building_id FROM twin.buildings WHERE "


@pytest.mark.parametrize(("cql", "query", "params"), [
    ("heritage_status = 'listed'", SELECT_IDS + "heritage_status = %s", ("listed",)),
    ("function_code = '31001_3041' OR roof_type_code = '4000'",
     SELECT_IDS + "function_code = %s OR roof_type_code = %s", ("31001_3041", "4000")),
    ("heritage_status = 'area' AND storeys >= 4",
     SELECT_IDS + "heritage_status = %s AND storeys >= %s", ("area", 4)),
    ("roof_type_de = 'Satteldach' AND height > 15",
     SELECT_IDS + "roof_type_de = %s AND height > %s", ("Satteldach", 15)),
])
def test_cql2_filters_on_buildings_match_postgis(server: Server, pg: psycopg.Connection,
                                                 cql: str, query: str, params: tuple) -> None:
    expected = {r[0] for r in pg.execute(query, params).fetchall()}
    r = server.get(ITEMS, params={"f": "json", "limit": 1000, "filter": cql,
                                  "filter-lang": "cql2-text"})
    assert r.status_code == 200, r.text
    assert {f["id"] for f in r.json()["features"]} == expected and expected


def test_reading_cityjson_leaves_the_json_module_as_it_was() -> None:
    # cjio patches json on import (every float with six decimals, no C encoder); the API
    # process imports the sources too, so its answers would change.
    cityjson_class()
    assert json.dumps(0.001) == "0.001"
    assert json.encoder.c_make_encoder is not None


def test_owslib_filters_listed_buildings_as_postgis(server: Server,
                                                    pg: psycopg.Connection) -> None:
    expected = {r[0] for r in pg.execute(
        "SELECT building_id FROM twin.buildings WHERE heritage_status = 'listed' "
        "AND roof_type_code = %s", ("3100",)).fetchall()}
    result = Features(server.url, timeout=60).collection_items(
        "buildings", filter="heritage_status='listed' AND roof_type_code='3100'",
        limit=1000, skipGeometry="true")
    assert expected and {f["id"] for f in result["features"]} == expected


def test_gdal_reads_the_footprints_in_epsg_25833(server: Server, pg: psycopg.Connection,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    meta, table = pyogrio.read_arrow(f"OAPIF:{server.url}", layer="buildings",
                                     CRS="EPSG:25833")
    assert meta["crs"] == "EPSG:25833"
    geoms = shapely.from_wkb(table.column(meta["geometry_name"] or "wkb_geometry").to_pylist())
    ids = table.column("building_id").to_pylist()
    stored = {r[0]: r[1:] for r in pg.execute(
        "SELECT building_id, ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) "
        "FROM twin.buildings").fetchall()}
    assert sorted(ids) == sorted(stored)
    for key, geom in zip(ids, geoms, strict=True):
        assert shapely.bounds(geom).tolist() == pytest.approx(list(stored[key]), abs=0.01)


def test_sample_generator_is_deterministic(tmp_path: Path) -> None:
    sys.path.insert(0, str(SAMPLES))
    try:
        import gen_buildings
    finally:
        sys.path.remove(str(SAMPLES))
    gen_buildings.write(tmp_path, inputs=SAMPLES)
    for committed in SAMPLE_TILES:
        fresh = tmp_path / "buildings" / committed.name
        assert hashlib.sha256(fresh.read_bytes()).hexdigest() == \
            hashlib.sha256(committed.read_bytes()).hexdigest(), committed.name


def test_items_answer_in_time_and_without_faces(server: Server) -> None:
    # Faces are not a collection: only footprints are published.
    r = server.get("/collections/building_surfaces/items?f=json")
    assert r.status_code == 404
    r = requests.get(server.url + ITEMS, params={"f": "json", "limit": 5}, timeout=30)
    assert r.status_code == 200 and len(r.json()["features"]) == 5
