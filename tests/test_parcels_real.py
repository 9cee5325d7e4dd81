"""Parcels as the states deliver them: real WFS answers in ../shared/data/real/alkis/ and a NAS
delivery written by tests/nas_delivery.py, loaded through `twin load parcels`.

The real files lie outside Brandenburg; each test moves a copy (never the file) by shifting its
coordinates, and takes the values it expects from the file itself. Their keys are of their own
Land (Thuringia 16, North Rhine-Westphalia 05): a twin publishes the parcels of the Land it is
configured for (TWIN_LAND_KEY), so these tests configure the file's Land, as a city there
would; under Brandenburg's 12 the keys are refused (tested below).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import psycopg
import shapely
from pyproj import Transformer

from etl.sources.parcels import spellings_table
from etl.truncation import truncation_evidence
from tests import nas_delivery
from tests.conftest import TWIN, twin_env
from tests.helpers import assert_refused, last_run, published_of, run_twin
from twin.settings import PROJECT_ROOT, STORAGE_SRID, Settings

REAL = PROJECT_ROOT.parent / "shared" / "data" / "real" / "alkis"
THUERINGEN = REAL / "thueringen_erfurt_ave_flurstueck_wfs.gml"
NRW = REAL / "nrw_aaa_wfs_AX_Flurstueck.gml"
GML = "{http://www.opengis.net/gml/3.2}"
AVE = "{http://repository.gdi-de.org/schemas/adv/produkt/alkis-vereinfacht/1.0}"
AAA = "{http://www.adv-online.de/namespaces/adv/gid/6.0}"
#: Cottbus, as longitude and latitude.
COTTBUS = (14.33, 51.76)
published = published_of("parcels")

_COORDS = re.compile(r"(<gml:(?:posList|pos|lowerCorner|upperCorner)\b[^>]*>)([^<]*)(<)")


def _moved(src: Path, dst: Path, shift: tuple[float, float]) -> Path:
    """A copy of ``src`` whose coordinates (in the file's axis order) are shifted by ``shift``."""
    def move(m: re.Match) -> str:
        values = [float(v) for v in m.group(2).split()]
        moved = [v + shift[i % 2] for i, v in enumerate(values)]
        return m.group(1) + " ".join(f"{v:.9f}" for v in moved) + m.group(3)

    dst.write_text(_COORDS.sub(move, src.read_text(encoding="utf-8")), encoding="utf-8")
    return dst


def _in_land(settings: Settings, land: str) -> Settings:
    """``settings`` of a twin configured for the Land ``land`` (TWIN_LAND_KEY)."""
    return settings.model_copy(update={"land_key": land})


def _stored(settings: Settings) -> dict[str, dict]:
    with psycopg.connect(settings.dsn, row_factory=psycopg.rows.dict_row) as conn:
        rows = conn.execute("SELECT *, ST_Area(geom) AS area, ST_AsBinary(geom) AS wkb "
                            "FROM twin.parcels").fetchall()
    return {r["flstkennz"]: r for r in rows}


# --- Thuringia: ALKIS vereinfacht, EPSG:4326 (lat/lon), arcs ----------------------------------

def _thueringen_moved(tmp: Path) -> Path:
    # Latitude first (EPSG:4326 in GML 3.2): from Erfurt (50.957 N, 11.066 E) to Cottbus.
    return _moved(THUERINGEN, tmp / "erfurt_in_cottbus.gml",
                  (COTTBUS[1] - 50.957, COTTBUS[0] - 11.066))


def _arc_points(p1, p2, p3, step_deg: float) -> list[tuple[float, float]]:
    """Points on the circle through p1, p2, p3 from p1 via p2 to p3, ``step_deg`` apart."""
    (ax, ay), (bx, by), (cx, cy) = p1, p2, p3
    d = 2 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
    sa, sb, sc = ax**2 + ay**2, bx**2 + by**2, cx**2 + cy**2
    ux = (sa * (by - cy) + sb * (cy - ay) + sc * (ay - by)) / d
    uy = (sa * (cx - bx) + sb * (ax - cx) + sc * (bx - ax)) / d
    r = math.hypot(ax - ux, ay - uy)
    a1, a2, a3 = (math.atan2(y - uy, x - ux) for x, y in (p1, p2, p3))
    ccw = (a2 - a1) % (2 * math.pi) < (a3 - a1) % (2 * math.pi)
    sweep = (a3 - a1) % (2 * math.pi) if ccw else -((a1 - a3) % (2 * math.pi))
    n = max(2, math.ceil(abs(math.degrees(sweep)) / step_deg))
    return [(ux + r * math.cos(a1 + sweep * k / n), uy + r * math.sin(a1 + sweep * k / n))
            for k in range(n + 1)]


def _ring(element: ET.Element, *, curves: bool) -> list[tuple[float, float]]:
    """A ring as (lon, lat); arcs followed at 0.001 degree steps, or as their chords."""
    def pairs(text: str) -> list[tuple[float, float]]:
        v = [float(x) for x in text.split()]
        return [(v[i + 1], v[i]) for i in range(0, len(v), 2)]  # lat/lon -> lon/lat

    linear = element.find(f"{GML}LinearRing")
    if linear is not None:
        return pairs(linear.findtext(f"{GML}posList"))
    points: list[tuple[float, float]] = []
    for segment in element.iter():
        if segment.tag == f"{GML}LineStringSegment":
            points += pairs(segment.findtext(f"{GML}posList"))
        elif segment.tag == f"{GML}Arc":
            p = pairs(segment.findtext(f"{GML}posList"))
            points += _arc_points(*p, step_deg=0.001) if curves else p
    return points


def _true_areas(path: Path, *, curves: bool = True) -> dict[str, float]:
    """Area in EPSG:25833 of each parcel of an ave file, from its GML, arcs as true circles
    (finely followed) or as the chords through their three points."""
    to_utm = Transformer.from_crs(4326, STORAGE_SRID, always_xy=True)
    areas = {}
    for f in ET.parse(path).getroot().iter(f"{AVE}Flurstueck"):
        total = 0.0
        for polygon in f.iter(f"{GML}Polygon"):
            rings = [_ring(r, curves=curves) for r in
                     (*polygon.findall(f"{GML}exterior"), *polygon.findall(f"{GML}interior"))]
            utm = [list(zip(*to_utm.transform([x for x, _ in r], [y for _, y in r]),
                            strict=True)) for r in rings]
            total += shapely.Polygon(utm[0], utm[1:]).area
        areas[f.findtext(f"{AVE}flstkennz")] = total
    return areas


def test_thueringen_ave_file_loads_with_its_arcs(empty_settings: Settings,
                                                 tmp_path: Path) -> None:
    path = _thueringen_moved(tmp_path)
    result = run_twin(_in_land(empty_settings, "16"), "load", "parcels", str(path))
    assert result.returncode == 0, result.stderr
    stored = _stored(empty_settings)
    features = list(ET.parse(THUERINGEN).getroot().iter(f"{AVE}Flurstueck"))
    assert len(stored) == len(features) == 10
    for f in features:
        row = stored[f.findtext(f"{AVE}flstkennz")]
        zaehler, _, nenner = f.findtext(f"{AVE}flurstnr").partition("/")
        assert (row["flstnrzae"], row["flstnrnen"]) == (zaehler, nenner or None)
        assert row["flur"] == int(f.findtext(f"{AVE}flur").removeprefix("Flur "))
        # No gemaschl in the file: the first six characters of the key.
        assert row["gemaschl"] == row["flstkennz"][:6]
        assert row["flaeche"] == float(f.findtext(f"{AVE}flaeche"))
        for name in ("gemarkung", "land", "kreis", "gemeinde", "gmdschl", "idflurst",
                     "lagebeztxt", "tntxt"):
            assert row[name] == f.findtext(f"{AVE}{name}"), name
        assert str(row["aktualit"]) == f.findtext(f"{AVE}aktualit")
    run = last_run(empty_settings)
    with_arcs = sum(1 for f in features if f.find(f".//{GML}Arc") is not None)
    assert with_arcs == 2
    assert any(f"{with_arcs} parcel(s) with arcs" in note for note in run["notes"]), run["notes"]
    assert any("dropped" in n and "oid" in n and "regbezirk" in n for n in run["notes"])


def test_linearised_arcs_keep_each_area_within_a_thousandth(empty_settings: Settings,
                                                            tmp_path: Path) -> None:
    path = _thueringen_moved(tmp_path)
    assert run_twin(_in_land(empty_settings, "16"), "load", "parcels", str(path)).returncode == 0
    stored = _stored(empty_settings)
    true, chords = _true_areas(path), _true_areas(path, curves=False)
    assert set(true) == set(stored)
    worst_chord = 0.0
    for key, area in true.items():
        assert abs(stored[key]["area"] - area) / area < 0.001, (key, stored[key]["area"], area)
        worst_chord = max(worst_chord, abs(chords[key] - area) / area)
    # The arcs matter: drawn as chords through their three points, some parcel is off by more.
    assert worst_chord > 0.001


def test_the_real_file_unmoved_is_refused_for_its_place_not_its_curves(
        empty_settings: Settings) -> None:
    result = run_twin(_in_land(empty_settings, "16"), "load", "parcels", str(THUERINGEN))
    assert_refused(result, THUERINGEN, ["cannot be in Brandenburg"])
    assert "Nonlinear" not in result.stderr and "truncated" not in result.stderr


def test_keys_of_another_land_are_refused_under_the_configured_one(
        empty_settings: Settings, tmp_path: Path) -> None:
    # Moved into Cottbus, but Thuringia's keys (Land 16) in a twin of Brandenburg (12, the
    # default): every parcel refused, the Land of its key named, nothing changed.
    path = _thueringen_moved(tmp_path)
    before = published(empty_settings)
    result = run_twin(empty_settings, "load", "parcels", str(path))
    features = list(ET.parse(THUERINGEN).getroot().iter(f"{AVE}Flurstueck"))
    assert_refused(result, path, [f"{len(features)} record(s) refused"])
    run = last_run(empty_settings)
    assert run["outcome"] == "refused"
    for row, f in enumerate(features, start=1):
        # The key as AdV builds it from the file's own parts (gemaschl is not in this file:
        # the Gemarkung is the 6 characters the key itself begins with).
        zaehler, _, nenner = f.findtext(f"{AVE}flurstnr").partition("/")
        flur = int(f.findtext(f"{AVE}flur").removeprefix("Flur "))
        key = f.findtext(f"{AVE}flstkennz")
        assert key == (f"{key[:6]}{flur:03d}{int(zaehler):05d}"
                       f"{f'{int(nenner):04d}' if nenner else '____'}__")
        assert key[:2] == "16"
        expected = (f"'{key}': Land '16' (Thüringen) is not the configured Land '12' "
                    "(Brandenburg); the twin publishes the parcels of one Land, set by "
                    "TWIN_LAND_KEY")
        assert {"path": str(path), "row": row, "field": "flstkennz",
                "reason": expected} in run["refusals"]
    assert f"{path}: row 1, field 'flstkennz': " in result.stderr
    assert published(empty_settings) == before


def test_truncated_is_said_only_of_a_truncated_file(empty_settings: Settings,
                                                    tmp_path: Path) -> None:
    half = tmp_path / "half.gml"
    data = _thueringen_moved(tmp_path).read_bytes()
    # Cut after a whole feature: GDAL would read the features before the cut without a word.
    half.write_bytes(data[: data.index(b"</wfs:member>", len(data) // 2) + 13])
    assert truncation_evidence(half)
    result = run_twin(_in_land(empty_settings, "16"), "load", "parcels", str(half))
    assert_refused(result, half, ["truncated", "is closed"])
    assert truncation_evidence(THUERINGEN) is None and truncation_evidence(NRW) is None
    binary = tmp_path / "x.gpkg"
    binary.write_bytes(b"\x00\x01 not a GeoPackage" * 10)
    assert truncation_evidence(binary) is None


# --- North Rhine-Westphalia: the AAA schema (AX_Flurstueck), EPSG:25832 ----------------------

def test_nrw_aaa_file_maps_to_the_published_fields(empty_settings: Settings,
                                                   tmp_path: Path) -> None:
    root = ET.parse(NRW).getroot()
    f = next(root.iter(f"{AAA}AX_Flurstueck"))
    ring = [float(v) for v in f.findtext(f".//{GML}posList").split()]
    x0, y0 = ring[0], ring[1]
    target = Transformer.from_crs(4326, 25832, always_xy=True).transform(*COTTBUS)
    path = _moved(NRW, tmp_path / "nrw_in_cottbus.gml", (target[0] - x0, target[1] - y0))
    result = run_twin(_in_land(empty_settings, "05"), "load", "parcels", str(path))
    assert result.returncode == 0, result.stderr
    stored = _stored(empty_settings)
    key = f.findtext(f"{AAA}flurstueckskennzeichen")
    assert list(stored) == [key]
    row = stored[key]

    def text(path: str) -> str:
        return f.findtext("/".join(f"{AAA}{p}" for p in path.split("/")))

    gemarkung = text("gemarkung/AX_Gemarkung_Schluessel/land") + \
        text("gemarkung/AX_Gemarkung_Schluessel/gemarkungsnummer")
    gemeinde = "gemeindezugehoerigkeit/AX_Gemeindekennzeichen/"
    kreis = text(gemeinde + "land") + text(gemeinde + "regierungsbezirk") + \
        text(gemeinde + "kreis")
    assert row["gemaschl"] == gemarkung == key[:6]
    assert row["kreisschl"] == kreis
    assert row["gmdschl"] == kreis + text(gemeinde + "gemeinde")
    assert row["land"] == "Nordrhein-Westfalen"
    assert row["flaeche"] == float(text("amtlicheFlaeche"))
    assert row["flur"] == int(text("flurnummer"))
    assert row["flstnrzae"] == text("flurstuecksnummer/AX_Flurstuecksnummer/zaehler")
    assert row["flstnrnen"] is None
    assert row["idflurst"] == f.get(f"{GML}id")
    assert str(row["aktualit"]) == text("lebenszeitintervall/AA_Lebenszeitintervall/beginnt")[:10]
    # The polygon, moved and reprojected by the test itself.
    to_utm33 = Transformer.from_crs(25832, STORAGE_SRID, always_xy=True)
    xs, ys = ring[0::2], ring[1::2]
    expected = shapely.Polygon(zip(*to_utm33.transform(
        [x + target[0] - x0 for x in xs], [y + target[1] - y0 for y in ys]), strict=True))
    assert shapely.hausdorff_distance(shapely.from_wkb(row["wkb"]), expected) < 0.01


# --- NAS: a full delivery through GDAL's NAS driver; updates refused --------------------------

def test_nas_delivery_loads_its_parcels_and_nothing_of_the_owners(
        empty_settings: Settings, tmp_path: Path) -> None:
    path = nas_delivery.write_delivery(tmp_path / "delivery.xml")
    result = run_twin(empty_settings, "load", "parcels", str(path))
    assert result.returncode == 0, result.stderr
    stored = _stored(empty_settings)
    assert sorted(stored) == sorted(p.kennzeichen for p in nas_delivery.PARCELS)
    for p in nas_delivery.PARCELS:
        row = stored[p.kennzeichen]
        assert (row["flur"], row["flstnrzae"], row["flstnrnen"], row["flaeche"]) == (
            p.flur, str(p.zaehler), None if p.nenner is None else str(p.nenner), p.flaeche)
        assert (row["gemaschl"], row["gmdschl"], row["land"]) == (
            "12" + p.gemarkung, "12052000", "Brandenburg")
        polygon = shapely.Polygon(p.ring)
        if p.arc_middle is None:
            assert shapely.equals(shapely.from_wkb(row["wkb"]), polygon)
        else:
            # The arc bulges beyond the box by a circular segment, radius from its 3 points.
            (cx, cy), (mx, my) = p.ring[2], p.arc_middle
            half_chord = abs(cx - mx)
            sagitta = my - cy
            r = (half_chord**2 + sagitta**2) / (2 * sagitta)
            angle = 2 * math.asin(half_chord / r)
            segment = r**2 / 2 * (angle - math.sin(angle))
            true = polygon.area + segment
            assert abs(row["area"] - true) / true < 0.001
            assert row["area"] > polygon.area + 0.9 * segment
    run = last_run(empty_settings)
    assert any("1 parcel(s) with arcs" in n for n in run["notes"]), run["notes"]
    dump = subprocess.run(["pg_dump", "--data-only", empty_settings.dsn], capture_output=True,
                          text=True, check=True).stdout
    assert nas_delivery.PARCELS[0].kennzeichen in dump  # the dump does hold the load
    planted = [nas_delivery.OWNER["nachnameOderFirma"], nas_delivery.OWNER["vorname"],
               nas_delivery.OWNER_ADDRESS["ort_Post"], nas_delivery.OWNER_ADDRESS["strasse"],
               nas_delivery.OWNER_SHEET]
    status = run_twin(empty_settings, "db", "status", "--run", str(run["id"]))
    for value in planted:
        for where, text in (("pg_dump", dump), ("stdout", result.stdout),
                            ("stderr", result.stderr), ("status", status.stdout)):
            assert value not in text, (value, where)


def test_nas_reload_changes_nothing(empty_settings: Settings, tmp_path: Path) -> None:
    path = nas_delivery.write_delivery(tmp_path / "delivery.xml")
    assert run_twin(empty_settings, "load", "parcels", str(path)).returncode == 0
    before = published(empty_settings)
    again = run_twin(empty_settings, "load", "parcels", str(path))
    assert again.returncode == 0, again.stderr
    assert published(empty_settings) == before
    assert last_run(empty_settings)["outcome"] == "unchanged"


def test_nas_update_is_refused_saying_what_to_send(empty_settings: Settings,
                                                   tmp_path: Path) -> None:
    full = nas_delivery.write_delivery(tmp_path / "delivery.xml")
    assert run_twin(empty_settings, "load", "parcels", str(full)).returncode == 0
    before = published(empty_settings)
    path = nas_delivery.write_update(tmp_path / "nba.xml")
    result = run_twin(empty_settings, "load", "parcels", str(path))
    assert_refused(result, path, ["differential update", "NBA", "AX_Bestandsdatenauszug"])
    assert published(empty_settings) == before


def test_nas_without_ogr2ogr_says_how_to_install_it(empty_settings: Settings,
                                                   tmp_path: Path) -> None:
    path = nas_delivery.write_delivery(tmp_path / "delivery.xml")
    env = twin_env(empty_settings)
    env["PATH"] = os.path.dirname(TWIN)  # the virtualenv only: no ogr2ogr
    result = subprocess.run([TWIN, "load", "parcels", str(path)], env=env, capture_output=True,
                            text=True, timeout=300)
    assert_refused(result, path, ["ogr2ogr", "make setup", "gdal-bin"])


def test_the_spellings_table_in_the_docs_is_current() -> None:
    doc = (PROJECT_ROOT / "docs" / "sources" / "parcels.md").read_text(encoding="utf-8")
    assert spellings_table() in doc


def test_nas_without_parcels_is_refused_by_name(empty_settings: Settings,
                                                tmp_path: Path) -> None:
    path = nas_delivery.write_delivery(tmp_path / "owners_only.xml", parcels=())
    result = run_twin(empty_settings, "load", "parcels", str(path))
    assert_refused(result, path, ["holds no AX_Flurstueck"])
    assert nas_delivery.OWNER["nachnameOderFirma"] not in result.stderr
