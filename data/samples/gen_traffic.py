"""Synthetic traffic counts of four Cottbus counting stations, in the files the city receives.

Writes into ``traffic-counts/``:

- ``zaehlstellen_cottbus.csv``: the stations list (Windows-1252, semicolons, as Excel saves
  it), positions in EPSG:25833 on the street parcels of the parcel sample, and a contact
  column that must never be published.
- ``bast_stundenwerte_2024-03.csv``: hourly counts 2024-03-25..2024-04-07 (clocks go forward
  on 2024-03-31) in the BASt layout: counts first, then the quality flags ``K_*``.
- ``bast_stundenwerte_2024-10.csv``: hourly counts 2024-10-21..2024-11-03 (clocks go back on
  2024-10-27) in a later layout: other column order, each flag beside its value, fewer
  vehicle classes and a column BASt does not have.

The daily curves are made up but typical: morning and afternoon peaks on working days,
lower and later traffic at weekends, on public holidays (Good Friday, Easter Monday,
Reformation Day) and in the school holidays. The faults a load must flag are planted where
the tests look for them: missing hours, a negative count, a spike, quality flags, a blank
count, a row for the hour that does not exist and the repeated hour once and twice.
Deterministic: a fixed seed, fixed order, ``\\n`` line ends.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

SEED = 20240331
FOLDER = "traffic-counts"

#: Zst, name, road, direction 1, direction 2, E, N (EPSG:25833), TKNR, Strklas, Strnum,
#: traffic of a working day outside the holidays, Lkw share, bus share, morning-peak weight.
STATIONS = (
    ("1201", "Bahnhofstraße (Höhe Stadtring)", "Bahnhofstraße", "Hauptbahnhof",
     "Berliner Platz", 453453.5, 5734138.8, "4252", "G", "0", 19500, 0.07, 0.016, 1.0),
    ("1202", "Dresdener Straße (Madlow)", "Dresdener Straße", "Madlow", "Stadtmitte",
     453969.1, 5732938.3, "4252", "G", "0", 14000, 0.09, 0.008, 1.0),
    ("1203", "Sielower Landstraße (Schmellwitz)", "Sielower Landstraße", "Sielow",
     "Stadtmitte", 452581.2, 5736183.2, "4252", "G", "0", 10200, 0.065, 0.006, 1.25),
    ("1204", "Stadtring Nord (B 168)", "B 168", "Sandow", "Ströbitz", 454320.4, 5735514.2,
     "4252", "B", "168", 25500, 0.13, 0.004, 1.0),
)
CONTACTS = ("Tiefbauamt, Frau K. Nowak, 0355 612-4417", "Tiefbauamt, Herr J. Richter, "
            "0355 612-4420", "Verkehrsplanung, Frau A. Lehmann, 0355 612-4431",
            "Verkehrsplanung, Herr T. Schulze, 0355 612-4433")

#: Share of a working day's traffic per BASt hour 1..24.
WORKDAY = (0.8, 0.5, 0.4, 0.4, 0.8, 2.5, 5.5, 8.0, 6.8, 5.6, 5.4, 5.7,
           6.0, 6.2, 6.8, 7.8, 8.2, 7.6, 5.8, 4.2, 3.0, 2.4, 1.7, 1.2)
SATURDAY = (1.2, 0.8, 0.6, 0.5, 0.6, 1.2, 2.4, 4.0, 5.6, 6.8, 7.6, 7.8,
            7.6, 7.2, 6.8, 6.4, 6.2, 5.8, 5.0, 4.2, 3.4, 2.8, 2.0, 1.6)
SUNDAY = (1.6, 1.0, 0.7, 0.5, 0.5, 0.8, 1.4, 2.4, 4.0, 5.8, 7.2, 7.8,
          7.8, 7.6, 7.6, 7.6, 7.4, 6.8, 5.6, 4.2, 3.2, 2.6, 1.9, 1.4)
HOLIDAYS = {dt.date(2024, 3, 29), dt.date(2024, 3, 31), dt.date(2024, 4, 1),
            dt.date(2024, 10, 31)}
#: Brandenburg school holidays 2024 (Osterferien, Herbstferien).
SCHOOL_HOLIDAYS = ((dt.date(2024, 3, 25), dt.date(2024, 4, 5)),
                   (dt.date(2024, 10, 21), dt.date(2024, 11, 2)))
SPRING = (dt.date(2024, 3, 25), dt.date(2024, 4, 7))
AUTUMN = (dt.date(2024, 10, 21), dt.date(2024, 11, 3))
SPRING_FORWARD, FALL_BACK = dt.date(2024, 3, 31), dt.date(2024, 10, 27)

SPRING_COLUMNS = (
    "TKNR;Zst;Land;Strklas;Strnum;Datum;Wotag;Fahrtzw;Stunde;KFZ_R1;KFZ_R2;Lkw_R1;Lkw_R2;"
    "PLZ_R1;Pkw_R1;Lfw_R1;Mot_R1;PmA_R1;Bus_R1;LoA_R1;Lzg_R1;Sat_R1;Son_R1;"
    "PLZ_R2;Pkw_R2;Lfw_R2;Mot_R2;PmA_R2;Bus_R2;LoA_R2;Lzg_R2;Sat_R2;Son_R2;"
    "K_KFZ_R1;K_KFZ_R2;K_Lkw_R1;K_Lkw_R2;K_Pkw_R1;K_Pkw_R2;K_Bus_R1;K_Bus_R2"
).split(";")
AUTUMN_COLUMNS = (
    "Zst;TKNR;Land;Strklas;Strnum;Datum;Stunde;Wotag;Fahrtzw;"
    "KFZ_R1;K_KFZ_R1;KFZ_R2;K_KFZ_R2;Lkw_R1;K_Lkw_R1;Lkw_R2;K_Lkw_R2;"
    "Pkw_R1;Pkw_R2;Lfw_R1;Lfw_R2;Mot_R1;Mot_R2;Bus_R1;Bus_R2;Sat_R1;Sat_R2;Erfassungsgeraet"
).split(";")

#: Faults planted in the samples: (Zst, date, hour) -> what happens to that row.
MISSING = {("1204", dt.date(2024, 4, 3), h) for h in (10, 11, 12)} | {
    ("1202", dt.date(2024, 10, 29), 14)}
NEGATIVE = {("1203", dt.date(2024, 3, 27), 9): "KFZ_R2"}
SPIKE = {("1201", dt.date(2024, 10, 24), 18): ("KFZ_R1", 9850)}
QUALITY = {("1202", dt.date(2024, 3, 26), h): ("K_KFZ_R1", "a") for h in (2, 3, 4, 5)} | {
    ("1201", dt.date(2024, 4, 5), 14): ("K_Lkw_R2", "s")} | {
    ("1204", dt.date(2024, 10, 30), h): ("K_KFZ_R2", "d") for h in (7, 8)}
BLANK = {("1204", dt.date(2024, 11, 2), 23): "Lkw_R1"}
#: Station that writes a row (zero counts) for the hour that does not exist in spring.
LISTS_SKIPPED_HOUR = "1201"
#: Station that lists the repeated hour of the autumn night only once.
REPEATS_ONCE = "1203"


def write(out_dir: Path) -> None:
    folder = out_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    _write_stations(folder / "zaehlstellen_cottbus.csv")
    rng = random.Random(SEED)
    _write_counts(folder / "bast_stundenwerte_2024-03.csv", SPRING, SPRING_COLUMNS, rng)
    _write_counts(folder / "bast_stundenwerte_2024-10.csv", AUTUMN, AUTUMN_COLUMNS, rng)


def _write_stations(path: Path) -> None:
    lines = ["Zst;Name;Strasse;Richtung_1;Richtung_2;x;y;Ansprechpartner"]
    for (zst, name, road, r1, r2, x, y, *_), contact in zip(STATIONS, CONTACTS, strict=True):
        lines.append(f"{zst};{name};{road};{r1};{r2};{x:.1f};{y:.1f};{contact}")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))


def _hours(zst: str, day: dt.date) -> list[int]:
    """BASt hours as the station's logger writes them for ``day``."""
    hours = list(range(1, 25))
    if day == SPRING_FORWARD and zst != LISTS_SKIPPED_HOUR:
        hours.remove(3)
    if day == FALL_BACK and zst != REPEATS_ONCE:
        hours.insert(3, 3)
    return [h for h in hours if (zst, day, h) not in MISSING]


