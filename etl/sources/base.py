"""The contract every source module fulfils; the ETL core does the rest.

A source turns files into :class:`Part` s: batches of records whose columns carry registry field
names, with geometries in a named CRS. The core converts values, checks and repairs geometry,
stages, merges and records the run. A source never opens a cursor.

A :class:`CoverageSource` (the terrain) turns its files into one Cloud-Optimised GeoTIFF at a
path the core names; the core swaps it in atomically and records the run.
"""

from __future__ import annotations

import enum
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from etl.columns import Column, Columns
from etl.geometry import BRANDENBURG, Region, resolve_crs
from etl.io.vector import Batch, inspect_vector, read_vector
from twin.errors import RecordError, SourceError
from twin.registry import Collection, Coverage

if TYPE_CHECKING:
    import pyarrow as pa

    from twin.settings import Settings


class LoadMode(enum.StrEnum):
    """How a load meets the published table."""

    #: The files are the whole truth: new rows inserted, changed updated, missing deleted.
    REPLACE = "replace"
    #: Insert and update, never delete.
    UPSERT = "upsert"
    #: Insert only; a key already published refuses the load.
    APPEND = "append"


@dataclass(frozen=True)
class LoadOptions:
    """Options of one load, as `twin load` takes them."""

    mode: LoadMode | None = None  # None: the source's default
    layer: str | None = None
    crs: str | None = None
    allow_empty: bool = False
    progress: bool = True
    #: The tile a load of tiled files replaces (buildings); None: each file's own name.
    tile: str | None = None


@dataclass(frozen=True)
class Detail:
    """A private table whose rows belong to rows of a source's main collection (the faces of a
    building): never published, staged beside their parents and replaced with them.

    A load replaces the detail rows of every parent it stages, and deletes those whose parent
    is gone; rows that are equal are left as they are, so a repeated load rewrites nothing.
    """

    table: str  # in the schema twin
    #: The column holding the key of the parent row in the main collection.
    parent_key: str
    #: Unique per row, the parent key first.
    key: tuple[str, ...]
    #: Every column a source fills, in the order of its rows; geometries as hex EWKB.
    columns: tuple[str, ...]
    geometry_column: str = "geom"
    schema: str = "twin"


@dataclass(frozen=True)
class Part:
    """A batch of records for one collection, read from one file."""

    collection: Collection
    batch: Batch  # columns keyed by registry field name
    path: Path
    crs: str  # CRS of the batch's geometries
    total: int = -1  # features in the file, when known (for progress)
    #: Rows of the source's detail tables belonging to this batch's records, by table.
    details: dict[str, list[list]] = field(default_factory=dict)
    #: The batch's fields as Arrow arrays, given only when the source found every key and
    #: record sound (``key_problem`` and ``record_problems`` would find nothing): the core may
    #: then stage the batch without a Python value per record (etl/batch_path.py).
    arrow: dict[str, pa.Array] | None = None


class Source(ABC):
    """A source of the twin: which collections it feeds and how its files are read."""

    #: The `twin load` subcommand and the folder of its samples in data/samples/.
    name: ClassVar[str]
    #: Collections this source feeds (the first is its main one).
    collections: ClassVar[tuple[Collection, ...]]
    default_mode: ClassVar[LoadMode] = LoadMode.REPLACE
    #: Sample file patterns in data/samples/<name>/.
    sample_globs: ClassVar[tuple[str, ...]] = ("*",)
    #: Private tables loaded with the main collection (see :class:`Detail`).
    details: ClassVar[tuple[Detail, ...]] = ()
    #: Where the records can lie; anything outside is refused as a sign of a wrong CRS.
    region: ClassVar[Region] = BRANDENBURG
    #: Records per batch; the core sets it from the settings (TWIN_BATCH_SIZE).
    batch_size: int = 5000

    def __init__(self) -> None:
        #: Things the load should tell the user without refusing (row and field named).
        self.notes: list[str] = []

    @abstractmethod
    def read(self, paths: list[Path], options: LoadOptions) -> Iterator[Part]:
        """Yield the parts of ``paths``; raise SourceError/RecordError to refuse."""

    def configure(self, settings: Settings) -> None:
        """Take what the source needs of the settings; the core calls it before reading."""
        self.batch_size = settings.batch_size

    def key_problem(self, collection: Collection, key: str) -> str | None:
        """Why ``key`` is not a valid key of ``collection``, or None."""
        return None

    def duplicate_hint(self, key: str) -> str:
        """What a refusal of the duplicate ``key`` adds: how two spellings became one key."""
        return ""

    def record_problems(self, part: Part) -> Iterator[RecordError]:
        """Refusals that need more of a record than one value (a key against the fields it is
        made of), each naming its row and field; the core adds them to its own."""
        return iter(())

    def replace_scope(self, collection: Collection) -> tuple[str, Any] | None:
        """In replace mode, only rows with this (column, value) may be deleted (the value may be
        a list: any of them); None: all."""
        return None


