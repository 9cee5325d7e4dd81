"""Traffic counts through `twin load traffic-counts`: stations, BASt hourly files, the clock
changes, flags, the derived station figures, refusals, the API and real clients.

Expected values come from the sample files (read here with the csv module and zoneinfo) or from
PostGIS, never from literals.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
import requests
from owslib.ogcapi.features import Features

from etl.sources.traffic import (
    SPIKE_LIMIT,
    day_instants,
    local_hour,
    parse_datum,
    wall_clock_instants,
)
from tests import traffic_reference as reference
from tests.conftest import Server
from tests.helpers import assert_refused, last_run, published_of, run_twin, xmins_of
from twin import db
from twin.registry import TRAFFIC_COUNTS, TRAFFIC_STATIONS
from twin.settings import PROJECT_ROOT, Settings

SAMPLES = PROJECT_ROOT / "data" / "samples" / "traffic-counts"
published = published_of("traffic-stations", "traffic-counts")
xmins = xmins_of("traffic-stations", "traffic-counts")
STATIONS_CSV = SAMPLES / "zaehlstellen_cottbus.csv"
SPRING = SAMPLES / "bast_stundenwerte_2024-03.csv"
AUTUMN = SAMPLES / "bast_stundenwerte_2024-10.csv"
HOURLY = (SPRING, AUTUMN)
BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.UTC
EPSG_25833 = "http://www.opengis.net/def/crs/EPSG/0/25833"
COUNT_FIELDS = {"KFZ_R1": "kfz_r1", "KFZ_R2": "kfz_r2", "Lkw_R1": "lkw_r1", "Lkw_R2": "lkw_r2",
                "Pkw_R1": "pkw_r1", "Pkw_R2": "pkw_r2", "Bus_R1": "bus_r1", "Bus_R2": "bus_r2"}
REQUIRED_COUNTS = ("KFZ_R1", "KFZ_R2", "Lkw_R1", "Lkw_R2")
#: BASt quality marks of values BASt counts as valid, as docs/sources/traffic-counts.md cites
#: them: '-' measured and plausible, 'k' corrected, 's' estimated; empty is no mark.
BAST_VALID = ("", "-", "k", "s")
#: The Sundays the clocks change in 2024, found with zoneinfo below, not typed in.
SPRING_FORWARD = dt.date(2024, 3, 31)
FALL_BACK = dt.date(2024, 10, 27)


# -- the sample files as a user reads them -----------------------------------------------------
def read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252")
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=";")
    return list(reader.fieldnames or []), list(reader)


def write_table(path: Path, header: list[str], rows: list[dict[str, str]],
                encoding: str = "ascii", newline: str = "\n") -> Path:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, header, delimiter=";", lineterminator=newline,
                            extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(out.getvalue().encode(encoding))
    return path


def local_date(datum: str) -> dt.date:
    return dt.date(2000 + int(datum[:2]), int(datum[2:4]), int(datum[4:]))


def instants_of(rows: list[dict[str, str]]) -> list[dt.datetime | None]:
    """UTC start of each row's hour: wall-clock (Stunde-1):00 local, a repeated hour taken in
    file order (fold 0, then fold 1); None where the wall-clock time does not exist."""
    seen: Counter = Counter()
    out = []
    for row in rows:
        day, stunde = local_date(row["Datum"]), int(row["Stunde"])
        naive = dt.datetime.combine(day, dt.time()) + dt.timedelta(hours=stunde - 1)
        fold = seen[row["Zst"], day, stunde]
        seen[row["Zst"], day, stunde] += 1
        utc = naive.replace(tzinfo=BERLIN, fold=fold).astimezone(UTC)
        out.append(utc if utc.astimezone(BERLIN).replace(tzinfo=None) == naive else None)
    return out


def obs_id(zst: str, instant: dt.datetime) -> str:
    return f"{zst}/{instant:%Y-%m-%dT%H:%M:%SZ}"


def hours_of(day: dt.date) -> int:
    start = dt.datetime.combine(day, dt.time(), BERLIN)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), BERLIN)
    return int((end.astimezone(UTC) - start.astimezone(UTC)) / dt.timedelta(hours=1))


def expected_rows(paths: tuple[Path, ...] | list[Path]) -> tuple[
        dict[str, tuple[dict[str, str], dt.datetime]], dict[str, tuple[str, dt.datetime, int]]]:
    """What loading ``paths`` publishes, by the documented rules, worked out with zoneinfo.

    Returns the rows stored from the files (observation id -> file row, start of its hour)
    and the gap rows (observation id -> station, start of the hour, local hour 1-24): every
    hour of a local day on which a station has a stored row that has no stored row itself.
    A row lacking a KFZ_*/Lkw_* count is not stored, so its hour is a gap too.
    """
    stored: dict[str, tuple[dict[str, str], dt.datetime]] = {}
    rows = [row for path in paths for row in read_table(path)[1]]
    for row, instant in zip(rows, instants_of(rows), strict=True):
        if instant is not None and all(row[c].strip() for c in REQUIRED_COUNTS):
            stored[obs_id(row["Zst"], instant)] = row, instant
    gaps: dict[str, tuple[str, dt.datetime, int]] = {}
    for zst, day in {(r["Zst"], t.astimezone(BERLIN).date()) for r, t in stored.values()}:
        t = dt.datetime.combine(day, dt.time(), BERLIN).astimezone(UTC)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), BERLIN).astimezone(UTC)
        while t < end:
            if obs_id(zst, t) not in stored:
                gaps[obs_id(zst, t)] = zst, t, t.astimezone(BERLIN).hour + 1
            t += dt.timedelta(hours=1)
    return stored, gaps


def expected_flags() -> dict[str, str]:
    """Observation id -> flag, from the faults the sample files really hold."""
    stored, gaps = expected_rows(HOURLY)
    flags = dict.fromkeys(gaps, "gap")
    for key, (row, _) in stored.items():
        numbers = [int(row[c]) for c in COUNT_FIELDS if row.get(c, "").strip()]
        kinds = [
            ("negative", any(n < 0 for n in numbers)),
            ("spike", any(n > SPIKE_LIMIT for n in numbers)),
            ("quality", any(row[k].strip() not in BAST_VALID for k in row
                            if k.startswith("K_") and k[2:] in COUNT_FIELDS)),
        ]
        flag = next((name for name, on in kinds if on), None)
        if flag:
            flags[key] = flag
    return flags






@pytest.fixture(scope="module")
def base(empty_settings: Settings) -> Settings:
    """The module database with the traffic samples loaded through `twin load`."""
    result = run_twin(empty_settings, "load", "traffic-counts", str(STATIONS_CSV),
                      *map(str, HOURLY))
    assert result.returncode == 0, result.stderr
    return empty_settings


# -- local time, without a database ------------------------------------------------------------
def test_clock_changes_of_a_year_give_one_short_and_one_long_day() -> None:
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(366)]
    lengths = {d: len(day_instants(d)) for d in days}
    assert {d: n for d, n in lengths.items() if n != 24} == {
        d: hours_of(d) for d in days if hours_of(d) != 24}
    short = [d for d, n in lengths.items() if n == 23]
    long = [d for d, n in lengths.items() if n == 25]
    assert short == [SPRING_FORWARD] and long == [FALL_BACK]
    # Last Sundays of March and October, as EU law has it.
    for d in (*short, *long):
        assert d.isoweekday() == 7 and (d + dt.timedelta(days=7)).month != d.month


def test_wall_clock_hours_on_the_clock_change_days() -> None:
    # Stunde 3 (02:00-03:00) never happens in spring: no instant, so no bogus timestamp.
    assert wall_clock_instants(SPRING_FORWARD, 3) == []
    before, after = wall_clock_instants(SPRING_FORWARD, 2), wall_clock_instants(SPRING_FORWARD, 4)
    assert after[0] - before[0] == dt.timedelta(hours=1)  # 01:00 CET, then 03:00 CEST
    assert before[0].astimezone(BERLIN).utcoffset() == dt.timedelta(hours=1)
    assert after[0].astimezone(BERLIN).utcoffset() == dt.timedelta(hours=2)
    # Stunde 3 happens twice in autumn: first in CEST, then in CET.
    first, second = wall_clock_instants(FALL_BACK, 3)
    assert second - first == dt.timedelta(hours=1)
    assert first.astimezone(BERLIN).utcoffset() == dt.timedelta(hours=2)
    assert second.astimezone(BERLIN).utcoffset() == dt.timedelta(hours=1)
    for day in (SPRING_FORWARD, FALL_BACK, dt.date(2024, 7, 1)):
        assert [local_hour(t) for t in day_instants(day)] == [
            (day, t.astimezone(BERLIN).hour + 1) for t in day_instants(day)]
        assert len(set(day_instants(day))) == hours_of(day)


@pytest.mark.parametrize("text", ["2403", "24-03-31", "240230", "241301", "2403311", "abcdef"])
def test_malformed_bast_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="yymmdd"):
        parse_datum(text)


def test_bast_dates_are_yymmdd() -> None:
    assert parse_datum(" 240331 ") == SPRING_FORWARD
    assert parse_datum("991231") == dt.date(1999, 12, 31)


# -- loading -----------------------------------------------------------------------------------
def test_stations_are_published_where_the_file_puts_them(base: Settings) -> None:
    _, stations = read_table(STATIONS_CSV)
    with psycopg.connect(base.dsn) as conn:
        stored = {r[0]: r[1:] for r in conn.execute(
            "SELECT station_id, name, road, direction_1, direction_2, ST_X(geom), ST_Y(geom), "
            "ST_SRID(geom) FROM twin.traffic_stations")}
    assert set(stored) == {s["Zst"] for s in stations}
    for s in stations:
        name, road, r1, r2, x, y, srid = stored[s["Zst"]]
        assert (name, road, r1, r2) == (s["Name"], s["Strasse"], s["Richtung_1"],
                                        s["Richtung_2"])
        assert srid == 25833
        assert abs(x - float(s["x"])) < 0.001 and abs(y - float(s["y"])) < 0.001


def test_counts_are_the_file_rows_at_their_instants(base: Settings) -> None:
    with psycopg.connect(base.dsn) as conn:
        stored = {r[0]: r[1:] for r in conn.execute(
            "SELECT observation_id, station_id, observed_at, hour, kfz_r1, kfz_r2, lkw_r1, "
            "lkw_r2, pkw_r1, pkw_r2, bus_r1, bus_r2, flag FROM twin.traffic_counts")}
        positions = dict(conn.execute(
            "SELECT c.observation_id, ST_Equals(c.geom, s.geom) FROM twin.traffic_counts c "
            "JOIN twin.traffic_stations s USING (station_id)").fetchall())
    from_files, gaps = expected_rows(HOURLY)
    for key, (row, instant) in from_files.items():
        station, observed_at, hour, *counts, _ = stored[key]
        assert (station, observed_at, hour) == (row["Zst"], instant, int(row["Stunde"]))
        expected = [int(row[c]) if row.get(c, "").strip() else None for c in COUNT_FIELDS]
        assert counts == expected, row
    # Every hour of the counted local days is published once: from a file, or as a gap with
    # no counts (a file row lacking a KFZ_*/Lkw_* count included: the sample has one).
    assert len(stored) == len(from_files) + len(gaps)
    for key, (station, start, hour) in gaps.items():
        assert stored[key] == (station, start, hour, *[None] * len(COUNT_FIELDS), "gap")
    blank = [(r, t) for path in HOURLY for r, t in zip(
        read_table(path)[1], instants_of(read_table(path)[1]), strict=True)
        if t is not None and not all(r[c].strip() for c in REQUIRED_COUNTS)]
    assert blank and all(obs_id(r["Zst"], t) in gaps for r, t in blank)
    assert all(positions.values()) and len(positions) == len(stored)


def test_rows_lacking_a_count_are_named_in_a_note(base: Settings) -> None:
    with psycopg.connect(base.dsn, row_factory=psycopg.rows.dict_row) as conn:
        run = conn.execute("SELECT notes FROM twin.load_run WHERE source = 'traffic-counts' "
                           "AND outcome = 'succeeded' ORDER BY id LIMIT 1").fetchone()
    for path in HOURLY:
        rows = read_table(path)[1]
        for line, row in enumerate(rows, start=2):
            field = next((c for c in REQUIRED_COUNTS if not row[c].strip()), None)
            if field:
                assert any(n.startswith(f"{path}: row {line}, field '{field}'")
                           and "not stored" in n for n in run["notes"]), run["notes"]


@pytest.mark.parametrize(("day", "hours"), [(SPRING_FORWARD, 23), (FALL_BACK, 25)])
def test_clock_change_days_have_their_real_hours(base: Settings, day: dt.date,
                                                 hours: int) -> None:
    assert hours_of(day) == hours
    start = dt.datetime.combine(day, dt.time(), BERLIN)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), BERLIN)
    with psycopg.connect(base.dsn) as conn:
        rows = conn.execute(
            "SELECT station_id, count(DISTINCT observed_at), count(*), "
            "count(DISTINCT observation_id), array_agg(hour ORDER BY observed_at) "
            "FROM twin.traffic_counts WHERE observed_at >= %s AND observed_at < %s "
            "GROUP BY station_id", (start, end)).fetchall()
    assert len(rows) == 4
    for station, distinct, total, ids, hour_list in rows:
        assert distinct == total == ids == hours, station
        expected = [t.astimezone(BERLIN).hour + 1 for t in day_instants(day)]
        assert hour_list == expected, station


def test_the_hour_that_does_not_exist_is_said_not_stored(base: Settings) -> None:
    header, rows = read_table(SPRING)
    skipped = [i + 2 for i, t in enumerate(instants_of(rows)) if t is None]
    assert skipped  # the sample has such a row
    with psycopg.connect(base.dsn, row_factory=psycopg.rows.dict_row) as conn:
        run = conn.execute("SELECT notes FROM twin.load_run WHERE source = 'traffic-counts' "
                           "AND outcome = 'succeeded' ORDER BY id LIMIT 1").fetchone()
    for line in skipped:
        assert any(f"{SPRING}: row {line}, field 'Stunde'" in n and "does not exist" in n
                   for n in run["notes"]), run["notes"]


def test_flags_are_where_the_samples_have_faults(base: Settings) -> None:
    expected = expected_flags()
    assert set(expected.values()) == {"gap", "negative", "spike", "quality"}
    with psycopg.connect(base.dsn) as conn:
        stored = dict(conn.execute("SELECT observation_id, flag FROM twin.traffic_counts "
                                   "WHERE flag IS NOT NULL").fetchall())
    assert stored == expected


def _round(value: Decimal, places: str) -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


FIGURE_FIELDS = ("mean_daily_traffic", "heavy_share", "dtv_annual", "count_type",
                 "peak_hour_start", "period_start", "period_end", "days_counted",
                 "hours_counted", "hours_flagged")


def published_figures(settings: Settings) -> dict[str, tuple]:
    with psycopg.connect(settings.dsn) as conn:
        return {r[0]: r[1:] for r in conn.execute(
            "SELECT station_id, " + ", ".join(FIGURE_FIELDS)  # noqa: S608 - literal names
            + " FROM twin.traffic_stations")}


def as_row(f: reference.Figures) -> tuple:
    return tuple(getattr(f, name) for name in FIGURE_FIELDS)


def published_hours(settings: Settings) -> list[reference.Hour]:
    with psycopg.connect(settings.dsn) as conn:
        counts = conn.execute(
            "SELECT station_id, observed_at, hour, kfz_r1 + kfz_r2, lkw_r1 + lkw_r2, flag "
            "FROM twin.traffic_counts").fetchall()
    return [reference.Hour(station, at.astimezone(BERLIN).date(), hour, kfz, lkw, flag)
            for station, at, hour, kfz, lkw, flag in counts]


def sample_hours(paths: tuple[Path, ...] = HOURLY) -> list[reference.Hour]:
    """Every hour loading the sample files publishes, gap rows included, read from the files
    by the documented rules (expected_rows, expected_flags), not from the database."""
    stored, gaps = expected_rows(paths)
    flags = expected_flags() if paths == HOURLY else {}
    hours = []
    for key, (row, at) in stored.items():
        hours.append(reference.Hour(
            row["Zst"], at.astimezone(BERLIN).date(), int(row["Stunde"]),
            int(row["KFZ_R1"]) + int(row["KFZ_R2"]), int(row["Lkw_R1"]) + int(row["Lkw_R2"]),
            flags.get(key)))
    for zst, at, hour in gaps.values():
        hours.append(reference.Hour(zst, at.astimezone(BERLIN).date(), hour, None, None, "gap"))
    return hours


def check_figures(settings: Settings) -> dict[str, reference.Figures]:
    """Assert every station's figures from its published counts, by the documented formulas
    (tests/traffic_reference.py); returns station -> the figures."""
    expected = reference.figures(published_hours(settings))
    assert published_figures(settings) == {s: as_row(f) for s, f in expected.items()}
    return expected


def test_station_figures_recompute_from_the_published_counts(base: Settings) -> None:
    for f in check_figures(base).values():
        # A flagged hour is filled, never costs its day: every counted day enters the mean.
        assert sum(f.days_of_mean.values()) == f.days_counted


def test_station_figures_recompute_from_the_sample_files(base: Settings) -> None:
    expected = reference.figures(sample_hours())
    assert published_figures(base) == {s: as_row(f) for s, f in expected.items()}
    assert all(f.count_type == "short" and f.dtv_annual is None for f in expected.values())


def test_a_flagged_hour_no_longer_drops_its_day_or_skews_the_weekdays(base: Settings) -> None:
    """Issue 10: the old mean of complete days left station 1202 with two Tuesdays (a
    quality-marked night in March, a missing hour in October) and shifted it by 1.3 %."""
    hours = [h for h in sample_hours() if h.station == "1202"]
    old, old_days = reference.complete_day_mean(hours)
    days = {h.day for h in hours}
    tuesdays = {d for d in days if d.isoweekday() == 2}
    assert old_days[2] == len(tuesdays) - 2 == 2
    assert all(old_days[w] == len(tuesdays) for w in old_days if w != 2)
    # Each weekday weighted 1/7, over the same complete days: the old figure was 1.3 % off.
    by_day = defaultdict(list)
    for h in hours:
        by_day[h.day].append(h)
    complete = {d: sum(h.kfz for h in rows) for d, rows in by_day.items()
                if all(h.usable for h in rows)}
    weekday_means = [
        Fraction(sum(v for d, v in complete.items() if d.isoweekday() == w))
        / sum(1 for d in complete if d.isoweekday() == w) for w in range(1, 8)]
    balanced = sum(weekday_means) / 7
    assert _round(Decimal(float(abs(old - balanced) / old * 100)), "0.1") == Decimal("1.3")
    # Published now: every day, the flagged hours filled from the other Tuesdays.
    published = published_figures(base)["1202"]
    f = reference.station_figures(hours)
    assert f.days_of_mean == {w: len(tuesdays) for w in range(1, 8)}
    assert published[FIGURE_FIELDS.index("mean_daily_traffic")] == f.mean_daily_traffic
    assert f.mean_daily_traffic != int(_round(Decimal(float(old)), "1"))


def test_bast_substitutes_are_usable_hours(base: Settings) -> None:
    """A value BASt marks 's' (substituted) is used as BASt uses it: its hour is not flagged
    and enters the mean and the heavy share like any measured hour."""
    header, rows = read_table(SPRING)
    marked = [r for r in rows if any(r[k].strip() == "s" for k in header if k.startswith("K_"))]
    assert marked
    stored, _ = expected_rows(HOURLY)
    keys = [k for k, (row, _) in stored.items() if row in marked]
    with psycopg.connect(base.dsn) as conn:
        flags = dict(conn.execute("SELECT observation_id, flag FROM twin.traffic_counts "
                                  "WHERE observation_id = ANY(%s)", (keys,)))
    assert flags == dict.fromkeys(keys)
    # Flagging them would change what is published: they do reach the figures.
    hours = sample_hours()
    zst = marked[0]["Zst"]
    as_flagged = [reference.Hour(h.station, h.day, h.hour, h.kfz, h.lkw, "quality")
                  if h.station == zst and any(
                      (h.day, h.hour) == (local_date(r["Datum"]), int(r["Stunde"]))
                      for r in marked) else h for h in hours if h.station == zst]
    mine = reference.station_figures([h for h in hours if h.station == zst])
    other = reference.station_figures(as_flagged)
    assert published_figures(base)[zst][:2] == (mine.mean_daily_traffic, mine.heavy_share)
    assert (mine.mean_daily_traffic, mine.heavy_share, mine.hours_flagged) != (
        other.mean_daily_traffic, other.heavy_share, other.hours_flagged)


def test_the_heavy_share_uses_the_hours_and_weights_of_the_mean(base: Settings) -> None:
    """100 * (weekday-weighted mean Lkw of the days of the mean) / (the same of Kfz), the
    flagged hours filled alike; computed here from the day totals, not the reference's
    figures."""
    hours = sample_hours()
    for zst, row in published_figures(base).items():
        totals = reference.day_totals([h for h in hours if h.station == zst])
        kfz = lkw = Fraction(0)
        for w in range(1, 8):
            days = [v for d, v in totals.items() if d.isoweekday() == w]
            kfz += sum(v[0] for v in days) / len(days)
            lkw += sum(v[1] for v in days) / len(days)
        share = row[FIGURE_FIELDS.index("heavy_share")]
        assert share == float(reference.half_up(100 * lkw / kfz, "0.1"))
        assert row[FIGURE_FIELDS.index("mean_daily_traffic")] == int(reference.half_up(kfz / 7))


def test_flagged_values_never_reach_the_dtv(base: Settings, tmp_path: Path) -> None:
    header, rows = read_table(SPRING)
    before = published(base)
    with psycopg.connect(base.dsn) as conn:
        dtv = dict(conn.execute("SELECT station_id, mean_daily_traffic "
                                "FROM twin.traffic_stations"))
    # A spike in the same hour of every day of one station: no day of it can be filled.
    zst = rows[0]["Zst"]
    spiked = [{**r, "KFZ_R1": str(SPIKE_LIMIT + 1)} if r["Zst"] == zst and r["Stunde"] == "12"
              else r for r in rows]
    path = write_table(tmp_path / "spiked.csv", header, spiked)
    result = run_twin(base, "load", "traffic-counts", str(STATIONS_CSV), str(path),
                      "--mode", "replace")
    assert result.returncode == 0, result.stderr
    with psycopg.connect(base.dsn) as conn:
        after = dict(conn.execute("SELECT station_id, mean_daily_traffic "
                                  "FROM twin.traffic_stations"))
        assert conn.execute("SELECT count(*) FROM twin.traffic_counts WHERE station_id = %s "
                            "AND flag = 'spike'", (zst,)).fetchone()[0] == len(
            {r["Datum"] for r in rows if r["Zst"] == zst})
    assert after[zst] is None and dtv[zst] is not None
    # Back to the samples: replace restores exactly what was published.
    result = run_twin(base, "load", "traffic-counts", str(STATIONS_CSV), *map(str, HOURLY),
                      "--mode", "replace")
    assert result.returncode == 0, result.stderr
    assert published(base) == before


def test_init_replaces_the_old_figure_columns(base: Settings) -> None:
    """A table from before issue 10 (`dtv`, `peak_hour`) loses them at `twin db init`, gains
    the new fields, and the next load derives them."""
    before = published_figures(base)
    with psycopg.connect(base.dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE twin.traffic_stations ADD COLUMN dtv integer, "
                     "ADD COLUMN peak_hour integer, DROP COLUMN mean_daily_traffic")
    db.init_schema(base)
    with psycopg.connect(base.dsn) as conn:
        assert db.table_status(conn, TRAFFIC_STATIONS).matches_registry
    result = run_twin(base, "load", "traffic-counts", str(STATIONS_CSV), *map(str, HOURLY))
    assert result.returncode == 0, result.stderr
    assert published_figures(base) == before


def test_a_second_load_changes_nothing(base: Settings) -> None:
    before, rows_before = published(base), xmins(base)
    result = run_twin(base, "load", "traffic-counts", str(STATIONS_CSV), *map(str, HOURLY))
    assert result.returncode == 0, result.stderr
    assert published(base) == before
    assert xmins(base) == rows_before  # not even rewritten, derived figures included
    run = last_run(base)
    assert (run["outcome"], run["inserted_count"], run["updated_count"]) == ("unchanged", 0, 0)
    assert run["mode"] == "upsert"


def _counts_of(settings: Settings, station: str | None = None) -> dict:
    """Observation id -> every published value but the geometry (of one station, or all)."""
    with psycopg.connect(settings.dsn) as conn:
        return {r[0]: r[1:] for r in conn.execute(
            "SELECT observation_id, station_id, observed_at, hour, kfz_r1, kfz_r2, lkw_r1, "
            "lkw_r2, pkw_r1, pkw_r2, bus_r1, bus_r2, flag FROM twin.traffic_counts "
            "WHERE %(s)s::text IS NULL OR station_id = %(s)s", {"s": station})}


def _dtv(settings: Settings) -> dict[str, int | None]:
    with psycopg.connect(settings.dsn) as conn:
        return dict(conn.execute("SELECT station_id, mean_daily_traffic "
                                 "FROM twin.traffic_stations"))


@pytest.mark.parametrize("rest", ["absent", "blank"])
def test_a_partial_day_upsert_keeps_every_published_count(base: Settings, tmp_path: Path,
                                                          rest: str) -> None:
    """The reviewer's case: hours 1-12 of one station and day, after the whole month."""
    header, rows = read_table(SPRING)
    zst, datum = "1201", "240326"
    day = [r for r in rows if (r["Zst"], r["Datum"]) == (zst, datum)]
    assert len(day) == 24 and all(r[c].strip() for r in day for c in REQUIRED_COUNTS)
    partial = [r for r in day if int(r["Stunde"]) <= 12]
    if rest == "blank":  # the other hours listed, their counts empty
        partial += [{**r, **dict.fromkeys(COUNT_FIELDS, "")} for r in day
                    if int(r["Stunde"]) > 12]
    path = write_table(tmp_path / "bast_1201_teiltag.csv", header, partial)
    before, rows_before, dtv_before = published(base), xmins(base), _dtv(base)
    counts_before = _counts_of(base)
    result = run_twin(base, "load", "traffic-counts", str(STATIONS_CSV), str(path))
    assert result.returncode == 0, result.stderr
    # Every published count, the DTV and every row stay as they were, not even rewritten.
    assert _counts_of(base) == counts_before
    assert _dtv(base) == dtv_before and dtv_before[zst] is not None
    assert published(base) == before and xmins(base) == rows_before
    run = last_run(base)
    assert (run["outcome"], run["inserted_count"], run["updated_count"]) == ("unchanged", 0, 0)
    # The hour the reviewer saw turn into a gap (Stunde 13: 11:00 UTC) keeps the file's count.
    row13 = next(r for r in day if r["Stunde"] == "13")
    instant = dt.datetime.combine(local_date(datum), dt.time(12), BERLIN).astimezone(UTC)
    kept = counts_before[obs_id(zst, instant)]
    assert kept[3] == int(row13["KFZ_R1"]) and kept[-1] is None
    if rest == "blank":
        assert any(n.startswith(f"{path}: row 14, field 'KFZ_R1': 12 row(s)")
                   for n in run["notes"]), run["notes"]


