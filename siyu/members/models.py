"""Members: identity by mobile number, channel identities, profile, tags, notes, consent, imports, OTP."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.org.models import Brand, Staff, Store


class Gender(models.TextChoices):
    MALE = "m", _("Male")
    FEMALE = "f", _("Female")
    UNKNOWN = "u", _("Unknown")


class AgeBand(models.TextChoices):
    UNDER_18 = "u18", _("Under 18")
    A18_24 = "18-24", "18–24"
    A25_34 = "25-34", "25–34"
    A35_44 = "35-44", "35–44"
    A45_54 = "45-54", "45–54"
    A55_64 = "55-64", "55–64"
    A65_PLUS = "65+", _("65 and over")
    UNKNOWN = "", _("Unknown")


class Source(models.TextChoices):
    POS_IMPORT = "import", _("POS import")
    STAFF = "staff", _("Added by staff")
    H5 = "h5", _("H5 sign-up")
    WECHAT = "wechat", _("WeChat")
    WECOM = "wecom", _("WeCom")
    TELEGRAM = "telegram", _("Telegram")
    API = "api", _("API")
    DEMO = "demo", _("Demo data")


class Member(models.Model):
    """A customer of the chain, identified by a unique mainland mobile number.

    Erasure (PIPL) blanks every personal field, sets ``erased_at`` and keeps the row so that
    order and ledger totals stay whole.
    """

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="members")
    # NULL, not "", once erased: the unique constraint applies only to numbers actually held.
    mobile = models.CharField(_("mobile"), max_length=11, null=True, blank=True)  # noqa: DJ001
    name = models.CharField(_("name"), max_length=50, blank=True)
    # What other members see (chat, 接龙): chosen by the member or from WeChat (services/public_profile).
    nickname = models.CharField(_("nickname"), max_length=20, blank=True, default="")
    # A 160 px square JPEG under MEDIA_ROOT/avatars/ with a random name, served by the H5 avatar view.
    avatar = models.FileField(_("avatar"), upload_to="avatars/", max_length=100, blank=True, default="")
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, default=Gender.UNKNOWN)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    age_band = models.CharField(_("age band"), max_length=5, choices=AgeBand.choices, blank=True, default="")
    occupation = models.CharField(_("occupation"), max_length=50, blank=True)
    district = models.CharField(_("district"), max_length=50, blank=True)
    home_store = models.ForeignKey(
        Store,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("home store"),
    )
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.STAFF)
    # Marketing consent (PIPL): current state here, full history in ConsentRecord.
    marketing_consent = models.BooleanField(_("marketing consent"), default=False)
    consent_updated_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(_("erased at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("member")
        ordering = ["-joined_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["mobile"], condition=Q(mobile__isnull=False), name="member_mobile_unique"
            ),
            models.CheckConstraint(
                condition=Q(erased_at__isnull=True) | Q(mobile__isnull=True),
                name="member_erased_has_no_mobile",
            ),
        ]
        indexes = [
            models.Index(fields=["home_store", "joined_at"], name="member_store_joined_idx"),
            models.Index(fields=["joined_at"], name="member_joined_idx"),
            models.Index(fields=["age_band"], name="member_age_band_idx"),
        ]

    def __str__(self) -> str:
        return self.name or f"#{self.pk}"


class ChannelIdentity(models.Model):
    """A member's identity on one channel (WeCom external_userid, WeChat openid, Telegram id, web)."""

    class Channel(models.TextChoices):
        WECOM = "wecom", _("WeCom")
        WECHAT = "wechat", _("WeChat (official account)")
        TELEGRAM = "telegram", _("Telegram")
        WEB = "web", _("Web")

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="identities")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    external_id = models.CharField(max_length=128)
    unionid = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], name="identity_channel_external_unique"
            )
        ]
        indexes = [models.Index(fields=["unionid"], name="identity_unionid_idx")]

    def __str__(self) -> str:
        return f"{self.channel}:{self.external_id}"


class TagGroup(models.Model):
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="tag_groups")
    name = models.CharField(_("name"), max_length=50)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["brand", "name"], name="taggroup_name_unique")]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    """A tag. ``rule`` empty = manual; otherwise a rule (see members.rules) recomputed on demand."""

    group = models.ForeignKey(TagGroup, on_delete=models.PROTECT, related_name="tags")
    name = models.CharField(_("name"), max_length=50)
    rule = models.JSONField(_("rule"), null=True, blank=True)
    recomputed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "name"], name="tag_name_unique")]
        ordering = ["group_id", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_rule_based(self) -> bool:
        return bool(self.rule)


class MemberTag(models.Model):
    class Origin(models.TextChoices):
        MANUAL = "manual", _("Manual")
        RULE = "rule", _("Rule")
        IMPORT = "import", _("Import")

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="member_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="member_tags")
    origin = models.CharField(max_length=8, choices=Origin.choices, default=Origin.MANUAL)
    added_by = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["member", "tag"], name="membertag_unique")]
        indexes = [models.Index(fields=["tag", "member"], name="membertag_tag_member_idx")]

    def __str__(self) -> str:
        return f"{self.member_id}:{self.tag_id}"


class MemberNote(models.Model):
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, related_name="+")
    text = models.TextField(_("note"), max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.text[:30]


class ConsentRecord(models.Model):
    """Append-only history of marketing consent: who granted or withdrew, when, through what."""

    class Action(models.TextChoices):
        GRANTED = "granted", _("Granted")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="consent_records")
    action = models.CharField(max_length=10, choices=Action.choices)
    source = models.CharField(_("source"), max_length=32)
    recorded_by = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.occurred_at:%Y-%m-%d}"


class MemberImport(models.Model):
    """One uploaded member file. All-or-nothing: ``status`` is imported or rejected, never half."""

    class Status(models.TextChoices):
        IMPORTED = "imported", _("Imported")
        REJECTED = "rejected", _("Rejected")

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    file_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    row_count = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.file_name


class OtpCode(models.Model):
    """A one-time sign-in code. Only a hash is kept; single-use; expires; limited attempts."""

    mobile = models.CharField(max_length=11, db_index=True)
    code_hash = models.CharField(max_length=64)
    ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.mobile[:3]}**** {self.created_at:%H:%M}"
