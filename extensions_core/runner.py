"""Moved: extensions_core.executions.outcome (what every run shares) and .in_process (runs in the worker).

Kept so that code importing the old path keeps working.
"""

from extensions_core.executions.in_process import run_in_process
from extensions_core.executions.outcome import (
    CANCEL_GRACE_SECONDS,
    CANCEL_POLL_SECONDS,
    CPU_ALLOWANCE_SECONDS,
    HARD_TIMEOUT_GRACE_SECONDS,
    MAX_LOG_LINE_CHARS,
    MAX_LOG_LINES,
    LogBuffer,
    Outcome,
    RunControl,
    RunLimits,
    failure_from_exception,
    json_result,
    rss_bytes,
)

__all__ = [
    "CANCEL_GRACE_SECONDS",
    "CANCEL_POLL_SECONDS",
    "CPU_ALLOWANCE_SECONDS",
    "HARD_TIMEOUT_GRACE_SECONDS",
    "MAX_LOG_LINES",
    "MAX_LOG_LINE_CHARS",
    "LogBuffer",
    "Outcome",
    "RunControl",
    "RunLimits",
    "failure_from_exception",
    "json_result",
    "rss_bytes",
    "run_in_process",
]
