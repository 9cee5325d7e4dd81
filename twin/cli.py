"""The `twin` command: the top floor, nothing imports it.

Exit status 0 on success, non-zero on any refusal (see :data:`twin.errors.STATUS_CODES`);
messages go to stderr and name file, row and field.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from twin.errors import LoadRefusedError, SourceError, TwinError, exit_code
from twin.keys_cli import keys_app

# Every library a command needs (psycopg, pydantic's settings, numpy, pygeoapi...) is imported
# inside the command: `twin --help` or a mistyped option should not pay for them all.
if TYPE_CHECKING:
    import psycopg

app = typer.Typer(help="Digital twin of Cottbus/Chóśebuz: load, publish, serve.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema and load history.", no_args_is_help=True)
load_app = typer.Typer(help="Load a source file into its published collection.",
                       no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(load_app, name="load")
app.add_typer(keys_app, name="keys")
ingest_app = typer.Typer(help="Live intake of sensor uplinks.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def _failures() -> tuple[type[Exception], ...]:
    """What a command reports as a refusal (an ``except`` evaluates this only on an error)."""
    import psycopg

    return TwinError, psycopg.Error


def _fail(exc: TwinError | psycopg.Error) -> typer.Exit:
    import psycopg

    if isinstance(exc, psycopg.Error):
        from twin.db import database_error

        exc = database_error(exc)
    # Refusals are masked when made (twin.errors.SourceError); anything else is masked here,
    # so no value a file held reaches the terminal unmasked.
    text = str(exc)
    if not isinstance(exc, SourceError):
        from twin.redact import redact_message

        text = redact_message(text)
    err.print("[bold red]error:[/] ", markup=True, end="")
    err.print(text, markup=False, soft_wrap=True)
    if isinstance(exc, LoadRefusedError) and len(exc.errors) > 1:
        from twin.messages import terminal_lines

        refusals = [{"path": e.path, "row": getattr(e, "row", None),
                     "field": getattr(e, "field", None), "reason": e.reason}
                    for e in exc.errors]
        for line in terminal_lines([], [], refusals, run_id=exc.run_id):
            err.print(f"  {line}", soft_wrap=True, markup=False)
    return typer.Exit(exit_code(exc))


@db_app.command("init")
def db_init() -> None:
    """Create the database if needed and create or migrate the schema (idempotent)."""
    from twin import db

    try:
        if db.ensure_database():
            err.print("created the database")
        applied = db.init_schema()
    except _failures() as exc:
        raise _fail(exc) from exc
    err.print(f"schema ready ({len(applied)} steps, all idempotent)")


@db_app.command("status")
def db_status(runs: Annotated[int, typer.Option(help="How many load runs to show")] = 20,
              run: Annotated[int | None, typer.Option(
                  help="Show load run RUN whole: every note, repair and refusal")] = None
              ) -> None:
    """Published tables, their row counts and the latest load runs (or one run whole)."""
    from twin import db
    from twin.registry import COLLECTIONS

    if run is not None:
        _run_status(run)
        return
    try:
        with db.connect() as conn:
            tables = [db.table_status(conn, c) for c in COLLECTIONS]
            history = db.recent_runs(conn, runs)
    except _failures() as exc:
        raise _fail(exc) from exc
    coll_rows = [
        (s.collection, str(s.rows),
         "missing (run `twin db init`)" if not s.exists else
         "ok" if s.matches_registry else
         f"differs: missing {s.missing_columns}, extra {s.extra_columns}")
        for s in tables]
    run_rows = [
        (str(r["id"]), f"{r['started_at']:%Y-%m-%d %H:%M:%S}", r["source"], r["outcome"],
         *(str(r[k]) for k in ("read_count", "inserted_count", "updated_count", "deleted_count",
                               "unchanged_count", "repairs", "refusals")),
         r["path"], (r["message"] or "").replace("\n", " ")[:300])
        for r in history]
    _table("Collections", ("collection", "rows", "schema"), coll_rows)
    _table("Load runs (newest first)", ("id", "started", "source", "outcome", "read",
                                        "inserted", "updated", "deleted", "unchanged",
                                        "repairs", "refusals", "file", "message"), run_rows)


def _run_status(run_id: int) -> None:
    """`twin db status --run N`: the run's record, with every line a terminal left out."""
    from twin import db
    from twin.errors import UnknownNameError
    from twin.messages import note_line, refusal_line, repair_line

    try:
        with db.connect() as conn:
            record = db.load_run(conn, run_id)
        if record is None:
            raise UnknownNameError(f"no load run {run_id} (see `twin db status`)")
    except _failures() as exc:
        raise _fail(exc) from exc
    finished = f"{record['finished_at']:%Y-%m-%d %H:%M:%S}" if record["finished_at"] else "-"
    # Plain print, never wrapped: a script or a pager reads one message per line.
    print(f"load run {record['id']}: {record['source']} ({record['collection']}), "
          f"{record['outcome']}, mode {record['mode']}, started "
          f"{record['started_at']:%Y-%m-%d %H:%M:%S}, finished {finished}")
    print(f"files: {record['path']}")
    print("read {read_count}, inserted {inserted_count}, updated {updated_count}, deleted "
          "{deleted_count}, unchanged {unchanged_count}".format(**record))
    if record["message"]:
        print(f"message: {record['message']}")
    for title, items, line in (("notes", record["notes"], note_line),
                               ("repairs", record["repairs"], repair_line),
                               ("refusals", record["refusals"], refusal_line)):
        print(f"# {title}: {len(items)}")
        for item in items:
            print(line(item))


