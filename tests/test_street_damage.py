"""Street damage through `twin load street-damage`: Open311 reports and the damage register.

Loads, refusals, scoped replace, idempotency and the derived traffic load and repair priority
on real PostGIS; then the API over every sample: counts, `datetime`, real clients, and that no
reporter's data is reachable in any format, item or filter. Expected values come from the
sample files or from PostGIS, never from literals.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import html
import io
import json
import math
import re
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pyogrio.raw
import pytest
import requests
import shapely
from owslib.ogcapi.features import Features
from pyproj import Transformer

from tests.conftest import Server
from tests.helpers import last_run, published_of, run_twin, xmins_of
from tests.test_clients import gdal
from twin.db import packaged_sql as _sql
from twin.registry import STREET_DAMAGE
from twin.settings import PROJECT_ROOT, Settings

SAMPLES = PROJECT_ROOT / "data" / "samples" / "street-damage"
OPEN311_SAMPLE = SAMPLES / "open311_requests.json"
REGISTER_SAMPLE = SAMPLES / "schadenskataster.csv"
ITEMS = "/collections/street-damage/items"
published = published_of("street-damage")
xmins = xmins_of("street-damage")
BERLIN = ZoneInfo("Europe/Berlin")
#: Contact and withheld fields of a GeoReport request: never a published property.
PERSONAL_FIELDS = ("email", "first_name", "last_name", "phone", "device_id", "account_id",
                   "status_notes", "media_url")
#: The register's German status words as the docs map them.
REGISTER_STATUS = {"offen": "open", "in Bearbeitung": "in_progress", "beauftragt": "in_progress",
                   "erledigt": "closed"}


# -- the sample files ----------------------------------------------------------------------------
def open311_requests() -> list[dict]:
    return json.loads(OPEN311_SAMPLE.read_text(encoding="utf-8"))


def register_table() -> tuple[list[str], list[list[str]]]:
    """Header and rows of the register sample (Windows-1252, semicolons)."""
    rows = list(csv.reader(io.StringIO(REGISTER_SAMPLE.read_bytes().decode("cp1252"),
                                       newline=""), delimiter=";"))
    return rows[0], rows[1:]


def register_records() -> list[dict[str, str]]:
    header, rows = register_table()
    return [dict(zip(header, r, strict=True)) for r in rows]


def write_register(path: Path, header: list[str], rows: list[list[str]],
                   encoding: str = "cp1252") -> Path:
    text = "".join(";".join(r) + "\r\n" for r in [header, *rows])
    path.write_bytes(text.encode(encoding))
    return path


def write_open311(path: Path, requests_: list | dict) -> Path:
    path.write_text(json.dumps(requests_, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def number(text: str) -> float:
    return float(text.replace(",", "."))


# -- the database --------------------------------------------------------------------------------


def by_source(settings: Settings) -> dict[str, tuple[int, str]]:
    """Per source: row count and digest."""
    with psycopg.connect(settings.dsn) as conn:
        rows = conn.execute(
            "SELECT source, count(*), md5(string_agg(d::text, '|' ORDER BY damage_id)) "
            "FROM twin.street_damage d GROUP BY source").fetchall()
    return {source: (n, digest) for source, n, digest in rows}




def stored(settings: Settings) -> dict[str, dict]:
    with psycopg.connect(settings.dsn, row_factory=psycopg.rows.dict_row) as conn:
        rows = conn.execute("SELECT *, ST_X(geom) AS x, ST_Y(geom) AS y "
                            "FROM twin.street_damage").fetchall()
    return {r["damage_id"]: r for r in rows}


def load(settings: Settings, *paths: Path, extra: tuple[str, ...] = ()
         ) -> subprocess.CompletedProcess:
    return run_twin(settings, "load", "street-damage", *map(str, paths), *extra)


@pytest.fixture(scope="module")
def base(empty_settings: Settings) -> Settings:
    """The module database with both samples published."""
    result = load(empty_settings, OPEN311_SAMPLE, REGISTER_SAMPLE)
    assert result.returncode == 0, result.stderr
    return empty_settings


@pytest.fixture
def fresh(base: Settings) -> Settings:
    """Both samples published as they are (a test before may have replaced rows)."""
    result = load(base, OPEN311_SAMPLE, REGISTER_SAMPLE)
    assert result.returncode == 0, result.stderr
    return base


# -- the documented formula, recomputed ----------------------------------------------------------
#: Damage-type weights as docs/sources/street-damage.md lists them; anything else 0.5.
TYPE_WEIGHT = {"Schlagloch": 1.0, "Aufbruch": 1.0, "Absenkung / Kanaldeckel": 1.0,
               "Radweg beschädigt": 1.0, "Kantenschaden": 0.75, "Spurrinne": 0.75,
               "Absenkung": 0.75, "Gehweg beschädigt": 0.75, "Straßenschaden": 0.75,
               "Flickstelle": 0.25}
PATHS = ("Gehweg beschädigt", "Radweg beschädigt")


def traffic_share(dtv: int | None) -> float:
    """T: log-scaled 100..25,000 Kfz/24 h; neutral 0.5 when there is no traffic basis."""
    if dtv is None:
        return 0.5
    return 0.0 if dtv <= 100 else min(1.0, math.log(dtv / 100) / math.log(250))


def expected_priority(condition: float | None, dtv: int | None, status: str,
                      category: str | None) -> float:
    """repair_priority as docs/sources/street-damage.md defines it (issue 10)."""
    if status == "closed":
        return 0.0
    # Decimal, rounded half up: 60 * S = 14.25 is 14.3 as the docs round it by hand.
    c = Decimal("0.5") if condition is None else (
        min(max(Decimal(str(condition)), Decimal(1)), Decimal(5)) - 1) / 4
    t = traffic_share(dtv)
    s = (Decimal("0.5") * c + Decimal("0.3") * (Decimal(str(t)) if t in (0.0, 0.5, 1.0)
                                                else Decimal(t))
         + Decimal("0.2") * Decimal(str(TYPE_WEIGHT.get(category or "", 0.5))))
    score = 60 + 40 * s if condition is not None and condition >= 4.5 else 60 * s
    return float(score.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def old_priority(condition: float | None, dtv: int | None, status: str) -> float:
    """The formula before issue 10: unknown traffic counted as none (T = 0)."""
    if status == "closed":
        return 0.0
    c = 0.5 if condition is None else (min(max(condition, 1.0), 5.0) - 1.0) / 4.0
    t = 0.0 if dtv is None or dtv <= 100 else min(1.0, math.log(dtv / 100) / math.log(250))
    return round(100 * (0.6 * c + 0.4 * t), 1)


def road_key(name: str | None) -> str:
    """Street names as the derivation compares them."""
    text = re.sub(r"\s*\(.*\)\s*", " ", name or "").strip().lower()
    text = re.sub(r"\s+", " ", text).replace("strasse", "straße").replace("str.", "straße")
    return text.strip()


def road_ref(name: str | None) -> str | None:
    """The classified road a station's road names: 'Bahnhofstraße (B 97)' -> 'b 97'."""
    found = re.search(r"\b([ABLK]) ?(\d{1,4}[a-z]?)\b", name or "")
    return f"{found[1]} {found[2]}".lower() if found else None


