"""Liveness records of worker and beat processes."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

# The timing constants live in conf (the runner and the sandbox read them too); the old names stay importable.
from extensions_core.conf import (  # noqa: F401 - re-exported
    ALIVE_WINDOW,
    EXECUTION_HEARTBEAT_SECONDS,
    EXECUTION_STALE_AFTER,
    FORGET_AFTER,
    HEARTBEAT_SECONDS,
)
from extensions_core.models import ProcessHeartbeat


def process_heartbeat(*, role: str, hostname: str, pid: int, started_at: datetime) -> None:
    """Record that the process (role, hostname, pid) is alive now."""
    now = timezone.now()
    ProcessHeartbeat.objects.update_or_create(
        role=role, hostname=hostname, pid=pid, defaults={"started_at": started_at, "last_seen_at": now}
    )
    ProcessHeartbeat.objects.filter(last_seen_at__lt=now - FORGET_AFTER).delete()


def process_heartbeat_clear(*, role: str, hostname: str, pid: int) -> None:
    """Forget a process that stops cleanly."""
    ProcessHeartbeat.objects.filter(role=role, hostname=hostname, pid=pid).delete()


def processes_alive(role: str) -> list[ProcessHeartbeat]:
    """Return the processes of *role* seen within the alive window."""
    return list(
        ProcessHeartbeat.objects.filter(role=role, last_seen_at__gte=timezone.now() - ALIVE_WINDOW).order_by(
            "hostname", "pid"
        )
    )