def _table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """A table on a terminal; tab-separated lines for scripts when piped."""
    if not sys.stdout.isatty():
        print(f"# {title}")
        for row in (header, *rows):
            print("\t".join(row))
        return
    from rich.table import Table

    t = Table(title=title)
    for col in header:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*row)
    out.print(t)


def _load(source_name: str, paths: list[Path], *, layer: str | None = None,
          crs: str | None = None, allow_empty: bool = False, mode: str | None = None,
          tile: str | None = None) -> None:
    from etl.core import LoadMode, LoadOptions, load
    from etl.sources import SOURCES

    try:
        load_mode = LoadMode(mode) if mode else None
    except ValueError:
        err.print(f"error: unknown mode '{mode}'; valid: "
                  f"{', '.join(m.value for m in LoadMode)}")
        raise typer.Exit(64) from None
    options = LoadOptions(mode=load_mode, layer=layer, crs=crs, allow_empty=allow_empty,
                          progress=sys.stderr.isatty(), tile=tile)
    try:
        report = load(SOURCES[source_name](), paths, options)
    except _failures() as exc:
        raise _fail(exc) from exc
    from twin.messages import terminal_lines

    # A few lines of each kind; the run record keeps them all (`twin db status --run N`).
    for line in terminal_lines(report.notes, report.repairs, [], paths=report.paths,
                               run_id=report.run_id):
        err.print(line, markup=False, soft_wrap=True)
    err.print(report.summary(), markup=False, soft_wrap=True)


PathsArg = Annotated[list[Path], typer.Argument(help="Source file(s), loaded in one "
                                                "transaction")]
LayerOpt = Annotated[str | None, typer.Option(help="Layer to read (default: the first)")]
CrsOpt = Annotated[str | None, typer.Option(
    help="CRS of the file when it declares none or declares it wrongly, e.g. EPSG:25833")]
EmptyOpt = Annotated[bool, typer.Option("--allow-empty", help="Accept files with no records "
                                        "(empties the collection in replace mode)")]
ModeOpt = Annotated[str | None, typer.Option(
    help="replace (files are the whole truth), upsert or append; default per source")]


@load_app.command("parcels")
def load_parcels(paths: Annotated[list[Path], typer.Argument(
                     help="ALKIS Flurstück file(s): GPKG, Shapefile, GeoJSON, GML...")],
                 layer: LayerOpt = None, crs: CrsOpt = None, allow_empty: EmptyOpt = False,
                 mode: ModeOpt = None) -> None:
    """Load ALKIS parcels (Flurstücke) into the collection `parcels`."""
    _load("parcels", paths, layer=layer, crs=crs, allow_empty=allow_empty, mode=mode)


@load_app.command("buildings")
def load_buildings(
    paths: Annotated[list[Path], typer.Argument(
        help="CityJSON 1.0, 1.1 or 2.0 file(s) of LoD2 buildings, one tile each")],
    crs: Annotated[str | None, typer.Option(
        help="CRS of the files when they declare none or declare it wrongly, e.g. EPSG:25833 "
             "or EPSG:25833+7837 (with DHHN2016 heights)")] = None,
    tile: Annotated[str | None, typer.Option(
        help="The tile these files replace (default: each file's name without .city.json)")
    ] = None,
    allow_empty: EmptyOpt = False, mode: ModeOpt = None) -> None:
    """Load LoD2 buildings (CityJSON) into `buildings`, tile by tile: a tile's buildings are
    replaced, the other tiles kept."""
    _load("buildings", paths, crs=crs, allow_empty=allow_empty, mode=mode, tile=tile)


