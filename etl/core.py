"""The ETL core: read in batches, check, COPY into staging, merge atomically, record the run.

A load is all-or-nothing. Everything happens in one transaction: a refused or failed load rolls
back and readers keep seeing the previous data. The merge only touches rows that differ, and
the derived values (twin/derive.py) are refreshed in the same transaction, so loading the same
files twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import signal
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from psycopg import Copy, sql
from psycopg.copy import QueuedLibpqWriter
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from etl import batch_path, copy_binary, geometry, indexes
from etl.fields import ConversionError, convert
from etl.geometry import where as _where
from etl.sources.base import CoverageSource, Detail, LoadMode, LoadOptions, Part, Source
from twin import derive
from twin.db import connect, database_error, hold_run, mark_abandoned_runs
from twin.errors import LoadRefusedError, RecordError, SourceError, TwinError, refused
from twin.redact import mask_value, redact_message
from twin.registry import COLLECTIONS, Collection, FieldType
from twin.settings import Settings, get_settings

__all__ = ["LoadMode", "LoadOptions", "LoadReport", "load", "load_file"]

#: Notes, repairs and refusals kept in the run record, each: every one a real file makes (a
#: Berlin list made 6,330 notes), bounded only so one record stays far below jsonb's limit.
#: The terminal shows a few of each kind (twin/messages.py); counts are always complete.
MAX_RECORDED = 100_000


@dataclass
class Counts:
    """What a merge did to one published table."""

    read: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0


@dataclass
class LoadReport:
    """What a load did; also what `twin db status` shows of it."""

    run_id: int
    source: str
    paths: list[str]
    checksum: str | None  # None until a load's hashing thread is done
    outcome: str = "running"
    counts: dict[str, Counts] = field(default_factory=dict)
    #: What the merge did to the source's private detail tables (the faces of buildings).
    detail_counts: dict[str, Counts] = field(default_factory=dict)
    repairs: list[dict] = field(default_factory=list)
    refusals: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Rows of any published table whose derived values (twin/derive.py) this load changed.
    derived: int = 0
    #: The derivation steps this load ran: those downstream of the collections it touched.
    derive_steps: list[str] = field(default_factory=list)
    #: The load transaction's id: whether it committed can be asked after an interruption.
    xid: str | None = None
    #: Batches read, and how many of them were staged in bulk (etl/batch_path.py).
    batches: int = 0
    bulk_batches: int = 0

    def total(self, attr: str) -> int:
        return sum(getattr(c, attr) for c in self.counts.values())

    @property
    def read(self) -> int:
        return self.total("read")

    def summary(self) -> str:
        parts = [
            f"{cid}: read {c.read}, inserted {c.inserted}, updated {c.updated}, "
            f"deleted {c.deleted}, unchanged {c.unchanged}"
            for cid, c in self.counts.items()]
        parts += [f"{table}: inserted {c.inserted}, updated {c.updated}, deleted {c.deleted}, "
                  f"unchanged {c.unchanged}" for table, c in self.detail_counts.items()]
        return (f"{self.source} {self.outcome} - " + "; ".join(parts or ["nothing read"])
                + f"; derived values updated in {self.derived} row(s); repaired "
                f"{len(self.repairs)}")


def file_checksum(paths: list[Path]) -> str:
    """SHA-256 over the files and, for a shapefile, its sidecars."""
    digest = hashlib.sha256()
    for path in paths:
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


def load(source: Source | CoverageSource, paths: list[Path],
         options: LoadOptions | None = None, settings: Settings | None = None) -> LoadReport:
    """Load ``paths`` of ``source`` into its published collections, in one transaction
    (a coverage source: into its file, swapped in whole; see :func:`_load_coverage`).

    Raises
    ------
    SourceError
        A file is unreadable, truncated, empty or lacks a required field.
    LoadRefusedError
        Records were refused (listed in ``errors``); nothing was changed.
    """
    options = options or LoadOptions()
    settings = settings or get_settings()
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.exists():
            raise SourceError("file does not exist", path=str(path))
    mode = options.mode or source.default_mode
    if isinstance(source, CoverageSource):
        report = LoadReport(0, source.name, [str(p) for p in paths], file_checksum(paths))
        return _load_coverage(source, paths, options, mode, settings, report)
    source.configure(settings)
    report = LoadReport(0, source.name, [str(p) for p in paths], None)
    # The SHA-256 of a big file (a second for 400 MB) is taken beside the load, not before
    # it: hashlib releases the GIL. The run record gets it when the run ends.
    with ThreadPoolExecutor(1, thread_name_prefix="twin-checksum") as hashing:
        checksum = hashing.submit(file_checksum, paths)
        return _load_vector(source, paths, options, mode, settings, report, checksum)


def _load_vector(source: Source, paths: list[Path], options: LoadOptions, mode: LoadMode,
                 settings: Settings, report: LoadReport, checksum: Future[str]) -> LoadReport:
    try:
        with _run_record(report, mode, settings, checksum):
            with connect(settings) as conn:
                hold_run(conn, report.run_id)
                for direct in (True, False):
                    report.xid = conn.execute(
                        "SELECT pg_current_xact_id()::text").fetchone()[0]
                    try:
                        _load(conn, source, paths, options, mode, settings, report,
                              direct=direct)
                        break
                    except _Restage:
                        # Not a savepoint: rows written in one would not carry the load's
                        # transaction id, by which its derived rows are counted.
                        conn.rollback()
                        _start_over(report, source)
    except psycopg.Error as exc:
        raise database_error(exc) from exc
    return report


def _load_coverage(source: CoverageSource, paths: list[Path], options: LoadOptions,
                   mode: LoadMode, settings: Settings, report: LoadReport) -> LoadReport:
    """Build the coverage beside the published file and swap it in with one rename.

    Readers (API workers open the file per request) see the old file or the new one, never a
    half-written one; a refused or failed load leaves the old file as it was. A build that
    comes out byte for byte like the published file is discarded: the load is `unchanged`.
    """
    if mode not in source.modes:
        raise SourceError(f"mode {mode.value} does not apply to {source.coverage.id}; valid: "
                          f"{', '.join(m.value for m in source.modes)}",
                          path=", ".join(report.paths))
    target = settings.data_dir / source.coverage.file
    counts = report.counts[source.coverage.id] = Counts()
    try:
        with _run_record(report, mode, settings):
            with connect(settings) as conn:
                hold_run(conn, report.run_id)
                # Two terrain loads would race to swap; a buildings load reads the file.
                _lock_reach(conn, [source.coverage.id])
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".tif",
                                            dir=target.parent)
                os.close(fd)
                scratch = Path(name)
                try:
                    base = target if mode is LoadMode.UPSERT and target.exists() else None
                    with _progress(options.progress) as progress:
                        counts.read = source.build(paths, options, scratch, base, progress)
                    report.notes.extend(source.notes)
                    if target.exists() and _same_bytes(scratch, target):
                        counts.unchanged, report.outcome = 1, "unchanged"
                    else:
                        counts.updated = int(target.exists())
                        counts.inserted = 1 - counts.updated
                        os.chmod(scratch, 0o644)  # mkstemp's 0600 would shut the API out
                        os.replace(scratch, target)
                        _sync_directory(target.parent)
                        # Buildings without a ground height take it from the new terrain.
                        report.derive_steps = derive.refresh(conn, settings,
                                                             [source.coverage.id])
                        report.outcome = "succeeded"
                finally:
                    scratch.unlink(missing_ok=True)
    except psycopg.Error as exc:
        raise database_error(exc) from exc
    return report


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while chunk := fa.read(1 << 20):
            if chunk != fb.read(1 << 20):
                return False
    return True


def _sync_directory(path: Path) -> None:
    """Make a rename in ``path`` durable (POSIX: fsync the directory)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_file(source: Source, path: Path, options: LoadOptions | None = None,
              settings: Settings | None = None) -> LoadReport:
    """Load one file; see :func:`load`."""
    return load(source, [path], options, settings)