class VectorSource(Source):
    """A source of one collection whose files GDAL reads (GPKG, Shapefile, GeoJSON, GML...)."""

    #: Fields whose absence refuses the whole file.
    required: ClassVar[tuple[str, ...]] = ()
    #: Source column -> registry field, where the names differ (the column is preferred).
    renames: ClassVar[dict[str, str]] = {}
    #: What a key must look like, and how to say so when it does not.
    key_pattern: ClassVar[re.Pattern[str] | None] = None
    key_description: ClassVar[str] = ""
    sample_globs = ("*.gpkg", "*.geojson", "*.shp", "*.gml")

    @classmethod
    def columns(cls) -> Columns:
        """The declared columns: every loaded field under the names ``renames`` gives it and
        under its own."""
        return Columns(tuple(
            Column(f.name, (*(src for src, dst in cls.renames.items() if dst == f.name), f.name),
                   required=f.name in cls.required,
                   missing=f"required field '{f.name}' is missing")
            for f in cls.collections[0].loaded_fields))

    def read(self, paths: list[Path], options: LoadOptions) -> Iterator[Part]:
        collection = self.collections[0]
        declared = self.columns()
        for path in paths:
            info = inspect_vector(path, options.layer)
            if info.feature_count == 0 and not options.allow_empty:
                raise SourceError("the file holds no features; use --allow-empty to publish "
                                  "an empty collection", path=str(path))
            # An empty GeoJSON has no fields at all: nothing is missing from no features.
            columns = declared.match(info.fields, path=path,
                                     required=info.feature_count != 0)
            crs = resolve_crs(str(path), info.crs, options.crs)
            if note := columns.note():
                self.notes.append(note)
            for batch in read_vector(path, info, batch_size=self.batch_size):
                # GDAL's batches name their columns in lower case.
                fields = {f.name: batch.columns[h.lower()] if (h := columns.get(f.name))
                          else [None] * len(batch) for f in collection.loaded_fields}
                yield Part(collection, Batch(fields, batch.geometries, batch.rows), path, crs,
                           info.feature_count)

    def key_problem(self, collection: Collection, key: str) -> str | None:
        if self.key_pattern is not None and not self.key_pattern.fullmatch(key):
            return f"'{key}' is not {self.key_description}"
        return None


class Advance(Protocol):
    """Progress: ``n`` more of ``total`` steps done on the task ``label``."""

    def __call__(self, label: str, total: int, n: int) -> None: ...


class CoverageSource(ABC):
    """A source of a coverage: its files (tiles) become one Cloud-Optimised GeoTIFF."""

    #: The `twin load` subcommand and the folder of its samples in data/samples/.
    name: ClassVar[str]
    #: The coverage it feeds.
    coverage: ClassVar[Coverage]
    default_mode: ClassVar[LoadMode] = LoadMode.REPLACE
    #: REPLACE: the files are the whole coverage; UPSERT: they are laid over what is published.
    modes: ClassVar[tuple[LoadMode, ...]] = (LoadMode.REPLACE, LoadMode.UPSERT)
    sample_globs: ClassVar[tuple[str, ...]] = ("*.tif",)

    def __init__(self) -> None:
        #: Things the load should tell the user without refusing.
        self.notes: list[str] = []

    @abstractmethod
    def build(self, paths: list[Path], options: LoadOptions, out: Path, base: Path | None,
              progress: Advance) -> int:
        """Write the coverage of ``paths`` (laid over ``base``, the published file, in upsert
        mode) to ``out``; return the number of files read. Raise SourceError or
        LoadRefusedError to refuse; ``out`` is then discarded."""
