"""PostgreSQL's binary COPY format, written from Arrow arrays in bulk.

A text COPY makes the client format each value and the server parse it back (a geometry as hex
twice over: 80 % more bytes). In the binary format a row is its fields' lengths and bytes as
the server stores them, so a batch of Arrow columns becomes one buffer through Arrow's own
kernels: no Python object per value, and a geometry's WKB goes through as it is (PostGIS'
`geometry_recv` reads EWKB). The layout is PostgreSQL's (docs: "COPY", "Binary Format"):
a signature, then per row a 16-bit field count and per field a 32-bit length (-1: NULL) and
the value in network byte order, then a 16-bit -1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from twin.registry import FieldType

#: The header: signature, flags (no OIDs), header extension length 0.
SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
TRAILER = b"\xff\xff"

#: A value's bytes as they go into the stream: the Arrow types each column type takes.
#: ``bytes`` is a column's binary form given as it is (EWKB for a geometry).
BYTES = "bytes"
Kind = FieldType | str

_NULL = pa.scalar(b"\xff\xff\xff\xff", pa.binary())
#: Days from 1970-01-01 (Arrow's date32) to 2000-01-01 (PostgreSQL's epoch).
_PG_EPOCH_DAYS = 10_957
_INT4 = (-(2**31), 2**31 - 1)


def is_text(array: pa.Array) -> bool:
    """Whether ``array`` holds text (Arrow's string or large string)."""
    return pa.types.is_string(array.type) or pa.types.is_large_string(array.type)


def rows(columns: Sequence[tuple[pa.Array, Kind]]) -> pa.Buffer | None:
    """The rows of ``columns`` (equal lengths, in the COPY's column order) in the binary
    format, without signature and trailer; None when a column's Arrow type is not one this
    module writes for its kind (the caller then formats the values itself)."""
    if not columns:
        return None
    pieces: list[pa.Array | pa.Scalar] = [pa.scalar(len(columns).to_bytes(2, "big"),
                                                    pa.binary())]
    for array, kind in columns:
        field = _field(array, kind)
        if field is None:
            return None
        pieces += field
    # One pass over every row: a join per field would copy each row once per field.
    return _data(pc.binary_join_element_wise(*pieces, b""))


def _field(array: pa.Array, kind: Kind) -> list[pa.Array | pa.Scalar] | None:
    """Length and bytes of each value of ``array`` (scalars where every row has the same),
    or None when its type does not fit."""
    if pa.types.is_null(array.type):
        return [_NULL]
    if kind in (FieldType.TEXT, BYTES):
        if not (pa.types.is_string(array.type) or pa.types.is_binary(array.type)
                or pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)):
            return None
        if kind is FieldType.TEXT and pa.types.is_binary(array.type):
            return None
        data = array.cast(pa.binary())
        lengths = pc.fill_null(pc.binary_length(data), -1).to_numpy(zero_copy_only=False)
        return [_big_endian(lengths, ">i4", 4), data.fill_null(b"")]
    if kind is FieldType.INTEGER:
        if not pa.types.is_integer(array.type):
            return None
        if len(array) and array.null_count < len(array):
            low, high = pc.min_max(array).values()
            if low.as_py() < _INT4[0] or high.as_py() > _INT4[1]:
                return None  # the server would refuse it; the row path names the row
        return _fixed(array, ">i4", 4)
    if kind is FieldType.DOUBLE:
        if not pa.types.is_floating(array.type):
            return None
        return _fixed(array.cast(pa.float64()), ">f8", 8)
    if kind is FieldType.DATE:
        if not pa.types.is_date32(array.type):
            return None
        return _fixed(array.cast(pa.int32()), ">i4", 4, shift=-_PG_EPOCH_DAYS)
    return None


def _fixed(array: pa.Array, dtype: str, width: int, shift: int = 0
           ) -> list[pa.Array | pa.Scalar]:
    """A fixed-width value per row, NULL where the array has none."""
    values = array.fill_null(0).to_numpy(zero_copy_only=False)
    if shift:
        values = values.astype(np.int64) + shift
    value = _big_endian(values, dtype, width)
    length = pa.scalar(width.to_bytes(4, "big"), pa.binary())
    if not array.null_count:
        return [length, value]
    missing = array.is_null()
    return [pc.if_else(missing, _NULL, length), pc.if_else(missing, b"", value)]


def _big_endian(values: np.ndarray, dtype: str, width: int) -> pa.Array:
    """Numbers as binary values of ``width`` bytes in network byte order."""
    buffer = pa.py_buffer(np.ascontiguousarray(values, dtype=dtype).tobytes())
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(values), [None, buffer])
    return fixed.cast(pa.binary())


def _data(array: pa.Array) -> pa.Buffer:
    """The concatenated values of a binary array (no nulls), as one buffer."""
    _, offsets, data = array.buffers()
    ends = np.frombuffer(offsets, dtype=np.int32, count=len(array) + 1, offset=array.offset * 4)
    return data[int(ends[0]):int(ends[-1])]
