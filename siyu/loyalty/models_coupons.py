"""Coupons (issue 11 point 4, ADR 0014): templates, the coupons issued from them, and per-store budgets.

Guards in SQL (``siyu.loyalty.services.coupons*`` keeps them, constraints stand behind them):

- **Total quantity.** ``CouponTemplate.issued_count`` only grows through one conditional UPDATE
  (``issued_count + n <= total_quantity``); CHECK ``issued_count <= total_quantity``.
- **Per member.** Every coupon carries ``seq`` — its number among the member's coupons of the template — and
  the template's limit copied onto the row (``member_limit``): UNIQUE (template, member, seq) and CHECK
  ``1 <= seq <= member_limit``. Two parallel claims of the same member take different numbers or one fails.
- **Used at most once.** ``available → used`` is one conditional UPDATE (``WHERE status = 'available'``); the
  code is unique among open coupons — available, or used (a used coupon may come back when its order is
  cancelled) — by a partial unique index; expired and void coupons free their codes.
- **Budget.** ``CouponBudget.spent_fen`` grows by one conditional UPDATE at redemption, CHECK
  ``spent_fen <= budget_fen``.
- **Once per key.** UNIQUE (member, idempotency_key) with the request hash beside it.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.catalog.models import Category, Product, Sku
from siyu.members.models import Member
from siyu.org.models import Brand, Staff, Store


class CouponTemplate(models.Model):
    """What a coupon gives, where and when it is valid, how many exist and how they combine."""

    class Kind(models.TextChoices):
        FIXED = "fixed", _("Fixed amount off")
        PERCENT = "percent", _("Percentage off")
        THRESHOLD = "threshold", _("Amount off above a minimum spend")
        GIFT = "gift", _("Free gift")

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=60)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    # fixed / threshold: fen off; percent: the cap in fen (0: no cap); gift: 0.
    amount_fen = models.PositiveIntegerField(_("amount off (fen)"), default=0)
    percent_off = models.PositiveSmallIntegerField(_("percent off"), default=0)
    cap_fen = models.PositiveIntegerField(_("at most (fen)"), default=0)
    # Minimum spend (of the lines in scope) for the coupon to apply; required for threshold coupons.
    threshold_fen = models.PositiveIntegerField(_("minimum spend (fen)"), default=0)
    gift_sku = models.ForeignKey(
        Sku, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("gift")
    )
    # Validity: a window, or a number of days after issue (then valid_from/valid_until bound the issuing).
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    valid_days = models.PositiveSmallIntegerField(_("valid for days after issue"), null=True, blank=True)
    stores = models.ManyToManyField(Store, blank=True, related_name="+", verbose_name=_("stores"))
    products = models.ManyToManyField(Product, blank=True, related_name="+", verbose_name=_("products"))
    categories = models.ManyToManyField(Category, blank=True, related_name="+", verbose_name=_("categories"))
    stackable = models.BooleanField(_("can be combined with other coupons"), default=False)
    member_limit = models.PositiveSmallIntegerField(_("per member"), default=1)
    total_quantity = models.PositiveIntegerField(_("total quantity"), null=True, blank=True)
    issued_count = models.PositiveIntegerField(default=0)
    # The discount each store may give with this template in all (fen); None: no budget.
    store_budget_fen = models.PositiveIntegerField(_("budget per store (fen)"), null=True, blank=True)
    return_on_refund = models.BooleanField(_("returned when the order is refunded"), default=False)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("coupon template")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(total_quantity__isnull=True) | Q(issued_count__lte=F("total_quantity")),
                name="coupon_template_quantity_guard",
            ),
            models.CheckConstraint(
                condition=Q(member_limit__gte=1) & Q(member_limit__lte=100),
                name="coupon_template_member_limit_range",
            ),
            models.CheckConstraint(
                condition=(Q(kind="fixed") & Q(amount_fen__gte=1))
                | (Q(kind="percent") & Q(percent_off__gte=1) & Q(percent_off__lte=99))
                | (Q(kind="threshold") & Q(amount_fen__gte=1) & Q(threshold_fen__gt=F("amount_fen")))
                | (Q(kind="gift") & Q(gift_sku__isnull=False)),
                name="coupon_template_kind_fields",
            ),
            models.CheckConstraint(
                condition=Q(valid_days__isnull=False, valid_days__gte=1)
                | Q(valid_days__isnull=True, valid_until__isnull=False),
                name="coupon_template_validity",
            ),
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True)
                | Q(valid_until__isnull=True)
                | Q(valid_until__gt=F("valid_from")),
                name="coupon_template_window_ordered",
            ),
        ]
        indexes = [models.Index(fields=["brand", "active"], name="coupon_template_brand_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def remaining(self) -> int | None:
        """Coupons that can still be issued (None: no total quantity)."""
        return None if self.total_quantity is None else self.total_quantity - self.issued_count


class CouponStatus(models.TextChoices):
    AVAILABLE = "available", _("Available")
    USED = "used", _("Used")
    EXPIRED = "expired", _("Expired")
    VOID = "void", _("Void")


class CouponSource(models.TextChoices):
    MANUAL = "manual", _("Given by staff")
    SEGMENT = "segment", _("Sent to a group of members")
    CAMPAIGN = "campaign", _("From a campaign")
    EXCHANGE = "exchange", _("Exchanged for points")
    API = "api", _("Through the API")


class Coupon(models.Model):
    """One coupon in one member's wallet."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    template = models.ForeignKey(CouponTemplate, on_delete=models.PROTECT, related_name="coupons")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    seq = models.PositiveSmallIntegerField()
    member_limit = models.PositiveSmallIntegerField()
    code = models.CharField(max_length=8)
    status = models.CharField(max_length=10, choices=CouponStatus.choices, default=CouponStatus.AVAILABLE)
    issued_at = models.DateTimeField(default=timezone.now)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=10, choices=CouponSource.choices)
    source_ref = models.CharField(max_length=64, blank=True)
    issued_by = models.ForeignKey(Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    idempotency_key = models.CharField(max_length=80)
    request_hash = models.CharField(max_length=64, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    used_store = models.ForeignKey(Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    used_by = models.ForeignKey(Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    order_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    sale_fen = models.PositiveIntegerField(null=True, blank=True)  # counter sale amount
    discount_fen = models.PositiveIntegerField(default=0)  # taken off the price
    cost_fen = models.PositiveIntegerField(default=0)  # charged to the store's budget (a gift: its price)
    use_key = models.CharField(max_length=80, blank=True)  # the redeeming staff member's scoped key
    returned_count = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("coupon")
        ordering = ["valid_until", "id"]
        constraints = [
            models.UniqueConstraint(fields=["template", "member", "seq"], name="coupon_member_seq_unique"),
            models.CheckConstraint(
                condition=Q(seq__gte=1) & Q(seq__lte=F("member_limit")), name="coupon_member_limit_guard"
            ),
            models.UniqueConstraint(fields=["member", "idempotency_key"], name="coupon_issue_key_unique"),
            models.UniqueConstraint(
                fields=["code"],
                condition=Q(status__in=["available", "used"]),
                name="coupon_open_code_unique",
            ),
            models.CheckConstraint(
                condition=~Q(status="used") | Q(used_at__isnull=False), name="coupon_used_has_time"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__gt=F("valid_from")), name="coupon_window_ordered"
            ),
        ]
        indexes = [
            models.Index(fields=["member", "status", "valid_until"], name="coupon_wallet_idx"),
            models.Index(fields=["template", "status"], name="coupon_template_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.template_id}/{self.member_id}#{self.seq} {self.status}"


class CouponBudget(models.Model):
    """How much discount one store has given with one template, against its budget."""

    template = models.ForeignKey(CouponTemplate, on_delete=models.PROTECT, related_name="budgets")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    budget_fen = models.PositiveIntegerField()
    spent_fen = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("coupon budget")
        constraints = [
            models.UniqueConstraint(fields=["template", "store"], name="coupon_budget_unique"),
            models.CheckConstraint(condition=Q(spent_fen__lte=F("budget_fen")), name="coupon_budget_guard"),
        ]

    def __str__(self) -> str:
        return f"{self.template_id}@{self.store_id}: {self.spent_fen}/{self.budget_fen}"
