"""The quick paths of the ETL (issue 11) say what the full checks say, on any input.

A load of a million records takes each value through a quick test first (a regular expression,
a comprehension over the usual types) and through the full check only when the quick test is
not sure; these properties hold the two together, so a refusal's message never depends on
which path a value took.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl import parcel_key
from etl.cells import digits
from etl.core import _converted
from etl.fields import CONVERTERS, ConversionError, convert
from etl.sources.parcels import _digits
from twin.registry import FieldType

#: Keys near the valid ones: AdV's characters, fills, zeros, a blank or a letter here and there.
_KEY_CHARS = st.sampled_from("0123456789_12 a\u00a0٣")
keys = st.one_of(
    st.text(_KEY_CHARS, min_size=18, max_size=22),
    st.builds(lambda land, g, f, z, n, fo: f"{land}{g}{f}{z}{n}{fo}",
              st.sampled_from(["12", "11", "00", "99"]),
              st.sampled_from(["0000", "0001", "4567"]),
              st.sampled_from(["000", "___", "001", "12_"]),
              st.sampled_from(["00000", "00425", "12345"]),
              st.sampled_from(["0000", "____", "0001", "0010"]),
              st.sampled_from(["00", "__", "01"])))
values = st.one_of(st.none(), st.integers(-3, 20_000), st.floats(allow_nan=True),
                   st.text("0123456789 _a", max_size=6), st.booleans())


@settings(max_examples=600, deadline=None)
@given(key=keys, land=st.sampled_from(["12", "11", "00"]), gemaschl=values, flur=values,
       zaehler=values, nenner=values)
def test_quick_key_tests_agree_with_the_full_ones(key, land, gemaschl, flur, zaehler, nenner):
    full = parcel_key.problem(key, land)
    if parcel_key.sound(key, land, gemaschl, flur, zaehler, nenner):
        assert full is None
        assert parcel_key.disagreements(key, gemaschl=gemaschl, flur=flur, zaehler=zaehler,
                                        nenner=nenner) == []
    if full is None:
        quick = parcel_key.disagreements(key, gemaschl=gemaschl, flur=flur, zaehler=zaehler,
                                         nenner=nenner)
        found: list[tuple[str, str]] = []
        # disagreements() without its quick test: the same findings.
        parcel_key._agree, saved = (lambda *a: False), parcel_key._agree
        try:
            found = parcel_key.disagreements(key, gemaschl=gemaschl, flur=flur,
                                             zaehler=zaehler, nenner=nenner)
        finally:
            parcel_key._agree = saved
        assert quick == found


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(values, st.dates(), st.datetimes(), st.floats()), max_size=8),
       st.sampled_from([t for t in FieldType if t in CONVERTERS]))
def test_quick_conversion_agrees_with_convert(raw, ftype):
    try:
        expected = [convert(v, ftype) for v in raw]
    except ConversionError:
        # Refused values are named one by one: the quick path leaves them to the caller.
        assert _converted(raw, ftype) is None
        return
    except (TypeError, ValueError) as exc:  # a value of no type a reader gives (a date as a
        with pytest.raises(type(exc)):      # number): as it was, an error either way
            _converted(raw, ftype)
        return
    quick = _converted(raw, ftype)
    if quick is None:
        return  # the caller converts value by value
    assert len(quick) == len(expected)
    for q, e in zip(quick, expected, strict=True):
        assert type(q) is type(e) and (q == e or (isinstance(q, float) and math.isnan(q)
                                                 and math.isnan(e)))


@given(values, st.sampled_from([2, 4, 6, 8]))
def test_quick_digits_agree(value, width):
    assert _digits(value, width) == digits(value, width)


def test_dates_pass_as_they_are():
    assert _converted([dt.date(2024, 1, 2), None], FieldType.DATE) == [dt.date(2024, 1, 2), None]
