"""One post's journey into one group's channel (ADR 0012): the path its channel allowed, what became of it.

Every post Siyu makes into a group — robot welcome, announcement, scheduled post, staff post, 接龙 relay,
product and campaign cards, and later the daily programme and mass messages — gets one ``GroupDelivery`` per
group, written by ``siyu.communities.services.dispatch`` in the transaction that decided to post. Web and
Telegram groups post automatically (``auto``); WeCom customer groups go through a mass message the group's
owner confirms (``owner_confirm``) or a staff member's one-tap sidebar (``staff``).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from siyu.communities.models.groups import Community
from siyu.communities.models.messages import Message
from siyu.org.models import Staff


class GroupDelivery(models.Model):
    class Kind(models.TextChoices):
        WELCOME = "welcome", _("Welcome")
        ANNOUNCEMENT = "announcement", _("Announcement")
        SCHEDULED = "scheduled", _("Scheduled post")
        STAFF_POST = "staff_post", _("Staff post")
        RELAY = "relay", _("Relay (接龙) lines")
        CARD = "card", _("Product card")
        CAMPAIGN = "campaign", _("Campaign post")
        PROGRAMME = "programme", _("Daily programme")
        MASS = "mass", _("Mass message")
        OTHER = "other", pgettext_lazy("delivery kind", "Other")

    class Path(models.TextChoices):
        AUTO = "auto", _("Posted automatically")
        OWNER_CONFIRM = "owner_confirm", _("Mass message the owner confirms")
        STAFF = "staff", _("Staff send it from the sidebar")

    class Status(models.TextChoices):
        PENDING = "pending", _("Queued")
        SENT = "sent", _("Sent")
        WAITING_OWNER = "waiting_owner", _("Waiting for the owner's confirmation")
        WAITING_STAFF = "waiting_staff", _("Waiting for staff")
        CONFIRMED = "confirmed", _("Confirmed sent")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")

    community = models.ForeignKey(Community, on_delete=models.PROTECT, related_name="deliveries")
    message = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.OTHER)
    # One of {"text"}, {"markdown"}, {"card": {...}}, {"image_b64"}, as the outbox and the sidebar take it.
    content = models.JSONField(default=dict)
    path = models.CharField(max_length=16, choices=Path.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=300, blank=True)
    # Posts that can wait are gathered into the owner's next mass message; urgent ones go to staff.
    can_wait = models.BooleanField(default=True)
    # The channel's own references: the outbox row (auto) or the WeCom mass message id (owner_confirm).
    outbox_id = models.BigIntegerField(null=True, blank=True)
    mass_msgid = models.CharField(max_length=128, blank=True, db_index=True)
    owner_userid = models.CharField(max_length=64, blank=True)
    done_by = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    delivered_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=160)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("group delivery")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["community", "idempotency_key"], name="group_delivery_key_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["community", "status"], name="group_delivery_status_idx"),
            models.Index(
                fields=["status", "path"],
                name="group_delivery_open_idx",
                condition=Q(status__in=["pending", "waiting_owner", "waiting_staff"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.community_id}:{self.kind} {self.status}"


class MassQuota(models.Model):
    """How many mass messages a group has been given in one quota period (``period`` as the channel's rule
    names it: ``2026-12``, ``2026-W49``, ``2026-12-05``). The batcher reserves one with a single conditional
    UPDATE (``used < limit``) before a group goes into a mass message, so two batchers never exceed it."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="mass_quotas")
    period = models.CharField(max_length=16)
    used = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("mass-message quota")
        constraints = [
            models.UniqueConstraint(fields=["community", "period"], name="mass_quota_period_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.community_id} {self.period}: {self.used}"