def _write_counts(path: Path, period: tuple[dt.date, dt.date], columns: list[str],
                  rng: random.Random) -> None:
    lines = [";".join(columns)]
    for zst, _, _, _, _, _, _, tknr, strklas, strnum, dtv, lkw, bus, morning in STATIONS:
        day = period[0]
        while day <= period[1]:
            for stunde in _hours(zst, day):
                values = _row(rng, day, stunde, dtv, lkw, bus, morning)
                values.update({"TKNR": tknr, "Zst": zst, "Land": "12", "Strklas": strklas,
                               "Strnum": strnum, "Datum": f"{day:%y%m%d}",
                               "Wotag": str(day.isoweekday()), "Fahrtzw": _fahrtzweck(day),
                               "Stunde": str(stunde), "Erfassungsgeraet": "Induktionsschleife"})
                _plant_faults(values, (zst, day, stunde))
                lines.append(";".join(values.get(c, "") for c in columns))
            day += dt.timedelta(days=1)
    path.write_bytes(("\n".join(lines) + "\n").encode("ascii"))


def _fahrtzweck(day: dt.date) -> str:
    """BASt day type: w working day, u working day in the school holidays, s Sunday/holiday."""
    if day.isoweekday() == 7 or day in HOLIDAYS:
        return "s"
    return "u" if any(a <= day <= b for a, b in SCHOOL_HOLIDAYS) else "w"


