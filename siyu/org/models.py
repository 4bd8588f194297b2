"""Organisation: the brand (one chain per deployment), regions, stores, staff and their roles."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Brand(models.Model):
    """The chain. One per deployment; everything else hangs off it."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("brand")

    def __str__(self) -> str:
        return self.name


class Region(models.Model):
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="regions")
    code = models.SlugField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("region")
        constraints = [models.UniqueConstraint(fields=["brand", "code"], name="region_code_unique")]
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Store(models.Model):
    class Status(models.TextChoices):
        PREPARING = "preparing", _("Preparing")
        OPEN = "open", _("Open")
        SUSPENDED = "suspended", _("Suspended")
        CLOSED = "closed", _("Closed")

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="stores")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, null=True, blank=True, related_name="stores")
    code = models.CharField(_("store code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    city = models.CharField(_("city"), max_length=50, blank=True)
    district = models.CharField(_("district"), max_length=50, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    opening_hours = models.CharField(_("opening hours"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("store")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(latitude__isnull=True) | models.Q(latitude__gte=-90, latitude__lte=90),
                name="store_latitude_range",
            ),
            models.CheckConstraint(
                condition=models.Q(longitude__isnull=True)
                | models.Q(longitude__gte=-180, longitude__lte=180),
                name="store_longitude_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    HQ_ADMIN = "hq_admin", _("HQ admin")
    HQ_OPERATOR = "hq_operator", _("HQ operator")
    STORE_MANAGER = "store_manager", _("Store manager")
    CLERK = "clerk", _("Clerk")


class Staff(AbstractUser):
    """A staff account. HQ roles see the whole chain; store roles see only ``stores``."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, null=True, blank=True, related_name="staff")
    display_name = models.CharField(_("display name"), max_length=50, blank=True)
    mobile = models.CharField(_("mobile"), max_length=20, blank=True)
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.CLERK)
    stores = models.ManyToManyField(Store, blank=True, related_name="staff", verbose_name=_("stores"))
    # PIPL: full mobile numbers are shown only to staff granted this, and every reveal is audited.
    can_reveal_mobile = models.BooleanField(_("may reveal mobile numbers"), default=False)
    # The staff member's WeCom userid (成员 UserID): who owns a customer group, who gets app messages, who
    # signs in to the chat-toolbar sidebar through WeCom OAuth. Unique within a brand when set.
    wecom_userid = models.CharField(_("WeCom user ID"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "wecom_userid"],
                condition=~models.Q(wecom_userid=""),
                name="staff_wecom_userid_unique",
            )
        ]

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def is_hq(self) -> bool:
        return self.role in (Role.HQ_ADMIN, Role.HQ_OPERATOR)


class ApiToken(models.Model):
    """A staff API token. Only a hash is stored; the token is shown once at creation."""

    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class AuditEntry(models.Model):
    """Append-only record of a staff action on member data (reveal, edit, tag, export, erase, …)."""

    actor = models.ForeignKey(Staff, on_delete=models.PROTECT, null=True, related_name="audit_entries")
    action = models.CharField(max_length=40, db_index=True)
    target_type = models.CharField(max_length=40)
    target_id = models.CharField(max_length=64, blank=True)
    store = models.ForeignKey(Store, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id}"


class LoginAttempt(models.Model):
    """Failed and successful staff logins, for throttling by username and by IP."""

    username = models.CharField(max_length=150, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    succeeded = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.username} {'ok' if self.succeeded else 'failed'}"


class LoginThrottle(models.Model):
    """One row per username (``user:…``) and client address (``ip:…``) that tried to sign in: the row an
    attempt locks while it counts recent failures and reserves its password check (``services/login.py``)."""

    key = models.CharField(max_length=200, unique=True)

    def __str__(self) -> str:
        return self.key
