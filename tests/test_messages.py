"""What a load says: a few lines per kind of message on the terminal, every line in the run
record (`twin db status --run N`), and "truncated" only for a file that really is.

Expected counts come from how the test files are made and from twin.load_run, not from the
code that groups the lines.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import shapely

from etl.truncation import truncation_evidence
from tests.helpers import assert_refused, last_run, run_twin
from tests.sources import Layer, sample
from twin.settings import PROJECT_ROOT, Settings

HERITAGE = PROJECT_ROOT / "data" / "samples" / "heritage"
REAL = PROJECT_ROOT.parent / "shared" / "data" / "real"
#: Rows of one kind of message each test makes.
MANY = 3000
MORE = re.compile(r"… and ([\d,]+) more like this \(twin db status --run (\d+)\)")


def _more(stderr: str) -> list[tuple[int, int]]:
    """(count, run id) of every "… and N more like this" line."""
    return [(int(n.replace(",", "")), int(r)) for n, r in MORE.findall(stderr)]


def _status_run(settings: Settings, run_id: int) -> list[str]:
    result = run_twin(settings, "db", "status", "--run", str(run_id))
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def _heritage_list(tmp: Path, extra: int) -> tuple[Path, list[str]]:
    """The sample list with ``extra`` monuments more, none of them in the geometry file."""
    lines = (HERITAGE / "denkmalliste_cottbus.csv").read_bytes().decode("cp1252").splitlines()
    taken = {line.split(";", 1)[0] for line in lines[1:]}
    rest = lines[1].split(";", 1)[1]  # a Baudenkmal of section D: published if it had a place
    keys = [f"0990{i:04d}" for i in range(extra)]
    assert not taken & set(keys)
    path = tmp / "denkmalliste_gross.csv"
    path.write_bytes("\r\n".join([*lines, *(f"{k};{rest}" for k in keys)]).encode("cp1252")
                     + b"\r\n")
    return path, keys


def test_thousands_of_notes_show_a_few_lines_and_the_record_keeps_all(
        empty_settings: Settings, tmp_path: Path) -> None:
    path, keys = _heritage_list(tmp_path, MANY)
    result = run_twin(empty_settings, "load", "heritage", str(path),
                      str(HERITAGE / "denkmale_cottbus.gpkg"))
    assert result.returncode == 0, result.stderr
    run = last_run(empty_settings)
    notes = run["notes"]
    # The record keeps every note: one per added monument, each naming its key.
    mine = [n for n in notes if any(k in n for k in re.findall(r"\b0990\d{4}\b", n))]
    assert sorted(re.search(r"\b0990\d{4}\b", n).group() for n in mine) == sorted(keys)

    note_lines = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len([line for line in note_lines if re.search(r"\b0990\d{4}\b", line)]) <= 3
    assert len(result.stderr.splitlines()) < 30, result.stderr
    # Every note is shown or counted, and the count names this run.
    more = _more(result.stderr)
    assert more and {r for _, r in more} == {run["id"]}
    assert len(note_lines) + sum(n for n, _ in more) == len(notes)
    assert max(n for n, _ in more) >= MANY - 3

    shown = _status_run(empty_settings, run["id"])
    assert f"# notes: {len(notes)}" in shown
    assert [line for line in shown if line.startswith("note: ")] == [f"note: {n}" for n in notes]


def test_thousands_of_repairs_show_a_few_lines(empty_settings: Settings,
                                               tmp_path: Path) -> None:
    layer = sample(MANY)
    bounds = shapely.bounds(layer.geoms)
    bow_ties = shapely.polygons([[(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)]
                                 for x0, y0, x1, y1 in bounds])
    path = Layer(layer.names, layer.columns, bow_ties, layer.crs).write(
        tmp_path / "bow_ties.gpkg", "GPKG")
    result = run_twin(empty_settings, "load", "parcels", str(path))
    assert result.returncode == 0, result.stderr
    run = last_run(empty_settings)
    assert len(run["repairs"]) == MANY
    repair_lines = [line for line in result.stderr.splitlines() if line.startswith("repair: ")]
    assert 1 <= len(repair_lines) <= 3 * len({r["reason"] for r in run["repairs"]})
    assert len(repair_lines) + sum(n for n, _ in _more(result.stderr)) == MANY
    shown = _status_run(empty_settings, run["id"])
    assert len([line for line in shown if line.startswith("repair: ")]) == MANY


def test_thousands_of_refusals_show_a_few_per_kind_and_the_record_keeps_all(
        empty_settings: Settings, tmp_path: Path) -> None:
    layer = sample(MANY + 500)
    geoms = layer.geoms.copy()
    geoms[:MANY] = None
    keys = layer.column("flstkennz").copy()
    bad = range(MANY, MANY + 5)
    for i in bad:
        keys[i] = f"12-4166-1-{i}"
    path = Layer(layer.names, layer.columns, geoms, layer.crs).with_column(
        "flstkennz", keys).write(tmp_path / "refused.gpkg", "GPKG")
    result = run_twin(empty_settings, "load", "parcels", str(path))
    assert_refused(result, path, [f"{MANY + len(bad)} record(s) refused"])
    run = last_run(empty_settings)
    # Every refusal is kept, far beyond the 200 of before.
    assert len(run["refusals"]) == MANY + len(bad)
    # A row is "12" or "12 (key)".
    assert sorted(int(str(r["row"]).split()[0]) for r in run["refusals"]) == [
        *range(1, MANY + 1),
        *(i + 1 for i in bad)]
    listed = [line for line in result.stderr.splitlines() if line.startswith(f"  {path}: ")]
    assert len([line for line in listed if "no geometry" in line]) == 3
    assert len([line for line in listed if "'flstkennz'" in line]) == 3
    more = _more(result.stderr)
    assert [r for _, r in more] == [run["id"]] * len(more)
    assert len(listed) + sum(n for n, _ in more) == MANY + len(bad)

    shown = _status_run(empty_settings, run["id"])
    assert f"# refusals: {MANY + len(bad)}" in shown
    refusal_lines = [line for line in shown if line.startswith(f"{path}: row ")]
    assert len(refusal_lines) == MANY + len(bad)
    assert sum("'flstkennz'" in line for line in refusal_lines) == len(bad)


def test_status_of_a_run_that_does_not_exist_is_refused(empty_settings: Settings) -> None:
    result = run_twin(empty_settings, "db", "status", "--run", "999999")
    assert result.returncode == 64 and "no load run 999999" in result.stderr


# -- truncated or not ------------------------------------------------------------------------
def _cut(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _gpkg(tmp: Path) -> Path:
    return sample(300).write(tmp / "parcels.gpkg", "GPKG")


def _shp(tmp: Path) -> Path:
    return sample(300).write(tmp / "parcels.shp", "ESRI Shapefile")


def _gml(tmp: Path) -> Path:
    path = sample(300).write(tmp / "parcels.gml", "GML")
    (tmp / "parcels.xsd").unlink()  # as a WFS answer arrives: no schema beside it
    return path


def _geojson(tmp: Path) -> Path:
    return sample(300).to_crs("EPSG:4326").write(tmp / "parcels.geojson", "GeoJSON")


def _damaged_in_the_middle(path: Path, old: str, new: str) -> Path:
    text = path.read_text()
    at = text.index(old, len(text) // 2)
    path.write_text(text[:at] + new + text[at + len(old):])
    return path


TRUNCATED = [
    ("gpkg", lambda tmp: _cut(_gpkg(tmp), 0.7)),
    ("shapefile", lambda tmp: _cut(_shp(tmp))),
    ("gml", lambda tmp: _cut(_gml(tmp))),
    ("geojson", lambda tmp: _cut(_geojson(tmp))),
]


@pytest.mark.parametrize("make", [t[1] for t in TRUNCATED], ids=[t[0] for t in TRUNCATED])
def test_a_truncated_file_is_said_to_be_truncated(empty_settings: Settings, tmp_path: Path,
                                                  make) -> None:
    path = make(tmp_path)
    result = run_twin(empty_settings, "load", "parcels", str(path))
    assert_refused(result, path, ["the file is truncated"])
    assert last_run(empty_settings)["outcome"] == "refused"


def _garbage(path: Path) -> Path:
    path.write_bytes(b"\x00\x01 no GeoPackage " * 50)
    return path


DAMAGED = [
    # (id, a complete file with another fault, words saying that fault)
    ("gml-mismatched-tag",
     lambda tmp: _damaged_in_the_middle(_gml(tmp), "</gml:posList>", "</gml:pos>"),
     ["not well-formed", "mismatched tag", "line"]),
    ("geojson-syntax",
     lambda tmp: _damaged_in_the_middle(_geojson(tmp), '"coordinates": [', '"coordinates": [,'),
     ["not valid", "line"]),
    ("not-a-geopackage",
     lambda tmp: _garbage(tmp / "x.gpkg"),
     ["not a readable vector file"]),
]


@pytest.mark.parametrize(("make", "words"), [d[1:] for d in DAMAGED], ids=[d[0] for d in DAMAGED])
def test_a_complete_file_with_another_fault_is_not_called_truncated(
        empty_settings: Settings, tmp_path: Path, make, words: list[str]) -> None:
    path = make(tmp_path)
    result = run_twin(empty_settings, "load", "parcels", str(path))
    assert_refused(result, path, words)
    assert "truncated" not in result.stderr


def test_a_complete_gml_with_curves_is_not_called_truncated(empty_settings: Settings) -> None:
    path = REAL / "alkis" / "thueringen_erfurt_ave_flurstueck_wfs.gml"
    result = run_twin(empty_settings, "load", "parcels", str(path))
    assert "truncated" not in result.stderr


@pytest.mark.parametrize("path", sorted(p for p in REAL.rglob("*") if p.is_file()
                                        and p.suffix not in (".md", ".gfs")),
                         ids=lambda p: p.name)
def test_the_real_files_are_complete(path: Path) -> None:
    assert truncation_evidence(path) is None


def test_the_real_files_cut_short_are_truncated(tmp_path: Path) -> None:
    for path in sorted(p for p in REAL.rglob("*") if p.suffix in (".gml", ".kml", ".json")):
        cut = tmp_path / path.name
        cut.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
        assert truncation_evidence(cut), path


def test_status_without_run_is_unchanged(empty_settings: Settings) -> None:
    # Scripts read the tab-separated history: its header stays as it was.
    status = run_twin(empty_settings, "db", "status")
    assert status.returncode == 0
    assert ("id\tstarted\tsource\toutcome\tread\tinserted\tupdated\tdeleted\tunchanged\t"
            "repairs\trefusals\tfile\tmessage") in status.stdout