def _row(rng: random.Random, day: dt.date, stunde: int, dtv: int, lkw_share: float,
         bus_share: float, morning: float) -> dict[str, str]:
    if day == SPRING_FORWARD and stunde == 3:
        # The logger's row for the hour that never was: zero counts.
        return {c: "0" for c in SPRING_COLUMNS[9:33]} | {c: "-" for c in SPRING_COLUMNS[33:]}
    weekday = day.isoweekday()
    kind = _fahrtzweck(day)
    profile = SUNDAY if kind == "s" else SATURDAY if weekday == 6 else WORKDAY
    factor = {"s": 0.52, "u": 0.93, "w": 1.0}[kind] * (0.74 if weekday == 6 else 1.0) * (
        1.04 if weekday == 5 else 1.0)
    # Commuter roads into town peak in the morning rather than the afternoon.
    weight = morning if kind != "s" and weekday < 6 and 7 <= stunde <= 9 else 1.0
    total = dtv * factor * weight * profile[stunde - 1] / sum(profile)
    # Into town in the morning, out of town in the afternoon.
    inbound = 0.62 if 6 <= stunde <= 10 else 0.40 if 15 <= stunde <= 19 else 0.5
    lkw = lkw_share * (0.35 if kind == "s" else 0.6 if weekday == 6 else 1.0) * (
        1.3 if 5 <= stunde <= 7 else 0.7 if stunde >= 21 or stunde <= 4 else 1.0)
    out: dict[str, str] = {}
    for r, share in (("R1", 1 - inbound), ("R2", inbound)):
        kfz = max(0, round(total * share * rng.gauss(1.0, 0.07)))
        n_lkw = min(kfz, round(kfz * lkw * rng.gauss(1.0, 0.15)))
        n_bus = min(n_lkw, round(kfz * bus_share * (0.5 if kind == "s" else 1.0)))
        heavy = n_lkw - n_bus
        sat = round(heavy * 0.35)
        lzg = round(heavy * 0.15)
        loa = heavy - sat - lzg
        son = round(kfz * 0.002 * rng.random())
        plz = kfz - n_lkw - son
        lfw = round(plz * 0.09)
        mot = round(plz * 0.02)
        pma = round(plz * 0.015)
        pkw = plz - lfw - mot - pma
        out |= {f"KFZ_{r}": kfz, f"Lkw_{r}": n_lkw, f"PLZ_{r}": plz, f"Pkw_{r}": pkw,
                f"Lfw_{r}": lfw, f"Mot_{r}": mot, f"PmA_{r}": pma, f"Bus_{r}": n_bus,
                f"LoA_{r}": loa, f"Lzg_{r}": lzg, f"Sat_{r}": sat, f"Son_{r}": son}
    values = {k: str(v) for k, v in out.items()}
    for key in ("KFZ", "Lkw", "Pkw", "Bus"):
        for r in ("R1", "R2"):
            values[f"K_{key}_{r}"] = "-"
    return values


def _plant_faults(values: dict[str, str], where: tuple[str, dt.date, int]) -> None:
    if where in NEGATIVE:
        values[NEGATIVE[where]] = "-1"
    if where in SPIKE:
        column, value = SPIKE[where]
        values[column] = str(value)
    if where in QUALITY:
        column, flag = QUALITY[where]
        values[column] = flag
    if where in BLANK:
        values[BLANK[where]] = ""
