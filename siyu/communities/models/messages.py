"""Group messages (the built-in web chat, and messages mirrored from WeCom/Telegram) and scheduled posts."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.communities.models.groups import Community
from siyu.members.models import Member
from siyu.org.models import Staff


class Message(models.Model):
    """One message in a group, by a member, a staff member, the robot or the system.

    Messages are never deleted by moderation: a refused one is kept with ``hidden=True`` so the moderation log
    can point at it, and members no longer see it. ``client_msg_id`` makes a member's retries idempotent (and
    holds ``robot:<key>`` for the robot's idempotent posts); ``external_id`` is the channel's message id for
    messages received from WeCom/Telegram.
    """

    class SenderKind(models.TextChoices):
        MEMBER = "member", _("Member")
        STAFF = "staff", _("Staff")
        ROBOT = "robot", _("Robot")
        SYSTEM = "system", _("System")

    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        MARKDOWN = "markdown", _("Markdown")
        IMAGE = "image", _("Image")
        CARD = "card", _("Card")

    community = models.ForeignKey(Community, on_delete=models.PROTECT, related_name="messages")
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, null=True, blank=True, related_name="community_messages"
    )
    staff = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    sender_kind = models.CharField(max_length=8, choices=SenderKind.choices, default=SenderKind.MEMBER)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TEXT)
    text = models.TextField(_("text"), blank=True)
    image = models.ImageField(_("image"), upload_to="chat/%Y/%m/", null=True, blank=True)
    # {"title", "description", "url", "image_url"}: rendered as one tappable card.
    card = models.JSONField(_("card"), default=dict, blank=True)
    external_id = models.CharField(max_length=128, blank=True)
    client_msg_id = models.CharField(max_length=100, blank=True)
    hidden = models.BooleanField(_("hidden"), default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("group message")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["community", "client_msg_id"],
                condition=~Q(client_msg_id=""),
                name="message_client_id_unique",
            ),
            models.UniqueConstraint(
                fields=["community", "external_id"],
                condition=~Q(external_id=""),
                name="message_external_id_unique",
            ),
            models.CheckConstraint(
                condition=~Q(sender_kind="member") | Q(member__isnull=False),
                name="message_member_has_member",
            ),
        ]
        indexes = [
            models.Index(fields=["community", "id"], name="message_community_id_idx"),
            models.Index(fields=["member", "created_at"], name="message_member_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.community_id}#{self.pk} {self.sender_kind}"


class ScheduledPost(models.Model):
    """An announcement a staff member scheduled for later; the robot posts it once when due.

    ``run_due_scheduled_posts`` claims a row by setting ``sent_at`` in one conditional UPDATE, so
    concurrent runners never post it twice. ``sent_at`` set with ``message`` empty and ``error`` filled
    means the post was refused (e.g. the group was archived) and will not be retried.
    """

    community = models.ForeignKey(Community, on_delete=models.PROTECT, related_name="scheduled_posts")
    text = models.TextField(_("text"), blank=True)
    markdown = models.TextField(_("markdown"), blank=True)
    run_at = models.DateTimeField(_("post at"))
    created_by = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    message = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("scheduled post")
        ordering = ["run_at", "id"]
        indexes = [
            models.Index(fields=["run_at"], name="scheduled_post_due_idx", condition=Q(sent_at__isnull=True))
        ]

    def __str__(self) -> str:
        return f"{self.community_id}@{self.run_at:%Y-%m-%d %H:%M}"