def _lock_reach(conn: psycopg.Connection, collections: list[str]) -> None:
    """Wait for the loads that share a collection with this one's reach, its derive steps
    included (twin/derive.py): a parcels load writes heritage, buildings and commercial land,
    so table locks taken source by source would deadlock two such loads. Loads of disjoint
    reaches (parcels and traffic) run side by side. Locks taken in one order cannot deadlock.
    """
    for cid in sorted(derive.reach(collections)):
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('twin.load'), hashtext(%s))",
                     (cid,))


def _stage_name(c: Collection | Detail) -> sql.Identifier:
    return sql.Identifier(f"stage_{c.table}")


#: Memory the load's own transaction may use on the server: the stage in local buffers (a
#: temporary table spills to disk past temp_buffers, 8 MB by default), the merge's hash joins
#: and the index builds in memory (4 MB of work_mem made them spill in 16 batches at 200,000
#: parcels). Set for this transaction only; the session is new, so temp_buffers may still
#: be set.
_LOAD_MEMORY = (("temp_buffers", "512MB"), ("work_mem", "256MB"),
                ("maintenance_work_mem", "256MB"))


class _Restage(Exception):
    """A load straight into an empty table met possible duplicate keys: it is rolled back
    and done again through the stage, whose rows say where each duplicate is."""


def _start_over(report: LoadReport, source: Source) -> None:
    """Forget what a rolled-back attempt read, before the file is read again."""
    report.counts, report.detail_counts = {}, {}
    report.repairs, report.notes = [], []
    report.batches = report.bulk_batches = 0
    source.notes.clear()