PLANTED = "9001"
#: Hours (Datum, Stunde) the planted station's files lack; on 241027 both Stunde 3 rows.
PLANTED_MISSING = {("240330", 1), ("240330", 13), ("240330", 24), ("240331", 2),
                   ("240331", 4), ("240331", 24), ("241027", 1), ("241027", 3)}
#: A row of the planted files that lacks a count: its hour is a gap too.
PLANTED_BLANK = ("241027", 12, "KFZ_R2")


@dataclass
class Planted:
    stations: Path
    spring: Path
    autumn: Path
    rows: dict[tuple[str, int], list[dict[str, str]]]  # (Datum, Stunde) -> sample rows
    headers: dict[str, list[str]]  # "spring"/"autumn" -> header


def _planted_rows(path: Path, days: tuple[str, ...]) -> tuple[list[str], list[dict[str, str]]]:
    header, rows = read_table(path)
    return header, [{**r, "Zst": PLANTED} for r in rows
                    if r["Zst"] == "1201" and r["Datum"] in days]


@pytest.fixture
def planted(base: Settings, tmp_path: Path) -> Iterator[Planted]:
    """A station 9001 (1201's counts) with hours missing on a normal day and on both
    clock-change days, loaded with the default mode; the samples restored afterwards."""
    before = published(base)
    header, stations = read_table(STATIONS_CSV)
    model = next(s for s in stations if s["Zst"] == "1201")
    stations_path = write_table(
        tmp_path / "zaehlstellen_9001.csv", header,
        [*stations, {**model, "Zst": PLANTED, "x": f"{float(model['x']) + 25:.1f}"}],
        encoding="cp1252")
    by_hour: dict[tuple[str, int], list[dict[str, str]]] = defaultdict(list)
    files, headers = {}, {}
    for name, path, days in (("spring", SPRING, ("240330", "240331")),
                             ("autumn", AUTUMN, ("241027", "241028"))):
        headers[name], rows = _planted_rows(path, days)
        for r in rows:
            by_hour[r["Datum"], int(r["Stunde"])].append(r)
        kept = [r if (r["Datum"], int(r["Stunde"])) != PLANTED_BLANK[:2]
                else {**r, PLANTED_BLANK[2]: ""}
                for r in rows if (r["Datum"], int(r["Stunde"])) not in PLANTED_MISSING]
        files[name] = write_table(tmp_path / f"bast_9001_{name}.csv", headers[name], kept)
    result = run_twin(base, "load", "traffic-counts", str(stations_path), *map(str, HOURLY),
                      files["spring"], files["autumn"])
    assert result.returncode == 0, result.stderr
    yield Planted(stations_path, files["spring"], files["autumn"], by_hour, headers)
    result = run_twin(base, "load", "traffic-counts", str(STATIONS_CSV), *map(str, HOURLY),
                      "--mode", "replace")
    assert result.returncode == 0, result.stderr
    assert published(base) == before


