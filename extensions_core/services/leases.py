"""Leases: one process at a time acts for a role (the beat that fires schedules) while the others stand by.

A holder renews its lease well before it expires; once it expires (the holder
died, hung or lost the database) any candidate takes it with one conditional
UPDATE, so two candidates never both win. Hosts' clocks must agree to within
a few seconds (NTP); a disagreement can only make a takeover early or late,
never fire a due time twice, because each fire has its own key.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from extensions_core.models import SchedulerLease

BEAT_LEASE = "beat"


def lease_acquire(*, name: str, holder: str, ttl_seconds: float) -> bool:
    """Take or renew lease *name* for *holder* for *ttl_seconds*; return whether *holder* holds it now."""
    now = timezone.now()
    expires = now + timedelta(seconds=ttl_seconds)
    renewed = SchedulerLease.objects.filter(name=name, holder=holder).update(renewed_at=now, expires_at=expires)
    if renewed:
        return True
    taken = SchedulerLease.objects.filter(Q(expires_at__lt=now), name=name).update(
        holder=holder, acquired_at=now, renewed_at=now, expires_at=expires
    )
    if taken:
        return True
    if SchedulerLease.objects.filter(name=name).exists():
        return False
    try:
        with transaction.atomic():
            SchedulerLease.objects.create(name=name, holder=holder, acquired_at=now, renewed_at=now, expires_at=expires)
    except IntegrityError:
        return False  # another candidate created it first
    return True


def lease_release(*, name: str, holder: str) -> None:
    """Give up lease *name* if *holder* holds it, so a standby takes over at once."""
    SchedulerLease.objects.filter(name=name, holder=holder).update(expires_at=timezone.now() - timedelta(seconds=1))


def lease_holder(name: str) -> SchedulerLease | None:
    """Return the unexpired lease *name*, or None when nobody holds it."""
    return SchedulerLease.objects.filter(name=name, expires_at__gte=timezone.now()).first()