def expected_traffic(damage: dict, stations: list[dict]) -> tuple[str, str | None, int | None]:
    """(traffic_basis, traffic_station, traffic_dtv): a counted station on the same road
    (the nearest), else the median of the road class, never another road's station."""
    if damage["category"] in PATHS:
        return "path", None, None
    counted = [s for s in stations if s["dtv"] is not None]
    key = road_key(damage["street"])
    same = [s for s in counted if key and key in (road_key(s["road"]), road_ref(s["road"]))]
    if same:
        best = min(same, key=lambda s: (math.hypot(s["x"] - damage["x"], s["y"] - damage["y"]),
                                        s["station_id"]))
        return "station", best["station_id"], best["dtv"]
    if re.fullmatch(r"[ABLK] \d{1,4}[a-z]?", damage["street"] or ""):
        of_class = sorted(s["dtv"] for s in counted
                          if (road_ref(s["road"]) or "")[:1] == damage["street"][0].lower())
        if of_class:
            mid = len(of_class) // 2
            median = of_class[mid] if len(of_class) % 2 else (of_class[mid - 1]
                                                               + of_class[mid]) / 2
            return "road_class", None, int(math.floor(median + 0.5))
    return "unknown", None, None


def old_dtv(damage: dict, stations: list[dict]) -> int | None:
    """The rule before issue 10: same road, else the nearest station within 250 m."""
    counted = [s for s in stations if s["dtv"] is not None]

    def dist(s: dict) -> float:
        return math.hypot(s["x"] - damage["x"], s["y"] - damage["y"])

    same = [s for s in counted if road_key(damage["street"]) and
            road_key(s["road"]) == road_key(damage["street"])]
    if same:
        return min(same, key=lambda s: (dist(s), s["station_id"]))["dtv"]
    near = [s for s in counted if dist(s) <= 250]
    return min(near, key=lambda s: (dist(s), s["station_id"]))["dtv"] if near else None


DAMAGE_SQL = ("SELECT damage_id, source, street, status, category, condition_class, traffic_basis, "
              "traffic_station, traffic_dtv, repair_priority, ST_X(geom) AS x, ST_Y(geom) AS y "
              "FROM twin.street_damage")


def stations_of(conn: psycopg.Connection) -> list[dict]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("SELECT station_id, road, mean_daily_traffic AS dtv, ST_X(geom) AS x, "
                           "ST_Y(geom) AS y "
                           "FROM twin.traffic_stations").fetchall()


# -- loading -------------------------------------------------------------------------------------
def test_samples_load_with_their_values(base: Settings) -> None:
    requests_, register = open311_requests(), register_records()
    rows = stored(base)
    assert {k: n for k, (n, _) in by_source(base).items()} == {
        "open311": len(requests_), "register": len(register)}

    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:25833", always_xy=True)
    for r in requests_:
        row = rows[f"open311-{r['service_request_id']}"]
        assert row["status"] == r["status"]  # GeoReport's own words: open, closed
        assert row["category"] == r["service_name"]
        assert row["service_code"] == r["service_code"]
        # Only the street of the address: no house number, postcode or crossing.
        street = r["address"].split(",")[0].split(" / ")[0]
        assert row["street"] == re.sub(r"\s+\d+\w?$", "", street)
        assert row["reported_at"] == dt.datetime.fromisoformat(r["requested_datetime"])
        updated = r["updated_datetime"]
        assert row["updated_at"] == (dt.datetime.fromisoformat(updated) if updated else None)
        assert row["condition_class"] is None and row["condition_rating"] is None
        x, y = to_utm.transform(r["long"], r["lat"])
        assert (row["x"], row["y"]) == pytest.approx((x, y), abs=0.01)

    for r in register:
        row = rows[f"register-{r['Schadens-Nr.']}"]
        condition = number(r["Zustandsklasse"])
        assert row["condition_class"] == condition
        assert row["condition_rating"] == (
            "threshold" if condition >= 4.5 else "warning" if condition >= 3.5
            else "below_warning")
        assert row["status"] == REGISTER_STATUS[r["Status"]]
        assert (row["street"], row["category"]) == (r["Straße"], r["Schadensart"])
        day = dt.datetime.strptime(r["Erfassungsdatum"], "%d.%m.%Y")
        assert row["reported_at"] == day.replace(tzinfo=BERLIN)
        # Coordinates in EPSG:25833 as the register writes them, to the millimetre.
        assert (row["x"], row["y"]) == pytest.approx(
            (number(r["Rechtswert"]), number(r["Hochwert"])), abs=0.001)
    # The boundaries of the ZEB scale are in the sample, so the ratings are really tested.
    classes = {number(r["Zustandsklasse"]) for r in register}
    assert {1.0, 3.5, 4.5, 5.0} <= classes


