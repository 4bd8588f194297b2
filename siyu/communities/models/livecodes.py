"""Live codes (群活码): one stable QR per store and group template that routes members to a group with room,
and join requests for templates with an entry threshold."""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.channels.models import ChannelKind, Connector
from siyu.communities.models.groups import Community, GroupTemplate, JoinScene
from siyu.members.models import Member
from siyu.org.models import Brand, Staff, Store


def new_live_code_token() -> str:
    # 16 URL-safe characters (96 random bits): printed on posters for years, so it must not be guessable.
    return secrets.token_urlsafe(12)


class LiveCode(models.Model):
    """A store's entry point into one group template's set of groups, optionally on behalf of one staff.

    The QR printed in store never changes (``token``); which group a scan lands in is decided at join time by
    ``siyu.communities.services.livecodes.join_via_live_code``.
    """

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="live_codes")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="live_codes")
    template = models.ForeignKey(GroupTemplate, on_delete=models.PROTECT, related_name="live_codes")
    staff = models.ForeignKey(
        Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="live_codes"
    )
    token = models.CharField(max_length=32, unique=True, default=new_live_code_token, editable=False)
    name = models.CharField(_("name"), max_length=120)
    channel = models.CharField(
        _("channel"), max_length=16, choices=ChannelKind.choices, default=ChannelKind.WEB
    )
    connector = models.ForeignKey(
        Connector, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["store_id", "template_id", "id"]
        constraints = [
            # Two conditional constraints because NULLs never collide in a plain unique constraint:
            # one store-wide code per (store, template), and one per staff member.
            models.UniqueConstraint(
                fields=["store", "template"],
                condition=Q(staff__isnull=True),
                name="live_code_one_per_store_template",
            ),
            models.UniqueConstraint(
                fields=["store", "template", "staff"],
                condition=Q(staff__isnull=False),
                name="live_code_one_per_staff",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class JoinRequest(models.Model):
    """A member's request to join through a live code whose template has an entry threshold.

    Staff of the store approve (the member is then routed like any join) or reject it.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    live_code = models.ForeignKey(LiveCode, on_delete=models.PROTECT, related_name="join_requests")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="join_requests")
    answers = models.JSONField(_("answers"), default=dict, blank=True)
    order_number = models.CharField(_("order number"), max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reviewed_by = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    community = models.ForeignKey(
        Community, on_delete=models.SET_NULL, null=True, blank=True, related_name="join_requests"
    )
    scene = models.CharField(max_length=16, choices=JoinScene.choices, default=JoinScene.STORE_QR)
    inviter = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    referrer = models.ForeignKey(Member, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["live_code", "member"],
                condition=Q(status="pending"),
                name="join_request_one_pending",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="join_request_status_idx")]

    def __str__(self) -> str:
        return f"{self.live_code_id}:{self.member_id} {self.status}"
