"""API bookkeeping: remembered responses for ``Idempotency-Key`` retries."""

from __future__ import annotations

from django.db import models

from siyu.org.models import Staff


class IdempotencyRecord(models.Model):
    """The response first given to one actor's request under one idempotency key (ADR 0009).

    The actor is who sent it: an API token (``token:<id>``) or a signed-in staff member's console session
    (``staff:<id>``); the same key from another actor is another key. A retry with the same key (same
    method, path and body) gets this response again instead of repeating the change; the same key with a
    different request is refused.
    """

    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="+")
    actor = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(default=0)
    response_json = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["actor", "key"], name="idempotency_actor_key_unique")]

    def __str__(self) -> str:
        return f"{self.actor}:{self.key}"
