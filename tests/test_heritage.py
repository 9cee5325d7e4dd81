"""The heritage list joined to its geometries: `twin load heritage`, the parcel links and the
protection of archaeological sites, which must never be reachable in any way.

Expected values come from the sample files (read here with the standard library, pyogrio and
shapely) and from PostGIS, never from the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import struct
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import openpyxl
import psycopg
import pyogrio.raw
import pytest
import requests
import shapely

from etl.sources.base import LoadOptions
from etl.sources.heritage import HeritageSource
from tests.conftest import PARCELS_SAMPLE, Server
from tests.helpers import last_run, published_of, run_twin
from tests.sources import Layer, sample
from twin.registry import HERITAGE
from twin.settings import PROJECT_ROOT, Settings

SAMPLES = PROJECT_ROOT / "data" / "samples" / "heritage"
LIST = SAMPLES / "denkmalliste_cottbus.csv"
GEOMS = SAMPLES / "denkmale_cottbus.gpkg"
published = published_of("heritage")
ITEMS = "/collections/heritage/items"
PARCEL_ITEMS = "/collections/parcels/items"
EPSG_25833 = "http://www.opengis.net/def/crs/EPSG/0/25833"
#: The Oberkirche St. Nikolai, EPSG:25833.
OBERKIRCHE_XY = (454201, 5734677)
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
              "ALL_PROXY")


# -- the sample, read independently ------------------------------------------------------------
@dataclass(frozen=True)
class ListFile:
    """The list as header and rows of text; writes itself in the formats the city receives."""

    header: list[str]
    rows: list[list[str]]

    def column(self, name: str) -> list[str]:
        i = self.header.index(name)
        return [r[i] for r in self.rows]

    def by_id(self) -> dict[str, dict[str, str]]:
        return {r[0]: dict(zip(self.header, r, strict=True)) for r in self.rows}

    def where(self, name: str, value: str) -> list[dict[str, str]]:
        return [r for r in self.by_id().values() if r[name] == value]

    def line_of(self, key: str) -> int:
        """The CSV line of ``key`` (header on line 1, no multi-line cells in the sample)."""
        return self.column("ID-Nr.").index(key) + 2

    def with_cell(self, key: str, name: str, value: str) -> ListFile:
        i, rows = self.header.index(name), [list(r) for r in self.rows]
        rows[self.column("ID-Nr.").index(key)][i] = value
        return replace(self, rows=rows)

    def renamed(self, names: dict[str, str]) -> ListFile:
        return replace(self, header=[names.get(h, h) for h in self.header])

    def without(self, name: str) -> ListFile:
        i = self.header.index(name)
        return ListFile(self.header[:i] + self.header[i + 1:],
                        [r[:i] + r[i + 1:] for r in self.rows])

    def csv(self, path: Path, encoding: str = "cp1252", delimiter: str = ";") -> Path:
        out = io.StringIO()
        csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(
            [self.header, *self.rows])
        path.write_bytes(out.getvalue().encode(encoding))
        return path


def sample_list() -> ListFile:
    text = LIST.read_bytes().decode("cp1252")
    header, *rows = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    return ListFile(header, rows)


def sample_layer(layer: str = "denkmale") -> Layer:
    meta, _, wkb, cols = pyogrio.raw.read(GEOMS, layer=layer)
    return Layer(list(meta["fields"]), list(cols), shapely.from_wkb(wkb), meta["crs"])


def bodendenkmale() -> dict[str, dict]:
    """ID -> values and geometries of the sample's archaeological sites."""
    rows = sample_list().where("Denkmalart", "Bodendenkmal")
    out = {r["ID-Nr."]: {**r, "geoms": []} for r in rows}
    for layer in ("denkmale", "bodendenkmale"):
        lay = sample_layer(layer)
        for key, geom in zip(lay.column("objektnummer"), lay.geoms, strict=True):
            if key in out:
                out[key]["geoms"].append(geom)
    assert len(out) >= 2 and all(v["geoms"] for v in out.values())
    return out


def expected() -> dict[str, dict[str, str]]:
    """What must be published: list entries that are not archaeological and have geometry."""
    with_geometry = set(sample_layer().column("objektnummer"))
    return {k: r for k, r in sample_list().by_id().items()
            if r["Denkmalart"] != "Bodendenkmal" and k in with_geometry}


def secrets() -> list[str]:
    """Texts of the archaeological sites that must appear nowhere: names and places, also as
    JSON writes them with non-ASCII letters escaped."""
    texts = [t for r in bodendenkmale().values() for t in (r["Bezeichnung"], r["Lage"])]
    return [*texts, *(json.dumps(t)[1:-1] for t in texts)]


def id_pattern(keys, hex_safe: bool = False) -> re.Pattern[str]:
    """An ID as a whole token (not inside a longer number, nor inside hex in a dump)."""
    edge = r"[\dA-Fa-f]" if hex_safe else r"\d"
    # Leading zeros too: an integer ID field zero-padded is still the same ID.
    return re.compile("|".join(rf"(?<!{edge})0*{re.escape(k.lstrip('0'))}(?!{edge})"
                               for k in keys))


def coordinate_texts() -> list[str]:
    """Vertex coordinates of the archaeological sites as a 25833 answer would print them."""
    return [f"{c:.3f}".rstrip("0").rstrip(".") for r in bodendenkmale().values()
            for g in r["geoms"] for c in shapely.get_coordinates(g).ravel()]


def coordinate_hex() -> list[str]:
    """The same coordinates as the little-endian doubles of EWKB, as pg_dump prints them."""
    return [struct.pack("<d", c).hex().upper() for r in bodendenkmale().values()
            for g in r["geoms"] for c in shapely.get_coordinates(g).ravel()]


