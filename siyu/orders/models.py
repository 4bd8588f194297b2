"""Orders placed in the member mall and picked up at a store.

Every status change goes through ``siyu.orders.services.transitions`` (a conditional UPDATE on the
expected status) and leaves an ``OrderTransition`` row. Money is integer fen.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from siyu.catalog.models import Sku, StoreListing
from siyu.members.models import Member
from siyu.org.models import Brand, Staff, Store


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", _("Awaiting payment")
    PAID = "paid", _("Paid")
    READY = "ready", _("Ready for pickup")
    PICKED_UP = "picked_up", _("Picked up")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")
    REFUNDED = "refunded", _("Refunded")


class PaymentMethod(models.TextChoices):
    PAY_AT_PICKUP = "pay_at_pickup", _("Pay at pickup")
    WECHATPAY = "wechatpay", _("WeChat Pay")
    SANDBOX = "sandbox", _("Sandbox (demo)")
    # Paid from the member's stored-value balance: a tender registered by the app that keeps balances
    # (``siyu.orders.tenders``); orders only knows the name.
    BALANCE = "balance", _("Stored-value balance")


class OrderSource(models.TextChoices):
    MALL = "mall", _("Mall")
    FLASH_SALE = "flash_sale", _("Flash sale")
    GROUP_BUY = "group_buy", _("Group buy")
    EVENT_TICKET = "event_ticket", _("Event ticket")


class Order(models.Model):
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="orders")
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="orders", verbose_name=_("pickup store")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=OrderStatus.choices, default=OrderStatus.PENDING_PAYMENT
    )
    payment_method = models.CharField(_("payment method"), max_length=16, choices=PaymentMethod.choices)
    total_fen = models.PositiveIntegerField(_("total (fen)"))
    pickup_window_start = models.DateTimeField(_("pickup from"))
    pickup_window_end = models.DateTimeField(_("pickup until"))
    idempotency_key = models.CharField(max_length=100)
    # A fingerprint of what the key's first request asked for (siyu.common.idempotency.request_hash): the
    # same key with a different request is refused instead of answering this order. Blank on old orders.
    request_hash = models.CharField(max_length=64, blank=True, default="")
    out_trade_no = models.CharField(max_length=32, unique=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    # Where the sale came from, as plain ids so this table does not depend on those apps.
    community_id = models.BigIntegerField(null=True, blank=True)
    campaign_id = models.BigIntegerField(null=True, blank=True)
    # The kind of sale that placed the order; lifecycle hooks (siyu.orders.hooks) are keyed by it.
    source = models.CharField(
        _("source"), max_length=16, choices=OrderSource.choices, default=OrderSource.MALL
    )
    # Whether the order reserved its lines from the store listings' stock (released by orders when it
    # ends); False when the selling app holds the units itself (a flash sale's allotment).
    holds_listing_stock = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("order")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "idempotency_key"], name="order_member_key_unique"),
            models.CheckConstraint(condition=Q(total_fen__gte=0), name="order_total_not_negative"),
            models.CheckConstraint(
                condition=Q(pickup_window_end__gt=F("pickup_window_start")),
                name="order_pickup_window_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["store", "created_at"], name="order_store_created_idx"),
            models.Index(fields=["status", "expires_at"], name="order_status_expires_idx"),
            models.Index(fields=["campaign_id", "created_at"], name="order_campaign_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.status}"

    @property
    def paid_online(self) -> bool:
        """Paid before pickup (through the provider or a tender such as the balance), not at the counter."""
        return self.payment_method != PaymentMethod.PAY_AT_PICKUP

    @property
    def paid_by_tender(self) -> bool:
        """Paid through a tender (``siyu.orders.tenders``), refunded by it rather than by the provider."""
        return self.payment_method == PaymentMethod.BALANCE


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    listing = models.ForeignKey(StoreListing, on_delete=models.PROTECT, related_name="+")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=200)
    unit_price_fen = models.PositiveIntegerField(_("unit price (fen)"))
    quantity = models.PositiveIntegerField(_("quantity"))
    picked_quantity = models.PositiveIntegerField(_("picked up"), default=0)

    class Meta:
        ordering = ["order_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="orderline_quantity_positive"),
            models.CheckConstraint(
                condition=Q(picked_quantity__gte=0, picked_quantity__lte=F("quantity")),
                name="orderline_picked_within_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} × {self.quantity}"

    @property
    def remaining(self) -> int:
        return self.quantity - self.picked_quantity


class OrderAdjustment(models.Model):
    """One line of the order's price: why it differs from the list price (``siyu.orders.pricing``).

    ``amount_fen`` is signed (negative: a discount). With ``line`` it belongs to that order line, else to
    the whole order. The order's total is the lines' base prices plus every adjustment."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="adjustments")
    line = models.ForeignKey(
        OrderLine, on_delete=models.CASCADE, null=True, blank=True, related_name="adjustments"
    )
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(_("kind"), max_length=32)
    label = models.CharField(_("label"), max_length=100)
    amount_fen = models.IntegerField(_("amount (fen)"))
    reference = models.CharField(_("reference"), max_length=64, blank=True)

    class Meta:
        ordering = ["order_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["order", "position"], name="orderadjustment_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.kind} {self.amount_fen}"


