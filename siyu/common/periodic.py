"""Periodic jobs: one list, run by Celery beat when a broker is configured, else by ``siyu scheduler``.

Every job is a service function that is safe to run concurrently and more often than needed
(it claims its work with conditional updates), so two schedulers never double-send anything.

``run_job`` records each run in ``JobRun`` (one row per job: last start, finish, outcome, error), at most
once every ``record_every`` seconds while a job keeps succeeding and on every failure or change of outcome,
so the console's background-work page (``job_statuses``) shows what ran when and flags a job that is
overdue (``stale_after``: a few intervals) — a dead scheduler shows there instead of failing silently.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import import_module
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

if TYPE_CHECKING:
    from siyu.common.models import JobRun

logger = logging.getLogger("siyu.periodic")

MIN_RECORD_SECONDS = 5.0
MIN_STALE_SECONDS = 30.0


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    target: str  # "package.module.function"
    every_seconds: float

    def resolve(self) -> Callable[[], Any]:
        module, _, func = self.target.rpartition(".")
        return getattr(import_module(module), func)

    @property
    def record_every(self) -> float:
        """How often a run that succeeds like the one before is written down (every run when slower)."""
        return max(self.every_seconds, MIN_RECORD_SECONDS)

    @property
    def stale_after(self) -> timedelta:
        """A job whose last finished run is older than this is overdue: three intervals, at least 30 s."""
        return timedelta(seconds=max(3 * self.every_seconds, MIN_STALE_SECONDS, 2 * self.record_every))


JOBS: tuple[PeriodicJob, ...] = (
    # Outbound channel calls (WeCom, Telegram) waiting for their rate-limit window or a retry.
    PeriodicJob("outbox", "siyu.channels.services.outbox.dispatch_due", 5),
    # Announcements staff scheduled for later.
    PeriodicJob("scheduled-posts", "siyu.communities.services.robot.run_due_scheduled_posts", 30),
    # WeCom callbacks whose handling failed (e.g. WeCom busy while we fetched the group): retried for a day.
    PeriodicJob("wecom-events", "siyu.channels.services.wecom_events.process_pending_events", 60),
    # WeCom posts that can wait: gathered per group owner into mass messages, within each group's quota.
    PeriodicJob("wecom-mass-batch", "siyu.communities.services.mass.batch_mass_messages", 60),
    # WeCom mass messages waiting for their owner: outcome per group read back, reminders, stale cancelled.
    PeriodicJob("wecom-mass-readback", "siyu.channels.services.wecom_mass.read_back_mass_tasks", 120),
    # Unpaid orders past their deadline: expired, stock given back.
    PeriodicJob("order-expiry", "siyu.orders.services.expiry.expire_due", 60),
    # Payments that arrived after their order closed, whose automatic refund could not be made yet.
    PeriodicJob("order-late-refunds", "siyu.orders.services.refunds.retry_late_refunds", 60),
    # Flash-sale reservations admitted in Redis, written behind to the database (and stale ones recovered).
    PeriodicJob("flash-writer", "siyu.campaigns.services.flash_writer.drain_all", 1),
    # The 接龙 relay: new buyers' lines posted into the sale's groups within each channel's rate limit.
    PeriodicJob("flash-relay", "siyu.campaigns.services.relay.run_relay", 2),
    # Campaign robot posts due: warm-up and start.
    PeriodicJob("campaign-posts", "siyu.campaigns.services.posts.run_due_posts", 15),
    # Group-buy teams past their deadline: failed, orders cancelled and refunded.
    PeriodicJob("group-buy-deadlines", "siyu.campaigns.services.group_buys.close_due_teams", 30),
    # Recharge slots past their deadline: the deposit refunded or forfeited, as the campaign says (once).
    PeriodicJob("recharge-slot-deadlines", "siyu.campaigns.services.recharge_slots.deadline.settle_due", 300),
    # Points batches past their expiry written off in bulk (spends write off an account's own first).
    PeriodicJob("points-expiry", "siyu.loyalty.services.points.expire_due", 600),
    # Staff tasks (send the waiting posts, confirm a mass message, open a group…) pushed to staff's WeCom.
    PeriodicJob("staff-task-push", "siyu.communities.services.staff_push.push_due_tasks", 60),
    # Each store's daily summary, posted by the robot of its internal staff group at the store's time.
    PeriodicJob("store-robot-summary", "siyu.orders.services.store_report.post_daily_summaries", 60),
    # Alerts (failed channel calls, full live codes) to the robot of a store's internal staff group.
    PeriodicJob("store-robot-alerts", "siyu.orders.services.store_report.post_alerts", 300),
    # Points red packets past their 24 hours: unclaimed shares go back to the budget or the KOL who paid.
    PeriodicJob("red-packet-expiry", "siyu.loyalty.services.red_packets.return_expired", 300),
    # Coupons past their window marked expired (their short codes freed; reads treat them as expired anyway).
    PeriodicJob("coupons-expiry", "siyu.loyalty.services.coupons.expire_due", 600),
    # Member tiers: promotions the last earnings reached, downgrades once the rolling 12 months fall short.
    PeriodicJob("loyalty-tiers", "siyu.loyalty.services.tiers.evaluate_due", 3600),
    # Birthday coupons of members whose tier gives one (once a year per member).
    PeriodicJob("loyalty-birthdays", "siyu.loyalty.services.birthdays.issue_due", 3600),
    # Stored-value bonus past its expiry written off (payments write off an account's own due bonus first).
    PeriodicJob("stored-value-bonus-expiry", "siyu.loyalty.services.stored_value.expire_bonuses", 600),
    # In-store events: the event card into the session stores' groups, then 已有 N 人报名 progress posts.
    PeriodicJob("event-posts", "siyu.events.services.posts.run_event_posts", 30),
    # Referral invites whose condition is met counted and rewarded once; rewards of early leavers reversed.
    PeriodicJob("referral-rewards", "siyu.referrals.services.counting.run_due", 300),
    # Staff reward statements: last month's and this month's drafts recomputed from attributions.
    PeriodicJob("incentive-statements", "siyu.incentives.services.statements.generate_due", 3600),
)


def get_job(name: str) -> PeriodicJob:
    """The job called ``name`` (KeyError when there is none)."""
    for job in JOBS:
        if job.name == name:
            return job
    raise KeyError(name)


def run_job(name: str) -> Any:
    """Run one job by name and record the run (``JobRun``); errors are logged, recorded and re-raised for the
    caller's retry logic. A failure to record is logged and never changes the job's own outcome."""
    job = get_job(name)
    started = timezone.now()
    clock = time.monotonic()
    try:
        result = job.resolve()()
    except Exception as exc:
        logger.exception("periodic job %s failed", name)
        _record(job, started, clock, error=f"{type(exc).__name__}: {exc}")
        raise
    _record(job, started, clock, result=result)
    return result


# Per process: when each job's run was last written down, and with which outcome.
_recorded: dict[str, tuple[float, str]] = {}
_recorded_lock = threading.Lock()


def _models() -> Any:
    # JOBS is read by Celery before Django is set up (``siyu/celery.py``): the model is imported when a
    # run is recorded or read, never when this module is imported.
    from siyu.common import models

    return models


def _record(
    job: PeriodicJob, started: datetime, clock: float, *, result: Any = None, error: str = ""
) -> None:
    outcome = "failed" if error else "ok"
    now = time.monotonic()
    with _recorded_lock:
        last = _recorded.get(job.name)
        if not error and last is not None and last[1] == outcome and now - last[0] < job.record_every:
            return
        _recorded[job.name] = (now, outcome)
    finished = timezone.now()
    values: dict[str, Any] = {
        "last_started_at": started,
        "last_finished_at": finished,
        "last_outcome": outcome,
        "last_duration_ms": min(int((now - clock) * 1000), 2**31 - 1),
        "last_result": "" if result is None else str(result)[:200],
        "host": socket.gethostname()[:120],
    }
    if error:
        values.update(last_error=error[:2000], last_error_at=finished)
    else:
        values.update(last_ok_at=finished)
    try:
        _write_run(job.name, values, failed=bool(error))
    except Exception:
        with _recorded_lock:
            _recorded.pop(job.name, None)  # try again next run
        logger.warning("periodic job %s: its run could not be recorded", job.name, exc_info=True)


def _write_run(name: str, values: dict[str, Any], *, failed: bool) -> None:
    JobRun = _models().JobRun
    failures = F("consecutive_failures") + 1 if failed else 0
    if JobRun.objects.filter(name=name).update(consecutive_failures=failures, **values):
        return
    try:
        with transaction.atomic():
            JobRun.objects.create(name=name, consecutive_failures=1 if failed else 0, **values)
    except IntegrityError:  # another process wrote the first row meanwhile
        JobRun.objects.filter(name=name).update(consecutive_failures=failures, **values)


def forget_recorded() -> None:
    """Forget when this process last wrote each job down (tests): the next run of every job is recorded."""
    with _recorded_lock:
        _recorded.clear()


@dataclass(frozen=True)
class JobStatus:
    """What the background-work page shows for one job."""

    job: PeriodicJob
    run: JobRun | None
    stale: bool  # never ran, or its last finished run is older than ``job.stale_after``
    failing: bool  # its last run failed

    @property
    def healthy(self) -> bool:
        return not (self.stale or self.failing)


def job_statuses(now: datetime | None = None) -> list[JobStatus]:
    """Every periodic job with its last recorded run, in ``JOBS`` order, flagged stale or failing."""
    JobRun = _models().JobRun
    now = now or timezone.now()
    runs = {run.name: run for run in JobRun.objects.filter(name__in=[j.name for j in JOBS])}
    out: list[JobStatus] = []
    for job in JOBS:
        run = runs.get(job.name)
        stale = run is None or now - run.last_finished_at > job.stale_after
        failing = run is not None and run.last_outcome == JobRun.Outcome.FAILED
        out.append(JobStatus(job=job, run=run, stale=stale, failing=failing))
    return out


# --- one scheduler at a time ---------------------------------------------------------------------------


class SchedulerLock:
    """An exclusive lock on a file (``flock``) held by the running scheduler, with its pid written in the
    file. The kernel releases it when the holder exits in any way (``kill -9`` included), so a restarted
    scheduler takes over at once, and a second one on the same host refuses (or waits) meanwhile."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, *, wait: bool = False, poll_seconds: float = 0.5) -> bool:
        """Take the lock; with ``wait`` block until it is free, else answer False when it is held."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    os.close(fd)
                    return False
                time.sleep(poll_seconds)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def holder(self) -> int | None:
        """The pid written by the holder (or by the last one), if readable."""
        try:
            with open(self.path) as fh:
                text = fh.read().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def scheduler_lock() -> SchedulerLock:
    """The lock of this installation's scheduler: ``<SIYU_VAR_DIR>/scheduler.lock``."""
    return SchedulerLock(str(settings.VAR_DIR / "scheduler.lock"))