def _planted_gaps(settings: Settings) -> dict[str, tuple]:
    with psycopg.connect(settings.dsn) as conn:
        rows = conn.execute(
            "SELECT c.observation_id, c.station_id, c.observed_at, c.hour, "
            "num_nonnulls(c.kfz_r1, c.kfz_r2, c.lkw_r1, c.lkw_r2, c.pkw_r1, c.pkw_r2, c.bus_r1, "
            "c.bus_r2), ST_Equals(c.geom, s.geom) "
            "FROM twin.traffic_counts c JOIN twin.traffic_stations s USING (station_id) "
            "WHERE c.station_id = %s AND c.flag = 'gap'", (PLANTED,)).fetchall()
    assert all(r[4] == 0 and r[5] for r in rows)  # no counts, at the station's position
    return {r[0]: r[1:4] for r in rows}


def test_gap_rows_are_derived_for_the_missing_hours(base: Settings, planted: Planted) -> None:
    _, expected = expected_rows([planted.spring, planted.autumn])
    assert _planted_gaps(base) == expected
    # The planted hours, as zoneinfo places them: three on the normal day, three on the
    # short day, and on the long day both 02:00 hours (CEST, then CET, each hour 3), 00:00
    # and the hour whose row lacks a count.
    by_day = Counter(t.astimezone(BERLIN).date() for _, t, _ in expected.values())
    assert by_day == {dt.date(2024, 3, 30): 3, SPRING_FORWARD: 3, FALL_BACK: 4}
    twice = dt.datetime.combine(FALL_BACK, dt.time(2))
    assert sorted(t for _, t, h in expected.values() if h == 3) == [
        twice.replace(tzinfo=BERLIN, fold=f).astimezone(UTC) for f in (0, 1)]
    assert {(t.astimezone(BERLIN).date(), h) for _, t, h in expected.values()} == {
        (local_date(d), h) for d, h in {*PLANTED_MISSING, PLANTED_BLANK[:2]}}
    with psycopg.connect(base.dsn) as conn:
        for day in (dt.date(2024, 3, 30), SPRING_FORWARD, FALL_BACK, dt.date(2024, 10, 28)):
            start = dt.datetime.combine(day, dt.time(), BERLIN)
            end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), BERLIN)
            assert conn.execute(
                "SELECT count(*) FROM twin.traffic_counts WHERE station_id = %s AND "
                "observed_at >= %s AND observed_at < %s", (PLANTED, start, end)
            ).fetchone()[0] == hours_of(day)
    check_figures(base)
    # Derived once: a second load inserts no gap row and rewrites nothing.
    rows_before = xmins(base)
    result = run_twin(base, "load", "traffic-counts", str(planted.stations),
                      str(planted.spring), str(planted.autumn))
    assert result.returncode == 0, result.stderr
    assert xmins(base) == rows_before and last_run(base)["outcome"] == "unchanged"


