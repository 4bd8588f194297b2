"""Channel connectors (web, WeCom, Telegram), the outbox of calls to them, and received events."""

from __future__ import annotations

import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.org.models import Brand, Staff, Store


class ChannelKind(models.TextChoices):
    WEB = "web", _("Built-in web community")
    WECOM = "wecom", _("WeCom customer groups")
    TELEGRAM = "telegram", _("Telegram groups")


class Connector(models.Model):
    """One configured channel account (a WeCom corp app, a Telegram bot, or the built-in web channel).

    ``config`` holds the provider settings (corp id, secrets, token, AES key, API base). Secrets are stored
    as given; protect the database accordingly.
    """

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="connectors")
    kind = models.CharField(_("kind"), max_length=16, choices=ChannelKind.choices)
    name = models.CharField(_("name"), max_length=100)
    config = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name}"


class OutboxMessage(models.Model):
    """One outbound call to a channel, written in the transaction that decided it and sent after commit.

    Nothing is silently dropped: a call is pending until sent, retried with backoff on failure, and
    marked ``failed`` (visible in the console) after ``max_attempts``.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    connector = models.ForeignKey(Connector, on_delete=models.PROTECT, related_name="outbox")
    community_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    # Rate limits are per bucket (e.g. "chat:<id>" for Telegram, "api:<connector>" for the WeCom server API,
    # "robot:<digest>" for a store's internal WeCom staff-group robot: 20 messages/min).
    bucket = models.CharField(max_length=128, db_index=True)
    action = models.CharField(max_length=32)
    payload = models.JSONField(default=dict)
    idempotency_key = models.CharField(max_length=128, unique=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=8)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due_idx"),
            models.Index(fields=["bucket", "sent_at"], name="outbox_bucket_sent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} → {self.bucket} ({self.status})"


class InboundEvent(models.Model):
    """A callback or update received from a channel, kept once per ``dedup_key`` (duplicates are ignored)."""

    connector = models.ForeignKey(Connector, on_delete=models.PROTECT, related_name="inbound")
    dedup_key = models.CharField(max_length=200)
    kind = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connector", "dedup_key"], name="inbound_dedup_unique"),
        ]
        indexes = [
            models.Index(
                fields=["processed_at"], name="inbound_processed_idx", condition=Q(processed_at=None)
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.dedup_key}"


class WeComContact(models.Model):
    """A WeCom external user seen in one of our customer groups but not (yet) linked to a Member.

    A Member needs a mobile number, which WeCom never gives us; so an unknown external user is kept here
    with the groups it is in, and becomes a membership when a member with the same unionid signs in
    (``siyu.channels.services.wecom_events.link_wecom_contacts``).
    """

    connector = models.ForeignKey(Connector, on_delete=models.PROTECT, related_name="wecom_contacts")
    external_userid = models.CharField(max_length=128)
    unionid = models.CharField(max_length=128, blank=True, db_index=True)
    name = models.CharField(max_length=100, blank=True)
    # WeCom chat ids of the groups this contact is currently in.
    chat_ids = models.JSONField(default=list, blank=True)
    member = models.ForeignKey(
        "members.Member", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connector", "external_userid"], name="wecom_contact_unique")
        ]

    def __str__(self) -> str:
        return self.name or self.external_userid


class WeComJoinWay(models.Model):
    """The WeCom join way (群活码, scene 2) that backs one Siyu live code: up to 5 groups with room."""

    connector = models.ForeignKey(Connector, on_delete=models.PROTECT, related_name="join_ways")
    live_code_id = models.BigIntegerField(unique=True)
    config_id = models.CharField(max_length=64)
    chat_ids = models.JSONField(default=list, blank=True)
    qr_code = models.URLField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.live_code_id} → {self.config_id}"


class WeComMassTask(models.Model):
    """One enterprise mass message (群发, ``add_msg_template`` to groups) waiting for its sender — the groups'
    owner — to confirm it in the WeCom client, and what Siyu has read back about it.

    ``siyu.channels.services.wecom_mass`` reads its outcome per group, reminds the owner (at most
    ``MAX_REMINDERS``) and cancels it when stale (``cancel_at``); outcomes go up through
    ``hooks.mass_results``. One row per batch (``batch_key``, the outbox idempotency key of the batch).
    """

    MAX_REMINDERS = 3

    class Status(models.TextChoices):
        OPEN = "open", _("Waiting for the owner")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    connector = models.ForeignKey(Connector, on_delete=models.PROTECT, related_name="mass_tasks")
    msgid = models.CharField(max_length=128)
    batch_key = models.CharField(max_length=128)
    sender = models.CharField(max_length=64)
    chat_ids = models.JSONField(default=list)  # the groups WeCom accepted
    fail_list = models.JSONField(default=list, blank=True)  # the groups WeCom refused at once
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    reminders = models.PositiveSmallIntegerField(default=0)
    last_reminded_at = models.DateTimeField(null=True, blank=True)
    last_read_at = models.DateTimeField(null=True, blank=True)
    cancel_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connector", "batch_key"], name="wecom_mass_task_batch_unique"),
            models.CheckConstraint(
                condition=models.Q(reminders__lte=3), name="wecom_mass_task_reminders_le_3"
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="wecom_mass_task_open_idx")]

    def __str__(self) -> str:
        return f"{self.msgid} ({self.sender}, {len(self.chat_ids)} groups)"


class StaffAppMessage(models.Model):
    """One WeCom app message (``message/send``) to one staff member, written when it is queued.

    Counted per (connector, userid) before another is queued, so WeCom's per-member limits (30 a minute,
    1,000 an hour, per app) are never exceeded (the excess would be silently dropped by WeCom)."""

    connector = models.ForeignKey(Connector, on_delete=models.PROTECT, related_name="+")
    userid = models.CharField(max_length=64)
    outbox_id = models.BigIntegerField(null=True, blank=True)
    digest = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["connector", "userid", "created_at"], name="staff_app_msg_idx")]

    def __str__(self) -> str:
        return f"{self.userid} {self.created_at:%Y-%m-%d %H:%M}"


class WeComWelcomeTemplate(models.Model):
    """The WeCom group welcome template (``group_welcome_template``) made from one Siyu group template on one
    WeCom corp (connector). ``content_hash`` is what WeCom holds, so a sync with nothing new calls nothing."""

    connector = models.ForeignKey(Connector, on_delete=models.PROTECT, related_name="+")
    group_template_id = models.BigIntegerField()
    template_id = models.CharField(max_length=128)
    content_hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "group_template_id"], name="wecom_welcome_template_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.group_template_id} → {self.template_id}"


class StoreRobot(models.Model):
    """The WeCom group robot (消息推送) of one store's INTERNAL staff group: daily summary and alerts.

    A robot cannot join a customer group; this one only ever posts into the staff group whose webhook key
    the store configured. ``last_summary_on`` and ``alerted_outbox_id`` are advanced by conditional
    UPDATEs, so two schedulers never post the same summary or alert twice."""

    store = models.OneToOneField(Store, on_delete=models.CASCADE, related_name="+")
    webhook_key = models.CharField(_("robot webhook key"), max_length=64)
    summary_at = models.TimeField(_("daily summary at"), default=datetime.time(21, 0))
    alerts = models.BooleanField(_("post alerts"), default=True)
    last_summary_on = models.DateField(null=True, blank=True)
    alerted_outbox_id = models.BigIntegerField(default=0)
    alerted_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"robot of store {self.store_id}"


# --- WeCom JS-SDK tickets (chat-toolbar sidebar) ---------------------------------------------------------


class WeComTicket(models.Model):
    """A WeCom JS-SDK ticket of one connector, shared by every process (docs/channels.md, "Sidebar").

    ``corp`` is the enterprise ticket (``get_jsapi_ticket``, for ``wx.config``); ``agent`` the app ticket
    (``ticket/get?type=agent_config``, for ``agentConfig``). WeCom allows few fetches per hour, so a ticket is
    fetched at most once per expiry across processes: ``siyu.channels.services.wecom_sidebar_auth`` refreshes
    it under this row's lock and every other caller waits for it and reuses it.
    """

    class Kind(models.TextChoices):
        CORP = "corp", _("Enterprise ticket")
        AGENT = "agent", _("App ticket")

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    ticket = models.CharField(max_length=512, blank=True)
    expires_at = models.DateTimeField(default=timezone.now)
    fetched_at = models.DateTimeField(null=True, blank=True)
    fetches = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connector", "kind"], name="wecom_ticket_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.connector_id}:{self.kind} until {self.expires_at:%Y-%m-%d %H:%M}"
        return f"{self.msgid} ({self.sender}, {len(self.chat_ids)} groups)"
