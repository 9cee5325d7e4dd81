"""Behaviour of the ETL core that no single source owns."""

from __future__ import annotations

import psycopg

from etl.core import LoadOptions, load
from etl.samples import sample_files
from etl.sources import SOURCES
from twin.settings import PROJECT_ROOT, Settings

SAMPLES = PROJECT_ROOT / "data" / "samples"


def test_a_load_that_only_repairs_derived_values_says_so(loaded_settings: Settings) -> None:
    with psycopg.connect(loaded_settings.dsn, autocommit=True) as conn:
        stale = conn.execute("UPDATE twin.heritage SET flurstuecke = NULL "
                             "WHERE flurstueck_anzahl > 0").rowcount
    assert stale > 0
    report = load(SOURCES["heritage"](), sample_files("heritage", SAMPLES),
                  LoadOptions(progress=False), loaded_settings)
    assert report.total("updated") == report.total("inserted") == 0
    assert report.outcome == "succeeded" and report.derived == stale
    again = load(SOURCES["heritage"](), sample_files("heritage", SAMPLES),
                 LoadOptions(progress=False), loaded_settings)
    assert (again.outcome, again.derived) == ("unchanged", 0)
