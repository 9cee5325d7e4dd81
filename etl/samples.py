"""Loading every sample in data/samples/<source>/ through the real ETL path."""

from __future__ import annotations

from pathlib import Path

from etl.core import LoadOptions, LoadReport, load
from etl.sources import SOURCES
from twin.settings import Settings, get_settings


def sample_files(name: str, samples_dir: Path) -> list[Path]:
    """The sample files of source ``name``, in a stable order."""
    source = SOURCES[name]
    folder = samples_dir / name
    return sorted({p for pattern in source.sample_globs for p in folder.glob(pattern)
                   if p.is_file() and not p.name.startswith(".")})


def load_samples(settings: Settings | None = None, *,
                 progress: bool = False) -> dict[str, LoadReport]:
    """Load every source's samples, one load (one transaction) per source."""
    settings = settings or get_settings()
    reports = {}
    for name, source in SOURCES.items():
        files = sample_files(name, settings.samples_dir)
        if files:
            reports[name] = load(source(), files, LoadOptions(progress=progress), settings)
    # Sensors (issue 12) are private tables plus registry-fed stations, loaded by their own.
    from etl.sensor_load import load_sensor_samples

    reports.update(load_sensor_samples(settings))
    return reports
