"""Figures of the runs of the last hours, from ten-minute slices: a slice whose runs have all ended is read once.

The control room shows 24 h figures (per extension, per status, per hour, the
p95 duration) on every look; reading every run of the day each time costs a
scan of tens of thousands of rows per part. Here the window (the current UTC
hour and the 23 before it, as the chart draws them) is cut into ten-minute
slices. A slice that ended SETTLE_SECONDS ago with none of its runs pending or
running is read once and reused: an ended run never changes, and the platform
never deletes one (the admin offers no delete). Only the open slice and any
slice with a run still pending or running are read on every look. A background
thread reads every kept slice again every REFRESH_SECONDS (looks go on with the
old ones meanwhile), in case rows were changed behind the platform's back.
Slices hold every run; narrowing to a viewer happens on reading them, and the
reused slices' sums are kept per viewer's visibility.
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_left, bisect_right
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import DatabaseError, connection
from django.db.models import BigIntegerField, Count, Func, Max, Sum
from django.utils import timezone

from extensions_core.health import percentiles_of
from extensions_core.models import TaskExecution
from extensions_core.permissions import visible_task_ids

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
SLICE = timedelta(minutes=10)
# A slice is read fresh until it ended this long ago (several hosts' clocks stamp queued_at).
SETTLE_SECONDS = 120
# Every slice is read again after this long (rows changed outside the platform: a restore, a manual DELETE).
REFRESH_SECONDS = 3600.0
# Sums of reused slices kept, one per distinct visibility (the superusers share one).
KEPT_SUMS = 32


@dataclass(frozen=True, slots=True)
class ExtensionFigures:
    runs: int
    completed: int
    failed: int
    cpu_seconds: float
    peak_memory_bytes: int | None
    last_queued_at: datetime | None


@dataclass(slots=True)
class _Bucket:
    """One slice's runs: per (task definition, status) [extension name, runs, CPU seconds, peak memory, last queued]."""

    rows: dict[tuple[int | None, str], list]
    # Finished runs' durations per task definition, sorted; None until a reader asks for them.
    durations: dict[int | None, list[float]] | None
    read_at: float
    # None of its runs pending or running when read: it can be reused (set once read, see _read).
    final: bool = True


class Figures:
    """The runs a viewer may see within a window: per (task definition, status), per hour, and their durations."""

    def __init__(self) -> None:
        self.rows: dict[tuple[int | None, str], list] = {}
        self.hours: dict[datetime, Counter] = {}
        # Finished runs' durations, as sorted lists (one per part added up); None when not asked for.
        self.durations: list[list[float]] | None = None
        # The start of the first hour counted.
        self.since: datetime | None = None

    def add(self, hour: datetime, bucket: _Bucket, visible: set[int] | None) -> None:
        counts = self.hours.setdefault(hour, Counter())
        for key, (name, runs, cpu, peak, last) in bucket.rows.items():
            if visible is not None and key[0] not in visible:
                continue
            counts[key[1]] += runs
            _fold(self.rows, key, name, runs, cpu, peak, last)
        if self.durations is not None and bucket.durations is not None:
            for definition_id, values in bucket.durations.items():
                if visible is None or definition_id in visible:
                    self.durations[0].extend(values)

    def merged(self, other: Figures) -> Figures:
        """Return these figures with *other*'s added (neither changed)."""
        result = Figures()
        result.hours = {hour: counts.copy() for hour, counts in self.hours.items()}
        for hour, counts in other.hours.items():
            result.hours.setdefault(hour, Counter()).update(counts)
        result.rows = {key: list(row) for key, row in self.rows.items()}
        for key, row in other.rows.items():
            _fold(result.rows, key, *row)
        if self.durations is not None and other.durations is not None:
            result.durations = [values for values in (*self.durations, *other.durations) if values]
        return result

    def by_status(self) -> Counter:
        counts: Counter = Counter()
        for (_, status), row in self.rows.items():
            counts[status] += row[1]
        return counts

    def by_hour_and_status(self) -> dict[datetime, Counter]:
        return self.hours

    def by_extension(self) -> dict[str, ExtensionFigures]:
        folded: dict[str, list] = {}
        for (_, status), (name, runs, cpu, peak, last) in self.rows.items():
            row = folded.setdefault(name, [0, 0, 0, 0.0, None, None])
            row[0] += runs
            if status == TaskExecution.Status.COMPLETED:
                row[1] += runs
            elif status == TaskExecution.Status.FAILED:
                row[2] += runs
            row[3] += cpu
            row[4] = max(filter(None, (row[4], peak)), default=None)
            row[5] = max(filter(None, (row[5], last)), default=None)
        return {name: ExtensionFigures(*row) for name, row in folded.items()}

    def percentiles(self) -> dict[str, float | None]:
        """p50/p95/p99/max of the finished runs' durations (as percentile_cont computes them)."""
        runs = self.durations or []
        if len(runs) == 1:
            return percentiles_of(runs[0])
        return percentiles_of(_Merged(runs))