def assert_nothing_archaeological(text: str, *, hex_safe: bool = False) -> None:
    found = id_pattern(bodendenkmale(), hex_safe).search(text)
    assert found is None, f"archaeological ID in output: {found.group(0)}"
    for secret in secrets():
        assert secret not in text, secret
    for coord in coordinate_hex() if hex_safe else coordinate_texts():
        assert coord not in text, coord


# -- running the command -----------------------------------------------------------------------


def load_heritage(settings: Settings, *paths: Path, ok: bool = True,
                  extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    result = run_twin(settings, "load", "heritage", *map(str, paths), *extra)
    if ok:
        assert result.returncode == 0, result.stderr
    assert_nothing_archaeological(result.stderr + result.stdout)
    return result




def derived(settings: Settings) -> tuple[dict, dict]:
    """(flurstuecke, flurstueck_anzahl) per monument, (heritage, denkmalnummern) per parcel;
    the lists as stored (text[])."""
    with psycopg.connect(settings.dsn) as conn:
        monuments = {k: (f, n) for k, f, n in conn.execute(
            "SELECT denkmalnummer, flurstuecke, flurstueck_anzahl FROM twin.heritage")}
        parcels = {k: (h, n) for k, h, n in conn.execute(
            "SELECT flstkennz, heritage, denkmalnummern FROM twin.parcels "
            "WHERE heritage IS NOT NULL OR cardinality(denkmalnummern) > 0")}
    return monuments, parcels


def versions(settings: Settings) -> tuple[str, str]:
    """Row versions of both tables: equal when no row was rewritten."""
    with psycopg.connect(settings.dsn) as conn:
        return tuple(conn.execute(
            f"SELECT string_agg(xmin::text, ',' ORDER BY {key}) FROM twin.{table}"  # noqa: S608
        ).fetchone()[0] for table, key in (("heritage", "denkmalnummer"),
                                           ("parcels", "flstkennz")))




@pytest.fixture(scope="module")
def base(empty_settings: Settings) -> Settings:
    """The module's database with the sample parcels and the sample heritage list."""
    result = run_twin(empty_settings, "load", "parcels", str(PARCELS_SAMPLE))
    assert result.returncode == 0, result.stderr
    load_heritage(empty_settings, LIST, GEOMS)
    return empty_settings


def reload_sample(settings: Settings) -> None:
    load_heritage(settings, LIST, GEOMS)
    assert published(settings)[0] == len(expected())


# -- the source itself -------------------------------------------------------------------------
def test_no_archaeological_site_ever_enters_a_part() -> None:
    source = HeritageSource()
    parts = list(source.read([LIST, GEOMS], LoadOptions(progress=False)))
    keys = [k for p in parts for k in p.batch.columns["denkmalnummer"]]
    assert sorted(keys) == sorted(expected())
    secret_geoms = [g for r in bodendenkmale().values() for g in r["geoms"]]
    for part in parts:
        for values in part.batch.columns.values():
            assert_nothing_archaeological(json.dumps(values, ensure_ascii=False))
        for geom in part.batch.geometries:
            assert not any(shapely.equals(geom, s) for s in secret_geoms)
    notes = "\n".join(source.notes)
    assert_nothing_archaeological(notes)
    assert f"withheld {len(bodendenkmale())} list entries" in notes


@pytest.mark.parametrize(("cells", "how"), [
    ({"Bezeichnung": "Slawischer Burgwall Quappendorfer Heide (Bodendenkmal)"}, "name"),
    ({"Beschreibung": "Fundplatz; siehe BODENDENKMAL-Liste"}, "description"),
    ({"Bezeichnung": "Burgwall am Quappendorfer Fließ", "Denkmalart": "BD"}, "kind code"),
    ({"Bezeichnung": "Burgwall am Quappendorfer Fließ", "Denkmalart": "bd."}, "kind code"),
    ({"Beschreibung": "archäologische Fundstelle Quappendorf"}, "description"),
])
def test_a_section_d_row_that_is_an_archaeological_site_is_withheld(
        tmp_path: Path, cells: dict[str, str], how: str) -> None:
    """Issue 6: a site by any of its names (in the name, the description or a kind code)."""
    key = next(iter(expected()))
    listed = sample_list()
    for name, value in cells.items():
        listed = listed.with_cell(key, name, value)
    source = HeritageSource()
    parts = list(source.read([listed.csv(tmp_path / "liste.csv"), GEOMS],
                             LoadOptions(progress=False)))
    keys = {k for p in parts for k in p.batch.columns["denkmalnummer"]}
    assert key not in keys, how
    assert keys == set(expected()) - {key}
    notes = "\n".join(source.notes)
    assert key not in notes and "Quappendorf" not in notes
    assert f"withheld {len(bodendenkmale()) + 1} list entries" in notes


# -- loading -----------------------------------------------------------------------------------
def test_sample_load_joins_reports_and_withholds(base: Settings) -> None:
    result = load_heritage(base, LIST, GEOMS)  # the second time: nothing changes
    assert "unchanged" in result.stderr
    listed, geometries = sample_list(), set(sample_layer().column("objektnummer"))
    without_geometry = [k for k, r in listed.by_id().items()
                        if k not in geometries and r["Denkmalart"] != "Bodendenkmal"]
    without_entry = geometries - set(listed.column("ID-Nr."))
    assert without_geometry and without_entry
    for key in without_geometry:
        assert f"{LIST}: row {listed.line_of(key)} ({key}): no geometry" in result.stderr
    for key in without_entry:
        row = sample_layer().column("objektnummer").tolist().index(key) + 1
        assert f"{GEOMS} (layer 'denkmale'): row {row}: geometry without an entry" \
            in result.stderr
        assert key not in result.stderr
    assert f"withheld {len(bodendenkmale())} list entries" in result.stderr
    assert "columns not published and dropped: Kreis" in result.stderr

    with psycopg.connect(base.dsn) as conn:
        rows = {r[0]: r[1:] for r in conn.execute(
            "SELECT denkmalnummer, bezeichnung, adresse, denkmalart, ortsteil, beschreibung "
            "FROM twin.heritage")}
    assert set(rows) == set(expected())
    for key, r in expected().items():
        assert rows[key][:3] == (r["Bezeichnung"], r["Lage"], r["Denkmalart"])
        assert rows[key][3:] == (r["Ortsteil"], r["Beschreibung"])


def _list_variant(tmp: Path, kind: str) -> Path:
    listed = sample_list()
    if kind == "csv-cp1252":
        return listed.csv(tmp / "liste.csv")
    if kind == "csv-utf8-bom":
        # Other header names, and a name Windows-1252 cannot hold.
        museum = listed.where("Bezeichnung", "Wendisches Museum")[0]["ID-Nr."]
        listed = listed.with_cell(museum, "Bezeichnung", "Wendisches Museum / Serbski muzej "
                                  "Chóśebuz").renamed({"ID-Nr.": "Objektnummer",
                                                       "Lage": "Adresse"})
        path = listed.csv(tmp / "liste.csv", encoding="utf-8-sig")
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")
        return path
    assert kind == "xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Denkmalliste"
    sheet.append(["Denkmalliste des Landes Brandenburg – Stadt Cottbus, Stand 31.12.2023"])
    sheet.append([])
    sheet.append(["ID-Nummer" if h == "ID-Nr." else h for h in listed.header])
    archaeological = book.create_sheet("Bodendenkmale")
    archaeological.append(listed.header)
    for i, row in enumerate(listed.rows):
        if row[-1] == "Bodendenkmal" and i % 2:
            archaeological.append(row)
            continue
        # As Excel keeps it: every other ID a number that lost its leading zero.
        sheet.append([int(row[0]) if i % 2 else row[0], *row[1:]])
    path = tmp / "liste.xlsx"
    book.save(path)
    return path


def _geometry_variant(tmp: Path, kind: str) -> list[Path]:
    if kind == "gpkg":
        return [GEOMS]
    # One layer without the kind column: archaeological features known by their ID only.
    layer = sample_layer().without("denkmalart")
    if kind == "gml32":
        path = layer.write(tmp / "denkmale.gml", "GML", dataset_options={"FORMAT": "GML3.2"})
        (tmp / "denkmale.xsd").unlink()  # as the WFS delivers it
        return [path]
    assert kind == "geojson-crs84-integer-ids"
    columns = list(layer.columns)
    columns[layer.names.index("objektnummer")] = np.array(
        [int(k) for k in layer.column("objektnummer")], dtype=np.int64)
    layer = Layer(layer.names, columns, layer.geoms, layer.crs).to_crs("EPSG:4326")
    return [layer.write(tmp / "denkmale.geojson", "GeoJSON", layer_options={"RFC7946": "YES"})]


@pytest.mark.parametrize(("list_kind", "geometry_kind"), [
    ("csv-cp1252", "gpkg"),
    ("csv-utf8-bom", "gml32"),
    ("xlsx", "gpkg"),
    ("xlsx", "geojson-crs84-integer-ids"),
    ("csv-cp1252", "geojson-crs84-integer-ids"),
])
def test_formats_give_the_same_monuments(base: Settings, tmp_path: Path, list_kind: str,
                                          geometry_kind: str) -> None:
    paths = [_list_variant(tmp_path, list_kind), *_geometry_variant(tmp_path, geometry_kind)]
    result = load_heritage(base, *paths)
    if list_kind == "xlsx":
        assert "lost their leading zero" in result.stderr
        assert "sheet(s) 'Bodendenkmale'" in result.stderr
    assert f"withheld {len(bodendenkmale())} list entries" in result.stderr
    with psycopg.connect(base.dsn) as conn:
        rows = {k: (b, a, shapely.from_wkb(g)) for k, b, a, g in conn.execute(
            "SELECT denkmalnummer, bezeichnung, denkmalart, ST_AsBinary(geom) "
            "FROM twin.heritage")}
    assert set(rows) == set(expected())
    layer = sample_layer()
    reference = dict(zip(layer.column("objektnummer"), layer.geoms, strict=True))
    for key, r in expected().items():
        name, section, geom = rows[key]
        if list_kind == "csv-utf8-bom" and r["Bezeichnung"] == "Wendisches Museum":
            assert name == "Wendisches Museum / Serbski muzej Chóśebuz"
        else:
            assert name == r["Bezeichnung"]
        assert section == r["Denkmalart"]
        # Through lon/lat and text formats: centimetres, not metres.
        assert shapely.hausdorff_distance(geom, reference[key]) < 0.05, key
    reload_sample(base)


def _bad_id(listed: ListFile, key: str) -> ListFile:
    return listed.with_cell(key, "ID-Nr.", "0910010")


def _letters(listed: ListFile, key: str) -> ListFile:
    return listed.with_cell(key, "ID-Nr.", "0910A101")


def _duplicate(listed: ListFile, key: str) -> ListFile:
    other = [k for k in expected() if k != key][0]
    return listed.with_cell(other, "ID-Nr.", key)


def _unknown_section(listed: ListFile, key: str) -> ListFile:
    return listed.with_cell(key, "Abschnitt", "X").with_cell(key, "Denkmalart", "Sonstiges")


LIST_REFUSALS = [
    # (id, how to break the list, words the message must hold; {row}: the broken row's line)
    ("malformed-id", _bad_id, ["row {row}", "'ID-Nr.'", "'0910010'", "8-digit",
                               "leading zero"]),
    ("letters-in-id", _letters, ["row {row}", "'ID-Nr.'", "'0910A101'", "8-digit"]),
    ("duplicate-id", _duplicate, ["duplicate ID '{key}'", "first in", "'ID-Nr.'"]),
    ("unknown-section", _unknown_section, ["row {row}", "'Abschnitt'", "cannot tell"]),
    ("no-id-column", lambda listed, key: listed.renamed({"ID-Nr.": "Lfd."}),
     ["no ID column", "ID-Nr."]),
    ("no-section-column", lambda listed, key: listed.without("Abschnitt").without("Denkmalart"),
     ["no section column", "archaeological"]),
]


@pytest.mark.parametrize(("case", "breaker", "words"), LIST_REFUSALS,
                         ids=[r[0] for r in LIST_REFUSALS])
def test_refused_lists_change_nothing(base: Settings, tmp_path: Path, case: str, breaker,
                                      words: list[str]) -> None:
    before = published(base)
    key = sorted(expected())[3]
    broken = breaker(sample_list(), key)
    path = broken.csv(tmp_path / f"{case}.csv")
    result = load_heritage(base, path, GEOMS, ok=False)
    whole_file = case in ("no-id-column", "no-section-column")
    assert result.returncode == (66 if whole_file else 65), result.stderr
    assert str(path) in result.stderr
    for word in words:
        word = word.format(row=sample_list().line_of(key), key=key)
        assert word in result.stderr, (word, result.stderr)
    assert published(base) == before
    run = last_run(base)
    assert run["outcome"] == "refused" and run["refusals"]


def _geometry_id(layer: Layer, tmp: Path) -> tuple[Path, str, list[str]]:
    ids = layer.column("objektnummer").copy()
    ids[4] = "0910-105"
    path = layer.with_column("objektnummer", ids).write(tmp / "g.gpkg", "GPKG")
    return path, "g", ["row 5", "'objektnummer'", "8-digit", "value not shown"]


def _geometry_duplicate(layer: Layer, tmp: Path) -> tuple[Path, str, list[str]]:
    ids = layer.column("objektnummer").copy()
    ids[6] = ids[2]
    path = layer.with_column("objektnummer", ids).write(tmp / "g.gpkg", "GPKG")
    return path, "g", ["duplicate key", f"'{ids[2]}'", "row 3", "rows 7"]


def _outside(layer: Layer, tmp: Path) -> tuple[Path, str, list[str]]:
    moved = shapely.transform(layer.geoms, lambda xy: xy + [5_000_000, 0])  # Gauss-Krüger
    path = Layer(layer.names, layer.columns, moved, layer.crs).write(tmp / "g.gpkg", "GPKG")
    return path, "g", ["row 1", "cannot be in Brandenburg", "'geometry'"]


def _no_id_field(layer: Layer, tmp: Path) -> tuple[Path, str, list[str]]:
    return layer.without("objektnummer").write(tmp / "g.gpkg", "GPKG"), "g", [
        "no ID column", "denkmalart"]


def _only_list(layer: Layer, tmp: Path) -> tuple[Path, str, list[str]]:
    return LIST, "list", ["no geometry file"]


def _only_geometries(layer: Layer, tmp: Path) -> tuple[Path, str, list[str]]:
    return GEOMS, "geometries", ["no heritage list"]


def _garbage_xlsx(layer: Layer, tmp: Path) -> tuple[Path, str, list[str]]:
    path = tmp / "liste.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook" * 20)
    return path, "list+g", ["not a readable spreadsheet"]