def test_a_later_file_fills_a_gap(base: Settings, planted: Planted, tmp_path: Path) -> None:
    gaps = _planted_gaps(base)
    spring = planted.rows["240330", 13]
    # Stunde 3 once: the CEST hour. Its count comes with a BASt quality letter.
    autumn = [{**planted.rows["241027", 3][0], "K_KFZ_R1": "a"},
              *planted.rows[PLANTED_BLANK[:2]]]
    fills = [write_table(tmp_path / "nachlieferung_03.csv", planted.headers["spring"], spring),
             write_table(tmp_path / "nachlieferung_10.csv", planted.headers["autumn"], autumn)]
    total = len(_counts_of(base))
    result = run_twin(base, "load", "traffic-counts", str(planted.stations), *map(str, fills))
    assert result.returncode == 0, result.stderr
    run = last_run(base)
    assert (run["inserted_count"], run["updated_count"]) == (0, 3)
    assert len(_counts_of(base)) == total  # the gap rows became real ones, under their ids
    filled, remaining = expected_rows([planted.spring, planted.autumn, *fills])
    stored = _counts_of(base, PLANTED)
    for row, flag in ((spring[0], None), (autumn[0], "quality"), (autumn[1], None)):
        key = next(k for k, (r, _) in filled.items() if r == row)
        assert key in gaps
        assert stored[key][3:] == (*[int(row[c]) if row.get(c, "").strip() else None
                                     for c in COUNT_FIELDS], flag)
    assert _planted_gaps(base) == remaining and len(remaining) == len(gaps) - 3
    check_figures(base)


