"""Periodic jobs: one list, run by Celery beat when a broker is configured, else by ``siyu scheduler``.

Every job is a service function that is safe to run concurrently and more often than needed
(it claims its work with conditional updates), so two schedulers never double-send anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

logger = logging.getLogger("siyu.periodic")


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    target: str  # "package.module.function"
    every_seconds: float

    def resolve(self) -> Callable[[], Any]:
        module, _, func = self.target.rpartition(".")
        return getattr(import_module(module), func)


JOBS: tuple[PeriodicJob, ...] = (
    # Outbound channel calls (WeCom, Telegram) waiting for their rate-limit window or a retry.
    PeriodicJob("outbox", "siyu.channels.services.outbox.dispatch_due", 5),
    # Announcements staff scheduled for later.
    PeriodicJob("scheduled-posts", "siyu.communities.services.robot.run_due_scheduled_posts", 30),
    # WeCom callbacks whose handling failed (e.g. WeCom busy while we fetched the group): retried for a day.
    PeriodicJob("wecom-events", "siyu.channels.services.wecom_events.process_pending_events", 60),
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
)


def run_job(name: str) -> Any:
    """Run one job by name; errors are logged and re-raised for the caller's retry logic."""
    job = next(j for j in JOBS if j.name == name)
    try:
        return job.resolve()()
    except Exception:
        logger.exception("periodic job %s failed", name)
        raise
