"""Group buys (拼团): the offer, the teams members open, and who joined each team.

A team forms when ``paid_count`` reaches the offer's ``min_size`` before its ``deadline``; otherwise it
fails and every member's order is cancelled or refunded. Counts change only by conditional updates in
``siyu.campaigns.services.group_buys``; the constraints below refuse impossible values.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from siyu.campaigns.models.base import Campaign
from siyu.catalog.models import Sku
from siyu.communities.models import Community
from siyu.members.models import Member
from siyu.org.models import Store


class GroupBuy(models.Model):
    """The offer of a group-buy campaign: one SKU at a group price for teams of min…max members."""

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="group_buy")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    price_fen = models.PositiveIntegerField(_("group price (fen)"))
    min_size = models.PositiveSmallIntegerField(_("members needed"), default=3)
    max_size = models.PositiveSmallIntegerField(_("members at most"), default=10)
    team_hours = models.PositiveSmallIntegerField(_("hours to form a team"), default=24)

    class Meta:
        verbose_name = _("group buy")
        constraints = [
            models.CheckConstraint(condition=Q(price_fen__gt=0), name="group_buy_price_positive"),
            models.CheckConstraint(condition=Q(min_size__gte=2), name="group_buy_min_size"),
            models.CheckConstraint(condition=Q(max_size__gte=F("min_size")), name="group_buy_max_size"),
            models.CheckConstraint(condition=Q(team_hours__gte=1), name="group_buy_team_hours"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.sku_id} ×{self.min_size}"


class GroupBuyTeam(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("team status", "Open")
        FORMED = "formed", _("Formed")
        FAILED = "failed", _("Failed")

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="group_buy_teams")
    leader = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    community = models.ForeignKey(
        Community, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    joined_count = models.PositiveSmallIntegerField(default=0)
    paid_count = models.PositiveSmallIntegerField(default=0)
    deadline = models.DateTimeField()
    formed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(paid_count__lte=F("joined_count")), name="group_buy_team_paid_within_joined"
            ),
        ]
        indexes = [models.Index(fields=["status", "deadline"], name="group_buy_team_due_idx")]

    def __str__(self) -> str:
        return f"team {self.pk} of {self.campaign_id}: {self.paid_count}/{self.joined_count} {self.status}"


class GroupBuyMember(models.Model):
    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", _("Awaiting payment")
        PAID = "paid", _("Paid")
        LEFT = "left", pgettext_lazy("team place", "Left")
        REFUNDED = "refunded", _("Refunded")

    team = models.ForeignKey(GroupBuyTeam, on_delete=models.PROTECT, related_name="members")
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    order = models.OneToOneField(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="group_buy_member"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING_PAYMENT)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team_id", "joined_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "member"], name="group_buy_member_unique"),
            # One live place per member per campaign: a member is in at most one team at a time.
            models.UniqueConstraint(
                fields=["campaign", "member"],
                condition=Q(status__in=["pending_payment", "paid"]),
                name="group_buy_member_one_live_team",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} in team {self.team_id}: {self.status}"
