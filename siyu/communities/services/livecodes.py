"""Live codes (群活码): one stable QR per store and template that routes each member to a group with room.

Routing, for the set of a live code (the open groups of its store + template + channel): a member already
in one of them gets that group; otherwise the fullest group still under its recommended size; when all
are full a new group is opened (web) or requested from staff (WeCom/Telegram, meanwhile members go to
groups with room below the hard cap). Joins through the codes of one set are serialised by locking the
set's LiveCode rows (in id order, so never a deadlock); seats are claimed by conditional UPDATEs and
group numbers are unique in the database, so the guarantees hold even without the lock.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.channels.models import ChannelKind
from siyu.channels.services import wecom_joinway
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.validators import parse_id
from siyu.communities.models import (
    Community,
    CommunityMembership,
    GroupTemplate,
    JoinRequest,
    JoinScene,
    LiveCode,
)
from siyu.communities.services.blocklist import is_blocked
from siyu.communities.services.join_checks import removal_in_force
from siyu.communities.services.joining import _create_membership, claim_seat, join_refused
from siyu.communities.services.matrix import (
    channel_creates_groups,
    get_store,
    get_template,
    normalize_questionnaire,
    open_group,
    resolve_connector,
)
from siyu.members.models import Member
from siyu.members.services.profiles import adopt_home_store
from siyu.org.models import Staff
from siyu.org.services.access import can_access_store, require_staff
from siyu.org.services.audit import record_audit

logger = logging.getLogger("siyu.communities")

MAX_ANSWER_LENGTH = 500


@dataclass
class JoinResult:
    """The outcome of a join through a live code: joined (``membership``), waiting for staff approval
    (``join_request``), or waiting for staff to create the first group on the channel (neither)."""

    community: Community | None
    membership: CommunityMembership | None = None
    join_request: JoinRequest | None = None
    # A group this join opened (web) or asked staff to create (WeCom/Telegram).
    opened_group: Community | None = None

    @property
    def status(self) -> str:
        if self.membership is not None:
            return "joined"
        if self.join_request is not None:
            return "pending_approval"
        return "waiting_for_group"


# --- live codes -------------------------------------------------------------------------------


def _code_staff(staff_id: Any, store_id: int, brand_id: int) -> Staff | None:
    if staff_id in (None, ""):
        return None
    try:
        pk = parse_id(staff_id, "staff")
    except NotFound:
        raise ValidationFailed(_("No such staff member."), field="staff") from None
    person = Staff.objects.filter(pk=pk, is_active=True).first()
    if person is None or (person.brand_id not in (None, brand_id)):
        raise ValidationFailed(_("No such staff member."), field="staff")
    if not can_access_store(person, store_id):
        raise ValidationFailed(_("This staff member does not serve the store."), field="staff")
    return person


def create_live_code(
    staff: Staff,
    *,
    store_id: Any,
    template_id: Any,
    staff_id: Any = None,
    channel: str = "web",
    connector_id: Any = None,
) -> LiveCode:
    """The live code of (store, template, staff member or none), created if new.

    Guarantees: idempotent — the same triple always returns the same code and token (also under
    concurrency: the database's unique constraints decide); store-scoped (NotFound for a store
    ``staff`` does not serve); a per-staff code needs a staff member serving the store; Conflict when the
    triple already has a code on another channel; a new code is audited.
    """
    require_staff(staff)
    with transaction.atomic():
        store = get_store(staff, store_id)
        template = get_template(template_id, brand_id=store.brand_id)
        owner = _code_staff(staff_id, store.pk, store.brand_id)
        connector = resolve_connector(channel, connector_id, store.brand_id)
        existing = LiveCode.objects.filter(store=store, template=template, staff=owner).first()
        if existing is None:
            name = f"{store.name}·{template.name}"
            if owner is not None:
                name += f"·{owner}"
            try:
                with transaction.atomic():
                    code = LiveCode.objects.create(
                        brand_id=store.brand_id,
                        store=store,
                        template=template,
                        staff=owner,
                        name=name[:120],
                        channel=channel,
                        connector=connector,
                    )
            except IntegrityError:
                existing = LiveCode.objects.filter(store=store, template=template, staff=owner).first()
                if existing is None:
                    raise
            else:
                record_audit(
                    staff,
                    "live_code.create",
                    target_type="live_code",
                    target_id=code.pk,
                    store_id=store.pk,
                    detail={
                        "template": template.pk,
                        "staff": owner.pk if owner else None,
                        "channel": channel,
                    },
                )
                if channel == ChannelKind.WECOM and connector is not None:
                    # Have WeCom make the join way (and its QR) now, before the first member arrives.
                    transaction.on_commit(
                        partial(wecom_joinway.request_sync, connector, code.pk), robust=True
                    )
                return code
        if existing.channel != channel or existing.connector_id != (connector.pk if connector else None):
            raise Conflict(
                _("This store already has a live code for this template on another channel."), field="channel"
            )
        return existing


def get_live_code(token: str) -> LiveCode:
    """The active live code with ``token`` (what a member scans); NotFound otherwise."""
    code = (
        LiveCode.objects.select_related("store", "template", "staff", "connector")
        .filter(token=str(token or "")[:32], active=True)
        .first()
    )
    if code is None:
        raise NotFound(_("This QR code is not valid any more."), field="token")
    return code


# --- routing ----------------------------------------------------------------------------------


def _set_communities(code: LiveCode) -> QuerySet[Community]:
    return Community.objects.filter(
        store_id=code.store_id, template_id=code.template_id, channel=code.channel
    )


def _lock_set(code: LiveCode) -> None:
    # The serialisation point of a set: every live code of it, locked in id order.
    list(
        LiveCode.objects.select_for_update()
        .filter(store_id=code.store_id, template_id=code.template_id, channel=code.channel)
        .order_by("id")
        .values_list("id", flat=True)
    )


def membership_in_set(code: LiveCode, member: Member) -> CommunityMembership | None:
    """The member's active membership in one of the code's groups, or None."""
    return (
        CommunityMembership.objects.select_related("community")
        .filter(
            member=member,
            status=CommunityMembership.Status.ACTIVE,
            community__in=_set_communities(code),
        )
        .order_by("-joined_at", "-id")
        .first()
    )


def _eligible_inviter(code: LiveCode, staff_id: Any) -> Staff | None:
    # Attribution comes from a URL anyone can edit: an unknown or unrelated staff id is dropped, not fatal.
    if staff_id not in (None, ""):
        try:
            return _code_staff(staff_id, code.store_id, code.brand_id)
        except ValidationFailed:
            pass
    return code.staff


def _eligible_referrer(member: Member, referrer_id: Any) -> Member | None:
    if referrer_id in (None, ""):
        return None
    try:
        pk = parse_id(referrer_id, "referrer")
    except NotFound:
        return None
    if pk == member.pk:
        return None
    return Member.objects.filter(pk=pk, brand_id=member.brand_id, erased_at__isnull=True).first()


def _route(
    code: LiveCode, member: Member, *, scene: str, inviter: Staff | None, referrer: Member | None
) -> JoinResult:
    """Seat ``member`` in the code's set. Call inside a transaction holding the set lock."""
    existing = membership_in_set(code, member)
    if existing is not None:
        return JoinResult(community=existing.community, membership=existing)

    def joined(community: Community, opened: Community | None = None) -> JoinResult:
        membership = _create_membership(
            community,
            member,
            scene=scene,
            inviter=inviter,
            referrer=referrer,
            live_code_id=code.pk,
            role="member",
        )
        community.refresh_from_db(fields=["member_count"])
        return JoinResult(community=community, membership=membership, opened_group=opened)

    open_groups = _set_communities(code).filter(status=Community.Status.OPEN)
    # Fullest first: fill one group to its recommended size before starting the next. A group the member
    # was removed from by moderation (removal still standing) is skipped, not the whole set.
    for community in open_groups.order_by("-member_count", "sequence", "id"):
        if (
            community.member_count < community.recommended_size
            and removal_in_force(community, member) is None
            and claim_seat(community.pk, "recommended_size")
        ):
            return joined(community)

    if channel_creates_groups(code.channel):
        opened = open_group(code.store, code.template, code.channel, code.connector, live_code_id=code.pk)
        if not claim_seat(opened.pk, "recommended_size"):  # pragma: no cover — a fresh group has room
            raise Conflict(_("This group is full."), field="community", code="group_full")
        return joined(opened, opened)

    # The channel cannot create groups by API: ask staff for one (once), and meanwhile use the room left
    # below the hard cap, emptiest group first to spread the overflow.
    pending = _set_communities(code).filter(status=Community.Status.PENDING).order_by("sequence").first()
    opened_now = None
    if pending is None:
        pending = opened_now = open_group(
            code.store, code.template, code.channel, code.connector, assignee=code.staff, live_code_id=code.pk
        )
    for community in open_groups.order_by("member_count", "sequence", "id"):
        if removal_in_force(community, member) is None and claim_seat(community.pk, "hard_cap"):
            return joined(community, opened_now)
    return JoinResult(community=pending, opened_group=opened_now)


