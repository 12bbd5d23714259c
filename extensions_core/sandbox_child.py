"""Moved: extensions_core.executions.sandbox_child (isolated runs, the sandbox's side). Kept for the old path."""

from extensions_core.executions.sandbox_child import Execute, child_main

__all__ = ["Execute", "child_main"]