def _load(conn: psycopg.Connection, source: Source, paths: list[Path], options: LoadOptions,
          mode: LoadMode, settings: Settings, report: LoadReport, *, direct: bool) -> None:
    for name, value in _LOAD_MEMORY:
        conn.execute("SELECT set_config(%s, %s, true)", (name, value))
    _lock_reach(conn, [c.id for c in source.collections])
    #: Indexes and constraints of an empty table loaded directly, to build after its rows.
    rebuild: dict[str, list[sql.SQL]] = {}
    for c in source.collections:
        target = sql.Identifier(c.schema, c.table)
        # Concurrent loads of one table queue up here; readers are not blocked.
        conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(target))
        report.counts[c.id] = Counts()
        if direct and indexes.may_load_directly(conn, source, c):
            rebuild[c.id] = indexes.drop_all(conn, c)
            continue
        conn.execute(sql.SQL(
            "CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS, _row integer, _path text) "
            "ON COMMIT DROP"
        ).format(_stage_name(c), target))
    details = {d.table: d for d in source.details}
    for d in source.details:
        target = sql.Identifier(d.schema, d.table)
        conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(target))
        conn.execute(sql.SQL(
            "CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP"
        ).format(_stage_name(d), target))
        report.detail_counts[d.table] = Counts()

    errors: list[RecordError] = []
    touched: set[str] = set()
    crs_by_path: dict[Path, str] = {}
    #: The staged keys by collection, to find out in bulk whether any two are equal; only
    #: then does the database look for the duplicates and name their rows.
    staged_keys: dict[str, list[pa.Array]] = {c.id: [] for c in source.collections}
    def stage(part: Part, crs: str, encoded: Future[pa.Buffer | None] | None) -> None:
        c = part.collection
        report.counts[c.id].read += len(part.batch)
        report.batches += 1
        into_table = c.id in rebuild
        # Once a record is refused, nothing more is staged; every batch takes the row path,
        # to name every refusal (a batch the bulk checks pass has none).
        bulk = encoded.result() if encoded is not None else None
        if bulk is not None:
            if not errors:
                stream.write_binary(_copy_statement(c, binary=True, direct=into_table), bulk)
                if not into_table:  # straight into the table, its key's index finds repeats
                    # A copy: the batch's own array would keep all of GDAL's batch in memory
                    # (1,000,000 parcels: 650 MB peak instead of 250 MB).
                    staged_keys[c.id].append(pa.concat_arrays([part.arrow[c.id_field.name]]))
            report.bulk_batches += 1
        else:
            rows, batch_errors = _prepare(source, part, crs, report)
            errors.extend(batch_errors)
            if not errors:
                if into_table:
                    rows = [row[:-2] for row in rows]  # no stage: no row and path
                stream.write(_copy_statement(c, direct=into_table), rows)
                if not into_table:
                    key = _key_index(c)
                    staged_keys[c.id].append(pa.array([r[key] for r in rows]))
        if not errors:
            for table, detail_rows in part.details.items():
                stream.write(_copy_detail_statement(details[table]), detail_rows)
                report.detail_counts[table].read += len(detail_rows)
        progress(f"{c.id} ← {part.path.name}", part.total, len(part.batch))

    # The bulk checks of batch n run beside the reading of batch n + 1: GDAL, GEOS and Arrow's
    # kernels release the GIL, so the two cores share the client's work.
    pending: deque[tuple[Part, str, Future[pa.Buffer | None] | None]] = deque()
    with (_progress(options.progress) as progress, _Stream(conn) as stream,
          ThreadPoolExecutor(1, thread_name_prefix="twin-batch") as pool):
        for part in source.read(paths, options):
            touched.add(part.collection.id)
            crs = crs_by_path.get(part.path)
            if crs is None:
                crs = crs_by_path[part.path] = _zone_checked_crs(part, report)
            encoded = pool.submit(batch_path.encode, source, part, crs,
                                  origin=part.collection.id not in rebuild) \
                if settings.batch_path and part.arrow is not None else None
            pending.append((part, crs, encoded))
            if len(pending) > 1:
                stage(*pending.popleft())
        while pending:
            stage(*pending.popleft())
    report.notes.extend(source.notes)

    if errors:
        raise refused(errors)
    if report.read == 0 and not options.allow_empty:
        raise SourceError("the files hold no records; use --allow-empty to publish an empty "
                          "collection", path=", ".join(map(str, paths)))
    for c in source.collections:
        # A collection no file fed keeps what it has, whatever the mode.
        if c.id in touched or options.allow_empty:
            counts = report.counts[c.id]
            if c.id in rebuild:
                # A repeated key fails the key's index (rolled back, then staged, where the
                # database names every repeat's rows): asking Arrow first cost 0.3-0.6 s of
                # a first load of 1,000,000 parcels.
                try:
                    for statement in rebuild[c.id]:
                        conn.execute(statement)
                except psycopg.errors.UniqueViolation:
                    raise _Restage(c.id) from None
                counts.inserted = counts.read
                continue
            if _may_repeat(staged_keys[c.id]):
                _check_duplicates(conn, c, source.duplicate_hint)
            counts.inserted, counts.updated, counts.deleted, counts.unchanged = _merge(
                conn, c, mode, source.replace_scope(c), staged=counts.read)
    for d in source.details:
        counts = report.detail_counts[d.table]
        counts.inserted, counts.updated, counts.deleted, counts.unchanged = _merge_detail(
            conn, d, source.collections[0])
    merged = [c for c in source.collections if c.id in touched or options.allow_empty]
    for c in merged:
        counts = report.counts[c.id]
        if counts.inserted or counts.updated or counts.deleted:
            # Fresh statistics: a table loaded for the first time has none, and the derive
            # steps' plans would be estimated from a guess (costly enough to JIT-compile).
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(c.schema, c.table)))
    report.derive_steps = derive.refresh(conn, settings, [c.id for c in merged])
    report.derived = _rows_written_by_derive(conn, report)
    changed = (any(report.total(k) for k in ("inserted", "updated", "deleted"))
               or any(c.inserted or c.updated or c.deleted for c in report.detail_counts.values())
               or report.derived)
    report.outcome = "succeeded" if changed else "unchanged"


