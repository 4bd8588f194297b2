"""The activity event log: one append-only table every capability writes and analytics reads."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Event(models.Model):
    """One member event (``member.created``, ``member.tagged``, ``community.joined``, ``order.paid``…).

    Rows are never updated or deleted. ``community_id`` is a plain integer so that this table
    does not depend on the communities app that writes it.
    """

    type = models.CharField(max_length=48)
    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    store = models.ForeignKey("org.Store", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    community_id = models.BigIntegerField(null=True, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["occurred_at"], name="event_time_idx"),
            models.Index(fields=["member", "occurred_at"], name="event_member_time_idx"),
            models.Index(fields=["type", "occurred_at"], name="event_type_time_idx"),
            models.Index(fields=["store", "occurred_at"], name="event_store_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type}@{self.occurred_at:%Y-%m-%d %H:%M}"


class DailyEventCount(models.Model):
    """Counts of events per (day, type, store), kept in step with Event for cheap dashboard reads.

    ``store_key`` is the store id or 0 for events with no store, so the unique constraint holds
    (NULLs would never collide).
    """

    day = models.DateField()
    type = models.CharField(max_length=48)
    store_key = models.BigIntegerField(default=0)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "type", "store_key"], name="daily_event_count_unique")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.type} #{self.store_key}: {self.count}"
