"""The points ledger (ADR 0013): an account per member, earnings as batches (lots) with their own expiry, and
an append-only entry per change recording which batches it drew from.

Invariants (kept by ``siyu.loyalty.services.points``, backed by constraints here):
- ``account.balance`` = the sum of its batches' ``remaining`` (what can be spent), never negative;
- ``account.debt`` = points a refund clawed back that had already been spent, never negative; new earnings
  pay it off first. What the member sees is ``balance - debt`` (negative exactly by what is owed);
- the sum of an account's entries' ``points`` = ``balance - debt``;
- a batch's ``remaining`` lies between 0 and its ``amount``;
- an idempotency key is applied once per account (unique in the database).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.members.models import Member
from siyu.org.models import Brand, Staff


class PointsAccount(models.Model):
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    member = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="points_account")
    balance = models.BigIntegerField(default=0)
    debt = models.BigIntegerField(default=0)
    earned_total = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("points account")
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="points_balance_not_negative"),
            models.CheckConstraint(condition=Q(debt__gte=0), name="points_debt_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.balance - self.debt}"


class PointsEntry(models.Model):
    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        SPEND = "spend", _("Spent")
        EXPIRE = "expire", _("Expired")
        REVERSE = "reverse", _("Reversed")
        ADJUST = "adjust", _("Adjusted by staff")
        RETURN = "return", _("Returned")

    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # The change to what the member sees (balance - debt): positive for earnings, negative otherwise.
    points = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    debt_after = models.BigIntegerField(default=0)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    # What caused it, e.g. ("order", 12), ("checkin", 7); and the entry a reversal undoes.
    source_type = models.CharField(max_length=24, blank=True)
    source_id = models.CharField(max_length=64, blank=True)
    reverses = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    rule = models.ForeignKey(
        "loyalty.EarnRule", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    idempotency_key = models.CharField(max_length=80)
    request_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("points entry")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "idempotency_key"], name="points_entry_key_unique"),
            models.CheckConstraint(condition=~Q(points=0), name="points_entry_not_zero"),
            # One reversal per earning, whoever asks and with whatever key.
            models.UniqueConstraint(
                fields=["reverses"], condition=Q(reverses__isnull=False), name="points_reversed_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.kind} {self.points:+d}"


class PointsBatch(models.Model):
    """One earning's points, spent and expired from soonest-to-expire first."""

    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="batches")
    entry = models.OneToOneField(PointsEntry, on_delete=models.PROTECT, related_name="batch")
    amount = models.BigIntegerField()
    remaining = models.BigIntegerField()
    earned_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("points batch")
        ordering = ["expires_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="points_batch_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=F("amount")),
                name="points_batch_remaining_range",
            ),
        ]
        indexes = [
            models.Index(
                fields=["account", "expires_at", "id"],
                name="points_batch_live_idx",
                condition=Q(remaining__gt=0),
            ),
            models.Index(fields=["expires_at"], name="points_batch_due_idx", condition=Q(remaining__gt=0)),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.remaining}/{self.amount} until {self.expires_at:%Y-%m-%d}"


class PointsDraw(models.Model):
    """How many points one entry took from one batch (spend, expiry, reversal)."""

    entry = models.ForeignKey(PointsEntry, on_delete=models.PROTECT, related_name="draws")
    batch = models.ForeignKey(PointsBatch, on_delete=models.PROTECT, related_name="draws")
    points = models.BigIntegerField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(points__gt=0), name="points_draw_positive")]

    def __str__(self) -> str:
        return f"entry {self.entry_id} took {self.points} from batch {self.batch_id}"