def _xls(layer: Layer, tmp: Path) -> tuple[Path, str, list[str]]:
    path = tmp / "liste.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    return path, "list+g", [".xls", "xlsx"]


def _empty_csv(layer: Layer, tmp: Path) -> tuple[Path, str, list[str]]:
    path = tmp / "liste.csv"
    path.write_bytes(b"")
    return path, "list+g", ["file is empty"]


FILE_REFUSALS = [
    ("geometry-malformed-id", _geometry_id),
    ("geometry-duplicate-id", _geometry_duplicate),
    ("geometry-outside-brandenburg", _outside),
    ("geometry-without-id-field", _no_id_field),
    ("only-the-list", _only_list),
    ("only-geometries", _only_geometries),
    ("unreadable-spreadsheet", _garbage_xlsx),
    ("old-excel", _xls),
    ("empty-list", _empty_csv),
]


@pytest.mark.parametrize(("case", "make"), FILE_REFUSALS, ids=[r[0] for r in FILE_REFUSALS])
def test_refused_files_change_nothing(base: Settings, tmp_path: Path, case: str,
                                      make) -> None:
    before = published(base)
    path, role, words = make(sample_layer(), tmp_path)
    paths = {"g": [LIST, path], "list": [path], "geometries": [path],
             "list+g": [path, GEOMS]}[role]
    result = load_heritage(base, *paths, ok=False)
    assert result.returncode in (65, 66), result.stderr
    assert str(path) in result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)
    assert published(base) == before
    assert last_run(base)["outcome"] == "refused"