def _clean_answers(template: GroupTemplate, answers: dict[str, Any] | None) -> dict[str, str]:
    questions = normalize_questionnaire(template.questionnaire)
    answers = answers or {}
    if not isinstance(answers, dict):
        raise ValidationFailed(_("Please answer the questions."), field="answers")
    clean: dict[str, str] = {}
    for q in questions:
        value = str(answers.get(q["key"]) or "").strip()
        if not value:
            if q["required"]:
                raise ValidationFailed(_("Please answer: %(q)s") % {"q": q["question"]}, field=q["key"])
            continue
        if len(value) > MAX_ANSWER_LENGTH:
            raise ValidationFailed(
                _("Too long (%(n)s characters at most).") % {"n": MAX_ANSWER_LENGTH}, field=q["key"]
            )
        if q["choices"] and value not in q["choices"]:
            raise ValidationFailed(_("Choose one of the options."), field=q["key"])
        clean[q["key"]] = value
    return clean


def _clean_order_number(raw: str) -> str:
    value = "".join((raw or "").split())
    if not value:
        raise ValidationFailed(_("Enter the order number from your receipt."), field="order_number")
    if len(value) > 64 or not all(ch.isalnum() or ch in "-_" for ch in value):
        raise ValidationFailed(_("This does not look like an order number."), field="order_number")
    return value