class PointsPolicy(models.Model):
    """A brand's points rules that are not earn rules: when points expire."""

    class Expiry(models.TextChoices):
        ROLLING = "rolling", _("A fixed number of months after they were earned")
        YEAR_END = "year_end", _("At the end of the year after they were earned")

    brand = models.OneToOneField(Brand, on_delete=models.PROTECT, related_name="+")
    expiry = models.CharField(
        _("points expire"), max_length=10, choices=Expiry.choices, default=Expiry.ROLLING
    )
    expiry_months = models.PositiveSmallIntegerField(_("months"), default=12)
    # What one point is worth to the brand, for the liability report (e.g. 1.00 fen: 100 points = 1 yuan).
    fen_per_point = models.DecimalField(
        _("value of one point (fen)"), max_digits=8, decimal_places=3, default=1
    )

    class Meta:
        verbose_name = _("points policy")
        constraints = [
            models.CheckConstraint(
                condition=Q(expiry_months__gte=1) & Q(expiry_months__lte=60),
                name="points_policy_months_range",
            )
        ]

    def __str__(self) -> str:
        return f"{self.brand_id}: {self.expiry} {self.expiry_months}"


class EarnRule(models.Model):
    """How members earn points: daily check-in, purchases, taking part, invites. Each rule has a window,
    stores (none = every store), and caps per member per day and per member in all."""

    class Kind(models.TextChoices):
        CHECKIN = "checkin", _("Daily check-in")
        PURCHASE = "purchase", _("Purchases")
        PARTICIPATION = "participation", _("Taking part")
        INVITE = "invite", _("Invites")

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=60)
    # Check-in, taking part, invites: points per occasion. Purchases: points per yuan paid.
    points = models.PositiveIntegerField(_("points"), default=0)
    # Check-in: {"streak_bonus": {"7": 20, "30": 100}, "makeup_cost": 20, "makeup_days": 7}
    config = models.JSONField(default=dict, blank=True)
    starts_at = models.DateTimeField(_("starts"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    stores = models.ManyToManyField("org.Store", blank=True, related_name="+", verbose_name=_("stores"))
    # Purchases only: which lines earn (none = every product), and the selling campaign (a plain id: campaigns
    # sits above loyalty; None = any sale, including the plain mall).
    products = models.ManyToManyField(
        "catalog.Product", blank=True, related_name="+", verbose_name=_("products")
    )
    categories = models.ManyToManyField(
        "catalog.Category", blank=True, related_name="+", verbose_name=_("categories")
    )
    campaign_id = models.BigIntegerField(_("campaign"), null=True, blank=True)
    daily_cap = models.PositiveIntegerField(_("times per member per day"), null=True, blank=True)
    member_cap = models.PositiveIntegerField(_("times per member in all"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("earn rule")
        ordering = ["kind", "id"]

    def __str__(self) -> str:
        return self.name


class CheckIn(models.Model):
    """One member's check-in (签到) on one calendar day in Asia/Shanghai; a make-up (补签) costs points."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    streak = models.PositiveIntegerField(default=1)
    makeup = models.BooleanField(default=False)
    points = models.PositiveIntegerField(default=0)
    entry = models.ForeignKey(PointsEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("check-in")
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["member", "day"], name="checkin_once_a_day")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.day}"


class PointsBudget(models.Model):
    """The points a brand may give away in red packets dropped by staff (KOLs pay from their own points).

    ``remaining`` is taken by one conditional UPDATE (``WHERE remaining >= n``) with a check constraint
    behind it; unclaimed shares of an expired packet come back."""

    brand = models.OneToOneField(Brand, on_delete=models.PROTECT, related_name="+")
    remaining = models.BigIntegerField(_("points left to give away"), default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("points budget")
        constraints = [
            models.CheckConstraint(condition=Q(remaining__gte=0), name="points_budget_not_negative")
        ]

    def __str__(self) -> str:
        return f"{self.brand_id}: {self.remaining}"


class RedPacket(models.Model):
    """A points red packet (拼手气红包) dropped in one group: ``total`` points split up front into ``shares``
    random shares (each ≥ 1, summing exactly to ``total``), claimed by the first grabbers; what is not
    grabbed within 24 hours goes back to whoever paid."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        EXPIRED = "expired", _("Expired")

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    community = models.ForeignKey("communities.Community", on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey("org.Store", on_delete=models.PROTECT, related_name="+")
    # Who dropped it and so who pays: a staff member (the brand's budget) or a KOL member (their points).
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    total = models.PositiveIntegerField(_("points"))
    shares = models.PositiveIntegerField(_("shares"))
    greeting = models.CharField(_("greeting"), max_length=60, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    message_id = models.BigIntegerField(null=True, blank=True)
    returned = models.PositiveIntegerField(default=0)
    idempotency_key = models.CharField(max_length=80, unique=True)
    request_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("red packet")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(shares__gte=1) & Q(total__gte=F("shares")), name="red_packet_share_at_least_one"
            ),
            models.CheckConstraint(
                condition=(Q(staff__isnull=False) & Q(member__isnull=True))
                | (Q(staff__isnull=True) & Q(member__isnull=False)),
                name="red_packet_one_payer",
            ),
            models.CheckConstraint(
                condition=Q(returned__lte=F("total")), name="red_packet_returned_le_total"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.community_id}: {self.total}/{self.shares}"


class RedPacketShare(models.Model):
    """One share of a red packet: claimed by one grabber with a conditional UPDATE (``WHERE grabbed_by IS
    NULL AND NOT returned``); a member holds at most one share of a packet (unique)."""

    packet = models.ForeignKey(RedPacket, on_delete=models.PROTECT, related_name="share_rows")
    position = models.PositiveIntegerField()
    points = models.PositiveIntegerField()
    grabbed_by = models.ForeignKey(Member, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    grabbed_at = models.DateTimeField(null=True, blank=True)
    returned = models.BooleanField(default=False)
    entry = models.ForeignKey(PointsEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("red packet share")
        ordering = ["packet_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["packet", "position"], name="red_packet_share_position"),
            models.UniqueConstraint(
                fields=["packet", "grabbed_by"],
                condition=Q(grabbed_by__isnull=False),
                name="red_packet_grab_once",
            ),
            models.CheckConstraint(condition=Q(points__gte=1), name="red_packet_share_positive"),
            models.CheckConstraint(
                condition=~(Q(grabbed_by__isnull=False) & Q(returned=True)), name="red_packet_share_one_fate"
            ),
        ]
        indexes = [
            models.Index(
                fields=["packet", "position"],
                name="red_packet_open_share_idx",
                condition=Q(grabbed_by__isnull=True, returned=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.packet_id}#{self.position}: {self.points}"


# Coupons live in their own module (ADR 0014); imported here so Django finds the models.
from siyu.loyalty.models_coupons import (  # noqa: E402
    Coupon,
    CouponBudget,
    CouponSource,
    CouponStatus,
    CouponTemplate,
)
from siyu.loyalty.models_mall import Exchange, MallItem, MemberTier, StockAddition, Tier  # noqa: E402
from siyu.loyalty.models_stored_value import (  # noqa: E402
    BonusDraw,
    BonusGrant,
    RechargeGift,
    RechargeRule,
    StoredValueAccount,
    StoredValueEntry,
    StoredValuePolicy,
)

__all__ = [
    "BonusDraw",
    "BonusGrant",
    "CheckIn",
    "Coupon",
    "CouponBudget",
    "CouponSource",
    "CouponStatus",
    "CouponTemplate",
    "EarnRule",
    "Exchange",
    "MallItem",
    "MemberTier",
    "PointsAccount",
    "PointsBatch",
    "PointsBudget",
    "PointsDraw",
    "PointsEntry",
    "PointsPolicy",
    "RechargeGift",
    "RechargeRule",
    "RedPacket",
    "RedPacketShare",
    "StockAddition",
    "StoredValueAccount",
    "StoredValueEntry",
    "StoredValuePolicy",
    "Tier",
]
