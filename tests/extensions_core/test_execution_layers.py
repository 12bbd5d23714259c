"""A run's modules import down the layers only: no import (at the top or inside a function) runs back up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "extensions_core"
# module -> modules it must never import, however late.
NEVER = {
    "executions/states.py": ["extensions_core"],
    "executions/outcome.py": ["extensions_core.services", "extensions_core.models"],
    "executions/in_process.py": ["extensions_core.services", "extensions_core.models"],
    "executions/sandbox.py": ["extensions_core.services", "extensions_core.models"],
    "executions/sandbox_child.py": ["extensions_core.services", "extensions_core.models"],
    "executions/transitions.py": ["extensions_core.services"],
    "services/event_records.py": ["extensions_core.services.executions", "extensions_core.services.events"],
    "services/executions.py": ["extensions_core.services.events", "extensions_core.services.running"],
}


def imported(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("module", sorted(NEVER))
def test_a_run_module_never_imports_up(module):
    forbidden = NEVER[module]
    found = [
        name
        for name in imported(PACKAGE / module)
        if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden)
    ]

    assert found == []


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def late():\n    from extensions_core.services.events import event_emit\n")

    assert imported(sample) == ["extensions_core.services.events"]
