"""The ETL core: read in batches, check, COPY into staging, merge atomically, record the run.

A load is all-or-nothing. Everything happens in one transaction on the published table: a
refused or failed load rolls back and readers keep seeing the previous data. The merge only
touches rows that differ, so loading the same file twice changes nothing.
"""

from __future__ import annotations

import enum
import hashlib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
import shapely
from psycopg import sql
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from etl import geometry
from etl.fields import ConversionError, convert
from etl.read import Batch, inspect_vector, read_vector
from etl.sources.base import VectorSource
from twin.db import connect
from twin.errors import LoadRefusedError, RecordError, SourceError, TwinError
from twin.registry import Collection
from twin.settings import Settings, get_settings

#: Refusals kept in the run record and printed; the count is always complete.
MAX_REPORTED = 200


class LoadMode(enum.StrEnum):
    """How a load meets the published table."""

    #: The file is the whole truth: new rows inserted, changed rows updated, missing deleted.
    REPLACE = "replace"
    #: Insert and update, never delete.
    UPSERT = "upsert"
    #: Insert only; a key already published refuses the load.
    APPEND = "append"


@dataclass(frozen=True)
class LoadOptions:
    """Options of one load, as `twin load` takes them."""

    mode: LoadMode = LoadMode.REPLACE
    layer: str | None = None
    crs: str | None = None
    allow_empty: bool = False
    progress: bool = True


@dataclass
class LoadReport:
    """What a load did; also what `twin db status` shows of it."""

    run_id: int
    source: str
    collection: str
    path: str
    checksum: str
    outcome: str = "running"
    read: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    repairs: list[dict] = field(default_factory=list)
    refusals: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.collection}: {self.outcome} - read {self.read}, inserted {self.inserted}, "
            f"updated {self.updated}, deleted {self.deleted}, unchanged {self.unchanged}, "
            f"repaired {len(self.repairs)}"
        )


def file_checksum(path: Path) -> str:
    """SHA-256 over the file and, for a shapefile, its sidecars."""
    digest = hashlib.sha256()
    members = [path]
    if path.suffix.lower() == ".shp":
        members += sorted(p for p in path.parent.glob(path.stem + ".*") if p != path)
    for member in members:
        if member.is_file():
            digest.update(member.name.encode())
            with member.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def load_file(source: VectorSource, path: Path, options: LoadOptions | None = None,
              settings: Settings | None = None) -> LoadReport:
    """Load one file of ``source`` into its published collection, atomically.

    Raises
    ------
    SourceError
        The file is unreadable, truncated, empty or lacks a required field.
    LoadRefusedError
        Records were refused (listed in ``errors``); nothing was changed.
    """
    options = options or LoadOptions()
    settings = settings or get_settings()
    path = Path(path)
    report = LoadReport(0, source.name, source.collection.id, str(path),
                        file_checksum(path) if path.exists() else "")
    with _run_record(report, options, settings):
        info = inspect_vector(path, options.layer)
        if info.feature_count == 0 and not options.allow_empty:
            raise SourceError("the file holds no features; use --allow-empty to publish an "
                              "empty collection", path=str(path))
        missing = [c for c in source.required if c not in {f.lower() for f in info.fields}]
        # An empty GeoJSON has no fields at all: nothing is missing from no features.
        if missing and info.feature_count != 0:
            raise SourceError(
                f"required field '{missing[0]}' is missing; the file has: "
                f"{', '.join(info.fields) or 'no fields'}", path=str(path))
        crs = geometry.resolve_crs(str(path), info.crs, options.crs)
        ignored = sorted({f.lower() for f in info.fields} - _fed_columns(source, info.fields))
        if ignored:
            # Names only: the values of unknown columns (owner data, say) go nowhere.
            report.notes.append(f"columns not published and dropped: {', '.join(ignored)}")
        with connect(settings) as conn:
            _merge_file(conn, source, path, info, crs, options, settings, report)
    return report


def _fed_columns(source: VectorSource, fields: tuple[str, ...]) -> set[str]:
    available = {f.lower() for f in fields}
    fed = {source.source_column(f.name, available) for f in source.collection.all_fields}
    return {c for c in fed if c}