def _may_repeat(keys: list[pa.Array]) -> bool:
    """Whether two of the staged ``keys`` may be equal (then SQL finds and names them)."""
    chunks = [k for k in keys if len(k)]
    if not chunks:
        return False
    if len({k.type for k in chunks}) > 1:
        return True  # keys of mixed types (a row path's guess): let the database compare
    whole = pa.chunked_array(chunks)
    return pc.count_distinct(whole).as_py() < len(whole)


def _rows_written_by_derive(conn: psycopg.Connection, report: LoadReport) -> int:
    """Published rows this transaction wrote beyond the merge: derived values that changed."""
    # Only the collections this load merged or its derive steps write can hold such rows.
    ids = set(report.counts) | {i for s in derive.STEPS if s.name in report.derive_steps
                                for i in s.writes}
    written = 0
    for c in (c for c in COLLECTIONS if c.id in ids):
        written += conn.execute(sql.SQL(
            "SELECT count(*) FROM {} WHERE xmin = pg_current_xact_id()::xid").format(
                sql.Identifier(c.schema, c.table))).fetchone()[0]
    merged = report.total("inserted") + report.total("updated")
    return max(0, written - merged)


def _zone_checked_crs(part: Part, report: LoadReport) -> str:
    """The CRS to read a file in, correcting eastings that carry the UTM zone prefix."""
    crs, note = geometry.zone_checked_crs(part.batch.geometries, part.crs)
    if note:
        report.notes.append(f"{part.path}: {note}")
    return crs


def _prepare(source: Source, part: Part, crs: str,
             report: LoadReport) -> tuple[list[list], list[RecordError]]:
    """Rows ready for COPY (loaded fields, geometry as EWKB, `_row`) and the errors found."""
    coll, batch, path = part.collection, part.batch, str(part.path)
    key_name = coll.id_field.name
    keys = [None if k is None else str(k).strip() or None
            for k in batch.columns.get(key_name, [None] * len(batch))]
    errors: list[RecordError] = []

    values_by_field = []
    for f in coll.loaded_fields:
        raw = batch.columns.get(f.name, [None] * len(batch))
        quick = _converted(raw, f.type)
        if quick is not None and (f.nullable or None not in quick):
            values_by_field.append(quick)
            continue
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
                                              row=_where(batch.rows[i], None), field=f.name))
        values_by_field.append(converted)

    for i, key in enumerate(keys):
        if key is not None and (problem := source.key_problem(coll, key)):
            errors.append(RecordError(problem, path=path, row=int(batch.rows[i]),
                                      field=key_name))
    errors.extend(source.record_problems(part))

    if shapely.has_z(batch.geometries[~shapely.is_missing(batch.geometries)]).any():
        note = f"{path}: heights (Z) dropped; this collection is stored in 2D"
        if note not in report.notes:
            report.notes.append(note)
    geoms = geometry.to_storage(batch.geometries, crs)
    geoms, repairs, geom_errors = geometry.check_geometries(
        coll.geometry_type, geoms, batch.rows, keys, path=path)
    errors.extend(geom_errors)
    errors.extend(geometry.check_in_region(geoms, batch.rows, keys, path=path,
                                           region=source.region))
    report.repairs.extend({**r.as_dict(), "path": path} for r in repairs)

    present = ~shapely.is_missing(geoms)
    ewkb = np.full(len(geoms), None, dtype=object)
    # Hex by Python's bytes.hex: GEOS's own hex writer takes four times as long.
    ewkb[present] = [w.hex() for w in shapely.to_wkb(
        shapely.set_srid(geoms[present], coll.srid), include_srid=True)]
    rows = [[*vals, g, int(r), path]
            for *vals, g, r in zip(*values_by_field, ewkb, batch.rows, strict=True)]
    return rows, errors