# -- derived links, reloads, an empty list -------------------------------------------------------
def links_by_rule(conn: psycopg.Connection) -> dict[str, set[str]]:
    """Monument -> parcels it touches, by the documented rule, computed with shapely."""
    monuments = conn.execute(
        "SELECT denkmalnummer, ST_AsBinary(geom) FROM twin.heritage").fetchall()
    keys, wkb = zip(*conn.execute("SELECT flstkennz, ST_AsBinary(geom) FROM twin.parcels"),
                    strict=True)
    parcels = shapely.from_wkb(np.asarray(wkb, dtype=object))
    tree = shapely.STRtree(parcels)
    links: dict[str, set[str]] = {}
    for key, blob in monuments:
        geom = shapely.from_wkb(blob)
        hits = tree.query(geom, predicate="intersects")
        dim = shapely.get_dimensions(geom)
        if dim == 0:
            touched = hits
        elif dim == 1:
            touched = hits[shapely.length(shapely.intersection(geom, parcels[hits])) > 1.0]
        else:
            shared = shapely.area(shapely.intersection(geom, parcels[hits]))
            touched = hits[shared > min(1.0, geom.area / 10)]
        links[key] = {keys[i] for i in touched}
    return links


def neighbours_by_rule(conn: psycopg.Connection,
                       links: dict[str, set[str]]) -> dict[str, set[str]]:
    """Monument -> its neighbours, computed with shapely: the parcels that meet the monument
    or a parcel holding it (a shared boundary is enough), apart from the holders."""
    keys, wkb = zip(*conn.execute("SELECT flstkennz, ST_AsBinary(geom) FROM twin.parcels"),
                    strict=True)
    parcels = dict(zip(keys, shapely.from_wkb(list(wkb)), strict=True))
    tree = shapely.STRtree(list(parcels.values()))
    out = {}
    for key, wkb_geom in conn.execute(
            "SELECT denkmalnummer, ST_AsBinary(geom) FROM twin.heritage"):
        reach = [shapely.from_wkb(wkb_geom), *(parcels[p] for p in links[key])]
        met = {keys[i] for g in reach for i in tree.query(g, predicate="intersects")}
        out[key] = met - links[key]
    return out


