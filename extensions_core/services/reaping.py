"""The reaper: no execution stays running after its worker died, nor pending after its message was lost.

Every worker's heartbeat thread and beat run it every few seconds; each step is
a conditional update, so any number of reapers may run at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from extensions_core.broker import broker_lost_messages, broker_oldest_waiting
from extensions_core.conf import EXECUTION_STALE_AFTER
from extensions_core.executions import transitions
from extensions_core.executions.outcome import Outcome
from extensions_core.models import TaskExecution
from extensions_core.services.executions import execution_dispatch, execution_end_pending, execution_finish

logger = logging.getLogger(__name__)

Status = TaskExecution.Status
# A pending message not picked up within this long is sent again (then after 2x, 4x ... up to 32x);
# duplicates are harmless because only one delivery can claim the row.
REDISPATCH_AFTER = timedelta(seconds=30)
# After this many sends and this long, the execution is failed as message_lost.
MAX_DISPATCHES = 6
GIVE_UP_AFTER = timedelta(hours=1)
# A row whose first send failed (broker down) is retried this soon.
UNSENT_RETRY_AFTER = timedelta(seconds=5)
BATCH = 200
# A run sent this long before the oldest message still queued counts as queued too: its row's send time is
# stamped before its commit and the publish after it, so with several clients the queue's order and the rows'
# differ by that much; and a worker holds a few messages it took from the queue but has not claimed yet.
STILL_QUEUED_MARGIN = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class ReapReport:
    worker_lost: int = 0
    redispatched: int = 0
    message_lost: int = 0


def executions_reap(*, reachable_since: datetime | None = None) -> ReapReport:
    """Fail runs whose worker stopped beating, resend lost messages, give up on ones that never arrive.

    A reaper that has reached the database only since *reachable_since* (it
    was cut off before) fails no silent run until it has itself seen the
    database for a whole silence window: the run's worker may have been cut
    off just the same, and needs as long to beat again.
    """
    now = timezone.now()
    can_judge_silence = reachable_since is None or reachable_since <= now - EXECUTION_STALE_AFTER
    lost = _reap_stale_running(now) if can_judge_silence else 0
    redispatched, given_up = _reap_pending(now)
    if lost or redispatched or given_up:
        logger.warning("Reaper: %d lost to dead workers, %d resent, %d given up", lost, redispatched, given_up)
    return ReapReport(worker_lost=lost, redispatched=redispatched, message_lost=given_up)


def _reap_stale_running(now) -> int:
    cutoff = now - EXECUTION_STALE_AFTER
    stale = TaskExecution.objects.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff)[:BATCH]
    count = 0
    for execution in stale:
        silent = (now - execution.heartbeat_at).total_seconds()
        if execution.cancel_requested_at:
            outcome = Outcome(status=Status.CANCELLED, error="cancelled; its worker stopped before it could stop it")
        else:
            outcome = Outcome(
                status=Status.FAILED,
                failure_reason=TaskExecution.FailureReason.WORKER_LOST,
                error=f"worker {execution.worker or '?'} stopped beating {silent:.0f} s ago (killed, or lost its "
                "database); the run was abandoned",
            )
        # Only if it is still silent: a late heartbeat means the worker lives after all.
        if execution_finish(execution=execution, outcome=outcome, only_if=Q(heartbeat_at__lt=cutoff)):
            count += 1
    return count


def _reap_pending(now) -> tuple[int, int]:
    waiting = Q(is_waiting_for_dependencies=True)
    due = Q(not_before__isnull=True) | Q(not_before__lt=now - REDISPATCH_AFTER)
    pending = TaskExecution.objects.filter(status=Status.PENDING).exclude(waiting)
    if broker_lost_messages():
        # Every message sent before now is gone with the broker's data: send them all again at once.
        logger.warning(
            "The broker lost its queued messages (restarted without persistence?); sending pending runs again"
        )
        return _redispatch(
            pending.filter(dispatched_at__isnull=False, dispatched_at__lte=now), now, every_batch=True
        ), 0
    unsent = Q(dispatched_at__isnull=True, queued_at__lt=now - UNSENT_RETRY_AFTER)
    overdue = Q()
    for count in range(1, MAX_DISPATCHES + 1):
        overdue |= Q(dispatch_count=count, dispatched_at__lt=now - REDISPATCH_AFTER * 2 ** min(count - 1, 5))
    overdue |= Q(dispatch_count__gt=MAX_DISPATCHES, dispatched_at__lt=now - REDISPATCH_AFTER * 32)
    candidates = pending.filter(due).filter(unsent | overdue)
    # A message still in the broker's queue is not lost, only waiting behind a backlog: it is not sent again.
    # After the hour it counts as sent enough times, so the give-up rule holds for it as for a lost one.
    still_queued = _still_queued()
    sent_enough = (
        Q(dispatch_count__gte=MAX_DISPATCHES) | still_queued if still_queued else Q(dispatch_count__gte=MAX_DISPATCHES)
    )
    hopeless = sent_enough & Q(queued_at__lt=now - GIVE_UP_AFTER)
    given_up = 0
    for execution in candidates.filter(hopeless)[:BATCH]:
        if _give_up(execution, now):
            given_up += 1
    resendable = candidates.exclude(hopeless)
    if still_queued:
        resendable = resendable.exclude(still_queued)
    return _redispatch(resendable, now), given_up


def _still_queued() -> Q | None:
    """The pending runs whose message still waits in the broker's queue (sent with or after its oldest message).

    None when the queue is empty or the broker cannot say: then every overdue run is resent, as before.
    """
    oldest = broker_oldest_waiting()
    if oldest is None:
        return None
    try:
        sent_at = TaskExecution.objects.filter(pk=oldest).values_list("dispatched_at", flat=True).first()
    except (ValidationError, ValueError):  # not one of ours
        return None
    return Q(dispatched_at__gte=sent_at - STILL_QUEUED_MARGIN) if sent_at else None


def _redispatch(rows, now, *, every_batch: bool = False) -> int:
    """Send *rows* again, oldest first; stop at the first send the broker refuses (it is down: no use going on)."""
    resent = 0
    while True:
        batch = list(rows.order_by("queued_at")[:BATCH])
        for execution in batch:
            if not transitions.mark_resent(execution_id=execution.pk, sends_so_far=execution.dispatch_count, now=now):
                continue
            if not execution_dispatch(execution_id=str(execution.pk)):
                return resent
            resent += 1
        if not every_batch or len(batch) < BATCH:
            return resent


def _give_up(execution: TaskExecution, now) -> bool:
    with transaction.atomic():
        return execution_end_pending(
            execution=execution,
            status=Status.FAILED,
            failure_reason=TaskExecution.FailureReason.MESSAGE_LOST,
            error=f"no worker picked it up after {execution.dispatch_count} sends over "
            f"{(now - execution.queued_at).total_seconds() / 60:.0f} minutes; are any workers running?",
        )
