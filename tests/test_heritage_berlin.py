"""The real heritage list of Berlin's Landesdenkmalamt, loaded as the city would receive such an
export: `twin load heritage` on the cp1252 CSV (``ObjDokNr``, 7-digit IDs, ``NA`` cells, Berlin's
kinds) with the office's KML points (ID only in the placemark's name, several points per
monument, NUL bytes after ``</kml>``).

Expected values come from the files in ``../shared/data/real/heritage_berlin/``, read here with
the standard library and pyproj, and from PostGIS; never from the code under test. Berlin lies
inside the Brandenburg envelope the loader checks, so the geometries are used as they are.
"""

from __future__ import annotations

import collections
import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from pyproj import Transformer

from tests.helpers import last_run, published_of, run_twin
from twin.settings import PROJECT_ROOT, Settings

REAL = PROJECT_ROOT.parent / "shared" / "data" / "real" / "heritage_berlin"
LIST = REAL / "denkmalliste_berlin.csv"
KMLS = tuple(REAL / f"{kind}.kml" for kind in ("baudenkmal", "bodendenkmal", "denkmalbereich",
                                                "ensembleteil", "gartendenkmal"))
ARCHAEOLOGY_KML = REAL / "bodendenkmal.kml"
published = published_of("heritage")
#: Berlin's kinds and what the list's documentation says they are (docs/sources/heritage.md).
KINDS = {"Baudenkmal": "Baudenkmal", "Gesamtanlage": "Denkmalbereich",
         "Ensemble": "Denkmalbereich", "Gartendekmal": "Gartendenkmal"}
#: Words that withhold a row whatever its kind (docs/sources/heritage.md).
ARCHAEOLOGY_WORDS = ("bodendenkmal", "archäolog", "archaolog", "grabungsschutz", "bodenfund")


# -- the files, read independently -------------------------------------------------------------
@dataclass(frozen=True)
class Berlin:
    header: list[str]
    lines: list[bytes]  # the file's lines as bytes, header first
    rows: list[list[str]]  # parsed, one per line after the header

    def rows_of(self, key: str) -> list[list[str]]:
        return [r for r in self.rows if r[0] == key]


def berlin_list() -> Berlin:
    data = LIST.read_bytes()
    lines = data.splitlines(keepends=True)
    assert all(b"\n" in line or line is lines[-1] for line in lines)
    parsed = list(csv.reader(io.StringIO(data.decode("cp1252"), newline=""), delimiter=";"))
    # One record per line, so that lines can be dropped from a copy below.
    assert len(parsed) == len(lines), "a record spans lines"
    return Berlin(parsed[0], lines, parsed[1:])


def archaeological(row: list[str]) -> bool:
    """The documented rule: the kind, or the name or description, speaks of one (Berlin's
    list has no name column; its Beschreibung is the 10th)."""
    text = f"{row[3]} {row[9]}".casefold()
    return row[3] == "Bodendenkmal" or any(w in text for w in ARCHAEOLOGY_WORDS)


def conflicting_rows(berlin: Berlin) -> tuple[set[str], int]:
    """IDs listed again with other values, and how many rows differ from the first of theirs."""
    first: dict[str, list[str]] = {}
    ids, rows = set(), 0
    for row in berlin.rows:
        if archaeological(row):
            continue
        if row[0] in first and first[row[0]] != row:
            ids.add(row[0])
            rows += 1
        first.setdefault(row[0], row)
    return ids, rows


def placemarks(path: Path) -> list[tuple[str, tuple[float, float]]]:
    """(name, (lon, lat)) of every placemark, as the file writes them."""
    text = path.read_bytes().rstrip(b"\0").decode("utf-8")
    out = []
    for block in re.findall(r"<Placemark>(.*?)</Placemark>", text, re.S):
        name = re.search(r"<name>(.*?)</name>", block, re.S).group(1).strip()
        lon, lat, *_ = re.search(r"<coordinates>(.*?)</coordinates>", block, re.S) \
            .group(1).strip().split(",")
        out.append((name, (float(lon), float(lat))))
    return out


