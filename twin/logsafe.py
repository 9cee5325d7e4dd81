"""Log records a client cannot forge, flood or fill with tracebacks.

Every handler of the server (gunicorn's, uvicorn's access log, pygeoapi's root handlers) gets
:class:`SafeLogFilter`. It renders the message once, escapes control characters (a newline or
CR in a `filter` would otherwise start a forged line; a NUL never reaches the file), cuts it to
a bound, and drops the traceback of a client's mistake: pygeoapi logs every 4xx with
``exc_info``, which is noise an attacker can pump into the log. Tracebacks of 5xx stay.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar

#: True while pygeoapi answers a client error (status < 500); set by the server.
CLIENT_ERROR: ContextVar[bool] = ContextVar("client_error", default=False)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape(text: str, limit: int) -> str:
    """``text`` on one line: control characters as escapes, at most ``limit`` characters kept.

    Parameters
    ----------
    text
        Anything a client may have chosen.
    limit
        Characters kept; a longer text ends with a note of how much was cut.
    """
    cut = len(text) - limit
    if cut > 0:
        text = text[:limit]
    text = _CONTROL.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)
    return f"{text}... [{cut} more characters]" if cut > 0 else text


class SafeLogFilter(logging.Filter):
    """Escapes and bounds each record's message; drops tracebacks of client errors."""

    def __init__(self, limit: int = 500) -> None:
        super().__init__()
        self.limit = limit

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "twin_safe", False):  # already done by another handler's filter
            return True
        record.twin_safe = True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = escape(message, self.limit), None
        if record.exc_info and CLIENT_ERROR.get():
            record.exc_info, record.exc_text = None, None
        return True


def install(limit: int = 500) -> None:
    """Add :class:`SafeLogFilter` to every handler the server's loggers write through."""
    names = ["", "gunicorn.error", "gunicorn.access", "uvicorn", "uvicorn.error",
             "uvicorn.access", "pygeoapi"]
    handlers = [h for name in names for h in logging.getLogger(name).handlers]
    if logging.lastResort is not None:  # used while a logger has no handler at all
        handlers.append(logging.lastResort)
    for handler in handlers:
        if not any(isinstance(f, SafeLogFilter) for f in handler.filters):
            handler.addFilter(SafeLogFilter(limit))
