"""Telling a file's kind by its content, not its name: a list saved as ``.txt``, a GeoJSON
called ``.json`` and an Open311 feed called ``.json`` are three different things.
"""

from __future__ import annotations

import enum
import zipfile
from pathlib import Path

from twin.errors import SourceError

#: Bytes looked at to tell JSON documents apart.
HEAD_BYTES = 1 << 16

#: Suffixes of vector formats whose content is not told apart here (binary, or a folder).
VECTOR_SUFFIXES = frozenset({".gpkg", ".shp", ".fgb", ".sqlite", ".gdb", ".gml", ".kml",
                             ".geojson", ".xml"})
TEXT_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})


class Kind(enum.StrEnum):
    #: Delimited text (CSV, BASt's .txt), possibly the one file of a ZIP archive.
    TEXT = "text"
    #: A workbook (XLSX, ODS).
    SPREADSHEET = "spreadsheet"
    #: JSON that is not GeoJSON (an Open311 feed).
    JSON = "json"
    #: Anything GDAL reads as features (GeoPackage, GeoJSON, GML, KML, NAS, Shapefile...).
    VECTOR = "vector"


def kind_of(path: Path) -> Kind:
    """The :class:`Kind` of ``path``; refuses what no source reads (missing, empty, .xls)."""
    if path.is_dir():
        return Kind.VECTOR  # a FileGDB or a folder of shapefiles
    if not path.exists():
        raise SourceError("file does not exist", path=str(path))
    try:
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as exc:
        raise SourceError(f"cannot read the file ({exc})", path=str(path)) from exc
    suffix = path.suffix.lower()
    if not head.strip():
        raise SourceError("file is empty", path=str(path))
    if head.startswith(b"\xd0\xcf\x11\xe0") or suffix == ".xls":
        raise SourceError("old binary Excel files (.xls) are not read; save the list as .xlsx "
                          "or as CSV", path=str(path))
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(path)
    if head.startswith(b"SQLite format 3") or suffix in {".shp", ".fgb", ".gdb", ".sqlite",
                                                         ".gpkg"}:
        return Kind.VECTOR
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<"):
        return Kind.VECTOR
    if text.startswith((b"{", b"[")):
        return Kind.VECTOR if _geojson(text) else Kind.JSON
    return Kind.TEXT


def _zip_kind(path: Path) -> Kind:
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
    except zipfile.BadZipFile as exc:
        if path.suffix.lower() in (".xlsx", ".xlsm", ".ods"):
            raise SourceError(f"not a readable spreadsheet ({exc})", path=str(path)) from exc
        return Kind.VECTOR  # GDAL names what is wrong with it
    if any(n.startswith("xl/") for n in names) or "content.xml" in names:
        return Kind.SPREADSHEET
    if names and all(Path(n).suffix.lower() in TEXT_SUFFIXES for n in names):
        # One table (BASt's zipped hourly file), or several that the text reader refuses
        # by name: GDAL would read them as unrelated layers.
        return Kind.TEXT
    return Kind.VECTOR  # a zipped shapefile, say: GDAL reads it through /vsizip/


def _geojson(head: bytes) -> bool:
    """True when the start of a JSON document shows GeoJSON ("type": "FeatureCollection" or
    "Feature"); an array of objects (an Open311 feed) is not."""
    if head.startswith(b"["):
        return False
    compact = b"".join(head.split())
    return any(t in compact for t in (b'"type":"FeatureCollection"', b'"type":"Feature"'))
