"""A campaign: what every kind shares (brand, title, window, stores, groups, robot posts)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from siyu.communities.models import Community
from siyu.org.models import Brand, Store


class CampaignKind(models.TextChoices):
    FLASH_SALE = "flash_sale", _("Flash sale")
    GROUP_BUY = "group_buy", _("Group buy")


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    CANCELLED = "cancelled", _("Cancelled")


class Campaign(models.Model):
    """One flash sale or group buy of a brand.

    It runs (members can buy) while ``status`` is published and now is in [starts_at, ends_at). ``stores``
    are the pickup stores it runs in (none chosen: every open store of the brand); ``communities`` are the
    groups the robot posts into (warm-up, start, relay, progress). ``admission_backend`` is fixed when a
    flash sale is published (``redis`` or ``database``), so its counters stay where they started.
    """

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=16, choices=CampaignKind.choices)
    title = models.CharField(_("title"), max_length=100)
    description = models.TextField(_("description"), blank=True, max_length=2000)
    status = models.CharField(
        _("status"), max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    pickup_until = models.DateTimeField(_("pick up until"))
    stores = models.ManyToManyField(Store, blank=True, related_name="+", verbose_name=_("stores"))
    communities = models.ManyToManyField(Community, blank=True, related_name="+", verbose_name=_("groups"))
    # Robot posts: warm-up (at warmup_at, optional) and start (at starts_at); each sent once.
    warmup_at = models.DateTimeField(_("warm-up post at"), null=True, blank=True)
    warmup_text = models.CharField(_("warm-up text"), max_length=500, blank=True)
    start_text = models.CharField(_("start text"), max_length=500, blank=True)
    warmup_posted_at = models.DateTimeField(null=True, blank=True)
    start_posted_at = models.DateTimeField(null=True, blank=True)
    sold_out_posted_at = models.DateTimeField(null=True, blank=True)
    relay_enabled = models.BooleanField(_("接龙 relay"), default=True)
    admission_backend = models.CharField(max_length=16, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="campaign_ends_after_start"),
            models.CheckConstraint(
                condition=Q(pickup_until__gte=F("ends_at")), name="campaign_pickup_after_end"
            ),
        ]
        indexes = [models.Index(fields=["brand", "status", "ends_at"], name="campaign_brand_status_idx")]

    def __str__(self) -> str:
        return self.title