def _request_to_join(
    code: LiveCode,
    member: Member,
    *,
    scene: str,
    inviter: Staff | None,
    referrer: Member | None,
    answers: dict[str, Any] | None,
    order_number: str,
) -> JoinRequest:
    current = JoinRequest.objects.filter(
        live_code=code, member=member, status=JoinRequest.Status.PENDING
    ).first()
    if current is not None:
        return current
    template = code.template
    clean_answers: dict[str, str] = {}
    clean_order = ""
    if template.threshold == GroupTemplate.Threshold.QUESTIONNAIRE:
        clean_answers = _clean_answers(template, answers)
    else:
        clean_order = _clean_order_number(order_number)
    try:
        with transaction.atomic():
            return JoinRequest.objects.create(
                live_code=code,
                member=member,
                answers=clean_answers,
                order_number=clean_order,
                scene=scene,
                inviter=inviter,
                referrer=referrer,
            )
    except IntegrityError:
        current = JoinRequest.objects.filter(
            live_code=code, member=member, status=JoinRequest.Status.PENDING
        ).first()
        if current is None:
            raise
        return current


def join_via_live_code(
    token: str,
    member: Member,
    *,
    scene: str,
    inviter_staff_id: int | None = None,
    referrer_member_id: int | None = None,
    answers: dict[str, Any] | None = None,
    order_number: str = "",
) -> JoinResult:
    """Join the group the live code ``token`` routes ``member`` to (see the module docstring).

    Guarantees: idempotent — a member already in a group of the set gets that group; a join never puts a
    group over its recommended size while a new group can be opened, never over its hard cap, and never
    opens two groups with the same number, also with many members joining at once; with an entry threshold
    a pending JoinRequest is created (one per member and code; answers or order number validated) instead;
    the membership and ``community.joined`` carry the store, scene, inviting staff (the ``staff`` of the URL
    if they serve the store, else the code's own staff) and referring member (ignored when unknown); a
    member without a home store gets the code's store. Unknown or inactive codes raise NotFound; a
    blocklisted member is refused (PermissionDenied) and groups the member was removed from by moderation
    are skipped.
    """
    if member.pk is None or member.erased_at:
        raise ValidationFailed(_("This member's data was erased."), field="member")
    if scene not in JoinScene.values:
        raise ValidationFailed(_("Unknown join scene."), field="scene")
    with transaction.atomic():
        code = get_live_code(token)
        if code.brand_id != member.brand_id:
            raise NotFound(_("This QR code is not valid any more."), field="token")
        _lock_set(code)
        inviter = _eligible_inviter(code, inviter_staff_id)
        referrer = _eligible_referrer(member, referrer_member_id)
        existing = membership_in_set(code, member)
        if existing is not None:
            return JoinResult(community=existing.community, membership=existing)
        if is_blocked(member):
            raise join_refused()
        if code.template.threshold != GroupTemplate.Threshold.NONE:
            request = _request_to_join(
                code,
                member,
                scene=scene,
                inviter=inviter,
                referrer=referrer,
                answers=answers,
                order_number=order_number,
            )
            return JoinResult(community=None, join_request=request)
        adopt_home_store(member, code.store_id)
        return _route(code, member, scene=scene, inviter=inviter, referrer=referrer)