class OrderTransition(models.Model):
    """Append-only audit of every status change of an order."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=16, choices=OrderStatus.choices)
    to_status = models.CharField(max_length=16, choices=OrderStatus.choices)
    actor = models.ForeignKey(Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status} → {self.to_status}"


class PickupCode(models.Model):
    """The order's pickup codes: the long signed code in the QR (only its SHA-256 is stored) and the short
    code a person reads aloud and types (``short_code``, 8 characters of ``pickup_codes.ALPHABET``, random
    from a CSPRNG; ADR 0011). A code is *open* until it is used or its order ends (``closed_at``); an open
    short code is unique within its store (partial unique index), so the counter finds one order by it."""

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="pickup_code")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    code_hash = models.CharField(max_length=64, unique=True)
    short_code = models.CharField(max_length=8)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "short_code"],
                condition=Q(closed_at__isnull=True),
                name="pickupcode_open_short_code_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"pickup code of {self.order_id}"


class PickupAttemptCount(models.Model):
    """Pickup-code attempts that found no open code, per staff member or store and minute
    (``siyu.orders.services.pickup_limits``). Rows older than an hour are deleted as new ones come."""

    class Scope(models.TextChoices):
        STAFF = "staff", _("staff member")
        STORE = "store", _("store")

    scope = models.CharField(max_length=8, choices=Scope.choices)
    subject_id = models.BigIntegerField()
    window_start = models.DateTimeField()
    misses = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "subject_id", "window_start"], name="pickupattempt_window_unique"
            ),
        ]
        indexes = [models.Index(fields=["window_start"], name="pickupattempt_window_idx")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.subject_id} {self.window_start:%H:%M} {self.misses}"


class PaymentNotification(models.Model):
    """One applied payment notification, so that repeated deliveries are applied once."""

    provider = models.CharField(max_length=16)
    notification_id = models.CharField(max_length=128, unique=True)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payment_notifications")
    amount_fen = models.PositiveIntegerField()
    transaction_id = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.provider}:{self.notification_id}"


class OrderReturn(models.Model):
    """A picked-up order taken back at the counter (退货退款, ``siyu.orders.services.returns``): at most one
    per order (the one-to-one below stands behind the conditional status UPDATE). ``method`` says how the
    money went back: through the payment provider (online orders, the order's fixed refund number) or in
    cash at the counter (pay-at-pickup orders, recorded here). Returned goods are not put back into stock
    automatically: staff check them and correct the stock by hand."""

    class Method(models.TextChoices):
        PROVIDER = "provider", _("Refunded through the payment provider")
        COUNTER = "counter", _("Refunded at the counter")
        TENDER = "tender", _("Refunded to the balance it was paid from")

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="order_return")
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("reason"), max_length=200)
    method = models.CharField(_("refund method"), max_length=16, choices=Method.choices)
    amount_fen = models.PositiveIntegerField(_("amount (fen)"))
    refund_status = models.CharField(max_length=32, blank=True)
    # client_key(staff, "order.return", order, key): the same staff member's retry answers this return.
    idempotency_key = models.CharField(max_length=100, unique=True)
    request_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("order return")

    def __str__(self) -> str:
        return f"return of {self.order_id}"