def _merge_file(conn: psycopg.Connection, source: VectorSource, path: Path, info, crs: str,
                options: LoadOptions, settings: Settings, report: LoadReport) -> None:
    coll = source.collection
    target = sql.Identifier(coll.schema, coll.table)
    # Concurrent loads of one table queue up here; readers are not blocked.
    conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(target))
    conn.execute(sql.SQL(
        "CREATE TEMP TABLE stage (LIKE {} INCLUDING DEFAULTS, _row integer) ON COMMIT DROP"
    ).format(target))

    errors: list[RecordError] = []
    columns = [*coll.property_names, coll.geometry_column, "_row"]
    copy_sql = sql.SQL("COPY stage ({}) FROM STDIN").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)))
    zone_checked = False
    with _progress(options.progress, info.feature_count, f"{coll.id} ← {path.name}") as advance, \
            conn.cursor().copy(copy_sql) as copy:
        for batch in read_vector(path, info, batch_size=settings.batch_size):
            if not zone_checked:
                zone_checked = True
                if geometry.transformer_to_storage(crs) is None and \
                        geometry.has_zone_prefix(batch.geometries):
                    crs = f"EPSG:{geometry.ZONE_PREFIXED_SRID}"
                    report.notes.append(
                        "eastings carry the UTM zone prefix '33' (e.g. 33454002 for 454002); "
                        f"read as {crs} (ETRS89 / UTM 33N zE-N) and corrected to EPSG:25833")
            rows, geoms, batch_errors = _prepare(source, batch, crs, str(path), report)
            errors.extend(batch_errors)
            report.read += len(batch)
            if not errors:
                for values, geom in zip(rows, geoms, strict=True):
                    copy.write_row([*values[:-1], geom, values[-1]])
            advance(len(batch))

    if errors:
        raise LoadRefusedError(
            f"{len(errors)} feature(s) refused; nothing was changed. First: {errors[0].location}",
            path=str(path), errors=errors)
    if report.read == 0 and not options.allow_empty:
        raise SourceError("the file holds no features; use --allow-empty to publish an empty "
                          "collection", path=str(path))
    _check_duplicates(conn, coll, str(path))
    counts = _merge(conn, coll, options.mode, str(path))
    report.inserted, report.updated, report.deleted, report.unchanged = counts
    report.outcome = "succeeded" if any(counts[:3]) else "unchanged"


def _prepare(source: VectorSource, batch: Batch, crs: str, path: str, report: LoadReport):
    """Rows ready for COPY (values in table order, `_row` last), their EWKB, and errors."""
    coll = source.collection
    available = set(batch.columns)
    key_name = coll.id_field.name
    key_col = source.source_column(key_name, available)
    raw_keys = batch.columns[key_col] if key_col else [None] * len(batch)
    keys = [None if k is None else str(k).strip() or None for k in raw_keys]
    errors: list[RecordError] = []

    values_by_field = []
    for f in coll.all_fields:
        col = source.source_column(f.name, available)
        raw = batch.columns[col] if col else [None] * len(batch)
        converted = []
        for i, value in enumerate(raw):
            try:
                converted.append(convert(value, f.type))
            except ConversionError as exc:
                errors.append(RecordError(str(exc), path=path,
                                          row=_where(batch.rows[i], keys[i]), field=f.name))
                converted.append(None)
            else:
                if converted[-1] is None and not f.nullable:
                    errors.append(RecordError("value is missing", path=path,
                                              row=int(batch.rows[i]), field=f.name))
        values_by_field.append(converted)

    for i, key in enumerate(keys):
        if key is not None and (problem := source.key_problem(key)):
            errors.append(RecordError(problem, path=path, row=int(batch.rows[i]),
                                      field=key_name))

    geoms = geometry.to_storage(batch.geometries, crs)
    geoms, repairs, geom_errors = geometry.check_polygons(geoms, batch.rows, keys, path=path)
    errors.extend(geom_errors)
    errors.extend(geometry.check_in_brandenburg(geoms, batch.rows, keys, path=path))
    report.repairs.extend(r.as_dict() for r in repairs)

    present = ~shapely.is_missing(geoms)
    ewkb = np.full(len(geoms), None, dtype=object)
    ewkb[present] = shapely.to_wkb(shapely.set_srid(geoms[present], coll.srid), hex=True,
                                   include_srid=True)
    rows = [[*vals, int(r)] for *vals, r in zip(*values_by_field, batch.rows, strict=True)]
    return rows, ewkb, errors


def _check_duplicates(conn: psycopg.Connection, coll: Collection, path: str) -> None:
    key = sql.Identifier(coll.id_field.name)
    dups = conn.execute(sql.SQL(
        "SELECT {key}, array_agg(_row ORDER BY _row) FROM stage GROUP BY {key} "
        "HAVING count(*) > 1 ORDER BY min(_row) LIMIT %s").format(key=key),
        (MAX_REPORTED,)).fetchall()
    if dups:
        errors = [RecordError(f"duplicate key '{k}' (also in rows "
                              f"{', '.join(map(str, rows[1:]))})",
                              path=path, row=rows[0], field=coll.id_field.name)
                  for k, rows in dups]
        raise LoadRefusedError(
            f"{len(dups)} duplicate key(s) in field '{coll.id_field.name}'; nothing was changed. "
            f"First: {errors[0].location}", path=path, errors=errors)


