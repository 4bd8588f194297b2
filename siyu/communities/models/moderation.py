"""Group rules enforcement: policies, the log of robot and staff actions, appeals and the brand blocklist.

The logic lives in the ``moderation_*``, ``blocklist``, ``join_checks``, ``sanctions`` and ``appeals``
modules of ``siyu.communities.services``; see docs/moderation.md.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.communities.models.groups import Community
from siyu.members.models import ChannelIdentity, Member
from siyu.org.models import Brand, Staff

DEFAULT_LADDER = ["warn", "mute", "remove"]


def default_ladder() -> list[str]:
    return list(DEFAULT_LADDER)


class ModerationRule(models.TextChoices):
    KEYWORD = "keyword", _("Forbidden word")
    LINK = "link", _("External link")
    QR_IMAGE = "qr_image", _("QR code image")
    CONTACT = "contact", _("Contact details")
    FLOOD = "flood", _("Too many messages")
    REPEAT = "repeat", _("Repeated message")
    BLOCKLIST = "blocklist", _("On the blocklist")


class ModerationPolicy(models.Model):
    """The rules a group enforces. ``community`` NULL is the brand default; a group's own row replaces it.

    Without any row the built-in defaults of the moderation service apply.
    """

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="moderation_policies")
    community = models.ForeignKey(
        Community, on_delete=models.CASCADE, null=True, blank=True, related_name="moderation_policies"
    )
    forbidden_keywords = models.JSONField(_("forbidden words"), default=list, blank=True)
    block_links = models.BooleanField(_("block external links"), default=True)
    block_qr_images = models.BooleanField(_("block QR code images"), default=True)
    block_contact = models.BooleanField(_("block phone numbers and WeChat IDs"), default=True)
    flood_count = models.PositiveSmallIntegerField(_("flood: messages"), default=6)
    flood_seconds = models.PositiveSmallIntegerField(_("flood: within seconds"), default=10)
    repeat_count = models.PositiveSmallIntegerField(_("same message repeated"), default=3)
    ladder = models.JSONField(_("escalation ladder"), default=default_ladder)
    mute_minutes = models.PositiveIntegerField(_("mute minutes"), default=60)
    window_days = models.PositiveSmallIntegerField(_("offences count for days"), default=30)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("moderation policy")
        verbose_name_plural = _("moderation policies")
        constraints = [
            models.UniqueConstraint(
                fields=["brand"], condition=Q(community__isnull=True), name="moderation_policy_brand_default"
            ),
            models.UniqueConstraint(
                fields=["community"],
                condition=Q(community__isnull=False),
                name="moderation_policy_one_per_community",
            ),
        ]

    def __str__(self) -> str:
        return f"policy:{self.community_id or 'default'}"


class ModerationAction(models.Model):
    """One enforcement step against a member in a group, by the robot (``actor`` NULL) or by staff.

    Un-overridden warn/mute/remove rows within the policy window make up the member's escalation step;
    ``hide`` rows only explain a hidden message (e.g. the rest of a flood burst) and never count.
    """

    class Kind(models.TextChoices):
        WARN = "warn", _("Warning")
        MUTE = "mute", _("Mute")
        REMOVE = "remove", _("Removal")
        HIDE = "hide", _("Message hidden")

    community = models.ForeignKey(Community, on_delete=models.PROTECT, related_name="moderation_actions")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="moderation_actions")
    rule = models.CharField(max_length=16, choices=ModerationRule.choices)
    message = models.ForeignKey(
        "communities.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=8, choices=Kind.choices)
    reason = models.CharField(max_length=255, blank=True)
    actor = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    overridden_by = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    overridden_at = models.DateTimeField(null=True, blank=True)
    override_note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["community", "member", "created_at"], name="modaction_member_idx"),
            models.Index(fields=["community", "created_at"], name="modaction_community_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action}:{self.rule} member {self.member_id} in {self.community_id}"

    @property
    def is_overridden(self) -> bool:
        return self.overridden_at is not None


class Appeal(models.Model):
    """A removed member's one appeal against a removal; accepting it overrides the removal."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")

    action = models.OneToOneField(ModerationAction, on_delete=models.PROTECT, related_name="appeal")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="moderation_appeals")
    text = models.TextField(_("appeal"), max_length=1000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    reviewed_by = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"appeal {self.action_id} ({self.status})"


class BlocklistEntry(models.Model):
    """A person the whole brand refuses in its groups: by member, mobile number or channel identity."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="blocklist")
    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, null=True, blank=True, related_name="blocklist_entries"
    )
    mobile = models.CharField(_("mobile"), max_length=11, blank=True, db_index=True)
    channel = models.CharField(max_length=16, choices=ChannelIdentity.Channel.choices, blank=True)
    external_id = models.CharField(max_length=128, blank=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    added_by = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("blocklist entry")
        verbose_name_plural = _("blocklist")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(member__isnull=False) | ~Q(mobile="") | (~Q(channel="") & ~Q(external_id="")),
                name="blocklist_entry_names_someone",
            ),
        ]
        indexes = [models.Index(fields=["channel", "external_id"], name="blocklist_identity_idx")]

    def __str__(self) -> str:
        return f"blocked {self.member_id or self.mobile or self.external_id}"