# --- join requests ----------------------------------------------------------------------------


def review_join_request(staff: Staff, request_id: Any, approve: bool, reason: str = "") -> JoinRequest:
    """Approve (the member is seated by the same routing as any join) or reject a pending join request,
    and return the request (``community`` is the group the member went to).

    Guarantees: store-scoped — a request of a store ``staff`` does not serve looks like it does not exist
    (NotFound); only pending requests can be reviewed (Conflict otherwise); approving on a channel where no
    group has room yet (WeCom waiting for staff to create one) leaves the request pending, so it can be
    approved again once the group exists; audited.
    """
    require_staff(staff)
    reason = (reason or "").strip()[:200]
    pk = parse_id(request_id, "request", _("No such join request."))
    with transaction.atomic():
        found = JoinRequest.objects.select_related("live_code").filter(pk=pk).first()
        if found is None or not can_access_store(staff, found.live_code.store_id):
            raise NotFound(_("No such join request."), field="request")
        code = LiveCode.objects.select_related("store", "template", "staff", "connector").get(
            pk=found.live_code_id
        )
        _lock_set(code)
        request = (
            JoinRequest.objects.select_for_update(of=("self",))
            .select_related("member", "inviter", "referrer")
            .get(pk=pk)
        )
        if request.status != JoinRequest.Status.PENDING:
            raise Conflict(_("This request was already reviewed."), field="request")
        member = request.member
        if approve:
            if member.erased_at:
                raise Conflict(_("This member's data was erased."), field="member")
            if is_blocked(member):
                raise join_refused()
            adopt_home_store(member, code.store_id)
            result = _route(
                code, member, scene=request.scene, inviter=request.inviter, referrer=request.referrer
            )
            if result.membership is None:
                return request
            request.status = JoinRequest.Status.APPROVED
            request.community = result.community
        else:
            request.status = JoinRequest.Status.REJECTED
        request.reason = reason
        request.reviewed_by = staff
        request.reviewed_at = timezone.now()
        request.save(update_fields=["status", "community", "reason", "reviewed_by", "reviewed_at"])
        record_audit(
            staff,
            "join_request.approve" if approve else "join_request.reject",
            target_type="member",
            target_id=member.pk,
            store_id=code.store_id,
            detail={"request": request.pk, "community": request.community_id, "reason": reason},
        )
    return request


# --- QR codes and posters ---------------------------------------------------------------------


def join_path(code: LiveCode) -> str:
    """The H5 join page of ``code`` (``/h5/j/<token>/``), for ``request.build_absolute_uri``."""
    return reverse("h5:join", kwargs={"token": code.token})


def join_url(code: LiveCode, base_url: str) -> str:
    """The absolute H5 join URL of ``code``, e.g. ``https://example.com/h5/j/<token>/``."""
    return base_url.rstrip("/") + join_path(code)