def points_by_id() -> dict[str, list[tuple[float, float]]]:
    """Distinct points per ID over every KML but the archaeological one, in file order."""
    out: dict[str, dict[tuple[float, float], None]] = collections.defaultdict(dict)
    for path in KMLS:
        if path == ARCHAEOLOGY_KML:
            continue
        for name, xy in placemarks(path):
            if m := re.fullmatch(r"Punkt (\d{8})", name):
                out[m.group(1)][xy] = None
    return {k: list(v) for k, v in out.items()}


def archaeological_ids(berlin: Berlin) -> set[str]:
    """8-digit IDs of the archaeological sites: rows withheld and the archaeological KML's."""
    ids = {r[0].zfill(8) for r in berlin.rows if archaeological(r)}
    ids |= {m.group(1) for name, _ in placemarks(ARCHAEOLOGY_KML)
            if (m := re.fullmatch(r"Punkt (\d{8})", name))}
    return ids


def assert_no_archaeology(text: str, ids: set[str]) -> None:
    # As 7 or 8 digits, never inside a longer number.
    found = re.findall(r"(?<!\d)0?(\d{7})(?!\d)", text)
    leaked = {f"0{d}" for d in found} & ids
    assert not leaked, f"archaeological IDs in output: {sorted(leaked)[:5]}"


# -- loading -----------------------------------------------------------------------------------
def load(settings: Settings, *paths: Path) -> tuple[int, str]:
    result = run_twin(settings, "load", "heritage", *map(str, paths))
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def berlin() -> Berlin:
    return berlin_list()


@pytest.fixture(scope="module")
def copy_without_conflicts(berlin: Berlin, tmp_path_factory) -> Path:
    """The list without the rows of IDs listed twice with different values: a copy made here,
    line by line as bytes (the real file is never changed)."""
    ids, _ = conflicting_rows(berlin)
    path = tmp_path_factory.mktemp("berlin") / "denkmalliste_berlin.csv"
    kept = [line for line, row in zip(berlin.lines[1:], berlin.rows, strict=True)
            if row[0] not in ids]
    path.write_bytes(b"".join([berlin.lines[0], *kept]))
    return path


@pytest.fixture(scope="module")
def refused(empty_settings: Settings) -> tuple[int, str, dict]:
    """The real list as published: refused, for its conflicting duplicates."""
    code, output = load(empty_settings, LIST, *KMLS)
    return code, output, last_run(empty_settings)


@pytest.fixture(scope="module")
def loaded(empty_settings: Settings, refused, copy_without_conflicts: Path
           ) -> tuple[Settings, str, dict]:
    code, output = load(empty_settings, copy_without_conflicts, *KMLS)
    assert code == 0, output
    return empty_settings, output, last_run(empty_settings)


def published_rows(settings: Settings) -> dict[str, dict]:
    with psycopg.connect(settings.dsn, row_factory=psycopg.rows.dict_row) as conn:
        return {r["denkmalnummer"]: r for r in conn.execute(
            "SELECT denkmalnummer, bezeichnung, adresse, beschreibung, denkmalart, gemeinde, "
            "ortsteil, GeometryType(geom) AS type, ST_NumGeometries(geom) AS parts, "
            "ST_AsText(ST_Transform(geom, 4326)) AS wgs84 FROM twin.heritage")}


# -- the tests ---------------------------------------------------------------------------------
def test_the_real_list_is_refused_for_ids_listed_twice_with_other_values(
        refused, berlin: Berlin) -> None:
    code, output, run = refused
    ids, rows = conflicting_rows(berlin)
    assert ids and rows > len(ids)  # the file has them: several IDs, some three times
    assert code == 65, output
    assert f"{rows} row(s) of the heritage list refused ({rows} of them repeat an ID" in output
    assert "'ObjDokNr'" in output and "differs in" in output and "Bezirk" in output
    assert run["outcome"] == "refused"
    # Every refused row is named by the line the test finds it on.
    refused_ids = {re.search(r"duplicate ID '(\d{8})'", r["reason"]).group(1)
                   for r in run["refusals"]}
    assert refused_ids == {k.zfill(8) for k in ids}
    assert len(run["refusals"]) == rows
    assert_no_archaeology(output, archaeological_ids(berlin))


