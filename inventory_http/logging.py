"""Structured logs: one JSON object per line, each carrying the current request id.

The request id lives in a context variable set by the request-id middleware, so every line
logged while serving a request (by the app, the core or an adapter) names it. The formatter
writes only the record's message and the fields passed in ``extra=``; nothing here reads
requests, so headers, cookies and bodies never reach a log line unless someone logs them.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = [
    "JsonFormatter",
    "RequestIdFilter",
    "configure_logging",
    "request_id_var",
]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "inventory_request_id", default=None
)
"""The id of the request being served by this thread (``None`` outside a request)."""

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "request_id", "taskName"}
)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (from :data:`request_id_var`) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drops it."""
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON: time, level, logger, message, request id, the
    ``extra`` fields, and the exception (type and traceback) if any."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single JSON line."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


_HANDLER_MARK = "_inventory_json_handler"


def configure_logging(level: str, stream: TextIO | None = None) -> logging.Handler:
    """Send every log record to ``stream`` (default stderr) as JSON lines at ``level``.

    Idempotent: a handler installed by an earlier call is replaced, so building several apps in
    one process (tests, reloads) does not duplicate lines. Returns the handler installed.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(level)
    return handler
