"""An in-process run keeps its INFO lines under a worker logging at WARNING, and the worker's own log is unchanged."""

from __future__ import annotations

import logging

import pytest

from extensions_core.executions.in_process import run_in_process
from extensions_core.executions.outcome import RunLimits


class _Control:
    def is_cancel_requested(self) -> bool:
        return False

    def heartbeat(self, log) -> None:
        pass


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def worker_log():
    """The root logger as a worker started with --loglevel WARNING has it, with its console handler."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    console = _Collect()
    root.handlers = [console]
    root.setLevel(logging.WARNING)
    explicit = logging.getLogger("karen-test.explicit")
    explicit.setLevel(logging.INFO)
    yield console
    root.handlers = handlers
    root.setLevel(level)
    explicit.setLevel(logging.NOTSET)


def task(context, word: str) -> dict:
    logging.getLogger("karen.tasks.lab.words").info("own logger: %s", word)
    logging.getLogger("some.library").info("module logger: %s", word)
    logging.getLogger("some.library").warning("warned: %s", word)
    return {"word": word}


def run(word: str):
    return run_in_process(task, lambda is_cancelled: None, {"word": word}, RunLimits(), _Control(), lambda stop: None)


def test_a_runs_info_lines_are_kept_and_the_worker_log_shows_what_it_showed(worker_log):
    first = run("one")

    messages = [line[2] for line in first.log]
    assert messages == ["karen.tasks.lab.words: own logger: one", "some.library: module logger: one",
                        "some.library: warned: one"]  # fmt: skip
    assert worker_log.messages == ["warned: one"]
    # Outside a run, as before: INFO of a logger at the root's level is not shown, of one with its own level is.
    logging.getLogger("some.library").info("between runs")
    logging.getLogger("karen-test.explicit").info("explicitly at INFO")
    assert worker_log.messages == ["warned: one", "explicitly at INFO"]


def test_later_runs_do_not_touch_the_logging_levels(worker_log, monkeypatch):
    run("one")
    changes = []
    monkeypatch.setattr(logging.Logger, "setLevel", lambda self, level: changes.append((self.name, level)))

    second = run("two")

    assert changes == []
    assert [line[2] for line in second.log][0] == "karen.tasks.lab.words: own logger: two"
    assert worker_log.messages == ["warned: one", "warned: two"]


def test_a_root_raised_again_after_a_run_is_lowered_again_for_the_next(worker_log):
    run("one")
    logging.getLogger().setLevel(logging.ERROR)

    second = run("two")

    assert len(second.log) == 3
    assert worker_log.messages == ["warned: one"]  # the worker now logs errors only: as it asked
