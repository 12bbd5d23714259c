"""Shared helpers of the benchmark scripts: an isolated Django setup, statistics and the report.

Each script in bench/ imports this module (it sits next to them, so running
`python bench/<script>.py` finds it) and stays runnable on its own.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def temp_dir(prefix: str) -> Path:
    """Return a fresh temporary folder removed when the script exits."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path


def setup_django(*, env: dict[str, str] | None = None, migrate: bool = True) -> Path:
    """Point Django at a fresh KAREN_VAR_DIR (its own SQLite database), set it up and migrate.

    *env* is applied before django.setup() (KAREN_EXTENSION_DIRS, ...).
    Return the var folder. Subprocesses started afterwards inherit the same
    environment, hence the same database.
    """
    var_dir = temp_dir("karen-bench-var-")
    (var_dir / "static").mkdir()  # STATIC_ROOT, so whitenoise does not warn
    os.environ["DJANGO_SETTINGS_MODULE"] = "karen.settings"
    os.environ["KAREN_VAR_DIR"] = str(var_dir)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("KAREN_ENTRY_POINTS", "false")
    for key in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(key, None)
    os.environ.update(env or {})
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
    return var_dir


# --- statistics ------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the *fraction* percentile (0..1) of *values*, nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[index]


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def best_and_median(function, runs: int) -> tuple[float, float, list[float]]:
    """Call *function* *runs* times; return (best, median, all) wall seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), times


# --- report ----------------------------------------------------------------------


def verdict(value: float, target: float) -> str:
    """PASS when *value* is at most *target*."""
    return "PASS" if value <= target else "MISS"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.3f} ms"


def table(rows: list[Sequence[Any]], header: Sequence[str]) -> None:
    """Print *rows* as an aligned text table."""
    cells = [[str(cell) for cell in header]] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    line = "  ".join("-" * width for width in widths)
    print("  ".join(cell.ljust(width) for cell, width in zip(cells[0], widths, strict=True)))
    print(line)
    for row in cells[1:]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def result(figures: dict[str, Any]) -> None:
    """Print the final machine-readable line."""
    print("RESULT " + json.dumps(figures, sort_keys=True))


def machine() -> str:
    return f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
