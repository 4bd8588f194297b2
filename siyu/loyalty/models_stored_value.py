"""Stored value (储值, ADR 0015): a balance per member with **principal and bonus kept apart**; imported by
``siyu.loyalty.models``.

Invariants (kept by ``siyu.loyalty.services.stored_value``, backed by constraints here):
- ``account.principal_fen`` and ``account.bonus_fen`` are never negative;
- ``principal_fen`` = the sum of the account's entries' ``principal_delta_fen``; ``bonus_fen`` = the sum of
  their ``bonus_delta_fen``; the bonus equals the sum of its grants' ``remaining_fen``;
- a bonus grant's ``remaining_fen`` lies between 0 and its ``amount_fen``;
- a payment is refunded at most up to what it drew (``refunded_fen`` ≤ −(principal + bonus drawn));
- an idempotency key is applied once per account (unique in the database);
- a recharge gift is handed over once (pending → handed over by one conditional UPDATE).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.members.models import Member
from siyu.org.models import Brand, Staff, Store

DEFAULT_CAP_FEN = 500_000  # ¥5,000: the named-card cap of 单用途商业预付卡管理办法


class StoredValuePolicy(models.Model):
    """A brand's stored-value settings. Without a row the defaults apply."""

    class BonusSpend(models.TextChoices):
        AFTER_PRINCIPAL = "after_principal", _("Bonus is spent after the principal")
        PROPORTIONAL = "proportional", _("Principal and bonus are spent in proportion")

    brand = models.OneToOneField(Brand, on_delete=models.PROTECT, related_name="+")
    cap_fen = models.BigIntegerField(_("balance cap per named member (fen)"), default=DEFAULT_CAP_FEN)
    bonus_spend = models.CharField(
        _("how bonus is spent"), max_length=16, choices=BonusSpend.choices, default=BonusSpend.AFTER_PRINCIPAL
    )
    # Days a bonus may be spent after it was granted (0: it never expires).
    bonus_expiry_days = models.PositiveIntegerField(_("bonus expires after (days)"), default=365)
    # A cash refund of principal forfeits the bonus in the same proportion (all principal: all bonus).
    forfeit_bonus_on_refund = models.BooleanField(_("cash refund forfeits bonus in proportion"), default=True)
    # Compliance: money held in custody (存管) against outstanding principal, and the ratio required.
    custody_fen = models.BigIntegerField(_("amount in custody (fen)"), default=0)
    custody_percent = models.PositiveSmallIntegerField(_("required custody ratio (%)"), default=40)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("stored value policy")
        constraints = [
            models.CheckConstraint(condition=Q(cap_fen__gt=0), name="sv_policy_cap_positive"),
            models.CheckConstraint(condition=Q(custody_fen__gte=0), name="sv_policy_custody_not_negative"),
            models.CheckConstraint(condition=Q(custody_percent__lte=100), name="sv_policy_custody_percent"),
        ]

    def __str__(self) -> str:
        return f"{self.brand_id}: cap {self.cap_fen}"