def neighbours(settings: Settings) -> tuple[dict, dict]:
    """nachbarflurstuecke per monument, nachbardenkmale per parcel (those not empty)."""
    with psycopg.connect(settings.dsn) as conn:
        return (dict(conn.execute("SELECT denkmalnummer, nachbarflurstuecke FROM twin.heritage "
                                  "WHERE cardinality(nachbarflurstuecke) > 0").fetchall()),
                dict(conn.execute("SELECT flstkennz, nachbardenkmale FROM twin.parcels "
                                  "WHERE cardinality(nachbardenkmale) > 0").fetchall()))


def by_parcel(links: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for key, touched in links.items():
        for p in touched:
            out.setdefault(p, set()).add(key)
    return out


def assert_links_follow_the_rule(settings: Settings) -> None:
    with psycopg.connect(settings.dsn) as conn:
        links = links_by_rule(conn)
        near = neighbours_by_rule(conn, links)
        areas = {r[0] for r in conn.execute(
            "SELECT denkmalnummer FROM twin.heritage WHERE denkmalart = 'Denkmalbereich'")}
        monuments, parcels = derived(settings)
    for key, touched in links.items():
        assert monuments[key] == (sorted(touched) or None, len(touched)), key
    expected_parcels = {
        p: ("Denkmal" if keys - areas else "Denkmalbereich", sorted(keys))
        for p, keys in by_parcel(links).items()}
    assert parcels == expected_parcels
    # Neighbours (Umgebungsschutz): published apart from the holders, both ways.
    stored_near, stored_near_parcels = neighbours(settings)
    assert stored_near == {k: sorted(v) for k, v in near.items() if v}
    assert stored_near_parcels == {p: sorted(k) for p, k in by_parcel(near).items()}
    for key, touched in links.items():
        assert not touched & near[key], key


def test_links_follow_the_documented_rule(base: Settings) -> None:
    assert_links_follow_the_rule(base)
    monuments, parcels = derived(base)
    assert {h for h, _ in parcels.values()} == {"Denkmal", "Denkmalbereich"}
    oberkirche = sample_list().where("Bezeichnung", "Oberkirche St. Nikolai")[0]["ID-Nr."]
    with psycopg.connect(base.dsn) as conn:
        under = conn.execute(
            "SELECT flstkennz FROM twin.parcels WHERE ST_Intersects(geom, "
            "ST_SetSRID(ST_MakePoint(%s, %s), 25833))", OBERKIRCHE_XY).fetchone()[0]
        # Areas are drawn along parcel boundaries: the neighbours outside share a boundary
        # with them (they intersect) but are not linked.
        boundary_only = conn.execute(
            "SELECT count(*) FROM twin.heritage h JOIN twin.parcels p "
            "ON ST_Intersects(h.geom, p.geom) WHERE h.denkmalart = 'Denkmalbereich' "
            "AND NOT p.flstkennz = ANY(h.flurstuecke)").fetchone()[0]
        # ... they are its neighbours (Umgebungsschutz), apart from its parcels.
        boundary_not_neighbour = conn.execute(
            "SELECT count(*) FROM twin.heritage h JOIN twin.parcels p "
            "ON ST_Intersects(h.geom, p.geom) WHERE h.denkmalart = 'Denkmalbereich' "
            "AND NOT p.flstkennz = ANY(h.flurstuecke) "
            "AND NOT p.flstkennz = ANY(h.nachbarflurstuecke)").fetchone()[0]
    assert monuments[oberkirche] == ([under], 1)
    assert parcels[under][0] == "Denkmal" and oberkirche in parcels[under][1]
    assert boundary_only > 0 and boundary_not_neighbour == 0


def test_repeated_load_rewrites_no_row(base: Settings) -> None:
    reload_sample(base)
    before = versions(base), derived(base)
    load_heritage(base, LIST, GEOMS)
    assert (versions(base), derived(base)) == before
    run = last_run(base)
    assert (run["outcome"], run["inserted_count"], run["updated_count"]) == ("unchanged", 0, 0)


def test_parcel_reloads_keep_the_links_right(base: Settings, tmp_path: Path) -> None:
    reload_sample(base)
    full_monuments, full_parcels = derived(base)
    subset = sample(600)
    path = subset.write(tmp_path / "subset.gpkg", "GPKG")
    assert run_twin(base, "load", "parcels", str(path)).returncode == 0
    assert_links_follow_the_rule(base)
    kept = set(subset.column("flstkennz"))
    _, parcels = derived(base)
    assert parcels == {k: v for k, v in full_parcels.items() if k in kept}

    assert run_twin(base, "load", "parcels", str(PARCELS_SAMPLE)).returncode == 0
    assert derived(base) == (full_monuments, full_parcels)


def test_an_emptied_list_clears_every_parcel(base: Settings, tmp_path: Path) -> None:
    reload_sample(base)
    empty = ListFile(sample_list().header, []).csv(tmp_path / "leer.csv")
    result = load_heritage(base, empty, GEOMS, ok=False)
    assert result.returncode == 66 and "--allow-empty" in result.stderr
    load_heritage(base, empty, GEOMS, extra=("--allow-empty",))
    assert published(base)[0] == 0
    assert derived(base) == ({}, {})
    reload_sample(base)
    assert_links_follow_the_rule(base)


def test_a_database_of_the_text_lists_migrates(base: Settings) -> None:
    """A database from before issue 10 (comma-joined text, `abschnitt`, no neighbours):
    `twin db init` turns the texts into the same lists and renames the field; the next load
    derives the neighbours."""
    before = derived(base)
    with psycopg.connect(base.dsn, autocommit=True) as conn:
        kinds = dict(conn.execute("SELECT denkmalnummer, denkmalart FROM twin.heritage"))
        conn.execute("ALTER TABLE twin.parcels DROP COLUMN nachbardenkmale, ALTER COLUMN "
                     "denkmalnummern TYPE text USING array_to_string(denkmalnummern, ',')")
        conn.execute("ALTER TABLE twin.heritage DROP COLUMN nachbarflurstuecke, ALTER COLUMN "
                     "flurstuecke TYPE text USING array_to_string(flurstuecke, ',')")
        conn.execute("ALTER TABLE twin.heritage RENAME COLUMN denkmalart TO abschnitt")
        old = conn.execute("SELECT count(*) FROM twin.parcels "
                           "WHERE denkmalnummern LIKE '%,%'").fetchone()[0]
    assert old > 0  # parcels holding several monuments, as text
    assert run_twin(base, "db", "init").returncode == 0
    assert derived(base) == before
    with psycopg.connect(base.dsn) as conn:
        assert dict(conn.execute("SELECT denkmalnummer, denkmalart FROM twin.heritage")) == kinds
        types = dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'twin' AND column_name IN ('denkmalnummern', 'flurstuecke', "
            "'nachbardenkmale', 'nachbarflurstuecke') AND table_name IN ('parcels', 'heritage')"))
    assert types == dict.fromkeys(types, "ARRAY") and len(types) == 4
    assert neighbours(base) == ({}, {})
    reload_sample(base)
    assert_links_follow_the_rule(base)