def test_counts(loaded, berlin: Berlin) -> None:
    settings, output, run = loaded
    conflicts, _ = conflicting_rows(berlin)
    listed = {r[0].zfill(8) for r in berlin.rows
              if not archaeological(r) and r[0] not in conflicts}
    # Withheld IDs may turn up in the other KML files: they stay withheld.
    expected = listed & set(points_by_id()) - archaeological_ids(berlin)
    rows = published_rows(settings)
    assert set(rows) == expected
    assert run["outcome"] == "succeeded" and run["inserted_count"] == len(expected)
    # 12,248 rows, less the conflicting ones, less the archaeological ones, less repeats.
    kept = [r for r in berlin.rows if r[0] not in conflicts]
    withheld = sum(map(archaeological, kept))
    repeats = len(kept) - withheld - len({tuple(r) for r in kept if not archaeological(r)})
    assert len(berlin.rows) == 12_248 and withheld >= 61 and repeats >= 1
    assert f"withheld {withheld} list entries" in output
    assert f"{repeats} row(s) repeat an earlier row exactly" in output
    padded = sum(1 for r in kept if not archaeological(r) and re.fullmatch(r"[1-9]\d{6}", r[0]))
    assert padded == len(kept) - withheld
    assert f"{padded} ID number(s) were stored as numbers and had lost their leading zero" \
        in output
    # NA cells of the rows published once (repeats are not counted twice).
    once = {tuple(r) for r in kept if not archaeological(r)}
    na = sum(c.strip() == "NA" for r in once for c in r)
    assert f"{na} cell(s) reading NA read as empty" in output


def test_values_of_a_few_monuments(loaded, berlin: Berlin) -> None:
    settings, _, _ = loaded
    rows = published_rows(settings)
    conflicts, _ = conflicting_rows(berlin)
    col = {h: i for i, h in enumerate(berlin.header)}
    for kind, section in KINDS.items():
        candidates = [r for r in berlin.rows if r[col["Denkmalart"]] == kind
                      and r[0] not in conflicts and r[0].zfill(8) in rows
                      and not archaeological(r)]
        for r in candidates[:3]:
            got = rows["0" + r[0]]
            assert len(r[0]) == 7 and got["denkmalnummer"] == "0" + r[0]
            assert got["denkmalart"] == section, (r[0], kind)

            def value(name: str, r=r) -> str | None:
                text = r[col[name]].strip()
                return None if text in ("", "NA") else text

            assert got["adresse"] == value("Adresse")
            assert got["beschreibung"] == value("Beschreibung")
            assert got["ortsteil"] == value("Ortsteil")
            assert got["bezeichnung"] is None  # Berlin's list has no name column
    # An NA cell is empty, never the text "NA".
    with psycopg.connect(settings.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM twin.heritage WHERE 'NA' IN "
                            "(adresse, beschreibung, ortsteil)").fetchone()[0] == 0