def _qr_image(data: str, box_size: int = 10, *, fit_side: int | None = None) -> Any:
    """The QR code of ``data`` as an RGB image; with ``fit_side``, the largest whole-pixel module size
    that fits that side (never resampled, so every module stays sharp and scannable)."""
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    border = 4
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=border)
    qr.add_data(data)
    qr.make(fit=True)
    if fit_side is not None:
        qr.box_size = max(1, fit_side // (qr.modules_count + 2 * border))
    return qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")


def live_code_png(code: LiveCode, base_url: str) -> bytes:
    """A PNG QR code of the live code's absolute join URL."""
    out = io.BytesIO()
    _qr_image(join_url(code, base_url)).save(out, format="PNG")
    return out.getvalue()


_CJK_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/Library/Fonts/Arial Unicode.ttf",
)


@lru_cache(maxsize=1)
def cjk_font_path() -> str | None:
    """A font file on this machine that has Chinese glyphs, or None."""
    for candidate in _CJK_FONT_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    fc_list = shutil.which("fc-list")
    if fc_list:
        try:
            out = subprocess.run(  # noqa: S603 — fixed arguments, no shell
                [fc_list, ":lang=zh", "file"], capture_output=True, text=True, timeout=5, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            path = line.split(":", 1)[0].strip()
            if path and Path(path).is_file():
                return path
    return None


def _font(size: int) -> Any:
    from PIL import ImageFont

    path = cjk_font_path()
    if path:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            logger.warning("Cannot load font %s; using Pillow's default", path)
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # old Pillow or no FreeType: the small bitmap font
        return ImageFont.load_default()


def _draw_centered(draw: Any, text: str, y: int, size: int, width: int, fill: str) -> int:
    """Draw ``text`` centred at ``y``, shrinking the font until it fits; returns the next free y."""
    margin = 80
    while True:
        font = _font(size)
        try:
            text_width = draw.textlength(text, font=font)
        except UnicodeEncodeError:  # the bitmap fallback font is Latin-1 only
            text = text.encode("ascii", "replace").decode()
            continue
        if text_width <= width - 2 * margin or size <= 20:
            break
        size -= 4
    draw.text(((width - text_width) / 2, y), text, font=font, fill=fill)
    return y + int(size * 1.4)


POSTER_SIZE = (1240, 1748)  # A5 at 150 dpi


def live_code_poster_png(code: LiveCode, base_url: str) -> bytes:
    """A printable A5 poster (1240×1748 PNG): store name, group template name, the QR code and a call to
    action. Uses a Chinese font when the machine has one, else Pillow's default font (never fails for lack
    of a font)."""
    from PIL import Image, ImageDraw

    width, height = POSTER_SIZE
    poster = Image.new("RGB", POSTER_SIZE, "white")
    draw = ImageDraw.Draw(poster)
    accent = "#1f6f5c"
    draw.rectangle([0, 0, width, 260], fill=accent)
    _draw_centered(draw, code.store.name, 70, 88, width, "white")
    y = 320
    y = _draw_centered(draw, code.template.name, y, 72, width, "#222222")
    y = _draw_centered(draw, _("Scan to join our customer group"), y + 10, 44, width, "#555555")
    qr = _qr_image(join_url(code, base_url), fit_side=820)
    side = qr.size[0]
    top = max(y + 30, 560)
    poster.paste(qr, ((width - side) // 2, top))
    y = top + side + 40
    y = _draw_centered(draw, _("Open WeChat, scan the code, and join in one tap."), y, 40, width, "#333333")
    if code.template.rules_text:
        first_rule = code.template.rules_text.strip().splitlines()[0][:40]
        _draw_centered(draw, first_rule, y + 10, 32, width, "#777777")
    draw.rectangle([0, height - 90, width, height], fill=accent)
    if code.staff is not None:
        _draw_centered(
            draw, _("Your contact: %(name)s") % {"name": code.staff}, height - 75, 36, width, "white"
        )
    out = io.BytesIO()
    poster.save(out, format="PNG", dpi=(150, 150))
    return out.getvalue()
