"""What the server knows of a request that pygeoapi does not pass on to providers.

pygeoapi hands a provider its bbox already turned into the corners of a storage-CRS box (which
covers more than the box the client drew) and never passes `filter-crs` for BBOX envelopes.
The WSGI layer sets these per request; the provider reads them.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@dataclass(frozen=True)
class RawBBox:
    """The bbox as the client sent it, in its own CRS."""

    values: tuple[float, ...]
    crs: str


FILTER_CRS: ContextVar[str | None] = ContextVar("filter_crs", default=None)
RAW_BBOX: ContextVar[RawBBox | None] = ContextVar("raw_bbox", default=None)
#: Version of the single item the provider just read (its row's xmin): the WSGI layer sends
#: it as the response's ETag, for If-Match on writes (twin/transactions.py).
ITEM_VERSION: ContextVar[str | None] = ContextVar("item_version", default=None)