#: Values already of a field type's Python type that :func:`etl.fields.convert` gives back
#: as they are (text apart: stripped, blank as None).
_SAME = {FieldType.INTEGER: int, FieldType.DOUBLE: float, FieldType.DATE: dt.date}


def _converted(values: list, ftype: FieldType) -> list | None:
    """``values`` converted to ``ftype`` in one comprehension, or None when one of them needs
    more than the types a file usually holds: then the caller converts value by value and
    names each that fails. The same results as :func:`etl.fields.convert`, a million values
    at a time."""
    if ftype is FieldType.TEXT:
        # convert() turns any value into text; None stays None.
        return [(v.strip() or None) if type(v) is str else convert(v, ftype) for v in values]
    same = _SAME.get(ftype)
    if same is None:
        return None
    try:
        if ftype is FieldType.DOUBLE:
            # NaN is no value; infinities are refused (by convert, named per value).
            return [v if type(v) is float and math.isfinite(v) else convert(v, ftype)
                    for v in values]
        return [v if type(v) is same or v is None else convert(v, ftype) for v in values]
    except ConversionError:
        return None


def _copy_statement(coll: Collection, *, binary: bool = False,
                    direct: bool = False) -> sql.Composed:
    """The COPY into a collection's stage, or into the (empty) table itself when ``direct``:
    text rows from :func:`_prepare`, or binary ones from etl/batch_path.py (the same columns
    in the same order; the stage's also say where each row came from)."""
    columns = [*(f.name for f in coll.loaded_fields), coll.geometry_column]
    table = sql.Identifier(coll.schema, coll.table) if direct else _stage_name(coll)
    if not direct:
        columns += ["_row", "_path"]
    return sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        table, sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(" (FORMAT binary)" if binary else ""))


def _key_index(coll: Collection) -> int:
    """Where the key is in a row of :func:`_copy_statement`."""
    return [f.name for f in coll.loaded_fields].index(coll.id_field.name)


def _copy_detail_statement(detail: Detail) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        _stage_name(detail), sql.SQL(", ").join(map(sql.Identifier, detail.columns)))


class _Stream:
    """The rows of every batch into their stage, through one COPY kept open while batches go
    to the same table (a connection holds one COPY at a time).

    The server parses and stores a batch while the next one is read and checked: libpq is fed
    from a thread of psycopg's (QueuedLibpqWriter), so the two cores work side by side instead
    of taking turns at the end of every batch's COPY.
    """

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self._statement: sql.Composed | None = None
        self._context: AbstractContextManager[Copy] | None = None
        self._copy: Copy | None = None
        self._binary = False

    def __enter__(self) -> _Stream:
        return self

    def write(self, statement: sql.Composed, rows: list[list]) -> None:
        copy = self._open(statement, binary=False)
        for row in rows:
            copy.write_row(row)

    def write_binary(self, statement: sql.Composed, data: pa.Buffer) -> None:
        """Rows already in COPY's binary format (etl/copy_binary.py)."""
        self._open(statement, binary=True).write(data)

    def _open(self, statement: sql.Composed, *, binary: bool) -> Copy:
        if self._statement != statement:
            self._end(None, None, None)
            cursor = self.conn.cursor()
            self._context = cursor.copy(statement, writer=QueuedLibpqWriter(cursor))
            self._copy = self._context.__enter__()
            self._statement, self._binary = statement, binary
            if binary:
                # Written as whole blocks, the stream carries its own signature and trailer.
                self._copy.write(copy_binary.SIGNATURE)
        assert self._copy is not None
        return self._copy

    def _end(self, *exc_info: Any) -> None:
        if self._context is not None:
            if self._binary and exc_info[0] is None:
                assert self._copy is not None
                self._copy.write(copy_binary.TRAILER)
            context, self._context, self._copy, self._statement = self._context, None, None, None
            context.__exit__(*exc_info)

    def __exit__(self, *exc_info: Any) -> None:
        # An error ends the COPY with it (psycopg then aborts the COPY on the server).
        self._end(*exc_info)


