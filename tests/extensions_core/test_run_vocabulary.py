"""A run's status values are spelled in one place: the rest of the code names them through executions.states."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from extensions_core.executions.states import Status

PACKAGE = Path(__file__).resolve().parents[2] / "extensions_core"
# Where the values may be written out: the vocabulary itself, and the SQL built from it.
ALLOWED = {PACKAGE / "executions" / "states.py", PACKAGE / "executions" / "transitions.py"}
STATUSES = {status.value for status in Status}
QUOTED = re.compile("'({})'".format("|".join(sorted(STATUSES))))


def spelled_out(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in STATUSES or QUOTED.search(node.value):
                found.append(f"{path}:{node.lineno}: {node.value[:60]!r}")
    return found


def test_no_status_or_failure_reason_is_spelled_as_a_literal_outside_the_transitions_module():
    offenders = [
        line
        for path in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in path.parts and path not in ALLOWED
        for line in spelled_out(path)
    ]

    assert offenders == [], "use extensions_core.executions.states.Status instead:\n" + "\n".join(offenders)


def test_the_check_finds_a_literal(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('if run.status == "failed" or sql.endswith("status = \'running\'"):\n    pass\n')

    assert len(spelled_out(sample)) == 2


def test_the_old_import_paths_still_work():
    from extensions_core import runner, sandbox, sandbox_child
    from extensions_core.executions import in_process, outcome
    from extensions_core.executions import sandbox as isolated
    from extensions_core.executions import sandbox_child as child

    assert runner.Outcome is outcome.Outcome
    assert runner.run_in_process is in_process.run_in_process
    assert sandbox.run_isolated is isolated.run_isolated
    assert sandbox_child.child_main is child.child_main
