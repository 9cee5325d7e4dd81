"""BASt's real station list (../shared/data/real/traffic/Jawe2021_test_data_excerpt.csv) and
hourly files in BASt's national layout through `twin load traffic-counts`.

No real hourly file is public in a size a test can hold, so the test writes one per road class
as BASt ships them: ``2021_A_S.txt`` and ``2021_B_S.txt``, ``;``, values padded with blanks,
each value followed by its quality mark (``KFZ_R1;K_KFZ_R1;Lkw_R1;...``), every station of
the road class (here: the list's stations and others), zipped. The three stations are in
Berlin, inside the Brandenburg frame the load checks, so nothing needs moving. Expected values
come from the files (csv, zipfile, pyproj here) or from PostGIS.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from pyproj import Transformer

from tests.helpers import last_run, run_twin
from twin.settings import PROJECT_ROOT, Settings

REAL = PROJECT_ROOT.parent / "shared" / "data" / "real" / "traffic"
STATIONS = REAL / "Jawe2021_test_data_excerpt.csv"
BERLIN = ZoneInfo("Europe/Berlin")
#: Two whole weeks: the mean daily traffic weights each weekday equally and needs all seven;
#: the flagged hours of the second day are filled from the same weekday a week later.
DAYS = tuple(dt.date(2021, 6, 1) + dt.timedelta(days=i) for i in range(14))
#: Stations of the same road classes that the city's list does not hold.
OTHERS = {"A": ("9001",), "B": ("9002", "9003")}
CLASSES = ("KFZ", "Lkw", "PLZ", "Pkw", "Lfw", "Mot", "PmA", "Bus", "LoA", "Lzg", "Sat", "Son")
HEADER = ["TKNR", "Zst", "Land", "Strklas", "Strnum", "Datum", "Wotag", "Fahrtzw", "Stunde"] + [
    name for r in (1, 2) for c in CLASSES for name in (f"{c}_R{r}", f"K_{c}_R{r}")]
#: Quality marks planted on the second day: (hour, column) -> mark. 'a', 'd', 'u' are marks
#: BASt does not count as valid, 's' and 'k' it does (docs/sources/traffic-counts.md); a mark
#: on a class the twin does not publish (Lzg) flags nothing.
MARKS = {(8, "K_KFZ_R1"): "a", (9, "K_KFZ_R2"): "d", (10, "K_Lkw_R1"): "u",
         (11, "K_KFZ_R1"): "s", (12, "K_Pkw_R2"): "k", (13, "K_Lzg_R1"): "a"}
BAST_VALID = ("", "-", "k", "s")
PUBLISHED_CLASSES = ("KFZ", "Lkw", "Pkw", "Bus")


def station_list() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(STATIONS.read_text(encoding="utf-8"), newline=""),
                               delimiter=";"))


def road_of(row: dict[str, str]) -> str:
    """Road class, number and suffix as a reader of the list writes them: 'B 96a'."""
    suffix = "" if row["Str_Zus"] == "NA" else row["Str_Zus"]
    return f"{row['Str_Kl']} {row['Str_Nr']}{suffix}"


def _counts(seed: int, hour: int) -> dict[str, int]:
    kfz = 40 + seed % 97 + 9 * hour
    lkw = kfz // 9
    return {"KFZ": kfz, "Lkw": lkw, "PLZ": kfz - lkw, "Pkw": kfz - lkw - 3, "Lfw": 2, "Mot": 1,
            "PmA": 0, "Bus": 1, "LoA": lkw // 2, "Lzg": lkw - lkw // 2 - 1, "Sat": 1, "Son": 0}


def write_national_file(folder: Path, road_class: str) -> Path:
    """``2021_<class>_S.txt`` in a ZIP as BASt ships it, for the list's stations of the road
    class and the OTHERS."""
    ours = [(r["DZ_Nr"], r["TK_Nr"], r["Land_Nr"], r["Str_Nr"]) for r in station_list()
            if r["Str_Kl"] == road_class]
    others = [(z, "3546", "12", "999") for z in OTHERS[road_class]]
    lines = [";".join(HEADER)]
    for zst, tknr, land, strnum in [*ours, *others]:
        for day in DAYS:
            for hour in range(1, 25):
                row = {"TKNR": tknr, "Zst": zst, "Land": f"{land:>3}", "Strklas": road_class,
                       "Strnum": f"{strnum:>4}", "Datum": f"{day:%y%m%d}",
                       "Wotag": f"{day.isoweekday():>2}", "Fahrtzw": "w", "Stunde": str(hour)}
                for r in (1, 2):
                    for c, n in _counts(int(zst) * r, hour).items():
                        row[f"{c}_R{r}"], row[f"K_{c}_R{r}"] = f"{n:>6}", "-"
                if day == DAYS[1] and ours and zst == ours[0][0]:
                    for (h, column), mark in MARKS.items():
                        if h == hour:
                            row[column] = mark
                lines.append(";".join(row[c] for c in HEADER))
    name = f"2021_{road_class}_S"
    path = folder / f"{name}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}.txt", "\r\n".join(lines) + "\r\n")
    return path


def rows_of(path: Path) -> list[tuple[int, dict[str, str]]]:
    """The file's rows with their line numbers (header = line 1), values stripped."""
    with zipfile.ZipFile(path) as archive:
        text = archive.read(archive.namelist()[0]).decode("ascii")
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=";")
    return [(i + 2, {k: v.strip() for k, v in row.items()}) for i, row in enumerate(reader)]


