"""Whether a file really is truncated, from its own bytes, before any message says so.

GDAL's errors do not tell a file cut short from a file that holds something the reader cannot
take (a curve, a broken record): "is the file truncated?" guessed wrong for a complete GML with
arcs. So a message says "truncated" only with evidence from the format's own structure: the
XML root left open, JSON text ending mid-way, a GeoPackage (SQLite) or shapefile shorter than
its header says, a ZIP without its central directory.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from xml.parsers import expat

#: Bytes read from the start and from the end of a file to judge it.
_HEAD = 64 * 1024
_TAIL = 64 * 1024 + 22  # a ZIP's end record sits within 64 KiB (comment) + 22 bytes of the end
#: JSON up to this size is parsed whole to tell an early end from a syntax error.
_JSON_PARSE_LIMIT = 64 * 1024 * 1024

_XML_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]*)[\s/>]")
_BLANK = b" \t\r\n\x00"  # a trailing NUL byte (seen after </kml>) is no truncation


@dataclass(frozen=True)
class Damage:
    """What is wrong with a file's own structure: cut short (``truncated``) or not
    well-formed somewhere before its end."""

    truncated: bool
    text: str

    def __str__(self) -> str:
        return f"the file is truncated ({self.text})" if self.truncated else self.text


def damage(path: Path) -> Damage | None:
    """Whether ``path`` is truncated or, for XML and JSON, not well-formed; None if neither
    shows. Reads the whole file for XML and JSON: for messages about a failed read only."""
    if evidence := truncation_evidence(path):
        return Damage(True, evidence)
    try:
        with path.open("rb") as fh:
            head = fh.read(_HEAD).lstrip(b"\xef\xbb\xbf" + _BLANK)
    except OSError:
        return None
    if head.startswith(b"<"):
        problem = _expat(path)
        if problem is not None and not problem[0]:
            return Damage(False, f"the XML is not well-formed ({problem[1]})")
    elif head[:1] in (b"{", b"[") and path.stat().st_size <= _JSON_PARSE_LIMIT:
        try:
            json.loads(path.read_bytes().decode("utf-8-sig", errors="replace"))
        except json.JSONDecodeError as exc:
            return Damage(False, f"the JSON text is not valid ({exc.msg}, line {exc.lineno}, "
                                 f"column {exc.colno})")
    return None


def truncation_evidence(path: Path, *, thorough: bool = True) -> str | None:
    """What shows that ``path`` ends before its content does, or None if nothing does.

    Parameters
    ----------
    path : Path
        A file as the city received it (a shapefile's ``.shp``; its ``.shx`` and ``.dbf``
        sidecars are judged with it).
    thorough : bool
        Also parse XML and JSON (up to 64 MiB) to their end; without it only the formats
        whose header declares their length (GeoPackage/SQLite, shapefile, ZIP) are judged,
        reading a few bytes: cheap enough to ask before every read.

    Returns
    -------
    str or None
        A sentence for a message ("the XML ends before its root element <wfs:...> is
        closed"), or None when the file looks complete or its format is not one judged here.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(_HEAD)
            fh.seek(max(0, size - _TAIL))
            tail = fh.read()
    except OSError:
        return None
    if not head:
        return None
    if head.startswith(b"SQLite format 3\x00"):
        return _sqlite(head, size)
    if head[:4] == b"\x00\x00\x27\x0a":  # 9994, the shapefile (and .shx) magic number
        return _shapefile(path, head, size)
    if head.startswith(b"PK\x03\x04"):
        return None if b"PK\x05\x06" in tail else "the ZIP archive has no central directory " \
            "at its end"
    if not thorough:
        return None
    text = head.lstrip(b"\xef\xbb\xbf" + _BLANK)
    if text.startswith(b"<"):
        problem = _expat(path)
        if problem is not None and problem[0]:
            return f"{_xml_root(text) or 'the XML ends early'}: {problem[1]}"
        return None
    if text[:1] in (b"{", b"["):
        return _json(path, size, tail)
    return None


def _expat(path: Path) -> tuple[bool, str] | None:
    """The first well-formedness error of an XML file as (at its end, text), or None.

    An error raised only when the parser is told the input is over means the document was
    fine as far as it went and then stopped: truncated. An error on the way is damage inside.
    """
    parser = expat.ParserCreate()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                parser.Parse(chunk, False)
    except expat.ExpatError as exc:
        if exc.code == expat.errors.codes[expat.errors.XML_ERROR_JUNK_AFTER_DOC_ELEMENT]:
            return None  # a complete document with bytes after it (a NUL after </kml>)
        return False, f"{expat.errors.messages[exc.code]}, line {exc.lineno}, column " \
                      f"{exc.offset + 1}"
    except OSError:
        return None
    try:
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        return True, f"{expat.errors.messages[exc.code]} at line {exc.lineno}"
    return None


def _xml_root(head: bytes) -> str | None:
    """The truncation said with the root element's name, which tells the reader what it is."""
    # The root is the first element that is no declaration, comment or processing instruction.
    body = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", b"", head, flags=re.S)
    root = _XML_ROOT.search(body)
    if root is None:
        return None
    return (f"the XML ends before its root element <{root.group(1).decode(errors='replace')}>"
            " is closed")


def _json(path: Path, size: int, tail: bytes) -> str | None:
    if size > _JSON_PARSE_LIMIT:
        # Too large to parse for a message: judge by the last character.
        end = tail.rstrip(_BLANK)[-1:]
        return None if end in (b"}", b"]") else "the JSON text ends in the middle of a value"
    try:
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
        json.loads(text)
    except json.JSONDecodeError as exc:
        # "Unterminated string" is said where the string starts: it runs to the end.
        if exc.msg.startswith("Unterminated string"):
            return (f"the JSON text ends inside a string begun at line {exc.lineno}, column "
                    f"{exc.colno}")
        if exc.pos >= len(text.rstrip(" \t\r\n\x00")):
            return (f"the JSON text ends in the middle of a value (line {exc.lineno}, column "
                    f"{exc.colno}: {exc.msg})")
    return None


def _sqlite(head: bytes, size: int) -> str | None:
    if len(head) < 100:
        return f"the file has {size} bytes, fewer than a SQLite header"
    page_size = struct.unpack(">H", head[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    change_counter, pages, valid_for = struct.unpack(">I", head[24:28])[0], \
        struct.unpack(">I", head[28:32])[0], struct.unpack(">I", head[92:96])[0]
    if pages and change_counter == valid_for and size < pages * page_size:
        return (f"its header says {pages} page(s) of {page_size} bytes "
                f"({pages * page_size:,} bytes); the file has {size:,}")
    if page_size and size % page_size:
        return f"its size ({size:,} bytes) is no whole number of {page_size}-byte pages"
    return None


def _shapefile(path: Path, head: bytes, size: int) -> str | None:
    if len(head) < 100:
        return f"the file has {size} bytes, fewer than a shapefile header"
    declared = struct.unpack(">i", head[24:28])[0] * 2  # in 16-bit words
    if size < declared:
        return f"its header says {declared:,} bytes; the file has {size:,}"
    if path.suffix.lower() == ".shp":
        for sidecar in sorted(path.parent.glob(path.stem + ".*")):
            if sidecar.suffix.lower() == ".dbf":
                evidence = _dbf(sidecar)
            elif sidecar.suffix.lower() == ".shx":
                evidence = _shapefile(sidecar, sidecar.read_bytes()[:100],
                                      sidecar.stat().st_size)
            else:
                continue
            if evidence:
                return f"{sidecar.name}: {evidence}"
    return None


def _dbf(path: Path) -> str | None:
    size = path.stat().st_size
    with path.open("rb") as fh:
        header = fh.read(12)
    if len(header) < 12:
        return f"the file has {size} bytes, fewer than a dBASE header"
    records, header_len, record_len = struct.unpack("<IHH", header[4:12])
    declared = header_len + records * record_len
    if size < declared:
        return f"its header says {records:,} record(s), {declared:,} bytes; the file has {size:,}"
    return None