def test_the_database_holds_nothing_archaeological(base: Settings) -> None:
    # After every load and refusal of this module: tables, load records, notes, messages.
    dump = subprocess.run(["pg_dump", "--data-only", base.dsn], capture_output=True,
                          text=True, check=True).stdout
    assert sorted(expected())[0] in dump  # the dump does hold the loads
    assert_nothing_archaeological(dump, hex_safe=True)
    status = run_twin(base, "db", "status")
    assert status.returncode == 0
    assert_nothing_archaeological(status.stdout + status.stderr)


# -- the API over the samples --------------------------------------------------------------------
def test_items_are_the_joined_sample(server: Server, pg: psycopg.Connection) -> None:
    doc = server.get(ITEMS, params={"limit": 10000}).json()
    stored = {r[0] for r in pg.execute("SELECT denkmalnummer FROM twin.heritage")}
    listed = sample_list().rows
    assert len(expected()) == len(listed) - len(bodendenkmale()) - 2  # two lack geometry
    assert doc["numberMatched"] == doc["numberReturned"] == len(stored) == len(expected())
    assert {f["id"] for f in doc["features"]} == stored == set(expected())
    kinds = {f["geometry"]["type"] for f in doc["features"]}
    assert {"Point", "Polygon", "MultiPolygon", "MultiLineString"} <= kinds
    assert set(doc["features"][0]["properties"]) == set(HERITAGE.property_names)