def test_several_points_are_one_multipoint(loaded) -> None:
    settings, output, _ = loaded
    rows = published_rows(settings)
    points = points_by_id()
    several = {k for k in rows if len(points[k]) > 1}
    assert len(several) > 100
    for key, row in rows.items():
        expected = points[key]
        if len(expected) == 1:
            assert row["type"] == "POINT", key
            continue
        assert row["type"] == "MULTIPOINT" and row["parts"] == len(expected), key
    # Coordinates survive the round trip 4326 -> 25833 -> 4326 (PostGIS both ways).
    for key in sorted(several)[:20]:
        got = [tuple(map(float, p.split())) for p in
               re.findall(r"[\d.]+ [\d.]+", rows[key]["wgs84"])]
        assert len(got) == len(points[key])
        for (x, y), (ex, ey) in zip(got, points[key], strict=True):
            assert abs(x - ex) < 1e-7 and abs(y - ey) < 1e-7, key
    # The note counts monuments given by several placemarks (some repeat a point) and them.
    features = collections.Counter(
        m.group(1) for path in KMLS if path != ARCHAEOLOGY_KML for name, _ in placemarks(path)
        if (m := re.fullmatch(r"Punkt (\d{8})", name)) and m.group(1) in rows)
    merged = {k: n for k, n in features.items() if n > 1}
    assert several <= set(merged)
    assert f"{len(merged)} monument(s) given as several points ({sum(merged.values())} " \
        "features in all" in output


def test_nul_bytes_and_unnamed_placemarks_are_noted(loaded) -> None:
    _, output, run = loaded
    with_nul = [p for p in KMLS if p.read_bytes().endswith(b"\0") and p != ARCHAEOLOGY_KML]
    assert with_nul  # denkmalbereich.kml
    for path in with_nul:
        assert f"{path}: 1 NUL byte(s) after the end of the document" in output
    notes = "\n".join(run["notes"])
    for path in KMLS:
        if path == ARCHAEOLOGY_KML:
            continue
        unnamed = [i for i, (name, _) in enumerate(placemarks(path), start=1)
                   if not re.fullmatch(r"Punkt \d{8}", name)]
        if unnamed:
            assert f"{path}: {len(unnamed)} placemark(s) whose name holds no ID" in notes
            assert f"rows {', '.join(map(str, unnamed))})" in notes


def test_no_archaeological_site_anywhere(loaded, berlin: Berlin) -> None:
    settings, output, run = loaded
    ids = archaeological_ids(berlin)
    assert len(ids) >= 61
    rows = published_rows(settings)
    assert not ids & set(rows)
    assert_no_archaeology(output, ids)
    assert_no_archaeology(str(run), ids)
    assert str(ARCHAEOLOGY_KML) in output  # withheld as a whole file, named
    # Their points are nowhere: no published geometry lies within a metre of one.
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:25833", always_xy=True)
    sites = [to_utm.transform(*xy) for _, xy in placemarks(ARCHAEOLOGY_KML)]
    with psycopg.connect(settings.dsn) as conn:
        near = conn.execute(
            "SELECT count(*) FROM twin.heritage h, unnest(%s::float8[], %s::float8[]) s(x, y) "
            "WHERE ST_DWithin(h.geom, ST_SetSRID(ST_MakePoint(s.x, s.y), 25833), 1)",
            ([x for x, _ in sites], [y for _, y in sites])).fetchone()[0]
    assert near == 0


def test_loading_again_changes_nothing(loaded, copy_without_conflicts: Path) -> None:
    settings, _, _ = loaded
    before = published(settings)
    code, output = load(settings, copy_without_conflicts, *KMLS)
    assert code == 0, output
    assert published(settings) == before
    run = last_run(settings)
    assert run["unchanged_count"] == before[0] and run["inserted_count"] == 0


def test_a_nul_byte_inside_a_kml_is_refused(empty_settings: Settings, loaded,
                                           copy_without_conflicts: Path, tmp_path: Path) -> None:
    # Only NUL bytes after the document are an exporter's habit; one inside is damage.
    data = (REAL / "denkmalbereich.kml").read_bytes()
    assert data.endswith(b"\0")
    middle = data.index(b"<Placemark>", len(data) // 2)
    broken = tmp_path / "denkmalbereich.kml"
    broken.write_bytes(data[:middle] + b"\0" + data[middle:])
    before = published(empty_settings)
    code, output = load(empty_settings, copy_without_conflicts, broken)
    assert code != 0
    assert f"{broken}: " in output  # the file given, not a copy read in its place
    assert "twin-heritage-" not in output
    assert published(empty_settings) == before
