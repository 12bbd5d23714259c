"""The message broker as the platform uses it: publishing that fails fast while it is down, and noticing lost messages.

The database is the source of truth for every run; a message only tells a
worker to look. So a publish that fails leaves the run pending for the reaper
to send again, and a broker that lost its data (a Redis restart without
persistence) is noticed once, by one process, which sends every pending run
again. A duplicate message is harmless: only one delivery can claim a run.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from typing import Any

from celery import current_app
from django.conf import settings

logger = logging.getLogger(__name__)

# Publishing gives up quickly when the broker is down: the row stays pending and the reaper sends it later.
# One retry: after a Redis restart the pooled connection is stale, and the retry opens a new one.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.2, "interval_step": 0.2, "interval_max": 0.2}
# After a failed publish, this process does not try again for this long (requests stay fast during an outage).
PUBLISH_PAUSE_SECONDS = 2.0
# The key whose absence tells that the broker lost its data since it was written.
EPOCH_KEY = "karen:broker-epoch"


class BrokerUnavailableError(Exception):
    """The broker could not take a message (down, unreachable, or paused after a recent failure)."""


class _PublishCircuit:
    """Remembers a recent publish failure of this process, so the next publishes fail at once instead of waiting."""

    def __init__(self) -> None:
        self.paused_until = 0.0
        self.last_error = ""
        self.lock = threading.Lock()

    def check(self) -> None:
        if time.monotonic() < self.paused_until:
            raise BrokerUnavailableError(f"the broker failed moments ago ({self.last_error}); not retried yet")

    def failed(self, error: BaseException) -> None:
        with self.lock:
            self.paused_until = time.monotonic() + PUBLISH_PAUSE_SECONDS
            self.last_error = f"{type(error).__name__}: {error}"

    def succeeded(self) -> None:
        self.paused_until = 0.0


_circuit = _PublishCircuit()


def broker_publish(task_name: str, *, args: list[Any], task_id: str, countdown: float | None = None) -> None:
    """Publish one task message; raise BrokerUnavailableError (fast) when the broker cannot take it."""
    _circuit.check()
    try:
        current_app.send_task(
            task_name, args=args, task_id=task_id, countdown=countdown, retry=True, retry_policy=PUBLISH_RETRY_POLICY
        )
    except Exception as error:  # noqa: BLE001 - any broker failure (connection, timeout, channel) is "unavailable"
        _circuit.failed(error)
        raise BrokerUnavailableError(f"{type(error).__name__}: {error}") from error
    _circuit.succeeded()


_epoch_client = None


def _redis_client():
    global _epoch_client
    if _epoch_client is None:
        import redis

        _epoch_client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=2, retry=None
        )
    return _epoch_client


def broker_lost_messages() -> bool:
    """Return True once, to one process, after the broker lost its stored messages (or on its first use).

    Redis without persistence forgets queued messages when it restarts. An
    epoch key written to it disappears with them: the process that writes it
    again (SET NX: one winner) is told to send every pending run again. The
    filesystem transport of the embedded default keeps its messages on disk.
    Raise nothing: an unreachable broker is reported as "not lost (yet)".
    """
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        return False
    try:
        return bool(_redis_client().set(EPOCH_KEY, uuid.uuid4().hex, nx=True))
    except Exception as error:  # noqa: BLE001 - the broker is down: the next pass asks again
        logger.debug("Could not check the broker's epoch: %s", error)
        return False


def broker_oldest_waiting() -> str | None:
    """Return the task id of the oldest message still waiting in the run queue; None if empty or unknown.

    Queues are first in, first out: every message sent after this one waits
    behind it, so none of them is lost. The reaper uses it not to resend what
    a backlog still holds. Raise nothing: a broker that cannot say answers None.
    """
    from karen.celery import app

    queue = app.conf.task_default_queue
    try:
        if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
            # kombu's Redis transport pushes on the left and pops on the right: the oldest is the last item.
            raw = _redis_client().lindex(queue, -1)
        else:
            raw = _oldest_file(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", ""), queue)
        if raw is None:
            return None
        task_id = json.loads(raw)["headers"]["id"]
    except Exception as error:  # noqa: BLE001 - down, unreadable or a foreign message: it cannot say
        logger.debug("Could not read the oldest waiting message: %s", error)
        return None
    return str(task_id) if task_id else None


def _oldest_file(folder: str, queue: str) -> bytes | None:
    """The filesystem transport's oldest message of *queue* (it consumes files in name order)."""
    suffix = f".{queue}.msg"
    for _ in range(3):  # a worker may take the file between the listing and the read
        names = sorted(name for name in os.listdir(folder) if name.endswith(suffix))
        if not names:
            return None
        try:
            with open(os.path.join(folder, names[0]), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            continue
    return None