def _fold(rows: dict[tuple[int | None, str], list], key, name: str, runs: int, cpu: float, peak, last) -> None:
    """Add one group's figures to *rows* under *key*: runs and CPU summed, the peak and the last run the largest."""
    row = rows.get(key)
    if row is None:
        rows[key] = [name, runs, cpu, peak, last]
        return
    row[1] += runs
    row[2] += cpu
    if peak is not None and (row[3] is None or peak > row[3]):
        row[3] = peak
    if last > row[4]:
        row[4] = last


class _SliceOf(Func):
    """The start of the ten-minute slice holding a moment, in seconds since the epoch (UTC)."""

    output_field = BigIntegerField()

    def as_sql(self, compiler, connection, **extra):  # noqa: ARG002 - Func's signature
        column, params = compiler.compile(self.source_expressions[0])
        seconds = int(SLICE.total_seconds())
        if connection.vendor == "postgresql":
            return f"(floor(extract(epoch FROM {column}) / {seconds}) * {seconds})::bigint", params
        return f"(CAST(strftime('%%s', {column}) AS INTEGER) / {seconds}) * {seconds}", params


def _slice_of(moment: datetime) -> int:
    seconds = int(SLICE.total_seconds())
    return int(moment.timestamp()) // seconds * seconds


def _read(start: int, end: int | None, *, durations: bool) -> dict[int, _Bucket]:
    """Read the runs queued in the slices [start, end) (no end: up to now and beyond), one bucket per slice."""
    rows = TaskExecution.objects.order_by().filter(queued_at__gte=datetime.fromtimestamp(start, UTC))
    if end is not None:
        rows = rows.filter(queued_at__lt=datetime.fromtimestamp(end, UTC))
    read_at = time.monotonic()
    buckets: dict[int, _Bucket] = {}
    grouped = (
        rows.annotate(slice=_SliceOf("queued_at"))
        .values_list("slice", "definition_id", "status", "extension_name")
        .annotate(n=Count("*"), cpu=Sum("cpu_seconds"), peak=Max("peak_memory_bytes"), last=Max("queued_at"))
    )
    for at, definition_id, status, name, n, cpu, peak, last in grouped:
        bucket = buckets.setdefault(at, _Bucket({}, {} if durations else None, read_at))
        # One extension per definition, but runs without one (NULL) may name several: folded together.
        _fold(bucket.rows, (definition_id, status), name, n, cpu or 0.0, peak, last)
    for bucket in buckets.values():
        bucket.final = not any(status in TaskExecution.ACTIVE_STATUSES for _, status in bucket.rows)
    if durations:
        finished = rows.filter(duration_seconds__isnull=False).annotate(slice=_SliceOf("queued_at"))
        for at, definition_id, seconds in finished.values_list("slice", "definition_id", "duration_seconds"):
            bucket = buckets.setdefault(at, _Bucket({}, {}, read_at))
            bucket.durations.setdefault(definition_id, []).append(seconds)
        for bucket in buckets.values():
            for values in bucket.durations.values():
                values.sort()
    return buckets