def _merge(conn: psycopg.Connection, coll: Collection, mode: LoadMode,
           path: str) -> tuple[int, int, int, int]:
    """Merge stage into the published table; returns inserted, updated, deleted, unchanged."""
    target = sql.Identifier(coll.schema, coll.table)
    key = sql.Identifier(coll.id_field.name)
    cols = [*coll.property_names, coll.geometry_column]
    col_list = sql.SQL(", ").join(map(sql.Identifier, cols))
    non_key = [c for c in cols if c != coll.id_field.name]
    geom = coll.geometry_column

    def row_of(alias: str) -> sql.Composable:
        # Geometries compared by their exact bytes: '=' on geometry has meant other things.
        parts = [sql.SQL("ST_AsEWKB({}.{})").format(sql.Identifier(alias), sql.Identifier(c))
                 if c == geom else sql.SQL("{}.{}").format(sql.Identifier(alias),
                                                            sql.Identifier(c))
                 for c in non_key]
        return sql.SQL("ROW({})").format(sql.SQL(", ").join(parts))

    total = conn.execute("SELECT count(*) FROM stage").fetchone()[0]
    if mode is LoadMode.APPEND:
        clash = conn.execute(sql.SQL(
            "SELECT s.{key}, s._row FROM stage s JOIN {t} USING ({key}) ORDER BY s._row LIMIT 1"
        ).format(key=key, t=target)).fetchone()
        if clash:
            raise LoadRefusedError(
                f"key '{clash[0]}' is already published and mode is append; nothing was changed",
                path=path, errors=[RecordError("already published", path=path, row=clash[1],
                                               field=coll.id_field.name)])
    deleted = 0
    if mode is LoadMode.REPLACE:
        deleted = conn.execute(sql.SQL(
            "DELETE FROM {t} t WHERE NOT EXISTS (SELECT 1 FROM stage s WHERE s.{key} = t.{key})"
        ).format(t=target, key=key)).rowcount
    updated = conn.execute(sql.SQL(
        "UPDATE {t} t SET ({cols}) = (SELECT {scols}) FROM stage s "
        "WHERE s.{key} = t.{key} AND {trow} IS DISTINCT FROM {srow}"
    ).format(
        t=target, key=key,
        cols=sql.SQL(", ").join(map(sql.Identifier, non_key)),
        scols=sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(c)) for c in non_key),
        trow=row_of("t"), srow=row_of("s"),
    )).rowcount
    inserted = conn.execute(sql.SQL(
        "INSERT INTO {t} ({cols}) SELECT {cols} FROM stage s "
        "WHERE NOT EXISTS (SELECT 1 FROM {t} t WHERE t.{key} = s.{key})"
    ).format(t=target, cols=col_list, key=key)).rowcount
    return inserted, updated, deleted, total - inserted - updated


@contextmanager
def _run_record(report: LoadReport, options: LoadOptions, settings: Settings) -> Iterator[None]:
    """Record the run in twin.load_run on its own connection, so refusals are kept too."""
    with connect(settings, autocommit=True) as conn:
        report.run_id = conn.execute(
            "INSERT INTO twin.load_run (source, collection, path, checksum, mode) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (report.source, report.collection, report.path, report.checksum,
             options.mode.value)).fetchone()[0]
        message = None
        try:
            yield
        except LoadRefusedError as exc:
            report.outcome = "refused"
            report.refusals = [_refusal(e) for e in exc.errors[:MAX_REPORTED]]
            message = str(exc)
            raise
        except SourceError as exc:
            report.outcome = "refused"
            report.refusals = [_refusal(exc)]
            message = str(exc)
            raise
        except (TwinError, psycopg.Error, OSError) as exc:
            report.outcome = "failed"
            message = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            conn.execute(
                "UPDATE twin.load_run SET finished_at = now(), outcome = %s, read_count = %s, "
                "inserted_count = %s, updated_count = %s, deleted_count = %s, "
                "unchanged_count = %s, repairs = %s, refusals = %s, notes = %s, message = %s "
                "WHERE id = %s",
                (report.outcome if report.outcome != "running" else "failed", report.read,
                 report.inserted, report.updated, report.deleted, report.unchanged,
                 json.dumps(report.repairs), json.dumps(report.refusals),
                 json.dumps(report.notes), message, report.run_id))


def _refusal(error: SourceError) -> dict:
    return {"row": getattr(error, "row", None), "field": getattr(error, "field", None),
            "reason": error.reason}


def _where(row, key) -> str:
    return f"{int(row)} ({key})" if key else str(int(row))


@contextmanager
def _progress(enabled: bool, total: int, label: str):
    """A progress bar on stderr; yields a function that advances it."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=Console(file=sys.stderr), transient=False)
    with progress:
        task = progress.add_task(label, total=total if total >= 0 else None)
        yield lambda n: progress.advance(task, n)
