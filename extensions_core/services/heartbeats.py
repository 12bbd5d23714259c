"""Liveness records of worker and beat processes."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from extensions_core.models import ProcessHeartbeat

# A process is alive when seen within this window (it beats every HEARTBEAT_SECONDS).
HEARTBEAT_SECONDS = 5
ALIVE_WINDOW = timedelta(seconds=3 * HEARTBEAT_SECONDS)
FORGET_AFTER = timedelta(days=1)
# A running execution beats this often; one silent for EXECUTION_STALE_AFTER lost its worker.
EXECUTION_HEARTBEAT_SECONDS = 2
EXECUTION_STALE_AFTER = timedelta(seconds=20)


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
