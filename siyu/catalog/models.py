"""Catalog: what head office sells, where it is published, and each store's own listing and stock.

Head office owns ``Product``/``Sku`` and publishes a product to all stores, a region or chosen stores
(``Publication``). Each store then has one ``StoreListing`` per SKU: it may opt out (``listed``) and keeps
its own ``stock``. Every stock change is an append-only ``StockMovement`` carrying the stock after it.
Money is integer fen.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from siyu.org.models import Brand, Region, Store


class Category(models.Model):
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="categories")
    name = models.CharField(_("name"), max_length=50)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="products")
    name = models.CharField(_("name"), max_length=100)
    subtitle = models.CharField(_("subtitle"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    category = models.ForeignKey(
        Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="products"
    )
    tags = models.JSONField(_("tags"), default=list, blank=True)
    is_hot = models.BooleanField(_("hot item"), default=False)
    image_url = models.URLField(_("image URL"), max_length=500, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("product")
        ordering = ["-is_hot", "name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def picture(self) -> str:
        """The main uploaded image's large URL (served locally), else the external ``image_url``, else
        empty. Uses ``images`` prefetched in order when there (lists prefetch them)."""
        images = list(self.images.all())
        if images:
            return images[0].url("large")
        return self.image_url


class ProductImage(models.Model):
    """One picture of a product, resized at upload into the ``SIZES`` variants stored under MEDIA_ROOT as
    ``products/<id>/<key>-<size>.<ext>`` (the uploaded bytes themselves are never kept: no metadata
    survives). Ordered by ``position``; the first is the product's main picture."""

    SIZES = ("thumb", "large")

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    position = models.PositiveIntegerField(_("position"), default=0)
    key = models.CharField(max_length=32)  # random: a replaced picture gets a new URL (cached forever)
    ext = models.CharField(max_length=5, default="webp")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("product image")
        ordering = ["product_id", "position", "id"]

    def __str__(self) -> str:
        return f"{self.product_id}#{self.position}"

    def file_name(self, size: str) -> str:
        return f"{self.key}-{size}.{self.ext}"

    def storage_path(self, size: str) -> str:
        """The variant's path relative to MEDIA_ROOT."""
        return f"products/{self.pk}/{self.file_name(size)}"

    def url(self, size: str = "large") -> str:
        """Where the variant is served (the mall's image view; a proxy may serve MEDIA_ROOT/products/
        at the same path)."""
        return reverse("h5:mall_image", args=[self.pk, self.file_name(size)])


class Sku(models.Model):
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="skus")
    code = models.CharField(_("SKU code"), max_length=40, unique=True)
    spec = models.CharField(_("specification"), max_length=60, blank=True)
    price_fen = models.PositiveIntegerField(_("price (fen)"))
    member_price_fen = models.PositiveIntegerField(_("member price (fen)"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("SKU")
        ordering = ["product_id", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(price_fen__gte=1), name="sku_price_positive"),
            models.CheckConstraint(
                condition=models.Q(member_price_fen__isnull=True)
                | models.Q(member_price_fen__gte=1, member_price_fen__lte=models.F("price_fen")),
                name="sku_member_price_not_above_price",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.spec}".strip()


class Publication(models.Model):
    """Head office making a product available to all stores, one region's stores, or chosen stores."""

    class Scope(models.TextChoices):
        ALL = "all", _("All stores")
        REGION = "region", _("Region")
        STORES = "stores", _("Chosen stores")

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="publications")
    scope = models.CharField(_("scope"), max_length=8, choices=Scope.choices)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    stores = models.ManyToManyField(Store, blank=True, related_name="+")
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    published_at = models.DateTimeField(auto_now_add=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("publication")
        ordering = ["-published_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(scope="region") | models.Q(region__isnull=False),
                name="publication_region_scope_has_region",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}:{self.scope}"


class StoreListing(models.Model):
    """One SKU at one store: whether the store offers it and how many it has."""

    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="listings")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="listings")
    listed = models.BooleanField(_("listed"), default=True)
    stock = models.IntegerField(_("stock"), default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("store listing")
        ordering = ["store_id", "sku_id"]
        constraints = [
            models.UniqueConstraint(fields=["store", "sku"], name="listing_store_sku_unique"),
            models.CheckConstraint(condition=models.Q(stock__gte=0), name="listing_stock_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.store_id}/{self.sku_id}: {self.stock}"


class StockMovement(models.Model):
    """Append-only: one row per stock change, with the stock right after it."""

    class Reason(models.TextChoices):
        SET = "set", _("Stock count")
        ADJUST = "adjust", _("Adjustment")
        RESERVE = "reserve", _("Reserved for an order")
        RELEASE = "release", _("Reservation released")
        SALE = "sale", _("Sale")
        RETURN = "return", _("Return")

    listing = models.ForeignKey(StoreListing, on_delete=models.PROTECT, related_name="movements")
    delta = models.IntegerField()
    reason = models.CharField(max_length=8, choices=Reason.choices)
    ref = models.CharField(max_length=64, blank=True)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    idempotency_key = models.CharField(max_length=100, unique=True, null=True, blank=True)
    stock_after = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("stock movement")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["listing", "created_at"], name="movement_listing_idx")]

    def __str__(self) -> str:
        return f"{self.listing_id} {self.delta:+d} ({self.reason})"
