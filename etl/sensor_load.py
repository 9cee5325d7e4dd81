"""Loads of sensor files: all-or-nothing, in one transaction, recorded in twin.load_run.

The shape of etl/core.py's loads for tables that are not published collections: read and check
everything first (a file with one bad row is refused whole, every bad row named with file, row
and field), then COPY into a temporary table and merge in one transaction. Observations are
merged on the replay key, so loading a file twice stores its rows once.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from etl.core import Counts, LoadReport, _run_record, file_checksum
from etl.sources.base import LoadMode
from etl.sources.sensors import (
    device_rows_json,
    read_devices,
    read_soil_moisture,
    read_water_levels,
)
from twin.alerts import after_load
from twin.db import connect, database_error, hold_run
from twin.errors import RecordError, SourceError, refused
from twin.sensors.checks import Observation, Registry
from twin.settings import Settings, get_settings


def _report(name: str, paths: list[Path]) -> LoadReport:
    for path in paths:
        if not path.exists():
            raise SourceError("file does not exist", path=str(path))
    return LoadReport(0, name, [str(p) for p in paths], file_checksum(paths))


def load_sensor_devices(path: Path, settings: Settings | None = None) -> LoadReport:
    """Replace the device registry with ``path``; refresh the published stations."""
    settings = settings or get_settings()
    path = Path(path)
    report = _report("sensor-devices", [path])
    rows, errors, notes = read_devices(path)
    report.notes.extend(notes)
    try:
        with _run_record(report, LoadMode.REPLACE, settings):
            if errors:
                raise refused(errors, what="device(s)")
            if not rows:
                raise SourceError("the registry lists no device", path=str(path))
            with connect(settings) as conn:
                hold_run(conn, report.run_id)
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('twin.sensor_devices'))")
                conn.execute("CREATE TEMP TABLE devices_stage (device_id text, dev_eui text, "
                             "kind text, name text, tree_id text, species text, "
                             "planting_year integer, fields jsonb, calibration jsonb, "
                             "x double precision, y double precision, srid integer) "
                             "ON COMMIT DROP")
                with conn.cursor() as cur, cur.copy(
                        "COPY devices_stage FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(device_rows_json(row))
                deleted = conn.execute(
                    "DELETE FROM twin.sensor_devices d WHERE NOT EXISTS (SELECT 1 FROM "
                    "devices_stage s WHERE s.device_id = d.device_id)").rowcount
                # A DevEUI moving between devices must not collide with the old holder.
                conn.execute("UPDATE twin.sensor_devices d SET dev_eui = NULL FROM "
                             "devices_stage s WHERE s.dev_eui = d.dev_eui "
                             "AND s.device_id <> d.device_id")
                changed = conn.execute(
                    "INSERT INTO twin.sensor_devices AS d (device_id, dev_eui, kind, name, "
                    "tree_id, species, planting_year, fields, calibration, geom) "
                    "SELECT device_id, dev_eui, kind, name, tree_id, species, planting_year, "
                    "fields, calibration, ST_Transform(ST_SetSRID(ST_MakePoint(x, y), srid), "
                    "25833) FROM devices_stage "
                    "ON CONFLICT (device_id) DO UPDATE SET dev_eui = excluded.dev_eui, "
                    "kind = excluded.kind, name = excluded.name, tree_id = excluded.tree_id, "
                    "species = excluded.species, planting_year = excluded.planting_year, "
                    "fields = excluded.fields, calibration = excluded.calibration, "
                    "geom = excluded.geom, loaded_at = now() "
                    "WHERE (d.dev_eui, d.kind, d.name, d.tree_id, d.species, d.planting_year, "
                    "d.fields, d.calibration, d.geom) IS DISTINCT FROM (excluded.dev_eui, "
                    "excluded.kind, excluded.name, excluded.tree_id, excluded.species, "
                    "excluded.planting_year, excluded.fields, excluded.calibration, "
                    "excluded.geom) RETURNING (xmax = 0)").fetchall()
                outside = conn.execute(
                    "SELECT device_id FROM twin.sensor_devices WHERE NOT ST_Intersects(geom, "
                    "ST_Transform(ST_MakeEnvelope(11.2, 51.3, 14.8, 53.6, 4326), 25833))"
                    ).fetchall()
                if outside:
                    raise refused([RecordError("position lies outside Brandenburg (wrong CRS? "
                                               "x/y are EPSG:25833, lon/lat WGS 84)",
                                               path=str(path), row=d, field="x")
                                   for (d,) in outside], what="device(s)")
                conn.execute("SELECT twin.sensor_refresh_stations(NULL)")
                inserted = sum(1 for (new,) in changed if new)
                report.counts["sensor-devices"] = Counts(
                    read=len(rows), inserted=inserted, updated=len(changed) - inserted,
                    deleted=deleted, unchanged=len(rows) - len(changed))
                report.outcome = "succeeded"
    except psycopg.Error as exc:
        raise database_error(exc) from exc
    # The refresh above set every station's state anew; the thresholds refine it.
    after_load(None, settings)
    return report


def _store(name: str, paths: list[Path], collection: str, settings: Settings,
           read) -> LoadReport:
    report = _report(name, paths)
    try:
        with _run_record(report, LoadMode.UPSERT, settings):
            with connect(settings) as conn:
                hold_run(conn, report.run_id)
                registry = Registry.read(conn)
                observations: list[Observation] = []
                errors: list[RecordError] = []
                for path in paths:
                    obs, errs, notes = read(path, registry)
                    observations += obs
                    errors += errs
                    report.notes.extend(notes)
                if errors:
                    raise refused(errors, what="row(s)")
                if not observations:
                    raise SourceError("no values in the file(s)", path=str(paths[0]))
                first = min(o.observed_at for o in observations)
                last = max(o.observed_at for o in observations)
                conn.execute("SELECT twin.sensor_ensure_partitions(%s, %s)", (first, last))
                conn.execute("CREATE TEMP TABLE obs_stage (LIKE twin.sensor_observations "
                             "INCLUDING DEFAULTS) "
                             "ON COMMIT DROP")
                with conn.cursor() as cur:
                    with cur.copy("COPY obs_stage (device_id, observed_at, f_cnt, "
                                  "soil_moisture, soil_temperature, battery, water_level_cm, "
                                  "extra, source) FROM STDIN") as copy:
                        for o in observations:
                            copy.write_row(o.row())
                    cur.execute(
                        "INSERT INTO twin.sensor_observations (device_id, observed_at, f_cnt, "
                        "soil_moisture, soil_temperature, battery, water_level_cm, extra, "
                        "source) SELECT device_id, observed_at, f_cnt, soil_moisture, "
                        "soil_temperature, battery, water_level_cm, extra, source "
                        "FROM obs_stage ON CONFLICT ON CONSTRAINT sensor_observations_key "
                        "DO NOTHING")
                    inserted = cur.rowcount
                    # The live intake's frame-counter rule starts from the newest stored.
                    cur.execute(
                        "INSERT INTO twin.sensor_device_state AS s (device_id, last_f_cnt, "
                        "last_time) SELECT DISTINCT ON (device_id) device_id, f_cnt, "
                        "observed_at FROM obs_stage WHERE f_cnt IS NOT NULL "
                        "ORDER BY device_id, f_cnt DESC, observed_at DESC "
                        "ON CONFLICT (device_id) DO UPDATE SET last_f_cnt = excluded.last_f_cnt, "
                        "last_time = excluded.last_time "
                        "WHERE s.last_f_cnt IS NULL OR excluded.last_f_cnt > s.last_f_cnt")
                devices = sorted({o.device_id for o in observations})
                conn.execute("SELECT twin.sensor_refresh_stations(%s)", (devices,))
                report.counts[collection] = Counts(read=len(observations), inserted=inserted,
                                                   unchanged=len(observations) - inserted)
                report.outcome = "succeeded" if inserted else "unchanged"
    except psycopg.Error as exc:
        raise database_error(exc) from exc
    after_load(devices, settings)  # crossings in the loaded rows, after they committed
    return report


def load_water_levels(paths: list[Path], device_id: str | None = None,
                      settings: Settings | None = None) -> LoadReport:
    """Gauge portal series (``Datum;Uhrzeit;W [cm]``) of the gauge ``device_id`` (default:
    each file's name without .csv)."""
    settings = settings or get_settings()
    paths = [Path(p) for p in paths]

    def read(path: Path, registry: Registry):
        did = device_id or path.stem
        device = registry.by_id.get(did)
        if device is None or device.kind != "gauge":
            raise SourceError(f"'{did}' is not a registered gauge; name it with --device or "
                              "as the file name (twin load sensor-devices first)",
                              path=str(path))
        return read_water_levels(path, device, f"file:{path.name}")

    return _store("water-levels", paths, "water-gauges", settings, read)


def load_soil_moisture(paths: list[Path], settings: Settings | None = None) -> LoadReport:
    """CSV exports of the LoRaWAN server (tree sensor uplinks)."""
    settings = settings or get_settings()
    paths = [Path(p) for p in paths]
    return _store("soil-moisture", paths, "tree-sensors", settings,
                  lambda path, registry: read_soil_moisture(path, registry,
                                                            f"file:{path.name}"))


def load_sensor_samples(settings: Settings | None = None) -> dict[str, LoadReport]:
    """The sensor samples of data/samples/sensors/: registry, gauge series, tree export."""
    settings = settings or get_settings()
    folder = settings.samples_dir / "sensors"
    registry = folder / "sensor_devices.csv"
    if not registry.exists():
        return {}
    reports = {"sensor-devices": load_sensor_devices(registry, settings)}
    if gauges := sorted(folder.glob("gauge-*.csv")):
        reports["water-levels"] = load_water_levels(gauges, settings=settings)
    if soil := sorted(folder.glob("soil_moisture_*.csv")):
        reports["soil-moisture"] = load_soil_moisture(soil, settings)
    return reports