def test_replace_keeps_the_gaps_of_the_days_still_covered(base: Settings,
                                                          planted: Planted) -> None:
    rows_before = xmins(base)
    everything = [str(planted.stations), *map(str, HOURLY), str(planted.spring),
                  str(planted.autumn)]
    # The files the upserts brought, now as the whole truth: the gap rows the replace load
    # sends are the ones derived before, so nothing is deleted or rewritten.
    result = run_twin(base, "load", "traffic-counts", *everything, "--mode", "replace")
    assert result.returncode == 0, result.stderr
    run = last_run(base)
    assert (run["outcome"], run["deleted_count"]) == ("unchanged", 0)
    assert xmins(base) == rows_before
    # Without the spring file, the planted station's March rows, gaps included, go.
    result = run_twin(base, "load", "traffic-counts", *everything[:-2], str(planted.autumn),
                      "--mode", "replace")
    assert result.returncode == 0, result.stderr
    stored, gaps = expected_rows([planted.autumn])
    assert set(_counts_of(base, PLANTED)) == {*stored, *gaps}
    assert _planted_gaps(base) == gaps
    check_figures(base)
    rows_before = xmins(base)
    result = run_twin(base, "load", "traffic-counts", *everything[:-2], str(planted.autumn),
                      "--mode", "replace")
    assert result.returncode == 0, result.stderr
    assert xmins(base) == rows_before and last_run(base)["outcome"] == "unchanged"


