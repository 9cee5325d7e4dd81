"""The batch path of a load: a batch that needs no conversion, repair or refusal goes from
GDAL's Arrow arrays to the stage as one binary COPY buffer, with no Python object per record.

The row path (:func:`etl.core._prepare`) converts each value, checks and repairs each geometry
and names every problem with its row and field. Most batches of a real delivery have none: a
parcel file of a million records is text that is already trimmed, numbers already numbers,
polygons already valid in EPSG:25833. For such a batch the row path's result is known without
running it: every value as it is, every polygon as a MultiPolygon of itself. This module decides
in bulk (Arrow compute kernels, shapely's vectorised GEOS calls) whether a batch is such a batch
and, if it is, writes what the row path would have staged; if any record is not plain, it says
no and the batch takes the row path, whose messages stay the only ones a user ever sees.
tests/test_batch_path.py loads files both ways and compares the staged bytes.

A source opts in by handing the core its batch as Arrow arrays (:attr:`Part.arrow`), which
promises that its key and record checks (``key_problem``, ``record_problems``) have passed.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from etl import copy_binary, geometry
from etl.sources.base import Part, Source
from twin.registry import Collection, FieldType

#: Every character ``str.strip()`` removes (``str.isspace``; tests/test_batch_path.py checks the
#: list against all of Unicode, which takes a tenth of a second: too long for every `twin load`).
SPACES = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
          "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
#: The same as a class for Arrow's regular expressions (RE2): a text that begins or ends with
#: one, or is empty, is changed by the row path.
_SPACE = "".join(f"\\x{{{ord(c):x}}}" for c in SPACES)
_UNTRIMMED = f"^[{_SPACE}]|[{_SPACE}]$|^$"

#: WKB headers (little-endian, 2D) of the polygons the row path keeps as they are.
_POLYGON = b"\x01\x03\x00\x00\x00"
_MULTIPOLYGON = b"\x01\x06\x00\x00\x00"
#: EWKB's flag for "an SRID follows the type".
_EWKB_SRID = 0x20000000


def encode(source: Source, part: Part, crs: str, *, origin: bool = True) -> pa.Buffer | None:
    """The batch's rows for the core's binary COPY, or None: take the row path. With
    ``origin`` each row ends with its feature index and file (the stage's ``_row, _path``)."""
    coll, batch = part.collection, part.batch
    if part.arrow is None or batch.wkb is None or len(batch.wkb) != len(batch):
        return None
    columns: list[tuple[pa.Array, copy_binary.Kind]] = []
    for f in coll.loaded_fields:
        array = part.arrow.get(f.name)
        if array is None:
            array = pa.nulls(len(batch))
        if not _plain(array, f.type, f.nullable):
            return None
        columns.append((array, f.type))
    geometries = _ewkb(source, coll, part, crs)
    if geometries is None:
        return None
    columns.append((geometries, copy_binary.BYTES))
    if origin:
        columns += [(pa.array(batch.rows, pa.int32()), FieldType.INTEGER),
                    (pa.repeat(pa.scalar(str(part.path)), len(batch)), FieldType.TEXT)]
    return copy_binary.rows(columns)


def _plain(array: pa.Array, ftype: FieldType, nullable: bool) -> bool:
    """Whether :func:`etl.core._converted` would give every value back as it is."""
    if not nullable and array.null_count:
        return False
    if pa.types.is_null(array.type):
        return True
    if ftype is FieldType.TEXT:
        if not copy_binary.is_text(array):
            return False
        return not _untrimmed(array)
    if ftype is FieldType.DOUBLE:
        # NaN is read as no value and an infinity refused: both are the row path's to say.
        return pa.types.is_floating(array.type) and not pc.any(
            pc.invert(pc.is_finite(array))).as_py()
    if ftype is FieldType.INTEGER:
        return pa.types.is_integer(array.type)
    if ftype is FieldType.DATE:
        return pa.types.is_date32(array.type)
    return False


def _untrimmed(array: pa.Array) -> bool:
    """Whether a text of ``array`` is empty or begins or ends with white space.

    Read off the first and last byte of each value: an ASCII space there says yes at once,
    a byte of a longer UTF-8 character (umlauts; also the few non-ASCII spaces) sends the
    column to the regular expression; most columns never get that far.
    """
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    if not valid.any():
        return False
    _, offsets, data = array.buffers()[:3]
    kind = np.int64 if pa.types.is_large_string(array.type) else np.int32
    ends = np.frombuffer(offsets, kind, len(array) + 1, array.offset * np.dtype(kind).itemsize)
    first, after = ends[:-1][valid], ends[1:][valid]
    if (after <= first).any():
        return True
    text = np.frombuffer(data, np.uint8)
    edges = np.concatenate([text[first], text[after - 1]])
    if _ASCII_SPACE[edges].any():
        return True
    if (edges >= 0x80).any():
        return pc.any(pc.match_substring_regex(array, _UNTRIMMED)).as_py()
    return False


#: Which bytes are ASCII characters that ``str.strip()`` removes.
_ASCII_SPACE = np.array([chr(b).isspace() for b in range(256)]) & (np.arange(256) < 0x80)


def _ewkb(source: Source, coll: Collection, part: Part, crs: str) -> pa.Array | None:
    """The batch's polygons as the EWKB MultiPolygons the row path would stage, or None when
    any needs more than a new header (a transform, a repair, a refusal, heights dropped)."""
    batch, wkb = part.batch, part.batch.wkb
    if coll.geometry_type != "MultiPolygon" or geometry.transformer_to_storage(crs) is not None:
        return None
    if wkb.null_count or not pa.types.is_binary(wkb.type):
        return None
    heads = pc.binary_slice(wkb, 0, 5)
    polygon = pc.equal(heads, pa.scalar(_POLYGON, pa.binary()))
    multi = pc.equal(heads, pa.scalar(_MULTIPOLYGON, pa.binary()))
    if not pc.all(pc.or_kleene(polygon, multi)).as_py():
        return None
    geoms = batch.geometries
    if shapely.is_missing(geoms).any() or shapely.is_empty(geoms).any():
        return None
    if not shapely.is_valid(geoms).all():
        return None
    if geometry.check_in_region(geoms, batch.rows, [None] * len(batch), path=str(part.path),
                                region=source.region):
        return None
    srid = coll.srid.to_bytes(4, "little")
    header = b"\x01" + (6 | _EWKB_SRID).to_bytes(4, "little") + srid
    # A Polygon becomes a MultiPolygon of one: the polygon's own WKB follows the count.
    as_multi = pc.binary_join_element_wise(
        pa.scalar(header + (1).to_bytes(4, "little"), pa.binary()), wkb, b"")
    if not pc.any(multi).as_py():
        return as_multi
    # A MultiPolygon keeps its count and polygons; only its header gains the SRID.
    end = pc.max(pc.binary_length(wkb)).as_py()
    with_srid = pc.binary_join_element_wise(
        pa.scalar(header, pa.binary()), pc.binary_slice(wkb, 5, end), b"")
    return pc.if_else(polygon, as_multi, with_srid)