def test_parcel_under_the_oberkirche_is_listed(server: Server, pg: psycopg.Connection) -> None:
    oberkirche = sample_list().where("Bezeichnung", "Oberkirche St. Nikolai")[0]["ID-Nr."]
    under = pg.execute("SELECT flstkennz FROM twin.parcels WHERE ST_Intersects(geom, "
                       "ST_SetSRID(ST_MakePoint(%s, %s), 25833))", OBERKIRCHE_XY).fetchone()[0]
    listed = {r[0] for r in pg.execute(
        "SELECT flstkennz FROM twin.parcels WHERE heritage = 'Denkmal'")}
    in_area = pg.execute(
        "SELECT count(*) FROM twin.parcels WHERE heritage = 'Denkmalbereich'").fetchone()[0]
    assert under in listed and in_area > 0

    by_property = server.get(PARCEL_ITEMS, params={"heritage": "Denkmal", "limit": 10000,
                                                   "skipGeometry": "true"}).json()
    assert by_property["numberMatched"] == len(listed)
    assert {f["id"] for f in by_property["features"]} == listed

    cql = server.get(PARCEL_ITEMS, params={
        "filter": f"heritage = 'Denkmal' AND denkmalnummern LIKE '%{oberkirche}%'",
        "limit": 100}).json()
    assert [f["id"] for f in cql["features"]] == [under]
    assert cql["features"][0]["properties"]["heritage"] == "Denkmal"

    point = server.get(PARCEL_ITEMS, params={
        "filter": "S_INTERSECTS(geom, POINT({} {}))".format(*OBERKIRCHE_XY),
        "filter-crs": EPSG_25833}).json()
    assert [f["properties"]["heritage"] for f in point["features"]] == ["Denkmal"]

    area = server.get(PARCEL_ITEMS, params={"filter-lang": "cql2-json", "filter": json.dumps(
        {"op": "=", "args": [{"property": "heritage"}, "Denkmalbereich"]}),
        "skipGeometry": "true"}).json()
    assert area["numberMatched"] == in_area

    either = server.get(PARCEL_ITEMS, params={
        "filter": "heritage IS NOT NULL AND gemarkung = 'Cottbus'",
        "skipGeometry": "true"}).json()
    assert either["numberMatched"] == pg.execute(
        "SELECT count(*) FROM twin.parcels WHERE heritage IS NOT NULL "
        "AND gemarkung = 'Cottbus'").fetchone()[0] > 0

    monument = server.get(f"{ITEMS}/{oberkirche}").json()["properties"]
    assert monument["flurstuecke"] == [under] and monument["flurstueck_anzahl"] == 1
    assert monument["denkmalart"] == "Baudenkmal"


def test_a_monument_finds_all_its_parcels_and_links_them(server: Server,
                                                        pg: psycopg.Connection) -> None:
    """Issue 10: `denkmalnummern` is a list. The city wall lies on 30 parcels (by the rule,
    computed here with shapely); as comma-joined text `denkmalnummern=<id>` found only the
    one parcel holding nothing else."""
    wall = sample_list().where("Bezeichnung",
                               "Stadtbefestigung mit Stadtmauerabschnitten")[0]["ID-Nr."]
    links = links_by_rule(pg)
    near = neighbours_by_rule(pg, links)
    holders, adjoining = links[wall], near[wall]
    assert len(holders) == 30 and adjoining and not holders & adjoining
    assert sum(1 for keys in by_parcel(links).values() if keys == {wall}) == 1

    for params in (
            {"denkmalnummern": wall},
            {"filter": f"A_CONTAINS(denkmalnummern, ('{wall}'))"},
            {"filter-lang": "cql2-json", "filter": json.dumps(
                {"op": "a_contains", "args": [{"property": "denkmalnummern"}, [wall]]})}):
        doc = server.get(PARCEL_ITEMS, params={**params, "limit": 1000,
                                               "skipGeometry": "true"}).json()
        assert doc["numberMatched"] == len(holders), params
        assert {f["id"] for f in doc["features"]} == holders, params
        assert all(wall in f["properties"]["denkmalnummern"] for f in doc["features"])
    doc = server.get(PARCEL_ITEMS, params={
        "filter": f"A_OVERLAPS(nachbardenkmale, ('{wall}', '00000000'))", "limit": 1000,
        "skipGeometry": "true"}).json()
    assert {f["id"] for f in doc["features"]} == adjoining

    # A list is not compared with a text: the refusal names the array function.
    r = server.get(PARCEL_ITEMS, params={"filter": f"denkmalnummern = '{wall}'"})
    assert r.status_code == 400 and "A_CONTAINS(denkmalnummern" in r.json()["description"]
    queryables = server.get("/collections/parcels/queryables", params={"f": "json"}).json()
    assert queryables["properties"]["denkmalnummern"]["type"] == "array"
    assert queryables["properties"]["nachbardenkmale"]["items"] == {"type": "string"}
    assert "http://www.opengis.net/spec/cql2/1.0/conf/array-functions" in \
        server.get("/conformance", params={"f": "json"}).json()["conformsTo"]
    oas = server.get("/openapi", params={"f": "json"}).json()
    param = next(p for p in oas["paths"][PARCEL_ITEMS]["get"]["parameters"]
                 if p.get("name") == "denkmalnummern")
    assert param["schema"] == {"type": "string"}  # one ID, as `denkmalnummern=<id>` takes it

    # The monument links its parcels and its neighbours; each parcel links back.
    monument = server.get(f"{ITEMS}/{wall}").json()
    assert monument["properties"]["flurstuecke"] == sorted(holders)
    assert monument["properties"]["nachbarflurstuecke"] == sorted(adjoining)
    related = {link["href"]: link["title"] for link in monument["links"]
               if link["rel"] == "related"}
    href = f"{server.url}{PARCEL_ITEMS}/"
    assert set(related) == {href + p for p in holders | adjoining}
    assert all(related[href + p].startswith("Flurstücke des Denkmals") for p in holders)
    assert all(related[href + p].startswith("Angrenzende Flurstücke") for p in adjoining)
    for parcel_key, title in ((sorted(holders)[0], "Denkmale auf dem Flurstück"),
                              (sorted(adjoining)[0], "Angrenzende Denkmale")):
        parcel = requests.get(href + parcel_key, timeout=60).json()
        back = [link for link in parcel["links"] if link["rel"] == "related"
                and link["href"] == f"{server.url}{ITEMS}/{wall}"]
        assert len(back) == 1 and back[0]["title"].startswith(title), parcel_key
    page = server.get(ITEMS, params={"denkmalnummer": wall}).json()["features"][0]
    assert {link["href"] for link in page["links"]} == set(related)
    # The HTML item pages show the same links.
    html = server.get(f"{ITEMS}/{wall}", params={"f": "html"}).text
    for p in holders | adjoining:
        assert f'href="{href}{p}"' in html, p
    html = server.get(f"{PARCEL_ITEMS}/{sorted(holders)[0]}", params={"f": "html"}).text
    assert f'href="{server.url}{ITEMS}/{wall}"' in html