def _simple_load_command(name: str, help_text: str) -> None:
    """`twin load NAME PATH...` for a source whose files need no layer option."""

    def command(paths: PathsArg, crs: CrsOpt = None, allow_empty: EmptyOpt = False,
                mode: ModeOpt = None) -> None:
        _load(name, paths, crs=crs, allow_empty=allow_empty, mode=mode)

    command.__doc__ = help_text
    load_app.command(name)(command)


for _name, _help in (
    ("heritage", "Load the heritage list (CSV/XLSX) and its geometries (GML/GPKG) into "
                 "`heritage`."),
    ("street-damage", "Load Open311 reports (JSON) and the damage register (CSV) into "
                      "`street-damage`."),
    ("traffic-counts", "Load counting stations and BASt hourly counts into `traffic-stations` "
                       "and `traffic-counts`."),
    ("commercial-land", "Load commercial-land site sheets into `commercial-land`."),
):
    _simple_load_command(_name, _help)


@load_app.command("terrain")
def load_terrain(paths: Annotated[list[Path], typer.Argument(
                     help="DGM tiles: GeoTIFF (as the LGB delivers DGM1), or gridded XYZ or "
                          "Esri ASCII grids with --crs")],
                 crs: CrsOpt = None,
                 mode: Annotated[str | None, typer.Option(
                     help="replace (the tiles are the whole terrain, the default) or upsert "
                          "(laid over the published terrain)")] = None) -> None:
    """Mosaic terrain tiles into the coverage `terrain` (one Cloud-Optimised GeoTIFF)."""
    _load("terrain", paths, crs=crs, mode=mode)


@ingest_app.command("mqtt")
def ingest_mqtt(
    url: Annotated[str, typer.Option(
        help="Broker: mqtt://USER:PASSWORD@HOST:PORT (the password may also come from "
             "TWIN_MQTT_PASSWORD)")],
    topic: Annotated[list[str], typer.Option(
        help="Topic filter, repeatable: The Things Stack 'v3/+/devices/+/up', ChirpStack "
             "'application/+/device/+/event/up'")] = ["v3/+/devices/+/up"],  # noqa: B006
    client_id: Annotated[str, typer.Option(
        help="Fixed client id: the broker keeps this session's queue while the intake is "
             "away")] = "twin-intake",
    batch_size: Annotated[int, typer.Option(help="Most messages per COPY batch")] = 5000,
    max_wait: Annotated[float, typer.Option(
        help="Longest a message waits for its batch to fill (seconds)")] = 0.2,
    verbose: Annotated[bool, typer.Option(help="Log every batch")] = False,
) -> None:
    """Store uplinks from an MQTT broker (The Things Stack v3, ChirpStack v4) until stopped
    (SIGTERM, Ctrl-C). A message is acknowledged only once its batch is committed."""
    import logging
    import os

    from twin.sensors.mqtt import run_intake

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("psycopg").setLevel(logging.WARNING)
    if (password := os.environ.get("TWIN_MQTT_PASSWORD")) and "@" not in url:
        from urllib.parse import quote

        scheme, rest = url.split("://", 1)
        url = f"{scheme}://twin:{quote(password, safe='')}@{rest}"
    try:
        run_intake(url, topic, client_id=client_id, batch_size=batch_size, max_wait=max_wait)
    except _failures() as exc:
        raise _fail(exc) from exc


def _sensor_load(run) -> None:
    """Run a sensor file load and print its report like the other loads."""
    from twin.messages import terminal_lines

    try:
        report = run()
    except _failures() as exc:
        raise _fail(exc) from exc
    for line in terminal_lines(report.notes, report.repairs, [], paths=report.paths,
                               run_id=report.run_id):
        err.print(line, markup=False, soft_wrap=True)
    err.print(report.summary(), markup=False, soft_wrap=True)


@load_app.command("sensor-devices")
def load_sensor_devices(path: Annotated[Path, typer.Argument(
        help="Device registry CSV: device_id, dev_eui, kind (tree/gauge), name, tree_id, "
             "species, planting_year, x/y (EPSG:25833) or lon/lat, fields, calibration")]
                        ) -> None:
    """Replace the sensor device registry; feeds `water-gauges` and `tree-sensors`."""
    from etl.sensor_load import load_sensor_devices as run

    _sensor_load(lambda: run(path))


@load_app.command("water-levels")
def load_water_levels(
    paths: PathsArg,
    device: Annotated[str | None, typer.Option(
        help="The gauge's device id (default: each file's name without .csv)")] = None,
) -> None:
    """Load gauge portal series (Datum;Uhrzeit;W [cm], local time) into `water-gauges`."""
    from etl.sensor_load import load_water_levels as run

    _sensor_load(lambda: run(paths, device))


