"""Flash sales (秒杀): items with their allotment, per-member quotas, admitted reservations, and the 接龙
relay's cursors and posts.

Counting rules (kept by ``siyu.campaigns.services``, backed by the constraints below):
- ``FlashSaleItem.sold`` = units held by active reservations written to the database; 0 ≤ sold ≤ stock.
- ``FlashQuota.taken`` = units one member holds of one item; never above the item's per-member limit.
- A reservation is ``active`` while its order holds the units and ``released`` once they went back
  (order cancelled, expired or refunded) — exactly once.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from siyu.campaigns.models.base import Campaign
from siyu.catalog.models import Sku
from siyu.communities.models import Community, Message
from siyu.members.models import Member
from siyu.org.models import Store


class FlashSaleItem(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="flash_items")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    price_fen = models.PositiveIntegerField(_("flash price (fen)"))
    stock = models.PositiveIntegerField(_("units for the sale"))
    per_member_limit = models.PositiveIntegerField(_("limit per member"), default=1)
    sold = models.PositiveIntegerField(_("sold"), default=0)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("flash sale item")
        ordering = ["campaign_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "sku"], name="flash_item_campaign_sku_unique"),
            models.CheckConstraint(condition=Q(price_fen__gt=0), name="flash_item_price_positive"),
            models.CheckConstraint(condition=Q(stock__gt=0), name="flash_item_stock_positive"),
            models.CheckConstraint(condition=Q(per_member_limit__gt=0), name="flash_item_limit_positive"),
            models.CheckConstraint(
                condition=Q(sold__gte=0, sold__lte=F("stock")), name="flash_item_sold_within_stock"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.sku_id}: {self.sold}/{self.stock}"


class FlashQuota(models.Model):
    """Units of one flash item held by one member (for the per-member limit)."""

    item = models.ForeignKey(FlashSaleItem, on_delete=models.CASCADE, related_name="quotas")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    taken = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "member"], name="flash_quota_item_member_unique"),
            models.CheckConstraint(condition=Q(taken__gte=0), name="flash_quota_taken_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id}/{self.member_id}: {self.taken}"


class FlashReservation(models.Model):
    """One admitted purchase: ``quantity`` units of ``item`` for ``member``, picked up at ``store``.

    Written once per (campaign, member, client key) — by the purchase request itself on the database
    backend, or by the write-behind writer from the Redis stream entry ``stream_id``. ``seq`` is its number
    in the sale's 接龙 relay, given by the relay in admission order.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        RELEASED = "released", _("Released")

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="flash_reservations")
    item = models.ForeignKey(FlashSaleItem, on_delete=models.PROTECT, related_name="reservations")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    client_key = models.CharField(max_length=100)
    stream_id = models.CharField(max_length=40, null=True, blank=True, unique=True)
    order = models.OneToOneField(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="flash_reservation"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    seq = models.PositiveIntegerField(null=True, blank=True)
    admitted_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["campaign_id", "admitted_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "member", "client_key"], name="flash_reservation_client_key_unique"
            ),
            models.UniqueConstraint(fields=["campaign", "seq"], name="flash_reservation_seq_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="flash_reservation_quantity_positive"),
        ]
        indexes = [models.Index(fields=["campaign", "seq"], name="flash_reservation_relay_idx")]

    def __str__(self) -> str:
        return f"{self.campaign_id}#{self.seq or '-'} {self.member_id}×{self.quantity}"


class RelayCursor(models.Model):
    """How far the 接龙 relay has posted into one group: every line with seq ≤ ``last_seq`` is posted."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="relay_cursors")
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="+")
    last_seq = models.PositiveIntegerField(default=0)
    last_remaining_posted = models.IntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "community"], name="relay_cursor_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}@{self.community_id}: {self.last_seq}"


class RelayPost(models.Model):
    """One robot post of the relay (lines ``first_seq``…``last_seq``, or a stock notice): the relay log."""

    class Kind(models.TextChoices):
        LINES = "lines", _("Relay lines")
        LOW_STOCK = "low_stock", _("Only a few left")
        SOLD_OUT = "sold_out", _("Sold out")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="relay_posts")
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.LINES)
    first_seq = models.PositiveIntegerField(null=True, blank=True)
    last_seq = models.PositiveIntegerField(null=True, blank=True)
    message = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.campaign_id}@{self.community_id} {self.kind} {self.first_seq}-{self.last_seq}"
