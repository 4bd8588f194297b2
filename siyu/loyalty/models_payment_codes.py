"""Payment codes (付款码): paying with stored value at the counter; imported by ``siyu.loyalty.models``.

A member's H5 page shows a short-lived, single-use code (QR + 18 digits); the clerk scans or types it with
the amount, and the balance pays (``siyu.loyalty.services.balance_counter``). Only an HMAC of the digits is
stored. A row is one code and, once used, the counter payment made with it (and its refund).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from siyu.loyalty.models_stored_value import StoredValueEntry
from siyu.members.models import Member
from siyu.org.models import Brand, Staff, Store


class BalancePayCode(models.Model):
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    # HMAC-SHA256 (keyed with the secret key) of the 18 digits: the digits themselves are never stored.
    code_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    # Claimed by one conditional UPDATE (used_at IS NULL AND expires_at > now), with the payment's facts.
    used_at = models.DateTimeField(null=True, blank=True)
    store = models.ForeignKey(Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    amount_fen = models.BigIntegerField(_("amount (fen)"), null=True, blank=True)
    pay_entry = models.OneToOneField(
        StoredValueEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # client_key(staff, "stored_value.counter_pay", store, key): the clerk's retry answers this payment.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    request_hash = models.CharField(max_length=64, blank=True)
    # A manager's refund of the whole payment back to the balance (once).
    refunded_at = models.DateTimeField(null=True, blank=True)
    refunded_by = models.ForeignKey(Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    refund_reason = models.CharField(_("refund reason"), max_length=200, blank=True)
    refund_entry = models.OneToOneField(
        StoredValueEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    refund_key = models.CharField(max_length=100, null=True, blank=True, unique=True)

    class Meta:
        verbose_name = _("balance payment code")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="sv_paycode_expires_later"
            ),
            models.CheckConstraint(
                condition=Q(used_at__isnull=True)
                | Q(store__isnull=False, staff__isnull=False, amount_fen__gt=0),
                name="sv_paycode_used_has_payment",
            ),
            models.CheckConstraint(
                condition=Q(refunded_at__isnull=True) | Q(used_at__isnull=False),
                name="sv_paycode_refund_after_use",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "created_at"], name="sv_paycode_member_idx"),
            models.Index(fields=["store", "used_at"], name="sv_paycode_store_used_idx"),
        ]

    def __str__(self) -> str:
        return f"pay code {self.pk} of {self.member_id}"