def _reversed(header: list[str], rows: list[dict]) -> tuple[list[str], list[dict]]:
    return header[::-1] + ["Bemerkung"], [{**r, "Bemerkung": "ok"} for r in rows]


def _other_layout(header: list[str], rows: list[dict]) -> tuple[list[str], list[dict]]:
    # The other sample's order, in lower case, with the K_ columns first.
    other, _ = read_table(AUTUMN if "PLZ_R1" in header else SPRING)
    order = [c for c in other if c in header] + [c for c in header if c not in other]
    order = sorted(order, key=lambda c: not c.startswith("K_"))
    return [c.lower() for c in order], [{k.lower(): v for k, v in r.items()} for r in rows]


@pytest.mark.parametrize("path", HOURLY, ids=["spring", "autumn"])
@pytest.mark.parametrize("rearrange", [_reversed, _other_layout], ids=["reversed", "other"])
def test_columns_are_read_by_name_not_position(base: Settings, tmp_path: Path, path: Path,
                                               rearrange: Callable) -> None:
    before = published(base)
    header, rows = rearrange(*read_table(path))
    assert header[:3] != read_table(path)[0][:3]
    moved = write_table(tmp_path / path.name, header, rows, encoding="cp1252", newline="\r\n")
    result = run_twin(base, "load", "traffic-counts", str(STATIONS_CSV), str(moved))
    assert result.returncode == 0, result.stderr
    assert published(base) == before
    assert last_run(base)["outcome"] == "unchanged"


def test_lon_lat_stations_and_geojson_give_the_same_positions(base: Settings,
                                                              tmp_path: Path) -> None:
    header, stations = read_table(STATIONS_CSV)
    with psycopg.connect(base.dsn) as conn:
        lonlat = {r[0]: r[1:] for r in conn.execute(
            "SELECT station_id, ST_X(ST_Transform(geom, 4326)), ST_Y(ST_Transform(geom, 4326)) "
            "FROM twin.traffic_stations")}
    before = published(base)
    as_lonlat = [{k: v for k, v in s.items() if k not in ("x", "y")}
                 | {"lon": f"{lonlat[s['Zst']][0]:.9f}", "lat": f"{lonlat[s['Zst']][1]:.9f}"}
                 for s in stations]
    csv_path = write_table(tmp_path / "stations_lonlat.csv",
                           [h for h in header if h not in ("x", "y")] + ["lon", "lat"],
                           as_lonlat, encoding="utf-8")
    geojson = tmp_path / "stations.geojson"
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {k: v for k, v in s.items() if k not in ("x", "y")},
         "geometry": {"type": "Point", "coordinates": list(lonlat[s["Zst"]])}}
        for s in stations]}), encoding="utf-8")
    for path in (csv_path, geojson):
        result = run_twin(base, "load", "traffic-counts", str(path))
        assert result.returncode == 0, result.stderr
        # Millimetres after a round trip through degrees: the merge finds nothing to change.
        with psycopg.connect(base.dsn) as conn:
            worst = conn.execute(
                "SELECT max(ST_Distance(geom, ST_SetSRID(ST_MakePoint(%s::float8, %s::float8), "
                "25833))) FROM twin.traffic_stations WHERE station_id = %s",
                (float(stations[0]["x"]), float(stations[0]["y"]), stations[0]["Zst"])
            ).fetchone()[0]
        assert worst < 0.01
    result = run_twin(base, "load", "traffic-counts", str(STATIONS_CSV))
    assert result.returncode == 0, result.stderr
    assert published(base)[2:] == before[2:]  # counts untouched by stations-only loads
    assert published(base) == before


# -- refusals ----------------------------------------------------------------------------------
def _drop_column(name: str):
    def make(header, rows):
        return [h for h in header if h != name], rows
    return make


def _set(line: int, column: str, value: str):
    def make(header, rows):
        rows = [dict(r) for r in rows]
        rows[line - 2][column] = value
        return header, rows
    return make


def _duplicate_row(line: int):
    def make(header, rows):
        return header, rows[:line - 1] + [rows[line - 2]] + rows[line - 1:]
    return make


HOURLY_REFUSALS = [
    ("missing-column", _drop_column("Stunde"), ["row 1", "'Stunde'", "required column"]),
    ("malformed-date", _set(7, "Datum", "240332"), ["row 7", "'Datum'", "yymmdd"]),
    ("malformed-date-format", _set(8, "Datum", "25.03.2024"), ["row 8", "'Datum'", "yymmdd"]),
    ("hour-25", _set(9, "Stunde", "25"), ["row 9", "'Stunde'", "1-24"]),
    ("hour-0", _set(10, "Stunde", "0"), ["row 10", "'Stunde'", "1-24"]),
    ("non-numeric-count", _set(11, "KFZ_R1", "12a"), ["row 11", "'KFZ_R1'", "whole number"]),
    ("decimal-count", _set(12, "Lkw_R2", "3.5"), ["row 12", "'Lkw_R2'", "whole number"]),
    ("duplicate-hour", _duplicate_row(13), ["row 14", "'Stunde'", "already in", "row 13"]),
]


@pytest.mark.parametrize(("case", "breaker", "words"), HOURLY_REFUSALS,
                         ids=[r[0] for r in HOURLY_REFUSALS])
def test_refused_hourly_files_change_nothing(base: Settings, tmp_path: Path, case: str,
                                             breaker, words: list[str]) -> None:
    before = published(base)
    header, rows = breaker(*read_table(SPRING))
    path = write_table(tmp_path / f"{case}.csv", header, rows)
    result = run_twin(base, "load", "traffic-counts", str(STATIONS_CSV), str(path))
    assert_refused(result, path, words)
    assert published(base) == before
    run = last_run(base)
    assert run["outcome"] == "refused" and run["refusals"]
    assert run["refusals"][0]["path"] == str(path)


def test_rows_of_unlisted_stations_are_skipped_with_one_note(base: Settings,
                                                             tmp_path: Path) -> None:
    header, rows = read_table(SPRING)
    listed = {r["Zst"] for r in read_table(STATIONS_CSV)[1]}
    other = [dict(r, Zst=str(9000 + i % 2)) for i, r in enumerate(rows[:30])]
    path = write_table(tmp_path / "with_others.csv", header, rows + other)
    before = published(base)
    result = run_twin(base, "load", "traffic-counts", str(STATIONS_CSV), str(path))
    assert result.returncode == 0, result.stderr
    assert published(base) == before  # the listed stations' rows are the sample's
    notes = [n for n in last_run(base)["notes"] if "not in the stations file" in n]
    assert notes == [f"{path}: row {len(rows) + 2}, column Zst: {len(other)} row(s) of "
                     f"{len({r['Zst'] for r in other} - listed)} station(s) not in the "
                     "stations file of this load skipped (e.g. 9000, 9001)"]


