"""The station figures of docs/sources/traffic-counts.md ("Derived station figures"), computed
in plain Python with exact fractions, so that tests can hold PostGIS against them.

Input: one :class:`Hour` per published row (gap rows included), from the sample files or from
the database. Nothing here reads SQL.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction


@dataclass(frozen=True)
class Hour:
    station: str
    day: dt.date  # local (Europe/Berlin) date
    hour: int  # BASt hour 1-24
    kfz: int | None  # both directions
    lkw: int | None
    flag: str | None

    @property
    def usable(self) -> bool:
        return self.flag is None and self.kfz is not None and self.lkw is not None


@dataclass(frozen=True)
class Figures:
    mean_daily_traffic: int | None
    heavy_share: float | None
    dtv_annual: int | None
    count_type: str
    peak_hour_start: dt.time | None
    period_start: dt.date
    period_end: dt.date
    days_counted: int
    hours_counted: int
    hours_flagged: int
    #: weekday (ISO 1-7) -> number of days that enter the mean.
    days_of_mean: dict[int, int]


def half_up(value: Fraction, places: str = "1") -> Decimal:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def _mean(values: list) -> Fraction:
    return Fraction(sum(values)) / len(values)


def day_totals(hours: list[Hour]) -> dict[dt.date, tuple[Fraction, Fraction]]:
    """Day -> (Kfz, Lkw) of the days that enter the mean: every flagged or missing hour filled
    with the mean of the same hour on the other days of the same weekday where it is usable;
    a day needs one usable hour of its own and a value for every hour."""
    slots: dict[tuple[int, int], list[Hour]] = defaultdict(list)
    for h in hours:
        if h.usable:
            slots[h.day.isoweekday(), h.hour].append(h)
    by_day: dict[dt.date, list[Hour]] = defaultdict(list)
    for h in hours:
        by_day[h.day].append(h)
    totals = {}
    for day, rows in by_day.items():
        if not any(h.usable for h in rows):
            continue
        kfz, lkw, whole = Fraction(0), Fraction(0), True
        for h in rows:
            if h.usable:
                kfz, lkw = kfz + h.kfz, lkw + h.lkw
                continue
            donors = slots.get((day.isoweekday(), h.hour))
            if not donors:
                whole = False
                break
            kfz += _mean([d.kfz for d in donors])
            lkw += _mean([d.lkw for d in donors])
        if whole:
            totals[day] = kfz, lkw
    return totals


def station_figures(hours: list[Hour]) -> Figures:
    """The documented figures of one station's published hours."""
    totals = day_totals(hours)
    weekdays: dict[int, list[tuple[Fraction, Fraction]]] = defaultdict(list)
    for day, value in totals.items():
        weekdays[day.isoweekday()].append(value)
    mean, share = None, None
    if len(weekdays) == 7:
        kfz = sum(_mean([v[0] for v in days]) for days in weekdays.values())
        lkw = sum(_mean([v[1] for v in days]) for days in weekdays.values())
        mean = int(half_up(kfz / 7))
        share = float(half_up(100 * lkw / kfz, "0.1"))
    annual = None
    for year in sorted({d.year for d in totals}, reverse=True):
        days = [v[0] for d, v in totals.items() if d.year == year]
        if len(days) == (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days:
            annual = int(half_up(_mean(days)))
            break
    by_hour: dict[int, list[int]] = defaultdict(list)
    for h in hours:
        if h.usable:
            by_hour[h.hour].append(h.kfz)
    peak = min(by_hour, key=lambda k: (-_mean(by_hour[k]), k)) if by_hour else None
    counted = len({h.day for h in hours if h.usable})
    return Figures(
        mean_daily_traffic=mean, heavy_share=share, dtv_annual=annual,
        count_type="permanent" if counted >= 365 else "short",
        peak_hour_start=None if peak is None else dt.time(peak - 1),
        period_start=min(h.day for h in hours), period_end=max(h.day for h in hours),
        days_counted=counted, hours_counted=sum(1 for h in hours if h.flag != "gap"),
        hours_flagged=sum(1 for h in hours if h.flag is not None),
        days_of_mean={w: len(v) for w, v in sorted(weekdays.items())})


def figures(hours: Iterable[Hour]) -> dict[str, Figures]:
    """Station -> its figures."""
    by_station: dict[str, list[Hour]] = defaultdict(list)
    for h in hours:
        by_station[h.station].append(h)
    return {s: station_figures(rows) for s, rows in by_station.items()}


def complete_day_mean(hours: list[Hour]) -> tuple[Fraction, dict[int, int]]:
    """The rule before issue 10: the plain mean over days whose every hour is usable, and the
    number of such days per weekday."""
    by_day: dict[dt.date, list[Hour]] = defaultdict(list)
    for h in hours:
        by_day[h.day].append(h)
    complete = {d: sum(h.kfz for h in rows) for d, rows in by_day.items()
                if all(h.usable for h in rows)}
    per_weekday: dict[int, int] = defaultdict(int)
    for d in complete:
        per_weekday[d.isoweekday()] += 1
    return _mean(list(complete.values())), dict(sorted(per_weekday.items()))