class StoredValueAccount(models.Model):
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    member = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="stored_value_account")
    # Where the first recharge happened (the per-store reports count the account there).
    store = models.ForeignKey(Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    principal_fen = models.BigIntegerField(default=0)
    bonus_fen = models.BigIntegerField(default=0)
    opened_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("stored value account")
        constraints = [
            models.CheckConstraint(condition=Q(principal_fen__gte=0), name="sv_principal_not_negative"),
            models.CheckConstraint(condition=Q(bonus_fen__gte=0), name="sv_bonus_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.principal_fen}+{self.bonus_fen}"


class StoredValueEntry(models.Model):
    """One change of an account, append-only (``refunded_fen`` of a payment is the only column that moves)."""

    class Kind(models.TextChoices):
        RECHARGE = "recharge", _("Recharge")
        BONUS = "bonus", _("Recharge bonus")
        PAY = "pay", _("Payment")
        REFUND = "refund", _("Payment refunded")
        BONUS_EXPIRY = "bonus_expiry", _("Bonus expired")
        ADJUST = "adjust", _("Adjusted by staff")
        DEPOSIT_CREDIT = "deposit_credit", _("Deposit credited")
        CASH_REFUND = "cash_refund", _("Principal refunded in cash")

    account = models.ForeignKey(StoredValueAccount, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    principal_delta_fen = models.BigIntegerField(default=0)
    bonus_delta_fen = models.BigIntegerField(default=0)
    principal_after = models.BigIntegerField()
    bonus_after = models.BigIntegerField()
    store = models.ForeignKey(Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # Where it came from: counter / online / slot / order / … and its reference (an order id, a slot id).
    source = models.CharField(max_length=24, blank=True)
    source_ref = models.CharField(max_length=64, blank=True)
    payment_ref = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    # The payment a refund puts back; the total put back so far on a payment.
    reverses = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="refunds"
    )
    refunded_fen = models.BigIntegerField(default=0)
    actor_ref = models.CharField(max_length=40, blank=True)
    idempotency_key = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("stored value entry")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "idempotency_key"], name="sv_entry_key_unique"),
            models.CheckConstraint(
                condition=~(Q(principal_delta_fen=0) & Q(bonus_delta_fen=0)), name="sv_entry_not_zero"
            ),
            models.CheckConstraint(
                condition=Q(principal_after__gte=0) & Q(bonus_after__gte=0),
                name="sv_entry_after_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(refunded_fen=0)
                | (
                    Q(kind="pay")
                    & Q(refunded_fen__gt=0)
                    & Q(refunded_fen__lte=-(F("principal_delta_fen") + F("bonus_delta_fen")))
                ),
                name="sv_entry_refund_within_payment",
            ),
        ]
        indexes = [models.Index(fields=["source", "source_ref"], name="sv_entry_source_idx")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.kind} {self.principal_delta_fen:+d}/{self.bonus_delta_fen:+d}"


class BonusGrant(models.Model):
    """One recharge's bonus, spent and expired soonest-to-expire first (like a points batch)."""

    account = models.ForeignKey(StoredValueAccount, on_delete=models.PROTECT, related_name="grants")
    entry = models.OneToOneField(StoredValueEntry, on_delete=models.PROTECT, related_name="grant")
    amount_fen = models.BigIntegerField()
    remaining_fen = models.BigIntegerField()
    granted_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = _("bonus grant")
        ordering = ["expires_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="sv_grant_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining_fen__gte=0) & Q(remaining_fen__lte=F("amount_fen")),
                name="sv_grant_remaining_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.remaining_fen}/{self.amount_fen}"


class BonusDraw(models.Model):
    """How much bonus one entry took from (positive) or put back into (negative) one grant."""

    entry = models.ForeignKey(StoredValueEntry, on_delete=models.PROTECT, related_name="bonus_draws")
    grant = models.ForeignKey(BonusGrant, on_delete=models.PROTECT, related_name="draws")
    amount_fen = models.BigIntegerField()

    class Meta:
        constraints = [models.CheckConstraint(condition=~Q(amount_fen=0), name="sv_draw_not_zero")]

    def __str__(self) -> str:
        return f"entry {self.entry_id}: {self.amount_fen} from grant {self.grant_id}"


class RechargeRule(models.Model):
    """A tier of a brand's recharge offer: recharging at least ``threshold_fen`` earns ``bonus_fen`` and/or a
    gift to collect in store. The highest tier reached applies."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=60)
    threshold_fen = models.BigIntegerField(_("recharge at least (fen)"))
    bonus_fen = models.BigIntegerField(_("bonus (fen)"), default=0)
    gift = models.CharField(_("gift to collect in store"), max_length=100, blank=True)
    starts_at = models.DateTimeField(_("starts"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    stores = models.ManyToManyField(Store, blank=True, related_name="+", verbose_name=_("stores"))
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("recharge rule")
        ordering = ["brand_id", "threshold_fen", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(threshold_fen__gt=0), name="sv_rule_threshold_positive"),
            models.CheckConstraint(condition=Q(bonus_fen__gte=0), name="sv_rule_bonus_not_negative"),
            models.CheckConstraint(
                condition=Q(bonus_fen__gt=0) | ~Q(gift=""), name="sv_rule_gives_something"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RechargeGift(models.Model):
    """A gift a recharge earned, collected in store: pending → handed over (once, audited)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("To collect")
        HANDED_OVER = "handed_over", _("Handed over")

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    rule = models.ForeignKey(RechargeRule, on_delete=models.PROTECT, related_name="+")
    entry = models.OneToOneField(StoredValueEntry, on_delete=models.PROTECT, related_name="gift")
    description = models.CharField(max_length=100)
    store = models.ForeignKey(Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    source = models.CharField(max_length=24, blank=True)
    source_ref = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    handed_over_at = models.DateTimeField(null=True, blank=True)
    handed_over_by = models.ForeignKey(
        Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    handed_over_store = models.ForeignKey(
        Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("recharge gift")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="pending", handed_over_at__isnull=True)
                | Q(status="handed_over", handed_over_at__isnull=False),
                name="sv_gift_handed_over_has_time",
            )
        ]
        indexes = [models.Index(fields=["source", "source_ref"], name="sv_gift_source_idx")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.description} ({self.status})"
