"""API bookkeeping: remembered responses for ``Idempotency-Key`` retries."""

from __future__ import annotations

from django.db import models

from siyu.org.models import Staff


class IdempotencyRecord(models.Model):
    """The response first given to one staff member's request under one idempotency key.

    A retry with the same key (same method, path and body) gets this response again instead of
    repeating the change; the same key with a different request is refused.
    """

    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(default=0)
    response_json = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["staff", "key"], name="idempotency_staff_key_unique")]

    def __str__(self) -> str:
        return f"{self.staff_id}:{self.key}"