class _SliceBook:
    """This process's reused slices (see the module's docstring), and their sums per viewer's visibility."""

    def __init__(self) -> None:
        self.slices: dict[int, _Bucket] = {}
        self.sums: OrderedDict[tuple, Figures] = OrderedDict()
        self.refreshed_at = time.monotonic()
        # The thread reading every kept slice again (every REFRESH_SECONDS), while looks go on with the old ones.
        self.refresher: threading.Thread | None = None
        self.lock = threading.Lock()

    def clear(self) -> None:
        with self.lock:
            self.slices.clear()
            self.sums.clear()
            self.refreshed_at = time.monotonic()

    def figures(self, hours: int, visible: set[int] | None, *, durations: bool) -> Figures:
        """Return the figures of the runs queued in the current hour and the *hours* - 1 before it."""
        if time.monotonic() - self.refreshed_at > REFRESH_SECONDS:
            self._refresh_in_background()
        now = timezone.now()
        since = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - (hours - 1) * HOUR
        first, step = _slice_of(since), int(SLICE.total_seconds())
        open_from = max(_slice_of(now - timedelta(seconds=SETTLE_SECONDS)), first)
        reused: dict[int, _Bucket] = {}
        fresh: dict[int, _Bucket] = {}
        for start, end in _spans(self._reuse(range(first, open_from, step), reused, durations=durations)):
            read = _read(start, end, durations=durations)
            fresh.update(read)
            self._keep(start, end, read, first)
        fresh.update(_read(open_from, None, durations=durations))
        result = _added(fresh, visible, durations=durations)
        result = self._sum(reused, visible, durations=durations).merged(result)
        result.since = since
        return result

    def _refresh_in_background(self) -> None:
        with self.lock:
            if self.refresher is not None and self.refresher.is_alive():
                return
            self.refreshed_at = time.monotonic()
            kept = sorted(self.slices)
            with_durations = any(bucket.durations for bucket in self.slices.values())
            self.refresher = threading.Thread(
                target=self._refresh, args=(kept, with_durations), name="karen-run-figures", daemon=True
            )
        self.refresher.start()

    def _refresh(self, kept: list[int], with_durations: bool) -> None:
        """Read the *kept* slices again and put them in place of the old ones."""
        try:
            read: dict[int, _Bucket] = {}
            for start, end in _spans(kept):
                read.update(_read(start, end, durations=with_durations))
            read_at = time.monotonic()
            with self.lock:
                for at in kept:
                    if at in self.slices:  # not dropped meanwhile (out of every window)
                        self.slices[at] = read.get(at) or _Bucket({}, {}, read_at)
                self.sums.clear()
        except DatabaseError:
            logger.warning("Reading the dashboard's run figures again failed; the next look tries again", exc_info=True)
            with self.lock:
                self.refreshed_at = time.monotonic() - REFRESH_SECONDS
        finally:
            connection.close()  # this thread's own connection

    def _sum(self, reused: dict[int, _Bucket], visible: set[int] | None, *, durations: bool) -> Figures:
        """The reused slices added up for *visible*, remembered while they stay the same slices."""
        key = (tuple(id(reused[at]) for at in sorted(reused)), _visibility_key(visible), durations)
        with self.lock:
            known = self.sums.get(key)
            if known is not None:
                self.sums.move_to_end(key)
                return known
        total = _added(reused, visible, durations=durations)
        with self.lock:
            self.sums[key] = total
            while len(self.sums) > KEPT_SUMS:
                self.sums.popitem(last=False)
        return total

    def _reuse(self, ended: range, result: dict[int, _Bucket], *, durations: bool) -> list[int]:
        """Put the reusable ended slices in *result*; return the others (to read)."""
        stale = []
        with self.lock:
            for at in ended:
                bucket = self.slices.get(at)
                if bucket is not None and bucket.final and (bucket.durations is not None or not durations):
                    result[at] = bucket
                else:
                    stale.append(at)
        return stale

    def _keep(self, start: int, end: int, read: dict[int, _Bucket], first: int) -> None:
        read_at, step = time.monotonic(), int(SLICE.total_seconds())
        with self.lock:
            for at in range(start, end, step):  # an empty slice is kept too
                self.slices[at] = read.get(at) or _Bucket({}, {}, read_at)
            for old in [at for at in self.slices if at < first - step]:
                del self.slices[old]


def _added(buckets: dict[int, _Bucket], visible: set[int] | None, *, durations: bool) -> Figures:
    figures = Figures()
    if durations:
        figures.durations = [[]]
    for at in sorted(buckets):
        figures.add(datetime.fromtimestamp(at - at % 3600, UTC), buckets[at], visible)
    if durations:
        figures.durations[0].sort()
    return figures


class _Merged(Sequence):
    """Sorted lists read as one sorted sequence without merging them: item k found by bisection."""

    def __init__(self, runs: list[list[float]]) -> None:
        self.runs = runs
        self.length = sum(len(values) for values in runs)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> float:  # type: ignore[override] - positions only
        if index < 0:
            index += self.length
        for mine, values in enumerate(self.runs):
            low, high = 0, len(values) - 1
            while low <= high:
                position = (low + high) // 2
                value = values[position]
                others = [run for other, run in enumerate(self.runs) if other != mine]
                # Where this value can stand in the merged order: after the smaller values of the other runs,
                # and before or after their equal ones.
                first = position + sum(bisect_left(run, value) for run in others)
                last = position + sum(bisect_right(run, value) for run in others)
                if index < first:
                    high = position - 1
                elif index > last:
                    low = position + 1
                else:
                    return value
        raise IndexError(index)


def _visibility_key(visible: set[int] | None) -> frozenset[int] | None:
    return None if visible is None else frozenset(visible)


def _spans(slices: list[int]) -> list[tuple[int, int]]:
    """Return runs of consecutive slices as [start, end) spans."""
    step = int(SLICE.total_seconds())
    spans: list[list[int]] = []
    for at in sorted(slices):
        if spans and spans[-1][1] == at:
            spans[-1][1] = at + step
        else:
            spans.append([at, at + step])
    return [(start, end) for start, end in spans]


slice_book = _SliceBook()


def run_figures(user, *, hours: int = 24, durations: bool = False) -> Figures:
    """Return the figures of the runs *user* may see queued in the current hour and the *hours* - 1 before it.

    Whole hours, as the dashboard's chart draws them: the "24 h" figures are the
    sum of the chart's 24 bars (23 to 24 hours of runs).
    """
    return slice_book.figures(hours, visible_task_ids(user), durations=durations)
