"""Referral campaigns and the invite tree (docs/referrals.md)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.communities.models import Community, LiveCode
from siyu.members.models import Member
from siyu.org.models import Brand, Staff, Store


class CountWhen(models.TextChoices):
    STAYED = "stayed", _("Joined a group and stayed")
    PURCHASE = "purchase", _("Made a first purchase")


class ReferralCampaign(models.Model):
    """A referral campaign of one store: members invite through its live code and are rewarded per tier.

    ``tiers`` is an ordered list of ``{"from": n, "points": p, "coupon_template_id": id|null}``: the n-th
    counted invite of an inviter (and every later one, until the next tier) earns that tier's reward.
    """

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    live_code = models.ForeignKey(LiveCode, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=60)
    headline = models.CharField(_("poster headline"), max_length=40, blank=True, default="")
    art_color = models.CharField(_("poster colour"), max_length=7, default="#c0392b")
    art_version = models.PositiveIntegerField(default=1)
    tiers = models.JSONField(default=list)
    count_when = models.CharField(max_length=10, choices=CountWhen.choices, default=CountWhen.STAYED)
    stay_days = models.PositiveSmallIntegerField(default=3)
    reversal_days = models.PositiveSmallIntegerField(default=7)
    # Fraud rules (default on); each threshold is the size at which a cluster is held.
    fraud_checks = models.BooleanField(default=True)
    velocity_per_hour = models.PositiveSmallIntegerField(default=20)
    device_cluster = models.PositiveSmallIntegerField(default=3)
    ip_cluster = models.PositiveSmallIntegerField(default=8)
    sequential_cluster = models.PositiveSmallIntegerField(default=3)
    burst_per_10_minutes = models.PositiveSmallIntegerField(default=60)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-active", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(stay_days__lte=365), name="referral_stay_days_range"),
            models.CheckConstraint(condition=Q(reversal_days__lte=365), name="referral_reversal_days_range"),
        ]

    def __str__(self) -> str:
        return self.name


class InviteStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to count")
    COUNTED = "counted", _("Counted")
    HELD = "held", _("Held for review")
    REJECTED = "rejected", _("Rejected")
    REVERSED = "reversed", _("Reversed")


class Invite(models.Model):
    """One edge of the invite tree: ``inviter`` brought ``invitee`` into ``community`` through ``campaign``.

    pending → counted (reward paid once) → reversed (reward taken back once); pending → held → pending
    (released) or rejected (never rewarded); pending → rejected (left before counting).
    """

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    campaign = models.ForeignKey(ReferralCampaign, on_delete=models.PROTECT, related_name="invites")
    inviter = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    invitee = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    community = models.ForeignKey(Community, on_delete=models.PROTECT, related_name="+")
    membership_id = models.BigIntegerField()
    staff = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    live_code_id = models.BigIntegerField()
    scene = models.CharField(max_length=16)
    device_hash = models.CharField(max_length=64, blank=True, default="")
    ip_prefix = models.CharField(max_length=48, blank=True, default="")
    invitee_mobile = models.CharField(max_length=11, blank=True, default="")
    status = models.CharField(max_length=10, choices=InviteStatus.choices, default=InviteStatus.PENDING)
    # Why it is held: [{"rule", "value", "invite_ids"}], kept after review as the record of the decision.
    evidence = models.JSONField(default=list, blank=True)
    note = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    counted_at = models.DateTimeField(null=True, blank=True)
    ordinal = models.PositiveIntegerField(null=True, blank=True)  # the inviter's n-th counted invite
    reward_points = models.PositiveIntegerField(default=0)
    reward_coupon_id = models.BigIntegerField(null=True, blank=True)
    reviewed_by = models.ForeignKey(Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "invitee"], name="invite_once_per_campaign"),
            models.UniqueConstraint(
                fields=["campaign", "inviter", "ordinal"],
                condition=Q(ordinal__isnull=False),
                name="invite_ordinal_unique",
            ),
            models.CheckConstraint(condition=~Q(inviter=models.F("invitee")), name="invite_not_self"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "counted", "held", "rejected", "reversed"]),
                name="invite_status_known",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["counted", "reversed"]) | Q(counted_at__isnull=False),
                name="invite_counted_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="invite_campaign_status_idx"),
            models.Index(fields=["inviter", "created_at"], name="invite_inviter_created_idx"),
            models.Index(fields=["campaign", "device_hash"], name="invite_device_idx"),
            models.Index(fields=["campaign", "ip_prefix", "created_at"], name="invite_ip_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.inviter_id}→{self.invitee_id} {self.status}"
