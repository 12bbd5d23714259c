"""Cross-process propagation latency of load/unload, against a bare SQLite row polled at the same cadence.

    cd /work/main && .venv/bin/python bench/propagation.py [--quick]

Starts N=2 follower subprocesses. Each runs django.setup(), then loops
calling `extensions_core.services.registry_sync()` with a 1 ms sleep and
prints a JSON line with time.time() whenever `registry.snapshot()` changes.
The controller (this script) toggles `extension_unload` / `extension_load` of
a trivial extension 50 times (--quick: 10), after a random pause each time so
changes land at a random phase of the followers' check interval, and measures
per change and per follower the delay from the call until the follower reports
the new state. Target: p99 <= 1 s, at the default
KAREN_CHANGE_CHECK_INTERVAL_SECONDS (0.2).

Side by side, the floor of the design: the controller UPDATEs one row of a
bare SQLite (WAL) table and raw followers SELECT it (plain sqlite3) in the same
loop, checking at the same interval; and the same with no interval (a SELECT
every 1 ms loop), the floor of the database itself.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

TARGET_SECONDS = 1.0
FOLLOWERS = 2
LOOP_SLEEP = 0.001
WAIT_LIMIT = 5.0
EXTENSION = "bench-toggle"


# --- followers (subprocesses) ------------------------------------------------------


def emit(state) -> None:
    print(json.dumps({"t": time.time(), "state": state}), flush=True)


def follow_core() -> None:
    """Follower of the platform: registry_sync() in a tight loop; report snapshot changes."""
    import django

    django.setup()
    from extensions_core.registry import registry
    from extensions_core.services import registry_sync

    last = None
    while True:
        registry_sync()
        state = registry.snapshot()
        if state != last:
            emit(state)
            last = state
        time.sleep(LOOP_SLEEP)


def follow_raw(database: str, interval: float) -> None:
    """Raw follower: SELECT the marker row at most every *interval* s, in the same 1 ms loop."""
    connection = sqlite3.connect(database, isolation_level=None)
    last, last_checked = None, float("-inf")
    while True:
        now = time.monotonic()
        if now - last_checked >= interval:
            last_checked = now
            (state,) = connection.execute("SELECT generation FROM marker WHERE id = 1").fetchone()
            if state != last:
                emit(state)
                last = state
        time.sleep(LOOP_SLEEP)


# --- controller --------------------------------------------------------------------


class Follower:
    """A follower subprocess whose JSON lines are read into a queue by a thread."""

    def __init__(self, arguments: list[str], log: Path) -> None:
        self.log = log
        self.stderr = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, __file__, *arguments],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            line = line.strip()
            if line.startswith("{"):
                self.lines.put(json.loads(line))
        self.lines.put(None)

    def wait_for(self, expected, deadline: float) -> float | None:
        """Return the time.time() at which the follower reported *expected*; None past *deadline*."""
        while True:
            remaining = deadline - time.time()
            if remaining <= 0:
                return None
            try:
                report = self.lines.get(timeout=remaining)
            except queue.Empty:
                return None
            if report is None:
                raise SystemExit(f"follower exited ({self.process.poll()}); see {self.log}:\n{self.log.read_text()}")
            if report["state"] == expected:
                return report["t"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.stderr.close()


def run_series(followers: list[Follower], initial, change, changes: int, rng: random.Random, pause: float) -> dict:
    """Wait for the initial state, then make *changes* changes; return the measured delays.

    *change(i)* makes the i-th change and returns the state followers must reach.
    """
    for follower in followers:
        if follower.wait_for(initial, time.time() + 60) is None:
            raise SystemExit(f"a follower never reached the initial state {initial}; see {follower.log}")
    from_start, from_return, call_seconds, timeouts = [], [], [], 0
    for number in range(changes):
        time.sleep(rng.uniform(0.0, pause))
        began = time.time()
        expected = change(number)
        returned = time.time()
        call_seconds.append(returned - began)
        for follower in followers:
            seen = follower.wait_for(expected, returned + WAIT_LIMIT)
            if seen is None:
                timeouts += 1
                from_start.append(WAIT_LIMIT)
                from_return.append(WAIT_LIMIT)
                continue
            from_start.append(seen - began)
            from_return.append(max(0.0, seen - returned))
    return {"from_start": from_start, "from_return": from_return, "call": call_seconds, "timeouts": timeouts}


def summary(delays: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(1000 * _common.percentile(delays, 0.50), 2),
        "p99_ms": round(1000 * _common.percentile(delays, 0.99), 2),
        "max_ms": round(1000 * max(delays), 2),
    }


def controller(changes: int, followers_count: int, check_interval: float | None) -> None:
    rng = random.Random(7)
    work = _common.temp_dir("karen-bench-propagation-")
    root = work / "extensions"
    (root / EXTENSION).mkdir(parents=True)
    manifest = {
        "name": EXTENSION,
        "version": "1.0.0",
        "display_name": "Bench Toggle",
        "description": "Loaded and unloaded by the propagation benchmark.",
        "author": "Karen bench",
        "license": "MIT",
        "category": "testing",
    }
    (root / EXTENSION / "extension.json").write_text(json.dumps(manifest), encoding="utf-8")
    (root / EXTENSION / "__init__.py").write_text(
        "from extensions_core.sdk import BaseExtension\n\n\n"
        "class ToggleExtension(BaseExtension):\n"
        "    def initialize(self):\n"
        "        self.ready = True\n",
        encoding="utf-8",
    )
    os.environ.pop("KAREN_CHANGE_CHECK_INTERVAL_SECONDS", None)  # the default unless --check-interval
    if check_interval is not None:
        os.environ["KAREN_CHANGE_CHECK_INTERVAL_SECONDS"] = str(check_interval)
    _common.setup_django(env={"KAREN_EXTENSION_DIRS": str(root), "KAREN_ENTRY_POINTS": "false"})
    from django.conf import settings

    from extensions_core.services import extension_discover, extension_load, extension_unload

    interval = float(settings.EXTENSIONS.get("CHANGE_CHECK_INTERVAL_SECONDS", 0.2))
    pause = max(interval, 0.05) * 1.25
    extension_discover(load_new=False)
    revision = extension_load(name=EXTENSION).revision

    default = " (default)" if check_interval is None else ""
    print(f"Propagation benchmark ({_common.machine()}): {followers_count} followers, {changes} changes per series, "
          f"check interval {interval:g} s{default}, follower loop sleep {LOOP_SLEEP * 1000:g} ms, "
          f"random pause 0-{pause:.2f} s before each change\n")  # fmt: skip

    # 1. The platform: extension_unload / extension_load seen through registry_sync().
    followers = [Follower(["--follower", "core"], work / f"core-{i}.log") for i in range(followers_count)]
    state = {"loaded": True}

    def toggle(_: int):
        if state["loaded"]:
            extension_unload(name=EXTENSION)
            state["loaded"] = False
            return {}
        loaded = extension_load(name=EXTENSION)
        state["loaded"] = True
        return {EXTENSION: loaded.revision}

    try:
        core = run_series(followers, {EXTENSION: revision}, toggle, changes, rng, pause)
    finally:
        for follower in followers:
            follower.stop()

    # 2. The floor: a bare SQLite row, UPDATE here, SELECT there.
    database = str(work / "raw.sqlite3")
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("CREATE TABLE marker (id INTEGER PRIMARY KEY, generation INTEGER NOT NULL)")
    connection.execute("INSERT INTO marker VALUES (1, 0)")
    generation = {"value": 0}

    def bump(_: int):
        connection.execute("UPDATE marker SET generation = generation + 1 WHERE id = 1")
        generation["value"] += 1
        return generation["value"]

    raw = {}
    for label, check in (("raw_interval", interval), ("raw_tight", 0.0)):
        followers = [
            Follower(["--follower", "raw", "--db", database, "--interval", str(check)], work / f"{label}-{i}.log")
            for i in range(followers_count)
        ]
        try:
            raw[label] = run_series(followers, generation["value"], bump, changes, rng, pause)
        finally:
            for follower in followers:
                follower.stop()

    core_start, core_return = summary(core["from_start"]), summary(core["from_return"])
    raw_interval, raw_tight = summary(raw["raw_interval"]["from_start"]), summary(raw["raw_tight"]["from_start"])
    call = summary(core["call"])
    rows = [
        ["core: load/unload call -> follower has it", core_start["p50_ms"], core_start["p99_ms"], core_start["max_ms"],
         f"{core_start['p50_ms'] / raw_interval['p50_ms']:.2f}x", f"p99 <= {TARGET_SECONDS:g} s",
         _common.verdict(core_start["p99_ms"] / 1000, TARGET_SECONDS)],
        ["core: call returned -> follower has it", core_return["p50_ms"], core_return["p99_ms"], core_return["max_ms"],
         f"{core_return['p50_ms'] / raw_interval['p50_ms']:.2f}x", "", ""],
        ["core: the service call itself (controller)", call["p50_ms"], call["p99_ms"], call["max_ms"], "", "", ""],
        [f"raw: SQLite UPDATE -> SELECT every {interval:g} s", raw_interval["p50_ms"], raw_interval["p99_ms"],
         raw_interval["max_ms"], "1.00x", "", ""],
        ["raw: SQLite UPDATE -> SELECT every loop (1 ms)", raw_tight["p50_ms"], raw_tight["p99_ms"],
         raw_tight["max_ms"], f"{raw_tight['p50_ms'] / raw_interval['p50_ms']:.3f}x", "", ""],
    ]  # fmt: skip
    _common.table(rows, ["measure (ms)", "p50", "p99", "max", "p50 vs raw@interval", "target", "verdict"])
    samples = len(core["from_start"])
    print(f"\n{samples} samples per series ({changes} changes x {followers_count} followers); "
          f"timeouts (> {WAIT_LIMIT:g} s): core {core['timeouts']}, raw {raw['raw_interval']['timeouts']}"
          f"/{raw['raw_tight']['timeouts']}")  # fmt: skip
    _common.result(
        {
            "bench": "propagation",
            "followers": followers_count,
            "changes": changes,
            "check_interval_s": interval,
            "core_from_call_ms": core_start,
            "core_from_return_ms": core_return,
            "core_call_ms": call,
            "core_timeouts": core["timeouts"],
            "raw_interval_ms": raw_interval,
            "raw_tight_ms": raw_tight,
            "ratio_core_p50_vs_raw_interval": round(core_start["p50_ms"] / raw_interval["p50_ms"], 2),
            "ratio_core_p99_vs_raw_interval": round(core_start["p99_ms"] / raw_interval["p99_ms"], 2),
            "target_p99_s": TARGET_SECONDS,
            "verdict": _common.verdict(core_start["p99_ms"] / 1000, TARGET_SECONDS),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 changes per series instead of 50 (about 15 s)")
    parser.add_argument("--changes", type=int)
    parser.add_argument("--followers", type=int, default=FOLLOWERS)
    parser.add_argument(
        "--check-interval", type=float, help="KAREN_CHANGE_CHECK_INTERVAL_SECONDS for core and raw (default: 0.2)"
    )
    parser.add_argument("--follower", choices=["core", "raw"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.follower == "core":
        follow_core()
    elif args.follower == "raw":
        follow_raw(args.db, args.interval)
    else:
        controller(args.changes or (10 if args.quick else 50), args.followers, args.check_interval)


if __name__ == "__main__":
    main()
