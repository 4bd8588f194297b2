"""Member tiers (会员等级) and the points mall (积分商城); imported by ``siyu.loyalty.models``.

Invariants backed by constraints here:
- a tier's threshold is unique per brand (levels are ordered by it), its multiplier between 1× and 10×;
- a mall item's ``stock`` never goes below zero (taken by one conditional UPDATE);
- a member holds at most ``member_limit`` live exchanges of an item: each live exchange takes one numbered
  slot (1…limit, the limit copied onto the row) and a slot is unique per (item, member) among live exchanges;
- an exchange is once per (member, key).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.catalog.models import ProductImage, Sku
from siyu.members.models import Member
from siyu.org.models import Brand


class Tier(models.Model):
    """A level of the brand's membership: reached by points earned in the last 12 months (not the balance)."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=30)
    # Points earned (earnings minus their reversals) in a rolling 12 months needed to reach this level.
    threshold = models.PositiveIntegerField(_("points earned in 12 months"))
    # Earnings of purchase points are multiplied by this (in percent: 150 = 1.5×).
    multiplier_percent = models.PositiveSmallIntegerField(_("points multiplier (%)"), default=100)
    member_price = models.BooleanField(_("member prices"), default=True)
    # The coupon given on the member's birthday (None: no coupon).
    birthday_template = models.ForeignKey(
        "loyalty.CouponTemplate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("birthday coupon"),
    )
    # Days a member keeps the level after the rolling total falls below it (0: dropped at the next check).
    grace_days = models.PositiveSmallIntegerField(_("grace days before moving down"), default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("tier")
        ordering = ["brand_id", "threshold"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "threshold"], name="tier_threshold_unique"),
            models.UniqueConstraint(fields=["brand", "name"], name="tier_name_unique"),
            models.CheckConstraint(
                condition=Q(multiplier_percent__gte=100) & Q(multiplier_percent__lte=1000),
                name="tier_multiplier_range",
            ),
            models.CheckConstraint(condition=Q(grace_days__lte=365), name="tier_grace_range"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def multiplier(self) -> str:
        """The multiplier as people read it: ``1.5``, ``2``."""
        return f"{self.multiplier_percent / 100:.2f}".rstrip("0").rstrip(".")


class MemberTier(models.Model):
    """The member's current level (None: below the first) and since when they are below it (grace)."""

    member = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="+")
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    since = models.DateTimeField(default=timezone.now)
    below_since = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("member tier")

    def __str__(self) -> str:
        return f"{self.member_id}: {self.tier_id}"


class MallItem(models.Model):
    """Something members get for points: a coupon, or a product they pick up at their store."""

    class Kind(models.TextChoices):
        COUPON = "coupon", _("Coupon")
        PRODUCT = "product", _("Product for pickup")

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=60)
    description = models.CharField(_("description"), max_length=200, blank=True)
    points = models.PositiveIntegerField(_("points"))
    stock = models.IntegerField(_("stock"))
    member_limit = models.PositiveSmallIntegerField(_("per member"), null=True, blank=True)
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    coupon_template = models.ForeignKey(
        "loyalty.CouponTemplate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("coupon"),
    )
    # One of the product's pictures (None: the product's main picture; coupons have none).
    image = models.ForeignKey(
        ProductImage, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    stores = models.ManyToManyField("org.Store", blank=True, related_name="+", verbose_name=_("stores"))
    starts_at = models.DateTimeField(_("starts"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("points mall item")
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(stock__gte=0), name="mallitem_stock_not_negative"),
            models.CheckConstraint(condition=Q(points__gte=1), name="mallitem_points_positive"),
            models.CheckConstraint(
                condition=Q(member_limit__isnull=True) | Q(member_limit__gte=1),
                name="mallitem_limit_positive",
            ),
            models.CheckConstraint(
                condition=(Q(kind="product") & Q(sku__isnull=False))
                | (Q(kind="coupon") & Q(coupon_template_id__isnull=False)),
                name="mallitem_kind_target",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class StockAddition(models.Model):
    """Units head office added to a mall item's stock (one conditional ``stock = stock + n`` UPDATE); once per
    (actor-scoped) key: a retried "add 50" adds 50 once."""

    item = models.ForeignKey(MallItem, on_delete=models.PROTECT, related_name="stock_additions")
    added = models.PositiveIntegerField()
    staff = models.ForeignKey("org.Staff", on_delete=models.PROTECT, related_name="+")
    idempotency_key = models.CharField(max_length=80, unique=True)
    request_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("stock added")
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=Q(added__gte=1), name="stockaddition_positive")]

    def __str__(self) -> str:
        return f"{self.item_id} +{self.added}"


class Exchange(models.Model):
    """One exchange of points for a mall item: the spend, the stock taken, and what the member got."""

    class Status(models.TextChoices):
        DONE = "done", _("Exchanged")
        RETURNED = "returned", _("Returned")

    item = models.ForeignKey(MallItem, on_delete=models.PROTECT, related_name="exchanges")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DONE)
    points = models.PositiveIntegerField()
    # The member's slot for this item (1…limit) while the exchange is live; the limit copied from the item.
    slot = models.PositiveSmallIntegerField(default=1)
    member_limit = models.PositiveSmallIntegerField(null=True, blank=True)
    spend = models.OneToOneField(
        "loyalty.PointsEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    returned_entry = models.OneToOneField(
        "loyalty.PointsEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    coupon = models.OneToOneField(
        "loyalty.Coupon", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    idempotency_key = models.CharField(max_length=80)
    request_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    returned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("points exchange")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "idempotency_key"], name="exchange_key_unique"),
            models.UniqueConstraint(
                fields=["item", "member", "slot"], condition=Q(status="done"), name="exchange_slot_unique"
            ),
            models.CheckConstraint(
                condition=Q(slot__gte=1)
                & (Q(member_limit__isnull=True) | Q(slot__lte=models.F("member_limit"))),
                name="exchange_within_member_limit",
            ),
        ]
        indexes = [models.Index(fields=["order"], name="exchange_order_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} ← {self.item_id} ({self.status})"
