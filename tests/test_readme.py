"""The README's command examples work as written: run through ./karenctl, naming commands that exist."""

from __future__ import annotations

import re

from django.core.management import get_commands

from tests.conftest import ROOT


def readme_code_lines() -> list[str]:
    """Return the lines inside the README's fenced code blocks."""
    lines, inside = [], False
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside:
            lines.append(line)
    return lines


def test_readme_examples_call_manage_py_through_karenctl():
    bare = [line for line in readme_code_lines() if re.search(r"\bpython3? manage\.py\b", line)]

    assert bare == []


def test_every_command_a_readme_example_runs_exists():
    named = {match for line in readme_code_lines() for match in re.findall(r"\./karenctl manage (\S+)", line)}

    assert named and named <= set(get_commands())
