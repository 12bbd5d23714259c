"""What a log line is about: the request, the extension and the run being served, on every record.

Interfaces set the context (`log_context`): the request middleware its request
id, the worker the extension and execution of the run it is running. A log
record factory copies it onto every record, so any handler or formatter can
use it; with `KAREN_LOG_FORMAT=json` each line is one JSON object carrying it,
to be joined with the API's `X-Request-ID` header and a run's id.

Imported by the logging configuration before Django's apps are ready: no models.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

# The fields of the context, each a ContextVar (per thread and per asyncio task, like the work it describes).
FIELDS = ("request_id", "extension", "execution_id")
_values: dict[str, ContextVar[str]] = {name: ContextVar(f"karen_log_{name}", default="") for name in FIELDS}
# A request id taken from the client's X-Request-ID: short, and only characters that need no escaping anywhere.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@contextmanager
def log_context(**values: str) -> Iterator[None]:
    """Set context fields (`FIELDS`) for the lines logged inside the block; the previous values come back after."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown log context fields: {', '.join(sorted(unknown))}")
    tokens = [(_values[name], _values[name].set(str(value or ""))) for name, value in values.items()]
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


def log_context_values() -> dict[str, str]:
    """The context as it stands, empty fields left out."""
    return {name: value for name, variable in _values.items() if (value := variable.get())}


def request_id_bind(header: str | None) -> str:
    """Set the request id of the request this thread serves (the client's X-Request-ID when usable, else a new
    one of 32 hex characters) until `request_finished`; return it."""
    request_id = header if header and _REQUEST_ID.fullmatch(header) else uuid.uuid4().hex
    _values["request_id"].set(request_id)
    return request_id


def request_finished(**_: Any) -> None:
    """Receiver of Django's request_finished: the lines after a request are about no request."""
    _values["request_id"].set("")


def install_record_factory() -> None:
    """Have every log record of this process carry the context fields (once; keeps any factory set before)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "karen_log_context", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        for name, variable in _values.items():
            setattr(record, name, variable.get())
        return record

    factory.karen_log_context = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line: time (UTC, ms), level, logger, message, the context fields that are set,
    and the exception's traceback when there is one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("json_ensure_ascii", False)
        # The context fields are added below only when set; python-json-logger would add every one, empty too.
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, *FIELDS])
        kwargs.setdefault("rename_fields", {"exc_info": "exception"})
        super().__init__("%(message)s", *args[1:], **kwargs)

    def add_fields(self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        log_record["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        log_record["level"] = record.levelname
        log_record["logger"] = record.name
        super().add_fields(log_record, record, message_dict)
        for name in FIELDS:
            if value := getattr(record, name, ""):
                log_record[name] = value