def test_no_traffic_data_gives_neutral_traffic(base: Settings) -> None:
    """Issue 10: unknown traffic is neutral (T = 0.5), never "no traffic"."""
    rows = stored(base)
    with psycopg.connect(base.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM twin.traffic_stations").fetchone()[0] == 0
    assert all(r["traffic_dtv"] is None and r["traffic_station"] is None for r in rows.values())
    assert {r["traffic_basis"] for r in rows.values()} == {"unknown", "path"}
    for key, r in rows.items():
        assert r["traffic_basis"] == ("path" if r["category"] in PATHS else "unknown"), key
        assert r["repair_priority"] == pytest.approx(
            expected_priority(r["condition_class"], None, r["status"], r["category"]),
            abs=1e-9), key
    # Citizen reports have no class (3,0 assumed) and neutral traffic: 60 * (0.25 + 0.15 +
    # 0.2 * D) when open, by damage type alone.
    for r in rows.values():
        if r["source"] == "open311" and r["status"] != "closed":
            weight = TYPE_WEIGHT.get(r["category"], 0.5)
            assert r["repair_priority"] == expected_priority(None, None, "open", r["category"])
            assert r["repair_priority"] == pytest.approx(60 * (0.4 + 0.2 * weight), abs=0.05)


def test_second_load_changes_no_row(fresh: Settings) -> None:
    before, versions = published(fresh), xmins(fresh)
    result = load(fresh, OPEN311_SAMPLE, REGISTER_SAMPLE)
    assert result.returncode == 0, result.stderr
    assert published(fresh) == before
    assert xmins(fresh) == versions  # not even rewritten
    run = last_run(fresh)
    assert (run["outcome"], run["unchanged_count"], run["read_count"]) == (
        "unchanged", before[0], before[0])


def test_loading_one_kind_keeps_the_other(fresh: Settings, tmp_path: Path) -> None:
    header, rows = register_table()
    full = by_source(fresh)
    register_part = write_register(tmp_path / "kataster_teil.csv", header, rows[:10])
    result = load(fresh, register_part)
    assert result.returncode == 0, result.stderr
    now = by_source(fresh)
    assert now["open311"] == full["open311"]  # citizen reports untouched
    assert now["register"][0] == 10
    assert last_run(fresh)["deleted_count"] == len(rows) - 10

    open311_part = write_open311(tmp_path / "requests.json", open311_requests()[:5])
    result = load(fresh, open311_part)
    assert result.returncode == 0, result.stderr
    after = by_source(fresh)
    assert after["register"] == now["register"]  # the register untouched
    assert after["open311"][0] == 5


def test_both_kinds_together_are_the_whole_truth(fresh: Settings, tmp_path: Path) -> None:
    header, rows = register_table()
    result = load(fresh, write_open311(tmp_path / "r.json", open311_requests()[:3]),
                  write_register(tmp_path / "k.csv", header, rows[:4]))
    assert result.returncode == 0, result.stderr
    assert {k: n for k, (n, _) in by_source(fresh).items()} == {"open311": 3, "register": 4}


def test_other_spellings_of_the_same_files_give_the_same_rows(fresh: Settings,
                                                              tmp_path: Path) -> None:
    """UTF-8 with BOM, x/y headers, ISO dates; GeoReport wrapped in an object."""
    before = published(fresh)
    header, rows = register_table()
    header = ["Schadens-Nr.", "Straße", "Schadensart", "Zustandsklasse", "erfasst am", "Status",
              "x", "y", "Bemerkung", "Bearbeiter"]
    iso_rows = [[*r[:4], dt.datetime.strptime(r[4], "%d.%m.%Y").date().isoformat(), *r[5:]]
                for r in rows]
    register = write_register(tmp_path / "kataster.csv", header, iso_rows, "utf-8-sig")
    assert register.read_bytes().startswith(b"\xef\xbb\xbf")
    wrapped = write_open311(tmp_path / "requests.json",
                            {"service_requests": open311_requests()})
    result = load(fresh, register, wrapped)
    assert result.returncode == 0, result.stderr
    assert published(fresh) == before
    assert last_run(fresh)["outcome"] == "unchanged"


# -- refusals ------------------------------------------------------------------------------------
def _register_with(tmp: Path, index: int, column: str, value: str) -> tuple[Path, str]:
    header, rows = register_table()
    rows[index][header.index(column)] = value
    return write_register(tmp / "kataster.csv", header, rows), f"row {index + 2} "


def _open311_with(tmp: Path, index: int, **changes) -> tuple[Path, str]:
    requests_ = open311_requests()
    for key, value in changes.items():
        if value is ...:
            del requests_[index][key]
        else:
            requests_[index][key] = value
    return write_open311(tmp / "requests.json", requests_), f"row {index + 1} "


def _no_column(tmp: Path) -> tuple[Path, str]:
    header, rows = register_table()
    i = header.index("Zustandsklasse")
    return write_register(tmp / "kataster.csv", header[:i] + header[i + 1:],
                          [r[:i] + r[i + 1:] for r in rows]), ""


def _bridge_grade(tmp: Path) -> tuple[Path, str]:
    """Issue 10: 'Zustandsnote' is DIN 1076's bridge grade, never an alias of the ZEB value."""
    header, rows = register_table()
    header = ["Zustandsnote" if h == "Zustandsklasse" else h for h in header]
    return write_register(tmp / "kataster.csv", header, rows), ""


def _truncated_json(tmp: Path) -> tuple[Path, str]:
    text = OPEN311_SAMPLE.read_text(encoding="utf-8")
    path = tmp / "requests.json"
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    return path, ""


def _error_response(tmp: Path) -> tuple[Path, str]:
    return write_open311(tmp / "requests.json",
                         [{"code": 403, "description": "Invalid api_key"}]), ""


def _duplicate_id(tmp: Path) -> tuple[Path, str]:
    header, rows = register_table()
    rows[6][0] = rows[2][0]
    return write_register(tmp / "kataster.csv", header, rows), "row 4"


def _gauss_krueger(tmp: Path) -> tuple[Path, str]:
    # Gauss-Krüger zone 5 written into the UTM columns: far outside Brandenburg in UTM.
    return _register_with(tmp, 3, "Rechtswert", "5453412,50")


REFUSALS = [
    # (id, how to break a file, words the message must hold)
    ("class-above-5", lambda t: _register_with(t, 4, "Zustandsklasse", "5,7"),
     ["'Zustandsklasse'", "5,7", "outside the ZEB scale"]),
    ("class-below-1", lambda t: _register_with(t, 9, "Zustandsklasse", "0,8"),
     ["'Zustandsklasse'", "outside the ZEB scale"]),
    ("class-text", lambda t: _register_with(t, 0, "Zustandsklasse", "schlecht"),
     ["'Zustandsklasse'", "not a ZEB condition class"]),
    ("register-status", lambda t: _register_with(t, 7, "Status", "verschoben"),
     ["'Status'", "unknown status 'verschoben'", "in bearbeitung"]),
    ("open311-status", lambda t: _open311_with(t, 2, status="pending"),
     ["'status'", "unknown status 'pending'", "service_request_id"]),
    ("register-no-position", lambda t: _register_with(t, 5, "Hochwert", ""),
     ["'Hochwert'", "position is missing"]),
    ("open311-bad-latitude", lambda t: _open311_with(t, 8, lat="51,76x"),
     ["'lat'", "not a latitude"]),
    ("open311-position-swapped", lambda t: _open311_with(t, 11, lat=14.33, long=51.76),
     ["'lat'", "swapped"]),
    ("outside-brandenburg", _gauss_krueger, ["'geometry'", "cannot be in Brandenburg"]),
    ("open311-no-time", lambda t: _open311_with(t, 4, requested_datetime=...),
     ["'requested_datetime'", "value is missing"]),
    ("open311-time-without-offset",
     lambda t: _open311_with(t, 6, requested_datetime="2024-03-14T08:12:44"),
     ["'requested_datetime'", "ISO 8601"]),
    ("register-bad-date", lambda t: _register_with(t, 12, "Erfassungsdatum", "31.02.2024"),
     ["'Erfassungsdatum'", "not a date"]),
    ("duplicate-id", _duplicate_id, ["duplicate key 'register-", "'damage_id'"]),
    ("bridge-grade", _bridge_grade, ["column 'Zustandsnote'", "bridge condition grade",
                                     "DIN 1076", "not the ZEB condition value"]),
    ("missing-column", _no_column, ["required column 'zustandsklasse'", "the file has"]),
    ("malformed-json", _truncated_json, ["not valid JSON", "line"]),
    ("georeport-error", _error_response, ["GeoReport error response", "403"]),
]


@pytest.mark.parametrize(("case", "breaker", "words"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refused_files_change_nothing(base: Settings, tmp_path: Path, case: str, breaker,
                                      words: list[str]) -> None:
    before = published(base)
    path, row = breaker(tmp_path)
    result = load(base, path)
    assert result.returncode != 0
    message = " ".join(result.stderr.split())  # the console wraps long lines
    assert str(path) in message
    for word in [row.strip(), *words] if row else words:
        assert word in message, (word, message)
    assert published(base) == before
    assert last_run(base)["outcome"] == "refused"


def test_a_pothole_rated_very_good_is_named(fresh: Settings) -> None:
    """Issue 10: a ZEB value rates a surveyed road section; a pothole (Schlagloch) rated
    better than the target value 1,5 is a contradiction the load names (and still loads)."""
    expected = [f"{i + 2} (register-{r['Schadens-Nr.']})"
                for i, r in enumerate(register_records())
                if r["Schadensart"] == "Schlagloch" and number(r["Zustandsklasse"]) < 1.5]
    assert expected  # the sample holds one: SK-2022-0101, a pothole rated 1,0
    result = load(fresh, REGISTER_SAMPLE, extra=("--mode", "upsert"))
    assert result.returncode == 0, result.stderr
    notes = [n for n in last_run(fresh)["notes"] if "contradiction" in n]
    assert len(notes) == 1, last_run(fresh)["notes"]
    assert f"{len(expected)} pothole(s) (Schlagloch) rated better than the ZEB target value" \
        in notes[0]
    assert "rates a road section of a network survey, not a damage" in notes[0]
    assert f"(rows {', '.join(expected)})" in notes[0]
    assert "'Zustandsklasse'" in notes[0]


def test_every_refused_record_is_listed(base: Settings, tmp_path: Path) -> None:
    header, rows = register_table()
    rows[1][header.index("Zustandsklasse")] = "7,0"
    rows[20][header.index("Status")] = "storniert"
    path = write_register(tmp_path / "kataster.csv", header, rows)
    result = load(base, path)
    assert result.returncode == 65
    assert "row 3 " in result.stderr and "row 22 " in result.stderr
    assert len(last_run(base)["refusals"]) == 2


def test_xml_is_refused_with_advice(base: Settings, tmp_path: Path) -> None:
    path = tmp_path / "requests.xml"
    path.write_text("<?xml version='1.0'?><service_requests/>", encoding="utf-8")
    result = load(base, path)
    assert result.returncode == 66
    assert "requests.json" in result.stderr


# -- personal data -------------------------------------------------------------------------------
def personal_values() -> set[str]:
    """Every reporter's and clerk's value in the samples, and what free text embeds."""
    sys.path.insert(0, str(PROJECT_ROOT / "data" / "samples"))
    import gen_street_damage as gen

    values: set[str] = set()
    texts = []
    for r in open311_requests():
        for name in ("email", "first_name", "last_name", "phone", "device_id", "media_url",
                     "status_notes"):
            if r.get(name):
                values.add(str(r[name]))
        if r.get("email"):
            values.add(r["email"].split("@")[0])  # also when written as "x (at) y"
        texts += [r.get("description") or "", r.get("status_notes") or ""]
    for r in register_records():
        values.add(r["Bearbeiter"])
        texts.append(r["Bemerkung"])
    # The generator's phone formats, its photo links and plates, wherever they were written.
    for text in texts:
        values.update(re.findall(r"0355 \d{5}-\d{2}|01\d{2} \d{7}", text))
        values.update(re.findall(r"https://\S+\.jpg", text))
        values.update(re.findall(r"CB-[A-Z]{2} \d+", text))
    values.update(gen.FIRST_NAMES + gen.LAST_NAMES)
    values.update(part for clerk in gen.CLERKS for part in (clerk, *clerk.split()))
    return values


def account_ids() -> set[int]:
    return {r["account_id"] for r in open311_requests() if r.get("account_id")}


@functools.cache
def _personal_pattern() -> re.Pattern[str]:
    """Every personal value as a whole word, in one pattern: built once per run and searched
    once per text (reading the samples again and searching once per value, for each of the
    collection's ~250 answers, made this the slowest test of the suite). Longest first, so a
    failure names the whole value."""
    values = sorted(personal_values(), key=len, reverse=True)
    return re.compile(rf"(?<!\w)(?:{'|'.join(map(re.escape, values))})(?!\w)")


def assert_no_personal_value(text: str, where: str) -> None:
    found = _personal_pattern().search(text)
    assert not found, (found.group(), where)


def test_no_personal_value_reaches_the_database(base: Settings) -> None:
    dump = subprocess.run(["pg_dump", "--data-only", base.dsn], capture_output=True, text=True,
                          check=True).stdout
    assert "register-SK-" in dump and "[entfernt]" in dump  # the dump does hold the load
    assert_no_personal_value(dump, "pg_dump")


def test_samples_really_hold_personal_data() -> None:
    """Otherwise the privacy tests below could not fail."""
    raw = OPEN311_SAMPLE.read_text(encoding="utf-8")
    assert all(f'"{name}"' in raw for name in PERSONAL_FIELDS)
    descriptions = [r["description"] or "" for r in open311_requests()]
    assert sum("@" in d for d in descriptions) >= 3
    assert sum(bool(re.search(r"\b(Herr|Frau|Name:|MfG|Grüßen)\b", d))
               for d in descriptions) >= 5
    assert len(personal_values()) > 100


def _bodies(server: Server, pg: psycopg.Connection) -> list[tuple[str, str]]:
    """Every representation of the collection a client can ask for."""
    out = []
    for fmt in ("json", "html", "csv", "jsonld"):
        r = server.get(f"{ITEMS}?f={fmt}&limit=1000")
        assert r.status_code == 200, (fmt, r.text[:300])
        # pygeoapi labels HTML and CSV without a charset; they are UTF-8 (the page says so).
        out.append((f"items f={fmt}", r.content.decode("utf-8")))
    keys = [k for (k,) in pg.execute("SELECT damage_id FROM twin.street_damage "
                                     "ORDER BY damage_id")]
    for key in keys:
        for fmt in ("json", "html", "jsonld"):
            r = server.get(f"{ITEMS}/{key}?f={fmt}")
            assert r.status_code == 200, (key, fmt)
            out.append((f"{key} f={fmt}", r.content.decode("utf-8")))
    for path in ("/collections/street-damage?f=json", "/collections/street-damage/queryables",
                 "/collections/street-damage/schema?f=json"):
        r = server.get(path)
        assert r.status_code == 200, path
        out.append((path, r.content.decode("utf-8")))
    return out


def test_no_personal_value_in_any_format_or_item(server: Server,
                                                 pg: psycopg.Connection) -> None:
    bodies = _bodies(server, pg)
    redacted = 0
    for where, body in bodies:
        text = html.unescape(body)
        if body.lstrip().startswith(("{", "[")):
            # JSON may escape umlauts; compare what a client decodes.
            text = json.dumps(json.loads(body), ensure_ascii=False)
        assert_no_personal_value(text, where)
        for name in PERSONAL_FIELDS:
            assert not re.search(rf"\b{name}\b", text), (name, where)
        redacted += "[entfernt]" in text
    assert redacted > 10  # descriptions are published, redacted, not dropped

    features = server.get(f"{ITEMS}?limit=1000").json()["features"]
    published_values = {v for f in features for v in f["properties"].values()}
    assert not published_values & account_ids()


@pytest.mark.parametrize(("params", "status"), [
    ({"email": "anja.berger12@web.de"}, 400),
    ({"first_name": "Anja"}, 400),
    ({"filter": "email='x'"}, 400),
    ({"filter": "status_notes LIKE '%'"}, 400),
    ({"filter": "media_url IS NOT NULL"}, 400),
    ({"filter": '{"op": "=", "args": [{"property": "phone"}, "0355"]}',
      "filter-lang": "cql2-json"}, 400),
    ({"sortby": "last_name"}, 400),
], ids=["email-param", "name-param", "email-filter", "notes-filter", "media-filter",
        "phone-cql2-json", "sortby-name"])
def test_personal_fields_cannot_be_asked_for(server: Server, params: dict,
                                             status: int) -> None:
    r = server.get(ITEMS, params=params)
    assert r.status_code == status, r.text[:300]


@pytest.mark.parametrize("pattern", ["%@%", "%(at)%", "%http%", "%www.%", "%0355 %", "%01__ %"])
def test_filters_on_the_description_find_no_contact_data(server: Server,
                                                          pg: psycopg.Connection,
                                                          pattern: str) -> None:
    raw = [r["description"] or "" for r in open311_requests()]
    like = re.compile("^" + re.escape(pattern).replace("%", ".*").replace("_", ".") + "$", re.S)
    assert any(like.match(d) for d in raw)  # the raw sample has such descriptions
    doc = server.get(ITEMS, params={"filter": f"description LIKE '{pattern}'"}).json()
    assert doc["numberMatched"] == 0 == pg.execute(
        "SELECT count(*) FROM twin.street_damage WHERE description LIKE %s",
        [pattern]).fetchone()[0]


# -- the API over every sample -------------------------------------------------------------------
def test_counts_by_source_match_the_files_and_postgis(server: Server,
                                                      pg: psycopg.Connection) -> None:
    expected = dict(pg.execute("SELECT source, count(*) FROM twin.street_damage "
                               "GROUP BY source").fetchall())
    assert expected == {"open311": len(open311_requests()), "register": len(register_records())}
    for source, n in expected.items():
        doc = server.get(ITEMS, params={"source": source, "limit": 1000,
                                        "skipGeometry": "true"}).json()
        assert doc["numberMatched"] == n == len(doc["features"])


@pytest.mark.parametrize("interval", [
    "2024-01-01T00:00:00Z/2024-06-30T23:59:59Z",
    "../2023-01-01T00:00:00+01:00",
    "2024-09-01T00:00:00Z/..",
], ids=["closed", "open-start", "open-end"])
def test_datetime_filters_the_report_date(server: Server, pg: psycopg.Connection,
                                          interval: str) -> None:
    start, end = interval.split("/")
    expected = {k for (k,) in pg.execute(
        "SELECT damage_id FROM twin.street_damage WHERE (%(s)s::timestamptz IS NULL OR "
        "reported_at >= %(s)s::timestamptz) AND (%(e)s::timestamptz IS NULL OR "
        "reported_at <= %(e)s::timestamptz)",
        {"s": None if start == ".." else start, "e": None if end == ".." else end})}
    assert 0 < len(expected) < pg.execute("SELECT count(*) FROM twin.street_damage"
                                          ).fetchone()[0]
    doc = server.get(ITEMS, params={"datetime": interval, "limit": 1000}).json()
    assert {f["id"] for f in doc["features"]} == expected


def test_datetime_dates_mean_whole_local_days(server: Server, pg: psycopg.Connection) -> None:
    # A register damage surveyed on a date is stored at that day's local midnight.
    day, n = pg.execute(
        "SELECT (reported_at AT TIME ZONE 'Europe/Berlin')::date AS d, count(*) "
        "FROM twin.street_damage WHERE source = 'register' GROUP BY d ORDER BY count(*) DESC, d "
        "LIMIT 1").fetchone()
    week_end = day + dt.timedelta(days=7)
    in_week = pg.execute(
        "SELECT count(*) FROM twin.street_damage WHERE reported_at >= "
        "(%s::date)::timestamp AT TIME ZONE 'Europe/Berlin' AND reported_at < "
        "((%s::date + 1)::timestamp AT TIME ZONE 'Europe/Berlin')", (day, week_end)).fetchone()[0]
    for value, expected in ((day.isoformat(), n), (f"{day}/{day}", n),
                            (f"{day}/{week_end}", in_week)):
        doc = server.get(ITEMS, params={"datetime": value, "limit": 1000}).json()
        assert doc["numberMatched"] == expected, value


def test_cql2_t_during_an_open_interval(server: Server, pg: psycopg.Connection) -> None:
    expected = pg.execute("SELECT count(*) FROM twin.street_damage "
                          "WHERE reported_at >= '2024-01-01T00:00:00Z'").fetchone()[0]
    assert expected > 0
    body = {"op": "t_during", "args": [{"property": "reported_at"},
                                       {"interval": ["2024-01-01T00:00:00Z", ".."]}]}
    doc = server.get(ITEMS, params={"filter-lang": "cql2-json", "filter": json.dumps(body),
                                    "limit": 1000}).json()
    assert doc["numberMatched"] == expected


def test_priorities_are_the_documented_formula(server: Server, pg: psycopg.Connection) -> None:
    with pg.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = cur.execute(DAMAGE_SQL).fetchall()
    stations = stations_of(pg)
    for r in rows:
        assert (r["traffic_basis"], r["traffic_station"], r["traffic_dtv"]) == \
            expected_traffic(r, stations), r["damage_id"]
        assert r["repair_priority"] == pytest.approx(
            expected_priority(r["condition_class"], r["traffic_dtv"], r["status"],
                              r["category"]), abs=1e-9), r["damage_id"]
    doc = server.get(ITEMS, params={"sortby": "-repair_priority", "limit": 5}).json()
    top = max(r["repair_priority"] for r in rows)
    assert doc["features"][0]["properties"]["repair_priority"] == top


def test_traffic_load_by_same_road_or_road_class(base: Settings) -> None:
    """The derivation alone, over stations placed to hit each rule; rolled back after.

    Issue 10: a station lends its count only to its own road, however near another road's
    damage lies; a classified road without a station of its own takes its class's median.
    """
    rows = stored(base)
    spremberger = next(r for r in rows.values() if r["street"] == "Spremberger Straße")
    berliner = [r for r in rows.values() if r["street"] == "Berliner Straße"
                and r["category"] not in PATHS]
    lonely = min(berliner, key=lambda r: r["x"])
    # Three damages moved onto classified roads: one with a station of its own (named inside
    # the station's road, 'BAHNHOFSTRASSE (B 97)'), one of a counted class, one of a class
    # nobody counts.
    onto = dict(zip(("B 97", "B 96", "L 49"),
                    sorted(k for k, r in rows.items() if r["street"] == "Thiemstraße"
                           and r["category"] not in PATHS), strict=False))
    assert len(onto) == 3
    stations = [
        # Far south of every damage on the Bahnhofstraße: found by its road name alone,
        # written in capitals, with 'Strasse' and a suffix.
        ("T1", "BAHNHOFSTRASSE (B 97)", 18000, 453460.0, 5733000.0),
        ("T2", " bahnhofstraße ", 9000, 453470.0, 5734650.0),
        # No counts yet: ignored even where it stands on the damage.
        ("T3", "Spremberger Str.", None, spremberger["x"] + 5, spremberger["y"]),
        # 30 m from a Berliner Straße damage, on another road: lends it nothing.
        ("T4", "Lieberoser Straße", 4200, lonely["x"] + 30, lonely["y"] + 20),
        ("T5", "Stadtring", 31000, 452600.0, 5734300.0),
        ("T6", "Lipezker Straße", 90, 454600.0, 5731600.0),
        ("T7", "B 168", 21001, 454320.4, 5735514.2),
    ]
    with psycopg.connect(base.dsn) as conn:
        for sid, road, dtv, x, y in stations:
            conn.execute("INSERT INTO twin.traffic_stations (station_id, name, road, "
                         "mean_daily_traffic, geom) "
                         "VALUES (%s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 25833))",
                         (sid, f"Zählstelle {sid}", road, dtv, x, y))
        for street, key in onto.items():
            conn.execute("UPDATE twin.street_damage SET street = %s WHERE damage_id = %s",
                         (street, key))
        changed = conn.execute(_sql("derive_street_damage.sql")).rowcount
        with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            after = {r["damage_id"]: r for r in cur.execute(DAMAGE_SQL)}
        again = conn.execute(_sql("derive_street_damage.sql")).rowcount
        placed = stations_of(conn)
        conn.rollback()

    assert changed > 0 and again == 0  # only rows whose values change are written
    for key, r in after.items():
        assert (r["traffic_basis"], r["traffic_station"], r["traffic_dtv"]) == \
            expected_traffic(r, placed), key
        assert r["repair_priority"] == pytest.approx(
            expected_priority(r["condition_class"], r["traffic_dtv"], r["status"],
                              r["category"]), abs=1e-9), key
    by_street: dict[str, set] = {}
    for r in after.values():
        if r["category"] not in PATHS:
            by_street.setdefault(r["street"], set()).add(r["traffic_dtv"])
    assert by_street["Bahnhofstraße"] == {18000, 9000}  # road match, nearest of the two
    assert by_street["Stadtring"] == {31000}  # beyond the 25,000 cap: T = 1
    assert by_street["Lipezker Straße"] == {90}  # below the 100 floor: T = 0
    assert after[onto["B 97"]]["traffic_station"] == "T1"  # the road named in the station's
    # The class's median of T1 (B 97) and T7 (B 168), computed here from the stations.
    b_counts = sorted(d for _, road, d, _, _ in stations if d and road_ref(road)
                      and road_ref(road).startswith("b"))
    assert (after[onto["B 96"]]["traffic_basis"], after[onto["B 96"]]["traffic_dtv"]) == (
        "road_class", round(sum(b_counts) / 2 + 1e-9))
    assert after[onto["L 49"]]["traffic_basis"] == "unknown"
    # 30 m from another road's station: its count is not lent (the 250 m rule is gone).
    assert math.hypot(30, 20) < 250
    assert (after[lonely["damage_id"]]["traffic_basis"],
            after[lonely["damage_id"]]["traffic_dtv"]) == ("unknown", None)
    assert after[spremberger["damage_id"]]["traffic_dtv"] is None
    # Footway and cycle path damage never takes motor traffic, even on a counted road.
    paths = [r for r in after.values() if r["street"] == "Bahnhofstraße"
             and r["category"] in PATHS]
    assert paths and all(r["traffic_basis"] == "path" and r["traffic_dtv"] is None
                         for r in paths)
    assert stored(base) == rows  # rolled back: the published rows are as before


def test_issue_10_figures_and_what_is_published_now(server: Server,
                                                   pg: psycopg.Connection) -> None:
    """The figures issue 10 found, recomputed from PostGIS with the rules before the fix, and
    what the API publishes instead."""
    with pg.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = {r["damage_id"]: r for r in cur.execute(DAMAGE_SQL)}
    stations = stations_of(pg)
    open_ = [r for r in rows.values() if r["status"] != "closed"]
    # Before: 43 of 58 open damages had no traffic and were scored as if none drove there.
    unknown_before = [r for r in open_ if old_dtv(r, stations) is None]
    assert (len(unknown_before), len(open_)) == (43, 58)
    assert {"Stadtring", "Karl-Marx-Straße"} <= {r["street"] for r in unknown_before}
    for r in unknown_before:  # now neutral, and the API says why
        props = server.get(f"{ITEMS}/{r['damage_id']}").json()["properties"]
        assert props["traffic_basis"] in ("unknown", "path") and props["traffic_dtv"] is None
        assert props["repair_priority"] == pytest.approx(expected_priority(
            r["condition_class"], None, r["status"], r["category"]), abs=1e-9)
        if r["status"] != "closed":
            assert props["repair_priority"] != expected_priority(
                r["condition_class"], 100, r["status"], r["category"])  # not T = 0

    # Before: the top priority borrowed the Bahnhofstraße's count from 201 m away.
    top = rows["register-SK-2024-0465"]
    lender = min(stations, key=lambda s: math.hypot(s["x"] - top["x"], s["y"] - top["y"]))
    distance = math.hypot(lender["x"] - top["x"], lender["y"] - top["y"])
    assert top["street"] == "Karl-Liebknecht-Straße" and lender["road"] == "Bahnhofstraße"
    assert 200 < distance < 250 and old_dtv(top, stations) == lender["dtv"]
    old_top = old_priority(top["condition_class"], lender["dtv"], top["status"])
    # 87.5 in the issue, with the station mean before issue 10 weighted the weekdays (15,469
    # vehicles); today's mean of station 1201 (15,566) gives the old rule 87.6.
    assert old_top == pytest.approx(87.5, abs=0.1)
    assert max(old_priority(r["condition_class"], old_dtv(r, stations), r["status"])
               for r in rows.values()) == old_top  # the city's top priority
    assert old_priority(top["condition_class"], None, top["status"]) == 51.0
    props = server.get(f"{ITEMS}/register-SK-2024-0465").json()["properties"]
    assert (props["traffic_basis"], props["traffic_station"], props["traffic_dtv"]) == (
        "unknown", None, None)
    assert props["repair_priority"] == expected_priority(
        top["condition_class"], None, top["status"], top["category"])


def test_threshold_damage_ranks_first_whatever_the_traffic(server: Server,
                                                          pg: psycopg.Connection) -> None:
    """ZEB >= 4,5 (threshold value) above everything else; a citizen report without a class
    never above a surveyed 5,0; the damage type weighs in."""
    with pg.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = cur.execute(DAMAGE_SQL).fetchall()
    threshold = {r["damage_id"] for r in rows
                 if r["status"] != "closed" and (r["condition_class"] or 0) >= 4.5}
    assert threshold
    doc = server.get(ITEMS, params={"sortby": "-repair_priority", "limit": 1000}).json()
    ranked = [f["id"] for f in doc["features"]]
    assert set(ranked[:len(threshold)]) == threshold
    # Whatever the traffic: the weakest threshold damage (a patch, no traffic) above the
    # strongest below it (a pothole at 4,4 under 25,000+ vehicles).
    assert expected_priority(4.5, 50, "open", "Flickstelle") > expected_priority(
        4.4, 10**6, "open", "Schlagloch")
    # Unclassified citizen reports, however much traffic, below a surveyed 5,0.
    assert expected_priority(None, 10**6, "open", "Schlagloch") < expected_priority(
        5.0, 50, "open", "Flickstelle")
    reports = [r["repair_priority"] for r in rows
               if r["source"] == "open311" and r["status"] != "closed"]
    surveyed_5 = [r["repair_priority"] for r in rows
                  if r["condition_class"] == 5.0 and r["status"] != "closed"]
    assert surveyed_5 and max(reports) < min(surveyed_5)
    # The damage type: open citizen reports share class and basis, so their type orders them.
    by_type: dict[str, set] = {}
    for r in rows:
        if r["source"] == "open311" and r["status"] != "closed" \
                and r["traffic_basis"] == "unknown":
            by_type.setdefault(r["category"], set()).add(r["repair_priority"])
    assert by_type["Schlagloch"] == {36.0}  # 60 * (0.5 * 0.5 + 0.3 * 0.5 + 0.2 * 1.0)
    assert by_type["Straßenschaden"] == {33.0}  # 60 * (0.25 + 0.15 + 0.2 * 0.75)


# -- real clients --------------------------------------------------------------------------------
def test_owslib_filter_matches_postgis(server: Server, pg: psycopg.Connection) -> None:
    owslib = Features(server.url, timeout=60)
    assert "street-damage" in owslib.feature_collections()
    queryables = owslib.collection_queryables("street-damage")["properties"]
    assert set(queryables) - {"geometry"} == set(STREET_DAMAGE.property_names)
    result = owslib.collection_items(
        "street-damage", filter="source='register' AND condition_class >= 3.5", limit=1000)
    expected = {k for (k,) in pg.execute(
        "SELECT damage_id FROM twin.street_damage WHERE source = 'register' "
        "AND condition_class >= 3.5")}
    assert expected
    assert {f["id"] for f in result["features"]} == expected
    assert {f["properties"]["condition_rating"] for f in result["features"]} == {
        "warning", "threshold"}


def test_ogr2ogr_reads_every_damage_in_epsg_25833(server: Server, pg: psycopg.Connection,
                                                   tmp_path: Path) -> None:
    out = tmp_path / "damage.gpkg"
    gdal("ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{server.url}", "street-damage",
         "-oo", "PAGE_SIZE=25", "-t_srs", "EPSG:25833")
    meta, _, geoms, fields = pyogrio.raw.read(out)
    names = list(meta["fields"])
    assert not set(names) & set(PERSONAL_FIELDS)
    keys = list(fields[names.index("damage_id")])
    positions = {k: (x, y) for k, x, y in pg.execute(
        "SELECT damage_id, ST_X(geom), ST_Y(geom) FROM twin.street_damage")}
    assert sorted(keys) == sorted(positions)
    for key, geom in zip(keys, shapely.from_wkb(geoms), strict=True):
        # Through CRS84 and back: centimetres.
        assert (geom.x, geom.y) == pytest.approx(positions[key], abs=0.05), key


def test_html_item_page_shows_the_redacted_description(server: Server,
                                                       pg: psycopg.Connection) -> None:
    key, description = pg.execute(
        "SELECT damage_id, description FROM twin.street_damage "
        "WHERE description LIKE %s ORDER BY damage_id LIMIT 1", ["%_[entfernt]%"]).fetchone()
    before = description.split("[entfernt]")[0].strip().split("\n")[0]
    assert before
    page = requests.get(f"{server.url}{ITEMS}/{key}?f=html", timeout=60).content.decode()
    assert html.escape(before) in page and "[entfernt]" in page


@pytest.mark.parametrize(("address", "street"), [
    ("Bahnhofstraße 52, 03046 Cottbus", "Bahnhofstraße"),
    ("Karl-Marx-Straße 45, 03044 Cottbus", "Karl-Marx-Straße"),
    ("Stadtring / Ecke Vetschauer Straße", "Stadtring"),
    ("Straße der Jugend 14", "Straße der Jugend"),
    ("An der Oberkirche 2", "An der Oberkirche"),
    ("Am Turm 5 bei Herrn Schulze (Hinterhaus), Tel 0355 123456", "Am Turm"),
    ("bei Familie Schulze, Bahnhofstraße 5", "Bahnhofstraße"),
    ("Bahnhofstraße 5 - Tel 0355 123456", "Bahnhofstraße"),
    ("Hr Müller", None),
    # Issue 6: names before or after the street never go with it.
    ("Gerlinde Quappendorf Karlstraße 12", "Karlstraße"),
    ("Karlstraße 12 (Frau Quappendorf)", "Karlstraße"),
    ("Herbert Müller Berliner Straße 3", "Berliner Straße"),
    ("Łucja Šramowa, Sandower Hauptstraße 14", "Sandower Hauptstraße"),
    ("Frau Hering", None),
    ("Ottokar Wrobelski 0355 112233", None),
    ("Zum Wrobelski 4", None),
    # Issue 9: Mark-a-Spot's address_string, abbreviated and classified roads, US addresses.
    ("50997 Köln - Godorf, Amselweg 3", "Amselweg"),
    ("Str. der Jugend 33, 03050 Cottbus", "Straße der Jugend"),
    ("B168, Cottbus", "B 168"),
    ("B 96a", "B 96a"),
    ("Wohnung B 12, Karlstraße 3", "Karlstraße"),
    ("1540 W 17TH ST, CHICAGO, IL, 60608", None),
])
def test_only_a_street_name_is_published_from_an_address(address: str,
                                                          street: str | None) -> None:
    from etl.sources.street_damage import street_of

    assert street_of(address) == street


def test_categories_and_service_codes_come_from_a_fixed_vocabulary(tmp_path: Path) -> None:
    """Issue 6: service_name, service_code and Schadensart were published raw."""
    from etl.sources.base import LoadOptions
    from etl.sources.street_damage import OTHER, StreetDamageSource

    requests_ = open311_requests()
    requests_[0]["service_name"] = "Rückruf Herr Quappendorf"
    requests_[1]["service_code"] = "0355 4719199"
    requests_[2]["service_name"] = "  SCHLAGLOCH "  # a known category in another spelling
    header, rows = register_table()
    rows[0][header.index("Schadensart")] = "Karlstraße 12 (Frau Quappendorf)"
    source = StreetDamageSource()
    parts = list(source.read([write_open311(tmp_path / "r.json", requests_),
                              write_register(tmp_path / "k.csv", header, rows)],
                             LoadOptions(progress=False)))
    open311, register = (p.batch.columns for p in parts)
    assert open311["category"][0] == OTHER and open311["service_code"][1] == OTHER
    assert open311["category"][2] == "Schlagloch"
    assert register["category"][0] == OTHER
    known = {*register["category"][1:], *open311["category"][3:]}
    assert OTHER not in known  # every sample category is in the vocabulary
    notes = "\n".join(source.notes)
    for name in ("service_name", "service_code", "Schadensart"):
        assert f"1 value(s) of '{name}' not in the vocabulary" in notes, notes
    assert "Quappendorf" not in notes and "4719199" not in notes
