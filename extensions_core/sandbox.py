"""Moved: extensions_core.executions.sandbox (isolated runs, the worker's side). Kept for the old import path."""

from extensions_core.executions.sandbox import Sandbox, current_sandbox_pid, run_isolated

__all__ = ["Sandbox", "current_sandbox_pid", "run_isolated"]