def instant(row: dict[str, str]) -> dt.datetime:
    day = dt.datetime.strptime(row["Datum"], "%y%m%d").date()
    local = dt.datetime.combine(day, dt.time(), BERLIN) + dt.timedelta(hours=int(row["Stunde"]) - 1)
    return local.astimezone(dt.UTC)


@pytest.fixture(scope="module")
def national(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("bast")
    return write_national_file(folder, "A"), write_national_file(folder, "B")


@pytest.fixture(scope="module")
def loaded(empty_settings: Settings, national: tuple[Path, Path]) -> Iterator[Settings]:
    result = run_twin(empty_settings, "load", "traffic-counts", str(STATIONS),
                      *map(str, national))
    assert result.returncode == 0, result.stderr
    yield empty_settings


def test_station_list_gives_road_name_directions_and_position(loaded: Settings) -> None:
    to_storage = Transformer.from_crs("EPSG:25832", "EPSG:25833", always_xy=True)
    from_wgs84 = Transformer.from_crs("EPSG:4326", "EPSG:25833", always_xy=True)
    with psycopg.connect(loaded.dsn, row_factory=psycopg.rows.dict_row) as conn:
        stored = {r["station_id"]: r for r in conn.execute(
            "SELECT *, ST_X(geom) AS x, ST_Y(geom) AS y FROM twin.traffic_stations")}
    listed = station_list()
    assert set(stored) == {r["DZ_Nr"] for r in listed}
    for row in listed:
        station = stored[row["DZ_Nr"]]
        assert station["road"] == road_of(row)
        assert station["name"] == row["DZ_Name"]
        assert (station["direction_1"], station["direction_2"]) == (row["Nahziel_Ri1"],
                                                                    row["Nahziel_Ri2"])
        x, y = to_storage.transform(float(row["Koor_UTM32_E"]), float(row["Koor_UTM32_N"]))
        assert (station["x"], station["y"]) == pytest.approx((x, y), abs=0.01)
        # The list's WGS84 columns (decimal commas) name the same place, to a few metres.
        lon, lat = (float(row[c].replace(",", ".")) for c in ("Koor_WGS84_E", "Koor_WGS84_N"))
        wx, wy = from_wgs84.transform(lon, lat)
        assert abs(wx - x) < 5 and abs(wy - y) < 5


def test_national_files_load_the_listed_stations_rows(loaded: Settings,
                                                      national: tuple[Path, Path]) -> None:
    listed = {r["DZ_Nr"] for r in station_list()}
    expected = {}
    for path in national:
        for _, row in rows_of(path):
            if row["Zst"] in listed:
                expected[f"{row['Zst']}/{instant(row):%Y-%m-%dT%H:%M:%SZ}"] = row
    with psycopg.connect(loaded.dsn, row_factory=psycopg.rows.dict_row) as conn:
        stored = {r["observation_id"]: r for r in conn.execute(
            "SELECT * FROM twin.traffic_counts")}
    assert set(stored) == set(expected)
    for key, row in expected.items():
        for column in ("KFZ_R1", "KFZ_R2", "Lkw_R1", "Lkw_R2", "Pkw_R1", "Pkw_R2", "Bus_R1",
                       "Bus_R2"):
            assert stored[key][column.lower()] == int(row[column]), (key, column)
        invalid = any(row[f"K_{c}_R{r}"] not in BAST_VALID
                      for c in PUBLISHED_CLASSES for r in (1, 2))
        assert stored[key]["flag"] == ("quality" if invalid else None), (key, row)


def test_other_stations_are_skipped_with_one_note_per_file(loaded: Settings,
                                                           national: tuple[Path, Path]) -> None:
    listed = {r["DZ_Nr"] for r in station_list()}
    notes = [n for n in last_run(loaded)["notes"] if "not in the stations file" in n]
    assert len(notes) == len(national)
    for path in national:
        others = [(line, row["Zst"]) for line, row in rows_of(path) if row["Zst"] not in listed]
        stations = sorted({z for _, z in others})
        assert (f"{path}: row {others[0][0]}, column Zst: {len(others)} row(s) of "
                f"{len(stations)} station(s) not in the stations file of this load skipped "
                f"(e.g. {', '.join(stations)})") in notes, notes


def test_quality_marks_bast_counts_valid_reach_the_mean(loaded: Settings,
                                                        national: tuple[Path, Path]) -> None:
    """'s' and 'k' hours are usable; an 'a', 'd' or 'u' hour is filled from the same hour of
    the same weekday (docs/sources/traffic-counts.md), each weekday weighted 1/7."""
    listed = {r["DZ_Nr"] for r in station_list()}
    hours: dict[str, dict[dt.date, dict[int, tuple[int, int] | None]]] = {}
    for path in national:
        for _, row in rows_of(path):
            if row["Zst"] not in listed:
                continue
            valid = all(row[f"K_{c}_R{r}"] in BAST_VALID for c in PUBLISHED_CLASSES
                        for r in (1, 2))
            value = (int(row["KFZ_R1"]) + int(row["KFZ_R2"]),
                     int(row["Lkw_R1"]) + int(row["Lkw_R2"])) if valid else None
            hours.setdefault(row["Zst"], {}).setdefault(
                instant(row).astimezone(BERLIN).date(), {})[int(row["Stunde"])] = value
    expected = {}
    for zst, by_day in hours.items():
        def filled(day: dt.date, hour: int, by_day: dict = by_day) -> Fraction:
            own = by_day[day][hour]
            if own is not None:
                return Fraction(own[0])
            donors = [v[hour][0] for d, v in by_day.items()
                      if d.isoweekday() == day.isoweekday() and v[hour] is not None]
            return Fraction(sum(donors), len(donors))
        weekday_means = []
        for w in range(1, 8):
            days = [d for d in by_day if d.isoweekday() == w]
            weekday_means.append(sum(filled(d, h) for d in days for h in by_day[d]) / len(days))
        mean = sum(weekday_means) / 7
        expected[zst] = int((Decimal(mean.numerator) / Decimal(mean.denominator)).quantize(
            Decimal("1"), rounding=ROUND_HALF_UP))
    with psycopg.connect(loaded.dsn) as conn:
        stored = dict(conn.execute("SELECT station_id, mean_daily_traffic "
                                   "FROM twin.traffic_stations"))
    assert stored == expected
    assert len({len(d) for d in hours.values()}) == 1  # every day everywhere


def test_street_damage_on_a_counted_road_gets_its_traffic(loaded: Settings,
                                                          tmp_path: Path) -> None:
    """A report naming the road ("B 96a") meets the station on it, though 5 km away."""
    requests_ = []
    for row in station_list():
        lat = float(row["Koor_WGS84_N"].replace(",", ".")) + 0.045
        lon = float(row["Koor_WGS84_E"].replace(",", "."))
        requests_.append({"service_request_id": f"road-{row['DZ_Nr']}", "status": "open",
                          "service_name": "Schlagloch", "address": f"{road_of(row)}, Berlin",
                          "requested_datetime": "2021-06-03T10:00:00+02:00",
                          "lat": lat, "long": lon})
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(requests_), encoding="utf-8")
    result = run_twin(loaded, "load", "street-damage", str(path))
    assert result.returncode == 0, result.stderr
    with psycopg.connect(loaded.dsn) as conn:
        damage = dict(conn.execute(
            "SELECT replace(d.damage_id, 'open311-road-', ''), d.traffic_dtv FROM "
            "twin.street_damage d"))
        dtv = dict(conn.execute("SELECT station_id, mean_daily_traffic "
                                "FROM twin.traffic_stations"))
        far = conn.execute(
            "SELECT min(ST_Distance(d.geom, s.geom)) FROM twin.street_damage d "
            "JOIN twin.traffic_stations s ON 'open311-road-' || s.station_id = d.damage_id"
        ).fetchone()[0]
    assert far > 250  # farther than the nearest-station rule reaches
    assert damage == dtv and all(v is not None for v in dtv.values())


def test_a_zip_with_several_files_is_refused(loaded: Settings, national: tuple[Path, Path],
                                             tmp_path: Path) -> None:
    path = tmp_path / "2021_S.zip"
    with zipfile.ZipFile(path, "w") as archive, zipfile.ZipFile(national[0]) as a, \
            zipfile.ZipFile(national[1]) as b:
        for source in (a, b):
            archive.writestr(source.namelist()[0], source.read(source.namelist()[0]))
    result = run_twin(loaded, "load", "traffic-counts", str(STATIONS), str(path))
    assert result.returncode == 66, result.stderr
    message = " ".join(result.stderr.split())
    assert str(path) in message and "expected one file in the ZIP archive, found 2" in message
