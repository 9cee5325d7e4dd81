"""The contract every source module fulfils; the ETL core does the rest."""

from __future__ import annotations

import re
from typing import ClassVar

from twin.registry import Collection


class VectorSource:
    """A source whose features GDAL can read, published as one collection.

    Subclasses name the collection, the source columns that must exist, how source columns
    map to registry fields, and what a valid key looks like. They never open a cursor.
    """

    #: The `twin load` subcommand and the folder of its samples.
    name: ClassVar[str]
    collection: ClassVar[Collection]
    #: Source columns (lower case) whose absence refuses the whole file.
    required: ClassVar[tuple[str, ...]] = ()
    #: Source column (lower case) -> registry field, where the names differ.
    renames: ClassVar[dict[str, str]] = {}
    #: What a key must look like, and how to say so when it does not.
    key_pattern: ClassVar[re.Pattern[str] | None] = None
    key_description: ClassVar[str] = ""
    #: Sample file patterns in data/samples/<name>/.
    sample_globs: ClassVar[tuple[str, ...]] = ("*.gpkg", "*.geojson", "*.shp", "*.gml")

    def source_column(self, field_name: str, available: set[str]) -> str | None:
        """The source column that feeds ``field_name``, if the file has it."""
        for src, dst in self.renames.items():
            if dst == field_name and src in available:
                return src
        return field_name if field_name in available else None

    def key_problem(self, key: str) -> str | None:
        """Why ``key`` is not a valid key, or None."""
        if self.key_pattern is not None and not self.key_pattern.fullmatch(key):
            return f"'{key}' is not {self.key_description}"
        return None