def _merge_detail(conn: psycopg.Connection, detail: Detail,
                  parent: Collection) -> tuple[int, int, int, int]:
    """Merge a detail stage into its table; returns inserted, updated, deleted, same.

    Detail rows of the staged parents are replaced (only where they differ), and rows whose
    parent the collection's merge deleted go with it.
    """
    target, stage = sql.Identifier(detail.schema, detail.table), _stage_name(detail)
    parent_key = sql.Identifier(detail.parent_key)
    same_key = sql.SQL(" AND ").join(
        sql.SQL("s.{k} = t.{k}").format(k=sql.Identifier(k)) for k in detail.key)
    non_key = [c for c in detail.columns if c not in detail.key]

    def row_of(alias: str) -> sql.Composable:
        return _compared_row(alias, non_key)

    total = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(stage)).fetchone()[0]
    conn.execute(sql.SQL("CREATE INDEX ON {} ({})").format(
        stage, sql.SQL(", ").join(map(sql.Identifier, detail.key))))
    conn.execute(sql.SQL("ANALYZE {}").format(stage))
    deleted = conn.execute(sql.SQL(
        "DELETE FROM {t} t WHERE (t.{pk} IN (SELECT {pk} FROM {stage}) "
        "AND NOT EXISTS (SELECT 1 FROM {stage} s WHERE {same})) "
        "OR NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.{pid} = t.{pk})").format(
            t=target, pk=parent_key, stage=stage, same=same_key,
            parent=sql.Identifier(parent.schema, parent.table),
            pid=sql.Identifier(parent.id_field.name))).rowcount
    updated = conn.execute(sql.SQL(
        "UPDATE {t} t SET ({cols}) = (SELECT {scols}) FROM {stage} s "
        "WHERE {same} AND {trow} IS DISTINCT FROM {srow}").format(
            t=target, stage=stage, same=same_key,
            cols=sql.SQL(", ").join(map(sql.Identifier, non_key)),
            scols=sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(c))
                                     for c in non_key),
            trow=row_of("t"), srow=row_of("s"))).rowcount
    cols = sql.SQL(", ").join(map(sql.Identifier, detail.columns))
    inserted = conn.execute(sql.SQL(
        "INSERT INTO {t} ({cols}) SELECT {cols} FROM {stage} s "
        "WHERE NOT EXISTS (SELECT 1 FROM {t} t WHERE {same})").format(
            t=target, cols=cols, stage=stage, same=same_key)).rowcount
    return inserted, updated, deleted, total - inserted - updated


def _compared_row(alias: str, columns: list[str]) -> sql.Composable:
    """``ROW(alias.c, ...)``, for IS DISTINCT FROM between a published row and its staged one.

    Geometries compare with their own ``=``, which since PostGIS 2.4 is true only for the
    same type, SRID and coordinates in the same order (before, it compared bounding boxes):
    as exact as comparing ``ST_AsEWKB`` bytes, without writing two EWKB per row (1,000,000
    parcels: 4.1 s against 9.1 s for the comparison).
    """
    a = sql.Identifier(alias)
    return sql.SQL("ROW({})").format(sql.SQL(", ").join(
        sql.SQL("{}.{}").format(a, sql.Identifier(c)) for c in columns))


def _check_duplicates(conn: psycopg.Connection, coll: Collection,
                      hint: Callable[[str], str]) -> None:
    key = sql.Identifier(coll.id_field.name)
    # The true number of duplicate keys is counted in full; their rows are listed up to the
    # run record's bound.
    dups = conn.execute(sql.SQL(
        "SELECT {key}, array_agg(_path || ':' || _row ORDER BY _path, _row), min(_path), "
        "count(*) OVER () FROM {stage} GROUP BY {key} HAVING count(*) > 1 "
        "ORDER BY min(_path), min(_row) LIMIT %s").format(key=key, stage=_stage_name(coll)),
        (MAX_RECORDED,)).fetchall()
    if dups:
        errors = [RecordError(f"duplicate key '{k}'{hint(k)} (also in rows "
                              f"{', '.join(w.rsplit(':', 1)[1] for w in where[1:])})",
                              path=where[0].rsplit(":", 1)[0],
                              row=int(where[0].rsplit(":", 1)[1]), field=coll.id_field.name)
                  for k, where, _, _ in dups]
        raise LoadRefusedError(
            f"{dups[0][3]} duplicate key(s) in field '{coll.id_field.name}' of {coll.id}; "
            f"nothing was changed. First: {errors[0].location}", path=dups[0][2],
            errors=errors)