def test_counts_without_their_stations_file_are_refused(base: Settings) -> None:
    before = published(base)
    result = run_twin(base, "load", "traffic-counts", str(SPRING))
    assert result.returncode != 0
    assert f"{SPRING}: " in result.stderr and "row 2, field 'Zst'" in result.stderr
    assert "pass the stations file" in result.stderr
    assert published(base) == before


STATION_REFUSALS = [
    ("no-position", _set(3, "x", ""), ["row 3", "'x'", "no position"]),
    ("bad-coordinate", _set(4, "y", "5734l38.8"), ["row 4", "'y'", "coordinate"]),
    ("nan-coordinate", _set(2, "x", "nan"), ["row 2", "'x'", "coordinate"]),
    ("outside-brandenburg", _set(2, "x", "654320.4"),
     ["row 2", "'x'", "cannot be in Brandenburg"]),
    ("slash-in-number", _set(5, "Zst", "12/04"), ["row 5", "'Zst'", "station number"]),
    ("twice", _set(3, "Zst", "1201"), ["row 3", "'Zst'", "listed twice"]),
]


@pytest.mark.parametrize(("case", "breaker", "words"), STATION_REFUSALS,
                         ids=[r[0] for r in STATION_REFUSALS])
def test_refused_stations_files_change_nothing(base: Settings, tmp_path: Path, case: str,
                                               breaker, words: list[str]) -> None:
    before = published(base)
    header, rows = breaker(*read_table(STATIONS_CSV))
    path = write_table(tmp_path / f"{case}.csv", header, rows, encoding="cp1252")
    result = run_twin(base, "load", "traffic-counts", str(path))
    assert_refused(result, path, words)
    assert published(base) == before


def test_contact_column_never_reaches_the_database(base: Settings) -> None:
    _, stations = read_table(STATIONS_CSV)
    dump = subprocess.run(["pg_dump", "--data-only", base.dsn], capture_output=True,
                          text=True, check=True).stdout
    assert stations[0]["Name"] in dump  # the dump does hold the load
    for s in stations:
        assert s["Ansprechpartner"] not in dump
        for part in s["Ansprechpartner"].replace(",", " ").split():
            if len(part) > 4 and part not in ("Tiefbauamt", "Verkehrsplanung"):
                assert part not in dump, part


# -- the API and real clients over all samples -------------------------------------------------
COUNTS_ITEMS = "/collections/traffic-counts/items"
STATIONS_ITEMS = "/collections/traffic-stations/items"


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _local_day(day: dt.date) -> str:
    """A datetime interval of one local day, in UTC as clients write it."""
    start = dt.datetime.combine(day, dt.time(), BERLIN).astimezone(UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), BERLIN).astimezone(UTC)
    return f"{start:%Y-%m-%dT%H:%M:%SZ}/{end - dt.timedelta(seconds=1):%Y-%m-%dT%H:%M:%SZ}"


