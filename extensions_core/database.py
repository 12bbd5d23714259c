"""Keeping a long-lived process's database connection usable through server restarts and failovers.

Workers, sandboxes and beat hold their connection for thousands of runs. A
server restart drops it silently: the next statement on it fails, and Django
never replaces it outside a web request. `connection_refresh()` finds a
dropped connection before use (a poll of its socket, a round trip only when
the server has said something), and `retrying()` runs a unit of work again on
a new connection when it failed because the connection dropped, for work that
is safe to repeat.
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Errors a dropped or unreachable connection raises (Django's wrappers of the driver's).
CONNECTION_ERRORS = (OperationalError, InterfaceError)
# Waits between attempts while the server is unreachable: quick at first (a restart takes ~1 s), then capped.
RETRY_DELAYS_SECONDS = (0.05, 0.2, 0.5, 1.0, 2.0)


def connection_is_dropped(alias: str = DEFAULT_DB_ALIAS) -> bool:
    """Return whether this thread's open connection can no longer be used (False when none is open).

    Cheap: an idle PostgreSQL connection is only readable when the server sent
    something unasked, which is how it says goodbye (a restart, a terminated
    backend) or how the socket reports its end; only then is a round trip made.
    """
    wrapper = connections[alias]
    raw = wrapper.connection
    if raw is None or wrapper.in_atomic_block:
        return False
    if wrapper.vendor != "postgresql":
        return wrapper.errors_occurred and not wrapper.is_usable()
    if raw.closed or raw.broken:
        return True
    try:
        readable, _, _ = select.select([raw.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    if readable or wrapper.errors_occurred:
        return not wrapper.is_usable()
    return False


def connection_refresh(alias: str = DEFAULT_DB_ALIAS) -> bool:
    """Close this thread's connection if it was dropped, so the next query opens a new one; return whether it did.

    Never closes a connection inside a transaction.
    """
    if not connection_is_dropped(alias):
        return False
    logger.info("The database connection was dropped by the server; opening a new one")
    connection_close(alias)
    return True


def connection_close(alias: str = DEFAULT_DB_ALIAS) -> None:
    """Close this thread's connection, whatever state it is in (a dead socket cannot say goodbye)."""
    wrapper = connections[alias]
    if wrapper.in_atomic_block:
        return
    try:
        wrapper.close()
    except CONNECTION_ERRORS:
        wrapper.connection = None
    wrapper.errors_occurred = False


def is_connection_error(error: BaseException, alias: str = DEFAULT_DB_ALIAS) -> bool:
    """Return whether *error* came from a dropped or unreachable database, not from the statement itself."""
    if not isinstance(error, CONNECTION_ERRORS):
        return False
    wrapper = connections[alias]
    if wrapper.in_atomic_block:
        return False  # the caller's transaction is lost with it: only its owner can start again
    raw = wrapper.connection
    if raw is None:
        return True  # connecting failed
    try:
        return not wrapper.is_usable()
    except Exception:  # noqa: BLE001 - a probe that fails means the connection is gone
        return True


def retrying(
    call: Callable[[], T],
    *,
    what: str,
    for_seconds: float,
    landed: Callable[[], T | None] | None = None,
    alias: str = DEFAULT_DB_ALIAS,
) -> T:
    """Run *call*; while it fails because the database connection dropped, reconnect and run it again.

    Use only for work that is safe to repeat (conditional updates, reads, a
    transaction that either committed or did not). When the first attempt may
    have committed before its reply was lost, *landed* tells: it returns the
    result to use instead of running *call* again, or None. Raise the last
    error after *for_seconds*, or at once for any error that is not a lost
    connection.
    """
    deadline = time.monotonic() + for_seconds
    attempt = 0
    uncertain = False
    while True:
        connection_refresh(alias)
        try:
            if uncertain and landed is not None:
                result = landed()
                if result is not None:
                    return result
            return call()
        except CONNECTION_ERRORS as error:
            if not is_connection_error(error, alias):
                raise
            connection_close(alias)
            uncertain = True
            delay = RETRY_DELAYS_SECONDS[min(attempt, len(RETRY_DELAYS_SECONDS) - 1)]
            attempt += 1
            if time.monotonic() + delay > deadline:
                raise
            if attempt == 1:
                logger.warning(
                    "%s: the database is unreachable (%s); retrying for up to %g s", what, error, for_seconds
                )
            time.sleep(delay)