def test_heritage_filters_match_postgis(server: Server, pg: psycopg.Connection) -> None:
    for params, where in [
        ({"denkmalart": "Denkmalbereich"}, "denkmalart = 'Denkmalbereich'"),
        ({"filter": "denkmalart = 'Technisches Denkmal'"},
         "denkmalart = 'Technisches Denkmal'"),
        ({"filter": "flurstueck_anzahl > 1"}, "flurstueck_anzahl > 1"),
        ({"filter": "bezeichnung LIKE '%Turm%'"}, "bezeichnung LIKE '%Turm%'"),
        ({"bbox": "453700,5734200,454600,5735000", "bbox-crs": EPSG_25833},
         "ST_Intersects(geom, ST_MakeEnvelope(453700, 5734200, 454600, 5735000, 25833))"),
    ]:
        doc = server.get(ITEMS, params={**params, "limit": 1000, "skipGeometry": "true"}).json()
        count = pg.execute(f"SELECT count(*) FROM twin.heritage WHERE {where}"  # noqa: S608
                           ).fetchone()[0]
        assert count > 0, where
        assert doc["numberMatched"] == doc["numberReturned"] == count, where


def test_no_endpoint_reveals_an_archaeological_site(server: Server,
                                                    pg: psycopg.Connection) -> None:
    sites = bodendenkmale()
    texts = []
    for path, params in [
        (ITEMS, {"limit": 10000}),
        (ITEMS, {"limit": 10000, "crs": EPSG_25833}),
        (ITEMS, {"limit": 10000, "f": "html"}),
        (PARCEL_ITEMS, {"limit": 10000, "skipGeometry": "true"}),
        ("/collections/heritage", {"f": "json"}),
        ("/collections/heritage", {"f": "html"}),
        ("/collections/heritage/queryables", {"f": "json"}),
        ("/collections", {"f": "json"}),
        ("/openapi", {"f": "json"}),
    ]:
        r = server.get(path, params=params)
        assert r.status_code == 200, (path, r.text)
        texts.append(r.text)
    for site in sites.values():
        # Whole metres around the site: the answer's links echo the box.
        xmin, ymin = np.floor(shapely.total_bounds(site["geoms"])[:2]).astype(int) - 1
        xmax, ymax = np.ceil(shapely.total_bounds(site["geoms"])[2:]).astype(int) + 1
        r = server.get(ITEMS, params={"bbox": f"{xmin},{ymin},{xmax},{ymax}",
                                      "bbox-crs": EPSG_25833, "crs": EPSG_25833})
        texts.append(r.text)
    for text in texts:
        assert_nothing_archaeological(text)

    # Asked for by ID, name or place: nothing. (The query itself is echoed in links.)
    for key, site in sites.items():
        assert server.get(f"{ITEMS}/{key}").status_code == 404
        for params in ({"denkmalnummer": key},
                       {"filter": f"denkmalnummer = '{key}'"},
                       {"filter": f"bezeichnung = '{site['Bezeichnung']}'"},
                       {"filter": f"adresse = '{site['Lage']}'"}):
            doc = server.get(ITEMS, params=params).json()
            assert doc["numberMatched"] == 0 and doc["features"] == [], params
        doc = server.get(PARCEL_ITEMS, params={
            "filter": f"denkmalnummern LIKE '%{key}%'"}).json()
        assert doc["numberMatched"] == 0
    # Where a site lies, only published monuments are linked to the parcels.
    for site in sites.values():
        for geom in site["geoms"]:
            rows = pg.execute(
                "SELECT denkmalnummern FROM twin.parcels WHERE ST_Intersects(geom, "
                "ST_GeomFromWKB(%s, 25833)) AND denkmalnummern IS NOT NULL",
                (shapely.to_wkb(geom),)).fetchall()
            for (numbers,) in rows:
                assert set(numbers) <= set(expected())


def test_the_sample_database_holds_nothing_archaeological(loaded_settings: Settings) -> None:
    dump = subprocess.run(["pg_dump", "--data-only", loaded_settings.dsn],
                          capture_output=True, text=True, check=True).stdout
    assert sorted(expected())[0] in dump
    assert_nothing_archaeological(dump, hex_safe=True)


def gdal_env() -> dict[str, str]:
    """GDAL straight to the loopback server, no proxy, bounded waits."""
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
                "GDAL_HTTP_TIMEOUT": "60", "GDAL_HTTP_CONNECTTIMEOUT": "10",
                "GDAL_HTTP_MAX_RETRY": "0", "CPL_DEBUG": "OFF"})
    return env


def test_ogr2ogr_reads_heritage_over_oapif(server: Server, pg: psycopg.Connection,
                                           tmp_path: Path) -> None:
    out = tmp_path / "heritage.geojson"
    result = subprocess.run(
        ["ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{server.url}", "heritage",
         "-oo", "PAGE_SIZE=10"], env=gdal_env(), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    features = json.loads(text)["features"]
    stored = dict(pg.execute("SELECT denkmalnummer, bezeichnung FROM twin.heritage").fetchall())
    assert len(stored) > 10  # more than one page: GDAL must follow `next` links
    assert len(features) == len(stored)
    assert {f["properties"]["denkmalnummer"]: f["properties"]["bezeichnung"]
            for f in features} == stored
    assert_nothing_archaeological(text)
    assert requests.get(f"{server.url}{ITEMS}/{sorted(stored)[0]}", timeout=30).ok
