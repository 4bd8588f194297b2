"""Staff incentives: reward rules with tiers, attributions (who brought a member, which sales follow them),
monthly staff statements with their lines, frozen once HQ approves them (ADR 0019)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.members.models import Member
from siyu.org.models import Brand, Staff, Store


class RuleKind(models.TextChoices):
    INVITE = "invite", _("Members brought in")
    GMV_SHARE = "gmv_share", _("Share of attributed sales")


class IncentiveRule(models.Model):
    """A reward rule of the brand, valid for a range of months (``valid_from``..``valid_until``, first days).

    ``invite``: tiers count the month's members brought in and pay ``fen_per_unit`` each;
    ``gmv_share``: tiers count attributed sales in fen and pay ``basis_points`` of them.
    """

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=60)
    kind = models.CharField(_("kind"), max_length=16, choices=RuleKind.choices)
    valid_from = models.DateField(_("first month"))
    valid_until = models.DateField(_("last month"), null=True, blank=True)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # ``client_key`` of the creating request (scoped to the staff member) and what it asked for.
    idempotency_key = models.CharField(max_length=80, blank=True)
    request_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="incentive_rule_key_unique",
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                name="incentive_rule_months_ordered",
            ),
            models.CheckConstraint(condition=Q(kind__in=["invite", "gmv_share"]), name="incentive_rule_kind"),
        ]

    def __str__(self) -> str:
        return self.name


class IncentiveTier(models.Model):
    """One tier of a rule: units in (``from_units``, ``to_units``] (None: no upper end) pay ``fen_per_unit``
    each (invites) or ``basis_points`` of them (sales in fen)."""

    rule = models.ForeignKey(IncentiveRule, on_delete=models.CASCADE, related_name="tiers")
    position = models.PositiveSmallIntegerField()
    from_units = models.BigIntegerField()
    to_units = models.BigIntegerField(null=True, blank=True)
    fen_per_unit = models.PositiveIntegerField(default=0)
    basis_points = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["rule_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "position"], name="incentive_tier_position_unique"),
            models.CheckConstraint(condition=Q(from_units__gte=0), name="incentive_tier_from_not_negative"),
            models.CheckConstraint(
                condition=Q(to_units__isnull=True) | Q(to_units__gt=models.F("from_units")),
                name="incentive_tier_range",
            ),
            models.CheckConstraint(condition=Q(basis_points__lte=10_000), name="incentive_tier_bp_max"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id}#{self.position}"


class AttributionKind(models.TextChoices):
    MEMBER = "member", _("Member brought in")
    ORDER = "order", _("Attributed sale")
    REFUND = "refund", _("Refund of an attributed sale")


class StaffStatement(models.Model):
    """One staff member's rewards for one month in one store. Draft until HQ approves it; approved is frozen:
    nothing changes it any more (every write filters ``status='draft'``), later items go to a later month's
    statement as adjustments."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        APPROVED = "approved", _("Approved")

    # Indexes: the unique (staff, store, month) and (month, status, store) cover every read; fewer indexes
    # make generation's bulk writes cheaper.
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+", db_index=False)
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+", db_index=False)
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+", db_index=False)
    month = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    invite_count = models.IntegerField(default=0)
    gmv_fen = models.BigIntegerField(default=0)
    adjustment_fen = models.BigIntegerField(default=0)
    reward_fen = models.BigIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)
    generated_at = models.DateTimeField(default=timezone.now)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )

    class Meta:
        ordering = ["-month", "store_id", "staff_id"]
        constraints = [
            models.UniqueConstraint(fields=["staff", "store", "month"], name="staff_statement_unique"),
            models.CheckConstraint(
                condition=Q(status="draft", approved_at__isnull=True)
                | Q(status="approved", approved_at__isnull=False),
                name="staff_statement_approved_has_time",
            ),
            models.CheckConstraint(condition=Q(invite_count__gte=0), name="staff_statement_invites_ok"),
        ]
        indexes = [
            models.Index(fields=["month", "status", "store"], name="staff_statement_month_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.staff_id}@{self.store_id} {self.month:%Y-%m} {self.status}"

    @property
    def frozen(self) -> bool:
        return self.status == self.Status.APPROVED


class Attribution(models.Model):
    """One thing credited to a staff member: a member they brought in (``member``), a paid order of such a
    member within the window (``order``, amount = the order total) or its refund (``refund``, negative).

    ``month`` is the month the item belongs to (the join's, the order's placing); ``statement`` is the
    statement that took it in (None until a statement generation claims it). Written once per membership /
    order (unique constraints), never updated except for ``statement``.
    """

    # Few indexes on purpose: generation claims hundreds of thousands of rows a month (one UPDATE), and every
    # index makes that write slower. Brand, staff, store and member are reached through the indexes below.
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+", db_index=False)
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+", db_index=False)
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+", db_index=False)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+", db_index=False)
    kind = models.CharField(max_length=8, choices=AttributionKind.choices)
    membership_id = models.BigIntegerField(null=True, blank=True)
    # How the member came (``JoinScene`` of communities: staff_share, store_qr…) and through which live code.
    scene = models.CharField(max_length=16, blank=True)
    live_code_id = models.BigIntegerField(null=True, blank=True)
    order_id = models.BigIntegerField(null=True, blank=True)
    amount_fen = models.BigIntegerField(default=0)
    occurred_at = models.DateTimeField()
    month = models.DateField()
    statement = models.ForeignKey(
        StaffStatement, on_delete=models.PROTECT, null=True, blank=True, related_name="attributions"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            # A member is brought in once per brand: the first staff member who did it keeps them.
            models.UniqueConstraint(
                fields=["brand", "member"], condition=Q(kind="member"), name="attribution_member_once"
            ),
            models.UniqueConstraint(
                fields=["kind", "order_id"],
                condition=Q(order_id__isnull=False),
                name="attribution_order_once",
            ),
            models.CheckConstraint(
                condition=Q(kind="member", amount_fen=0)
                | Q(kind="order", amount_fen__gte=0, order_id__isnull=False)
                | Q(kind="refund", amount_fen__lte=0, order_id__isnull=False),
                name="attribution_kind_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["staff", "month"], name="attribution_staff_month_idx"),
            models.Index(fields=["month", "store"], name="attribution_month_store_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.staff_id} {self.amount_fen}"


class LineKind(models.TextChoices):
    INVITE = "invite", _("Members brought in")
    GMV_SHARE = "gmv_share", _("Share of attributed sales")
    ADJUSTMENT = "adjustment", _("Adjustment for an earlier month")


class StatementLine(models.Model):
    """One line of a statement: a tier of a rule (units × rate = amount) or an adjustment for an earlier,
    already approved month (``for_month``; units are the change of that month's count or sales)."""

    statement = models.ForeignKey(StaffStatement, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=12, choices=LineKind.choices)
    rule = models.ForeignKey(IncentiveRule, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    rule_kind = models.CharField(max_length=16, choices=RuleKind.choices)
    tier_position = models.PositiveSmallIntegerField(null=True, blank=True)
    for_month = models.DateField(null=True, blank=True)
    units = models.BigIntegerField(default=0)
    rate = models.BigIntegerField(default=0)
    amount_fen = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["statement_id", "id"]

    def __str__(self) -> str:
        return f"{self.statement_id} {self.kind} {self.amount_fen}"
