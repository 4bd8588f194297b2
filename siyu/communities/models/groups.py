"""Group templates (HQ), communities (a store's groups) and membership history."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from siyu.channels.models import ChannelKind, Connector
from siyu.members.models import Member
from siyu.org.models import Brand, Staff, Store

DEFAULT_RECOMMENDED_SIZE = 200
# Hard caps per channel: WeCom customer groups hold 500 including staff; Telegram supergroups 200,000;
# the built-in web channel has no outside limit, so it uses a generous cap of its own.
CHANNEL_HARD_CAP = {ChannelKind.WEB: 2000, ChannelKind.WECOM: 500, ChannelKind.TELEGRAM: 200_000}


class Theme(models.TextChoices):
    MOM = "mom", _("Mums & babies")
    HEALTH = "health", _("Health & wellness")
    FASHION = "fashion", _("Fashion")
    FOOD = "food", _("Food")
    HOME = "home", _("Home & living")
    VIP = "vip", _("VIP")
    SEED = "seed", _("Seed users")
    GENERAL = "general", _("General")


class GroupTemplate(models.Model):
    """An HQ-defined kind of group (theme, audience, rules, welcome) that stores instantiate.

    ``audience`` uses the tag-rule format of ``siyu.members.services.tags`` (age_band, gender, has_tag…).
    """

    class Threshold(models.TextChoices):
        NONE = "none", _("Anyone may join")
        QUESTIONNAIRE = "questionnaire", _("Short questionnaire, approved by staff")
        PURCHASE = "purchase", _("Purchase proof (order number), approved by staff")

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="group_templates")
    name = models.CharField(_("name"), max_length=60)
    theme = models.CharField(_("theme"), max_length=16, choices=Theme.choices, default=Theme.GENERAL)
    # Used for new groups: "<store name>·<base_name><n>", e.g. 朝阳大悦城店·宝妈群3.
    base_name = models.CharField(_("group base name"), max_length=30)
    audience = models.JSONField(_("audience"), null=True, blank=True)
    recommended_size = models.PositiveIntegerField(_("recommended size"), default=DEFAULT_RECOMMENDED_SIZE)
    rules_text = models.TextField(_("group rules"), blank=True)
    welcome_template = models.TextField(_("welcome message"), blank=True)
    threshold = models.CharField(
        _("entry threshold"), max_length=16, choices=Threshold.choices, default=Threshold.NONE
    )
    questionnaire = models.JSONField(_("questionnaire"), default=list, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "name"], name="group_template_name_unique"),
            models.CheckConstraint(condition=Q(recommended_size__gte=2), name="group_template_size_min"),
        ]

    def __str__(self) -> str:
        return self.name


class Community(models.Model):
    """A customer group of one store on one channel.

    ``member_count`` counts active member (non-staff) memberships and only ever changes by atomic
    conditional updates in ``siyu.communities.services``; the database refuses a count above the cap.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be created on the channel")
        OPEN = "open", pgettext_lazy("group status", "Open")
        ARCHIVED = "archived", _("Archived")

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="communities")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="communities")
    template = models.ForeignKey(
        GroupTemplate, on_delete=models.PROTECT, null=True, blank=True, related_name="communities"
    )
    channel = models.CharField(
        _("channel"), max_length=16, choices=ChannelKind.choices, default=ChannelKind.WEB
    )
    connector = models.ForeignKey(
        Connector, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    external_id = models.CharField(_("channel group id"), max_length=128, blank=True)
    # The group's owner on its channel (WeCom: the owner's userid, from groupchat/get); the sender of the
    # group's mass messages, which only the owner can confirm.
    channel_owner = models.CharField(_("channel group owner"), max_length=64, blank=True)
    name = models.CharField(_("name"), max_length=80)
    theme = models.CharField(_("theme"), max_length=16, choices=Theme.choices, default=Theme.GENERAL)
    audience = models.JSONField(_("audience"), null=True, blank=True)
    sequence = models.PositiveIntegerField(default=1)
    recommended_size = models.PositiveIntegerField(_("recommended size"), default=DEFAULT_RECOMMENDED_SIZE)
    hard_cap = models.PositiveIntegerField(_("hard cap"), default=CHANNEL_HARD_CAP[ChannelKind.WEB])
    member_count = models.PositiveIntegerField(default=0)
    rules_text = models.TextField(_("group rules"), blank=True)
    welcome_template = models.TextField(_("welcome message"), blank=True)
    announcement = models.TextField(_("announcement"), blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = _("communities")
        ordering = ["store_id", "template_id", "sequence", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(member_count__lte=F("hard_cap")), name="community_within_hard_cap"
            ),
            models.CheckConstraint(
                condition=Q(recommended_size__lte=F("hard_cap")), name="community_size_le_cap"
            ),
            models.UniqueConstraint(
                fields=["connector", "external_id"],
                condition=~Q(external_id=""),
                name="community_external_id_unique",
            ),
            # Live-code routing opens group n+1 of a set; two concurrent openings must not both get n+1.
            models.UniqueConstraint(
                fields=["store", "template", "channel", "sequence"], name="community_sequence_unique"
            ),
        ]
        indexes = [models.Index(fields=["store", "status"], name="community_store_status_idx")]

    def __str__(self) -> str:
        return self.name


class MemberRole(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    KOL = "kol", _("KOL")
    SEED = "seed", _("Seed user")
    MEMBER = "member", _("Member")


class JoinScene(models.TextChoices):
    STORE_QR = "store_qr", _("In-store QR code")
    STAFF_SHARE = "staff_share", _("Shared by staff")
    MEMBER_SHARE = "member_share", _("Shared by a member")
    POSTER = "poster", _("Poster")
    DIRECT = "direct", _("Added directly")
    CHANNEL = "channel", _("Joined on the channel")


class CommunityMembership(models.Model):
    """One stay of one member (or staff member) in a group: joined, and possibly left or removed.

    History is kept: re-joining makes a new row. At most one active row per (community, member).
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("In the group")
        LEFT = "left", _("Left")
        REMOVED = "removed", _("Removed")

    community = models.ForeignKey(Community, on_delete=models.PROTECT, related_name="memberships")
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, null=True, blank=True, related_name="memberships"
    )
    staff = models.ForeignKey(
        Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="memberships"
    )
    role = models.CharField(max_length=8, choices=MemberRole.choices, default=MemberRole.MEMBER)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    scene = models.CharField(max_length=16, choices=JoinScene.choices, default=JoinScene.DIRECT)
    inviter = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    referrer = models.ForeignKey(Member, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    live_code_id = models.BigIntegerField(null=True, blank=True)
    muted_until = models.DateTimeField(null=True, blank=True)
    joined_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-joined_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["community", "member"],
                condition=Q(status="active", member__isnull=False),
                name="membership_one_active_per_member",
            ),
            models.UniqueConstraint(
                fields=["community", "staff"],
                condition=Q(status="active", staff__isnull=False),
                name="membership_one_active_per_staff",
            ),
            models.CheckConstraint(
                condition=Q(member__isnull=False) | Q(staff__isnull=False), name="membership_has_someone"
            ),
        ]
        indexes = [models.Index(fields=["member", "status"], name="membership_member_status_idx")]

    def __str__(self) -> str:
        return f"{self.community_id}:{self.member_id or self.staff_id} {self.status}"


class StaffTask(models.Model):
    """Work a channel cannot do by API and staff must do by hand, tracked to completion.

    WeCom has no API to create a customer group or remove a member, and no silent way to post into one, so
    Siyu asks the group's staff: open a group, remove a member, send the posts waiting in the sidebar, confirm
    a mass message in 群发助手. Open tasks are pushed once to the staff's WeCom as app messages
    (``siyu.communities.services.staff_push``): ``pushed_at`` is set by the one conditional UPDATE that claims
    the task, so no task is pushed twice; ``dedup_key`` (unique when set) coalesces tasks raised by jobs.
    """

    class Kind(models.TextChoices):
        CREATE_GROUP = "create_group", _("Create a group in the channel app")
        REMOVE_MEMBER = "remove_member", _("Remove a member from the group")
        SEND_POST = "send_post", _("Send the waiting posts into the group")
        CONFIRM_MASS = "confirm_mass", _("Confirm a mass message in the WeCom app")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        OPEN = "open", _("To do")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="staff_tasks")
    community = models.ForeignKey(
        Community, on_delete=models.PROTECT, null=True, blank=True, related_name="tasks"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    title = models.CharField(max_length=200)
    payload = models.JSONField(default=dict, blank=True)
    assignee = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Set once, by the push job's claim (``UPDATE … WHERE pushed_at IS NULL``); ``push_batch`` names it.
    pushed_at = models.DateTimeField(null=True, blank=True)
    push_batch = models.UUIDField(null=True, blank=True, db_index=True)
    dedup_key = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["status", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedup_key"], condition=~Q(dedup_key=""), name="staff_task_dedup_unique"
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="staff_task_unpushed_idx",
                condition=Q(pushed_at__isnull=True, status="open"),
            ),
        ]

    def __str__(self) -> str:
        return self.title
