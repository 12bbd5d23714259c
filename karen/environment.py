"""The one place that reads the process environment for settings.

Every setting the platform takes from the environment goes through `env_*`
here, so the README's configuration table and the code cannot drift apart.
"""

from __future__ import annotations

import os
from pathlib import Path

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


class EnvironmentError_(ValueError):
    """A variable is set to a value its setting cannot take."""


def env_str(name: str, default: str = "") -> str:
    """Return the variable *name*, or *default* when it is unset."""
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    """Return the variable *name* read as a boolean (1/0, true/false, yes/no, on/off)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise EnvironmentError_(f"{name} must be true or false (got {raw!r}).")


def env_float(name: str, default: float) -> float:
    """Return the variable *name* read as a number."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise EnvironmentError_(f"{name} must be a number (got {raw!r}).") from None


def env_list(name: str, default: list[str], separator: str = ",") -> list[str]:
    """Return the variable *name* split on *separator*, blanks dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(separator) if item.strip()]


def env_paths(name: str, default: list[Path], base: Path) -> list[Path]:
    """Return the variable *name* as paths separated by os.pathsep, relative ones under *base*."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [(base / item).resolve() for item in raw.split(os.pathsep) if item.strip()]


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    """Return the variable *name*, which must be one of *choices* (case-insensitive), or *default* when unset."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word not in choices:
        raise EnvironmentError_(f"{name} must be one of {', '.join(choices)} (got {raw!r}).")
    return word
