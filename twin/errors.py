"""The error tree of the twin, with one table mapping errors to HTTP status and exit codes.

Every error names where it happened (file, row, field) as attributes and in its message, so
a city GIS team can find the offending record without reading a traceback.
"""

from __future__ import annotations

from http import HTTPStatus

#: What a client is told when the database is away: nothing about the database itself.
UNAVAILABLE = "The service is temporarily unavailable. Please try again later."


class TwinError(Exception):
    """Root of every error the twin raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(TwinError):
    """Settings or configuration are wrong."""


class DatabaseUnavailableError(TwinError):
    """The database does not answer (or is busy); for operators, so it names the database
    but never credentials. API clients are told only :data:`UNAVAILABLE`."""


class UnknownNameError(TwinError):
    """A collection, property or option that is not in the registry or an enum."""


def _masked(message: str) -> str:
    """``message`` with the values it echoes masked (twin.redact.redact_message): the one
    place every refusal passes, so no message, load record or CLI line shows personal data."""
    from twin.redact import redact_message  # the vocabulary is read only when needed

    return redact_message(message)


class SourceError(TwinError):
    """A source file as a whole is refused: unreadable, truncated, empty, wrong schema.

    The message is masked on construction (see :func:`_masked`): values in it are quoted
    ('...') and shown only as :func:`twin.redact.redact_message` leaves them.
    """

    #: Subclasses that build their message from parts masked already say False.
    _mask = True
    #: The load run that recorded this refusal (`twin db status --run N`), once a load has.
    run_id: int | None = None

    def __init__(self, message: str, *, path: str | None = None) -> None:
        if self._mask:
            message = _masked(message)
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)
        self.reason = message


class RecordError(SourceError):
    """One record is refused; names the row (feature index or key) and the field.

    The message and a row given as text ("12 (key)") are masked; the field is a column name
    of the file and shown as it is.
    """

    _mask = False

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        row: int | str | None = None,
        field: str | None = None,
    ) -> None:
        if isinstance(row, str):
            # "12 (key)": the key of a refused row may be anything a file holds.
            from twin.redact import mask_row

            row = mask_row(row)
        message = _masked(message)
        self.row = row
        self.field = field
        where = []
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        self.location = f"{', '.join(where)}: {message}" if where else message
        super().__init__(self.location, path=path)
        self.reason = message


class GeometryError(RecordError):
    """A geometry is missing, broken beyond repair or out of place."""


class LoadRefusedError(SourceError):
    """A load was refused as a whole; carries every record error found.

    Its message is made of counts and of the (masked) location of a record error, never of a
    value of its own; so it is not masked again.
    """

    _mask = False

    def __init__(self, message: str, *, path: str | None = None,
                 errors: list[RecordError] | None = None) -> None:
        self.errors = errors or []
        super().__init__(message, path=path)


def refused(errors: list[RecordError], *, what: str = "record(s)",
            detail: str = "") -> LoadRefusedError:
    """The refusal of a load for ``errors``: how many rows (one row may fail in several
    fields), ``detail`` after that, and the first error's place."""
    rows = len({(e.path, e.row) for e in errors})
    return LoadRefusedError(f"{rows} {what} refused{detail}; nothing was changed. First: "
                            f"{errors[0].location}", path=errors[0].path, errors=errors)


# Order matters: the first matching class (most specific first) wins.
STATUS_CODES: list[tuple[type[TwinError], HTTPStatus, int]] = [
    (DatabaseUnavailableError, HTTPStatus.SERVICE_UNAVAILABLE, 69),  # EX_UNAVAILABLE
    (UnknownNameError, HTTPStatus.BAD_REQUEST, 64),  # EX_USAGE
    (LoadRefusedError, HTTPStatus.UNPROCESSABLE_ENTITY, 65),  # EX_DATAERR
    (RecordError, HTTPStatus.UNPROCESSABLE_ENTITY, 65),
    (SourceError, HTTPStatus.UNPROCESSABLE_ENTITY, 66),  # EX_NOINPUT
    (ConfigurationError, HTTPStatus.INTERNAL_SERVER_ERROR, 78),  # EX_CONFIG
    (TwinError, HTTPStatus.INTERNAL_SERVER_ERROR, 70),  # EX_SOFTWARE
]


def http_status(error: BaseException) -> HTTPStatus:
    """The HTTP status that answers ``error``."""
    for cls, status, _ in STATUS_CODES:
        if isinstance(error, cls):
            return status
    return HTTPStatus.INTERNAL_SERVER_ERROR


def exit_code(error: BaseException) -> int:
    """The process exit status for ``error`` (sysexits.h values)."""
    for cls, _, code in STATUS_CODES:
        if isinstance(error, cls):
            return code
    return 70