@pytest.mark.parametrize("interval", [
    "2024-03-31T00:00:00Z/2024-03-31T23:59:59Z",
    "2024-10-27T00:00:00Z/2024-10-27T23:59:59Z",
    _local_day(SPRING_FORWARD),
    _local_day(FALL_BACK),
    "../2024-03-26T00:00:00Z",
    "2024-11-03T12:00:00Z/..",
    "2024-10-27T01:00:00Z",
])
def test_datetime_filter_matches_postgis(server: Server, pg: psycopg.Connection,
                                         interval: str) -> None:
    if "/" in interval:
        start, end = interval.split("/")
        where, params = [], []
        if start != "..":
            where.append("observed_at >= %s")
            params.append(_utc(start))
        if end != "..":
            where.append("observed_at <= %s")
            params.append(_utc(end))
    else:
        where, params = ["observed_at = %s"], [_utc(interval)]
    expected = {r[0] for r in pg.execute(
        "SELECT observation_id FROM twin.traffic_counts WHERE "  # noqa: S608 - fixed texts
        + " AND ".join(where), params)}
    assert expected
    r = server.get(COUNTS_ITEMS, params={"datetime": interval, "limit": 10000,
                                         "skipGeometry": "true"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["numberMatched"] == len(expected)
    assert {f["id"] for f in doc["features"]} == expected


@pytest.mark.parametrize(("day", "hours"), [(SPRING_FORWARD, 23), (FALL_BACK, 25)])
def test_api_serves_the_real_hours_of_clock_change_days(server: Server, pg: psycopg.Connection,
                                                        day: dt.date, hours: int) -> None:
    stations = [r[0] for r in pg.execute("SELECT station_id FROM twin.traffic_stations")]
    assert stations
    for station in stations:
        doc = server.get(COUNTS_ITEMS, params={"datetime": _local_day(day),
                                               "station_id": station, "limit": 100}).json()
        stamps = [f["properties"]["observed_at"] for f in doc["features"]]
        ids = [f["id"] for f in doc["features"]]
        assert len({_utc(s) for s in stamps}) == len(stamps) == hours == hours_of(day)
        assert len(set(ids)) == len(ids)


def test_stations_serve_their_figures(server: Server, pg: psycopg.Connection) -> None:
    doc = server.get(STATIONS_ITEMS, params={"crs": EPSG_25833}).json()
    names = [f.name for f in TRAFFIC_STATIONS.fields]
    rows = {r[0]: r[1:] for r in pg.execute(
        "SELECT station_id, " + ", ".join(names)  # noqa: S608 - registry names
        + ", ST_X(geom), ST_Y(geom) FROM twin.traffic_stations")}
    assert {f["id"] for f in doc["features"]} == set(rows)
    for f in doc["features"]:
        *values, x, y = rows[f["id"]]
        got = [f["properties"][n] for n in names]
        assert got == [v.isoformat() if isinstance(v, dt.date | dt.time) else v
                       for v in values]
        assert f["properties"]["mean_daily_traffic"] > 0
        assert 0 < f["properties"]["heavy_share"] < 100
        assert f["geometry"]["coordinates"] == pytest.approx([x, y], abs=0.001)


def test_peak_hour_is_served_as_the_start_of_the_hour(server: Server) -> None:
    """BASt hour 17 is 16:00-17:00: the API says 16:00 (a time), from the sample files."""
    by_hour: dict[tuple[str, int], list[int]] = defaultdict(list)
    for h in sample_hours():
        if h.usable:
            by_hour[h.station, h.hour].append(h.kfz)
    expected = {}
    for zst in {z for z, _ in by_hour}:
        peak = max(sorted(h for z, h in by_hour if z == zst),
                   key=lambda h: Fraction(sum(by_hour[zst, h]), len(by_hour[zst, h])))
        expected[zst] = f"{peak - 1:02d}:00:00"  # ISO 8601 local time of day
    doc = server.get(STATIONS_ITEMS).json()
    got = {f["id"]: f["properties"]["peak_hour_start"] for f in doc["features"]}
    assert got == expected and "16:00:00" in got.values()
    assert all("peak_hour" not in f["properties"] and "dtv" not in f["properties"]
               for f in doc["features"])


def test_short_counts_are_labelled_so_in_both_languages(server: Server) -> None:
    doc = server.get(STATIONS_ITEMS).json()
    assert {f["properties"]["count_type"] for f in doc["features"]} == {"short"}
    assert {f["properties"]["dtv_annual"] for f in doc["features"]} == {None}
    # The feature schema a client reads (describedBy) carries both labels.
    schema = server.get("/collections/traffic-stations/schema",
                        params={"f": "json", "profile": "geojson-feature"}).json()
    props = schema["properties"]["properties"]["properties"]
    for name, words in (("mean_daily_traffic", ("Zählzeitraum", "counting period")),
                        ("dtv_annual", ("Kalenderjahr", "calendar year")),
                        ("count_type", ("Kurzzeitzählung", "short-term count")),
                        ("peak_hour_start", ("16:00–17:00", "16:00-17:00"))):
        assert words[0] in props[name]["description"] and words[1] in props[name]["title"]


def _year_of_counts(folder: Path, zst: str, year: int) -> tuple[Path, Path]:
    """A station counted every hour of ``year`` (one hour missing: a gap to fill), in the
    spring file's layout, with its stations file."""
    header, stations = read_table(STATIONS_CSV)
    spring_header, spring = read_table(SPRING)
    row = {**stations[0], "Zst": zst, "Name": f"Dauerzählstelle {zst}",
           "x": str(float(stations[0]["x"]) + 40)}
    station_file = write_table(folder / "zst.csv", header, [row], encoding="utf-8")
    template = spring[0]
    rows = []
    day = dt.date(year, 1, 1)
    while day.year == year:
        for instant in day_instants(day):
            stunde = local_hour(instant)[1]
            if (day.month, day.day, stunde) == (5, 14, 9):
                continue
            base_count = 300 + 40 * day.isoweekday() + 7 * stunde + day.month
            rows.append({**template, "Zst": zst, "Datum": f"{day:%y%m%d}",
                         "Wotag": str(day.isoweekday()), "Stunde": str(stunde),
                         "KFZ_R1": str(base_count), "KFZ_R2": str(base_count // 2),
                         "Lkw_R1": str(base_count // 10), "Lkw_R2": str(base_count // 20)})
        day += dt.timedelta(days=1)
    return station_file, write_table(folder / f"bast_{year}.csv", spring_header, rows)


def test_a_whole_year_gets_bast_s_annual_dtv(base: Settings, tmp_path: Path) -> None:
    before = published(base)
    stations_file, counts = _year_of_counts(tmp_path, "1299", 2023)
    result = run_twin(base, "load", "traffic-counts", str(stations_file), str(counts))
    assert result.returncode == 0, result.stderr
    _, rows = read_table(counts)
    # Independently of the reference: the plain mean of the 365 day totals, the missing hour
    # (14 May, a Sunday, hour 9) filled with the mean of hour 9 on the year's other Sundays.
    totals: dict[dt.date, int] = defaultdict(int)
    sundays_9 = []
    for r in rows:
        day = local_date(r["Datum"])
        totals[day] += int(r["KFZ_R1"]) + int(r["KFZ_R2"])
        if day.isoweekday() == 7 and r["Stunde"] == "9":
            sundays_9.append(int(r["KFZ_R1"]) + int(r["KFZ_R2"]))
    assert len(totals) == 365 and dt.date(2023, 5, 14).isoweekday() == 7
    year = Fraction(sum(totals.values())) + Fraction(sum(sundays_9), len(sundays_9))
    with psycopg.connect(base.dsn) as conn:
        got = conn.execute("SELECT count_type, dtv_annual, days_counted, mean_daily_traffic "
                           "FROM twin.traffic_stations WHERE station_id = '1299'").fetchone()
    expected = reference.figures(published_hours(base))["1299"]
    assert got == ("permanent", int(reference.half_up(year / 365)), 365,
                   expected.mean_daily_traffic)
    check_figures(base)
    result = run_twin(base, "load", "traffic-counts", str(STATIONS_CSV), *map(str, HOURLY),
                      "--mode", "replace")
    assert result.returncode == 0, result.stderr
    assert published(base) == before


def test_flag_filter_and_single_counts(server: Server, pg: psycopg.Connection) -> None:
    for flag in ("gap", "negative", "spike", "quality"):
        expected = {r[0] for r in pg.execute(
            "SELECT observation_id FROM twin.traffic_counts WHERE flag = %s", (flag,))}
        assert expected, flag
        doc = server.get(COUNTS_ITEMS, params={"flag": flag, "limit": 1000}).json()
        assert {f["id"] for f in doc["features"]} == expected
    key = sorted(expected)[0]
    item = server.get(f"{COUNTS_ITEMS}/{key}", params={"f": "json"})
    assert item.status_code == 200 and item.json()["properties"]["flag"] == "quality"


CONTACT_PATHS = [
    f"{STATIONS_ITEMS}?f=json", f"{STATIONS_ITEMS}?f=html", f"{STATIONS_ITEMS}?f=csv",
    f"{STATIONS_ITEMS}?f=jsonld", "/collections/traffic-stations/queryables?f=json",
    f"{STATIONS_ITEMS}?filter=name LIKE '%25'&f=json",
]


def test_contacts_are_reachable_through_no_endpoint(server: Server) -> None:
    _, stations = read_table(STATIONS_CSV)
    paths = CONTACT_PATHS + [f"{STATIONS_ITEMS}/{s['Zst']}?f={f}" for s in stations
                             for f in ("json", "html", "jsonld")]
    for path in paths:
        r = requests.get(server.url + path, timeout=60)
        assert r.status_code == 200, (path, r.text[:300])
        # The page does show stations (so the check below can fail), just not contacts.
        assert any(s["Zst"] in r.text for s in stations) or "queryables" in path, path
        for s in stations:
            for part in s["Ansprechpartner"].replace(",", " ").split():
                if len(part) > 4 and part not in ("Tiefbauamt", "Verkehrsplanung"):
                    assert part not in r.text, (path, part)


def test_owslib_reads_both_collections(server: Server, pg: psycopg.Connection) -> None:
    api = Features(server.url, timeout=60)
    assert {"traffic-stations", "traffic-counts"} <= set(api.feature_collections())
    stations = api.collection_items("traffic-stations", limit=100)
    assert {f["id"] for f in stations["features"]} == {
        r[0] for r in pg.execute("SELECT station_id FROM twin.traffic_stations")}
    counts = api.collection_items("traffic-counts", station_id="1203",
                                  datetime_=_local_day(FALL_BACK), limit=100)
    expected = pg.execute(
        "SELECT count(*) FROM twin.traffic_counts WHERE station_id = '1203' AND "
        "observed_at >= %s AND observed_at < %s",
        (dt.datetime.combine(FALL_BACK, dt.time(), BERLIN),
         dt.datetime.combine(FALL_BACK + dt.timedelta(days=1), dt.time(), BERLIN))).fetchone()[0]
    assert counts["numberMatched"] == len(counts["features"]) == expected == hours_of(FALL_BACK)
    queryables = api.collection_queryables("traffic-counts")["properties"]
    assert set(queryables) - {"geometry"} == set(TRAFFIC_COUNTS.property_names)