def _merge(conn: psycopg.Connection, coll: Collection, mode: LoadMode,
           scope: tuple[str, object] | None, *, staged: int | None = None
           ) -> tuple[int, int, int, int]:
    """Merge the stage into the published table; returns inserted, updated, deleted, same."""
    target, stage = sql.Identifier(coll.schema, coll.table), _stage_name(coll)
    key = sql.Identifier(coll.id_field.name)
    cols = [*(f.name for f in coll.loaded_fields), coll.geometry_column]
    non_key = [c for c in cols if c != coll.id_field.name]

    def row_of(alias: str) -> sql.Composable:
        return _compared_row(alias, non_key)

    total = staged if staged is not None else conn.execute(
        sql.SQL("SELECT count(*) FROM {}").format(stage)).fetchone()[0]
    if mode is LoadMode.APPEND:
        clash = conn.execute(sql.SQL(
            "SELECT s.{key}, s._row FROM {stage} s JOIN {t} USING ({key}) ORDER BY s._row "
            "LIMIT 1").format(key=key, t=target, stage=stage)).fetchone()
        if clash:
            raise LoadRefusedError(
                f"key '{clash[0]}' is already published and mode is append; nothing was changed",
                errors=[RecordError("already published", row=clash[1],
                                    field=coll.id_field.name)])
    col_list = sql.SQL(", ").join(map(sql.Identifier, cols))
    if mode is LoadMode.APPEND:  # no key is published (refused above): every row is new
        deferred = indexes.defer(conn, coll, total)
        inserted = conn.execute(sql.SQL("INSERT INTO {t} ({cols}) SELECT {cols} FROM {stage}")
                                .format(t=target, cols=col_list, stage=stage)).rowcount
        for definition in deferred:
            conn.execute(definition)
        return inserted, 0, 0, total - inserted
    # The stage meets the table once: one hash join finds the keys to delete, update and
    # insert, and each change then touches those keys alone. Three joins of the whole
    # stage and table (NOT EXISTS, IS DISTINCT FROM, NOT EXISTS) took 6.1 s of a reload of
    # 1,000,000 unchanged parcels, the one FULL JOIN 3.0 s.
    scope_sql, params = sql.SQL(""), []
    if scope is not None and mode is LoadMode.REPLACE:
        # One value or several: a street-damage load of both kinds still spares the
        # records field crews created through the API (source 'field').
        values = scope[1] if isinstance(scope[1], list | tuple) else [scope[1]]
        scope_sql = sql.SQL(" AND t.{} = ANY(%s)").format(sql.Identifier(scope[0]))
        params = [list(values)]
    diff = sql.Identifier(f"diff_{coll.table}")
    if mode is LoadMode.REPLACE:
        found = sql.SQL(
            "SELECT coalesce(s.{key}, t.{key}) AS key, CASE WHEN t.{key} IS NULL THEN 'i' "
            "WHEN s.{key} IS NULL THEN 'd' ELSE 'u' END AS op "
            "FROM {stage} s FULL JOIN {t} t ON s.{key} = t.{key} "
            "WHERE t.{key} IS NULL OR (s.{key} IS NULL{scope}) "
            "OR (s.{key} IS NOT NULL AND {trow} IS DISTINCT FROM {srow})")
    else:  # UPSERT: the table's other rows stay as they are
        found = sql.SQL(
            "SELECT s.{key} AS key, CASE WHEN t.{key} IS NULL THEN 'i' ELSE 'u' END AS op "
            "FROM {stage} s LEFT JOIN {t} t ON s.{key} = t.{key} "
            "WHERE t.{key} IS NULL OR {trow} IS DISTINCT FROM {srow}")
    conn.execute(sql.SQL("CREATE TEMP TABLE {diff} ON COMMIT DROP AS {found}").format(
        diff=diff, found=found.format(key=key, stage=stage, t=target, scope=scope_sql,
                                      trow=row_of("t"), srow=row_of("s"))), params)
    ops = dict(conn.execute(sql.SQL("SELECT op, count(*) FROM {} GROUP BY op").format(diff))
               .fetchall())
    deleted = updated = inserted = 0
    if ops.get("d"):
        deleted = conn.execute(sql.SQL(
            "DELETE FROM {t} t USING {diff} d WHERE d.op = 'd' AND t.{key} = d.key").format(
            t=target, diff=diff, key=key)).rowcount
    if ops.get("u"):
        updated = conn.execute(sql.SQL(
            "UPDATE {t} t SET ({cols}) = (SELECT {scols}) FROM {stage} s JOIN {diff} d "
            "ON d.op = 'u' AND d.key = s.{key} WHERE t.{key} = s.{key}").format(
            t=target, stage=stage, diff=diff, key=key,
            cols=sql.SQL(", ").join(map(sql.Identifier, non_key)),
            scols=_staged(non_key))).rowcount
    if ops.get("i"):
        deferred = indexes.defer(conn, coll, total)
        # Into an empty table every staged row is new: no join.
        inserted = conn.execute((sql.SQL(
            "INSERT INTO {t} ({cols}) SELECT {cols} FROM {stage} s") if ops["i"] == total
            else sql.SQL("INSERT INTO {t} ({cols}) SELECT {scols} FROM {stage} s "
                         "JOIN {diff} d ON d.op = 'i' AND d.key = s.{key}")).format(
            t=target, cols=col_list, stage=stage, diff=diff, key=key,
            scols=_staged(cols))).rowcount
        for definition in deferred:
            conn.execute(definition)
    return inserted, updated, deleted, total - inserted - updated


def _staged(columns: list[str]) -> sql.Composable:
    """``s.a, s.b, ...``: the stage's columns, aliased ``s``."""
    return sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(c)) for c in columns)


