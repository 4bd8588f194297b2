"""Recharge-slot deposits (预定充值名额): a flash sale whose single item is a deposit SKU (e.g. ¥11).

A member buys a slot through the flash-sale admission (so slots never oversell) and pays the deposit online.
The paid deposit order becomes a ``RechargeSlot`` (held). At the counter, before the deadline, a recharge of
at least the threshold converts it (held → converted, the deposit credited to the stored-value recharge);
past the deadline the job refunds or forfeits the deposit as the campaign says. Each transition is one
conditional UPDATE on ``status``; a slot leaves ``held`` exactly once.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from siyu.campaigns.models.base import Campaign
from siyu.members.models import Member
from siyu.org.models import Store


class UnusedPolicy(models.TextChoices):
    REFUND = "refund", _("Refund the deposit")
    FORFEIT = "forfeit", _("Keep the deposit")


class RechargeSlotCampaign(models.Model):
    """The slot settings of one flash sale (``campaign``), whose single item is the deposit SKU.

    Slots for sale = the flash item's ``stock``; the deposit = its price. ``threshold_fen`` is the least
    in-store recharge that converts a slot; ``gift_text`` describes the gift for the pages (the gift itself
    comes from the brand's recharge tiers); ``convert_until`` is the deadline; ``unused_policy`` says what
    happens to the deposits of slots not converted by then.
    """

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="recharge_slots")
    deposit_fen = models.PositiveIntegerField(_("deposit (fen)"))
    threshold_fen = models.PositiveIntegerField(_("least recharge (fen)"))
    gift_text = models.CharField(_("gift"), max_length=200, blank=True)
    convert_until = models.DateTimeField(_("recharge by"))
    unused_policy = models.CharField(
        _("unused deposits"), max_length=16, choices=UnusedPolicy.choices, default=UnusedPolicy.REFUND
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("recharge-slot campaign")
        constraints = [
            models.CheckConstraint(condition=Q(deposit_fen__gt=0), name="slot_campaign_deposit_positive"),
            models.CheckConstraint(condition=Q(threshold_fen__gt=0), name="slot_campaign_threshold_positive"),
        ]

    def __str__(self) -> str:
        return f"slots of {self.campaign_id}"


class SlotStatus(models.TextChoices):
    HELD = "held", _("Held")
    CONVERTED = "converted", _("Converted")
    REFUNDED = "refunded", _("Refunded")
    FORFEITED = "forfeited", _("Forfeited")


class RechargeSlot(models.Model):
    """One paid deposit: the member holds a slot at ``store`` until converted, refunded or forfeited."""

    slot_campaign = models.ForeignKey(RechargeSlotCampaign, on_delete=models.PROTECT, related_name="slots")
    order = models.OneToOneField("orders.Order", on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    deposit_fen = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=SlotStatus.choices, default=SlotStatus.HELD)
    recharge_fen = models.PositiveIntegerField(default=0)  # the in-store recharge that converted it
    gift_text = models.CharField(max_length=200, blank=True)  # the gift the recharge gave, if any
    converted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    convert_key = models.CharField(max_length=80, blank=True)  # the conversion's stored idempotency key
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)  # converted, refunded or forfeited

    class Meta:
        verbose_name = _("recharge slot")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(deposit_fen__gt=0), name="slot_deposit_positive"),
            models.CheckConstraint(
                condition=Q(status="held", closed_at__isnull=True)
                | (~Q(status="held") & Q(closed_at__isnull=False)),
                name="slot_closed_when_not_held",
            ),
            models.CheckConstraint(
                condition=~Q(status="converted") | Q(recharge_fen__gt=0),
                name="slot_converted_has_recharge",
            ),
        ]
        indexes = [
            models.Index(fields=["slot_campaign", "status"], name="slot_campaign_status_idx"),
            models.Index(fields=["member", "status"], name="slot_member_status_idx"),
        ]

    def __str__(self) -> str:
        return f"slot {self.pk} ({self.status})"
