"""What the server knows of a request that pygeoapi does not pass on to providers.

pygeoapi hands a provider its bbox already turned into the corners of a storage-CRS box (which
covers more than the box the client drew) and never passes `filter-crs` for BBOX envelopes,
nor anything of the request's deadline, client or cost. The WSGI layer sets these per request;
the provider reads them.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@dataclass(frozen=True)
class RawBBox:
    """The bbox as the client sent it, in its own CRS."""

    values: tuple[float, ...]
    crs: str


FILTER_CRS: ContextVar[str | None] = ContextVar("filter_crs", default=None)
#: Whether the request's filter is CQL2 JSON (whose bbox literals pygeofilter builds in
#: another field order than its text ENVELOPE).
FILTER_JSON: ContextVar[bool] = ContextVar("filter_json", default=False)
RAW_BBOX: ContextVar[RawBBox | None] = ContextVar("raw_bbox", default=None)
#: Version of the single item the provider just read (its row's xmin): the WSGI layer sends
#: it as the response's ETag, for If-Match on writes (twin/transactions.py).
ITEM_VERSION: ContextVar[str | None] = ContextVar("item_version", default=None)


@dataclass
class RequestState:
    """One request's budget, as the WSGI layer classified it and the provider spends it.

    ``deadline`` is a :func:`time.monotonic` instant shared by every statement of the request;
    ``expensive`` requests must take a slot (see :mod:`twin.provider`); ``refusal`` is set by
    the provider when it turns the request away, so the WSGI layer can answer with the limit
    and a Retry-After instead of pygeoapi's generic error page.
    """

    deadline: float
    timeout_s: float
    client: str
    expensive: bool = False
    refusal: tuple[int, str] | None = None
    #: Open per-request resources by key (the provider's transaction per database); each
    #: has ``close()``, called by :meth:`finish`.
    resources: dict[str, Any] = field(default_factory=dict)

    def finish(self) -> None:
        """Close what the request opened (ends its transaction, frees its slots)."""
        while self.resources:
            _, resource = self.resources.popitem()
            resource.close()


REQUEST: ContextVar[RequestState | None] = ContextVar("request_state", default=None)
#: The media type a process execution asked for by ``f=`` or ``Accept`` (pygeoapi passes
#: neither to a processor); an ``outputs`` format in the execution request wins over it.
PROCESS_MEDIA_TYPE: ContextVar[str | None] = ContextVar("process_media_type", default=None)
