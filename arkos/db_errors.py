"""Driver and SQLAlchemy errors → ArkosError: 409 for conflicts, 400 for bad data, 503 for outages."""

from __future__ import annotations

import re

from sqlalchemy import exc as sa_exc

from arkos.errors import ArkosError, ErrorCode, internal_error
from arkos.naming import to_camel

_UNIQUE_SQLITE = re.compile(r"UNIQUE constraint failed: ([\w., ]+)")
_NOT_NULL_SQLITE = re.compile(r"NOT NULL constraint failed: ([\w.]+)")
_PG_KEY = re.compile(r"Key \(([^)]+)\)")

def is_db_error(exc: BaseException) -> bool:
    return isinstance(exc, sa_exc.SQLAlchemyError | ConnectionError | OSError | TimeoutError)

def _sqlstate(exc: sa_exc.DBAPIError) -> str | None:
    orig = exc.orig
    return getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)

def _detail(exc: sa_exc.DBAPIError) -> str:
    """asyncpg keeps `Key (email)=(...) already exists.` in `detail`, not in the message."""
    orig = exc.orig
    detail = getattr(orig, "detail", None) or getattr(getattr(orig, "__cause__", None), "detail", None)
    return detail if isinstance(detail, str) else ""

def _fields(text: str, pattern: re.Pattern[str]) -> list[str]:
    match = pattern.search(text)
    if not match:
        return []
    return [part.strip().split(".")[-1] for part in match.group(1).split(",")]

def translate_db_error(exc: BaseException) -> ArkosError:
    """Map a database failure to the error a client should see; never leaks SQL or values."""
    if isinstance(exc, sa_exc.IntegrityError):
        return _integrity(exc)
    if isinstance(exc, sa_exc.DataError):
        return ArkosError(ErrorCode.VALIDATION, "A value does not fit its column (type, length or range)")
    if isinstance(exc, sa_exc.DBAPIError):
        state = _sqlstate(exc) or ""
        text = str(exc.orig)
        if state.startswith("22"):
            return ArkosError(ErrorCode.VALIDATION, "A value does not fit its column (type, length or range)")
        if state == "57014":
            return ArkosError(ErrorCode.SERVICE_UNAVAILABLE, "The database took too long to answer",
                              meta={"reason": "statement_timeout"})
        if "database is locked" in text:
            return ArkosError(ErrorCode.SERVICE_UNAVAILABLE, "The database is busy, please retry")
    if _is_outage(exc):
        return ArkosError(ErrorCode.SERVICE_UNAVAILABLE, "The database is unavailable, please retry shortly",
                          meta={"reason": "database_unavailable"})
    # Anything else (bad SQL, a closed result, ...) is a bug of ours, not an outage: a logged 500.
    return internal_error(exc)


def _is_outage(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.TimeoutError | ConnectionError | OSError | TimeoutError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        state = _sqlstate(exc) or ""
        return (exc.connection_invalidated or state.startswith(("08", "57P"))
                or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError))
    return False

def _integrity(exc: sa_exc.IntegrityError) -> ArkosError:
    state = _sqlstate(exc) or ""
    text = str(exc.orig)
    if state == "23505" or "UNIQUE constraint failed" in text:
        fields = _fields(_detail(exc) or text, _PG_KEY) or _fields(text, _UNIQUE_SQLITE)

        names = [to_camel(f) for f in fields]
        message = f"Duplicate unique field(s) {', '.join(repr(n) for n in names)}" if names else None
        return ArkosError(ErrorCode.DUPLICATE_RECORDS, message, meta={"fields": names})
    if state == "23503" or "FOREIGN KEY constraint failed" in text:
        return ArkosError(ErrorCode.FOREIGN_KEY_VIOLATION)
    if state == "23502" or "NOT NULL constraint failed" in text:
        return ArkosError(ErrorCode.VALIDATION, "A required field is missing")
    return ArkosError(ErrorCode.VALIDATION, "The data violates a database constraint")
