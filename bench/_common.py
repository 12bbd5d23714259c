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


# --- CPU of the whole machine over a measured window --------------------------------------------------


class MachineCpu:
    """Busy CPU seconds of the whole machine (every process: workers, PostgreSQL, Redis), sampled from /proc/stat.

    Throughput on 2 shared cores moves by 20-30 % from run to run; the CPU a run costs the machine moves less.
    A thread samples every 50 ms; `per_run(start, end, n)` interpolates the busy time between two wall-clock
    moments (time.time()) known only afterwards (a drain's first start and last finish) and divides it by n.
    """

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.thread = None

    def start(self) -> None:
        import threading

        if self.thread is None:
            self.thread = threading.Thread(target=self._sample, name="machine-cpu", daemon=True)
            self.thread.start()

    def _busy(self) -> float:
        with open("/proc/stat") as handle:
            fields = [int(value) for value in handle.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return (sum(fields[:8]) - idle) / self.ticks

    def _sample(self) -> None:
        while True:
            self.samples.append((time.time(), self._busy()))
            time.sleep(0.05)

    def at(self, moment: float) -> float | None:
        before = [sample for sample in self.samples if sample[0] <= moment]
        after = [sample for sample in self.samples if sample[0] >= moment]
        if not before or not after:
            return None
        (t0, b0), (t1, b1) = before[-1], after[0]
        return b0 if t1 == t0 else b0 + (b1 - b0) * (moment - t0) / (t1 - t0)

    def per_run(self, start: float, end: float, n: int) -> float | None:
        """Machine CPU milliseconds per run between *start* and *end* (None when the window was not sampled)."""
        first, last = self.at(start), self.at(end)
        if first is None or last is None or n <= 0:
            return None
        return (last - first) / n * 1000


machine_cpu = MachineCpu()
# The last drain's machine CPU per run (ms), by the name of what was drained: read by the scripts' reports.
cpu_per_run: dict[str, float | None] = {}