@load_app.command("soil-moisture")
def load_soil_moisture(paths: PathsArg) -> None:
    """Load CSV exports of the LoRaWAN server (tree sensor uplinks) into `tree-sensors`."""
    from etl.sensor_load import load_soil_moisture as run

    _sensor_load(lambda: run(paths))


@app.command("load-samples")
def load_samples() -> None:
    """Load every sample file in data/samples/ into its collection."""
    from etl.samples import sample_files
    from etl.sources import SOURCES
    from twin.settings import get_settings

    samples = get_settings().samples_dir
    for name in SOURCES:
        files = sample_files(name, samples)
        if not files:
            err.print(f"no samples for {name} in {samples / name}")
            continue
        _load(name, files)
    from etl.sensor_load import load_sensor_samples

    _sensor_load(lambda: _last(load_sensor_samples()))


def _last(reports: dict):
    """The last of several load reports (the sensor samples load three files)."""
    for report in list(reports.values())[:-1]:
        err.print(report.summary(), markup=False, soft_wrap=True)
    return list(reports.values())[-1]


@app.command("config")
def config(
    output: Annotated[Path | None, typer.Option(help="Where to write (default: "
                                                "config/pygeoapi.yml)")] = None,
) -> None:
    """Write config/pygeoapi.yml (and the README's dataset table) from the registry."""
    from twin.docs import update_readme
    from twin.pygeoapi_config import write_config
    from twin.settings import PROJECT_ROOT

    try:
        path = write_config(output)
    except _failures() as exc:
        raise _fail(exc) from exc
    err.print(f"wrote {path}")
    readme = PROJECT_ROOT / "README.md"
    if output is None and readme.exists() and update_readme(readme):
        err.print(f"updated the dataset table in {readme}")


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes")] = None,
) -> None:
    """Serve the OGC API with gunicorn (a production server, not a debug server)."""
    from twin.front import run
    from twin.settings import get_settings

    settings = get_settings()
    updates = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items()
               if v is not None}
    settings = settings.model_copy(update=updates)
    try:
        run(settings)
    except _failures() as exc:
        raise _fail(exc) from exc


simulate_app = typer.Typer(help="Simulated data sources for the demo.", no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")


@simulate_app.command("sensors")
def simulate_sensors(
    url: Annotated[str, typer.Option(
        help="Broker as the network server: mqtt://USER:PASSWORD@HOST:PORT (a user that may "
             "write uplinks, 'lns' in the test broker's ACL)")],
    devices: Annotated[Path, typer.Option(
        help="Device registry CSV (columns device_id, kind)")] = Path(
            "data/samples/sensors/sensor_devices.csv"),
    interval: Annotated[float, typer.Option(
        help="Seconds between two uplinks of a device")] = 5.0,
    history_days: Annotated[float, typer.Option(
        help="First send this many past days (their own times)")] = 0.0,
    history_step: Annotated[float, typer.Option(
        help="Seconds between two past uplinks of a device")] = 900.0,
    flood: Annotated[float, typer.Option(
        help="Peak of a flood wave on the gauges, cm above their mean (0: none)")] = 0.0,
    flood_period: Annotated[float, typer.Option(
        help="Seconds from one flood peak to the next")] = 600.0,
    count: Annotated[int | None, typer.Option(
        help="Stop after this many rounds (default: until stopped)")] = None,
) -> None:
    """Publish The Things Stack v3 uplinks of the registry's trees and gauges until stopped."""
    import logging
    import signal
    import threading

    from twin.simulator import run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        sent = run(url, devices, interval_s=interval, history_days=history_days,
                   history_step_s=history_step, flood_peak_cm=flood,
                   flood_period_s=flood_period, count=count, stop=stop)
    except (OSError, ConnectionError) as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True)
        raise typer.Exit(3) from exc
    err.print(f"published {sent} uplinks")


@app.command("demo")
def demo(
    host: Annotated[str | None, typer.Option(help="Address to bind")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind")] = None,
    broker_port: Annotated[int, typer.Option(help="Port of the demo's own broker")] = 1884,
    interval: Annotated[float, typer.Option(
        help="Seconds between two uplinks of a simulated device")] = 5.0,
    flood: Annotated[float, typer.Option(
        help="Peak of a simulated flood wave on the gauges, cm (0: none)")] = 0.0,
) -> None:
    """Serve the API with live sensors: a broker, the intake and the simulator (make demo)."""
    from twin.demo import run
    from twin.settings import get_settings

    settings = get_settings()
    updates = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    try:
        run(settings.model_copy(update=updates), broker_port=broker_port, interval_s=interval,
            flood_cm=flood, say=lambda text: err.print(text, markup=False, soft_wrap=True))
    except _failures() as exc:
        raise _fail(exc) from exc