class LoadInterrupted(KeyboardInterrupt):
    """SIGTERM during a load: unwound like Ctrl-C, so the transaction rolls back (psycopg
    cancels a running statement on a KeyboardInterrupt) and the run is recorded as failed."""


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Turn the first SIGTERM into :class:`LoadInterrupted` while a load runs.

    Python's default is to die without unwinding, which would leave the run `running` until
    someone notices (:func:`twin.db.mark_abandoned_runs`). A second SIGTERM kills at once.
    Only the main thread may set handlers; elsewhere the default stays.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, previous)
        raise LoadInterrupted("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _run_record(report: LoadReport, mode: LoadMode, settings: Settings,
                checksum: Future[str] | None = None) -> Iterator[None]:
    """Record the run in twin.load_run on its own connection, so refusals are kept too.

    The run's lock (:func:`twin.db.hold_run`) is taken in the transaction that inserts its row,
    so the row is never seen `running` without a holder; runs whose holders died before ours
    started are marked failed first.
    """
    with connect(settings, autocommit=True) as conn, _terminate_as_interrupt():
        mark_abandoned_runs(conn)
        with conn.transaction():
            report.run_id = conn.execute(
                "INSERT INTO twin.load_run (source, collection, path, checksum, mode) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (report.source, report.source, " ".join(report.paths), report.checksum,
                 mode.value)).fetchone()[0]
            hold_run(conn, report.run_id)
        message = None
        try:
            yield
        except LoadRefusedError as exc:
            report.outcome = "refused"
            report.refusals = [_refusal(e) for e in exc.errors]
            message = str(exc)
            exc.run_id = report.run_id
            raise
        except SourceError as exc:
            report.outcome = "refused"
            report.refusals = [_refusal(exc)]
            message = str(exc)
            exc.run_id = report.run_id
            raise
        except (TwinError, psycopg.Error, OSError) as exc:
            report.outcome = "failed"
            message = redact_message(f"{type(exc).__name__}: {exc}", keep=report.paths)
            raise
        except BaseException as exc:
            # Ctrl-C, SIGTERM or a bug: the load's transaction is rolled back on the way out,
            # unless it had committed already (the interruption came as it finished).
            what = (f"interrupted ({'SIGTERM' if isinstance(exc, LoadInterrupted) else 'Ctrl-C'})"
                    if isinstance(exc, KeyboardInterrupt) else
                    f"stopped by an unexpected {type(exc).__name__}")
            if _committed(conn, report.xid):
                message = f"{what} after the load was committed"
            else:
                report.outcome, message = "failed", f"{what}; nothing was changed"
            raise
        finally:
            if checksum is not None:
                report.checksum = checksum.result()
            _mask_report(report)
            message = _bounded(report, message)
            conn.execute(
                "UPDATE twin.load_run SET finished_at = now(), outcome = %s, collection = %s, "
                "read_count = %s, inserted_count = %s, updated_count = %s, deleted_count = %s, "
                "unchanged_count = %s, repairs = %s, refusals = %s, notes = %s, message = %s, "
                "checksum = %s WHERE id = %s",
                (report.outcome if report.outcome != "running" else "failed",
                 ",".join(report.counts) or report.source, report.read,
                 report.total("inserted"), report.total("updated"), report.total("deleted"),
                 report.total("unchanged"), json.dumps(report.repairs[:MAX_RECORDED]),
                 json.dumps(report.refusals[:MAX_RECORDED]),
                 json.dumps(report.notes[:MAX_RECORDED]), message, report.checksum,
                 report.run_id))


def _bounded(report: LoadReport, message: str | None) -> str | None:
    """The run's message, saying which lists the record keeps only the first of."""
    cut = [f"the first {MAX_RECORDED:,} of {len(items):,} {name}"
           for name, items in (("notes", report.notes), ("repairs", report.repairs),
                               ("refusals", report.refusals)) if len(items) > MAX_RECORDED]
    if not cut:
        return message
    return "; ".join(filter(None, [message, f"this record keeps {', '.join(cut)}"]))


def _committed(conn: psycopg.Connection, xid: str | None) -> bool:
    """Whether the load transaction ``xid`` committed, asked on the run's own connection."""
    if xid is None:
        return False
    try:
        status = conn.execute("SELECT pg_xact_status(%s::xid8)", (xid,)).fetchone()[0]
    except psycopg.Error:
        return False
    return status == "committed"


def _mask_report(report: LoadReport) -> None:
    """Notes and repairs as they may be kept and printed: every value they echo masked.

    The one place notes pass on their way to twin.load_run and the CLI (refusals are masked
    when their errors are made, see twin.errors.SourceError).
    """
    report.notes[:] = [redact_message(n, keep=report.paths) for n in report.notes]
    for repair in report.repairs:
        if repair.get("key") is not None:
            repair["key"] = mask_value(str(repair["key"]))
        repair["reason"] = redact_message(str(repair["reason"]), keep=report.paths)


def _refusal(error: SourceError) -> dict:
    return {"path": error.path, "row": getattr(error, "row", None),
            "field": getattr(error, "field", None), "reason": error.reason}


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar per file on stderr; yields advance(label, total, n)."""
    if not enabled:
        yield lambda label, total, n: None
        return
    from rich.console import Console

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=Console(file=sys.stderr))
    tasks: dict[str, int] = {}
    with progress:
        def advance(label: str, total: int, n: int) -> None:
            if label not in tasks:
                tasks[label] = progress.add_task(label, total=total if total >= 0 else None)
            progress.advance(tasks[label], n)
        yield advance
