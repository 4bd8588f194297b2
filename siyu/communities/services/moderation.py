"""Group rules enforcement: review each member message, escalate warn → mute → remove, staff overrides,
appeals and the brand blocklist. See docs/moderation.md.

``review_message`` is called by the message services inside the transaction that stored the message, so a
refusal, its log row and its consequences (mute, removal, the robot's notice) commit together or not at all.
"""

from __future__ import annotations

import io
import itertools
import logging
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.channels.models import ChannelKind
from siyu.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.common.mobile import normalize_mobile
from siyu.communities.models import (
    Appeal,
    BlocklistEntry,
    Community,
    CommunityMembership,
    ModerationAction,
    ModerationPolicy,
    ModerationRule,
    StaffTask,
)
from siyu.communities.models.messages import Message
from siyu.communities.services.messages import announce_message, display_name
from siyu.communities.services.queries import get_community, parse_id
from siyu.members.models import ChannelIdentity, Member
from siyu.members.services.profiles import get_member
from siyu.org.models import Staff
from siyu.org.services.access import require_staff, store_scope
from siyu.org.services.audit import record_audit

logger = logging.getLogger("siyu.communities")

LADDER_STEPS = ("warn", "mute", "remove")
# Counted actions: a "hide" row only explains a hidden message and never moves a member up the ladder.
COUNTED_ACTIONS = (ModerationAction.Kind.WARN, ModerationAction.Kind.MUTE, ModerationAction.Kind.REMOVE)
REPEAT_WINDOW = timedelta(minutes=10)
# Short replies ("好的", "收到", "+1", "哈哈哈") are repeated innocently; only longer texts count as repeats.
REPEAT_MIN_LENGTH = 4
MAX_IMAGE_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Verdict:
    """The outcome of reviewing one message. ``allowed`` False means the message was hidden; ``action`` is
    the step taken against the sender (None when the message was only hidden)."""

    allowed: bool
    action: str | None
    rule: str | None
    reason: str


ALLOWED = Verdict(allowed=True, action=None, rule=None, reason="")


@dataclass(frozen=True)
class EffectivePolicy:
    """The rules one group enforces: its own policy, else the brand default, else the built-in defaults."""

    forbidden_keywords: tuple[str, ...] = ()
    block_links: bool = True
    block_qr_images: bool = True
    block_contact: bool = True
    flood_count: int = 6
    flood_seconds: int = 10
    repeat_count: int = 3
    ladder: tuple[str, ...] = LADDER_STEPS
    mute_minutes: int = 60
    window_days: int = 30
    source: str = "builtin"  # "community", "brand" or "builtin"
    policy_id: int | None = field(default=None, compare=False)

    @classmethod
    def from_row(cls, row: ModerationPolicy) -> EffectivePolicy:
        return cls(
            forbidden_keywords=tuple(str(k) for k in row.forbidden_keywords or ()),
            block_links=row.block_links,
            block_qr_images=row.block_qr_images,
            block_contact=row.block_contact,
            flood_count=row.flood_count,
            flood_seconds=row.flood_seconds,
            repeat_count=row.repeat_count,
            ladder=tuple(row.ladder or LADDER_STEPS),
            mute_minutes=row.mute_minutes,
            window_days=row.window_days,
            source="community" if row.community_id else "brand",
            policy_id=row.pk,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "forbidden_keywords": list(self.forbidden_keywords),
            "block_links": self.block_links,
            "block_qr_images": self.block_qr_images,
            "block_contact": self.block_contact,
            "flood_count": self.flood_count,
            "flood_seconds": self.flood_seconds,
            "repeat_count": self.repeat_count,
            "ladder": list(self.ladder),
            "mute_minutes": self.mute_minutes,
            "window_days": self.window_days,
        }


def effective_policy(community: Community) -> EffectivePolicy:
    """The policy ``community`` enforces (its own row, else its brand's default, else built-in defaults)."""
    rows = {
        row.community_id: row
        for row in ModerationPolicy.objects.filter(brand_id=community.brand_id).filter(
            Q(community_id=community.pk) | Q(community__isnull=True)
        )
    }
    row = rows.get(community.pk) or rows.get(None)
    return EffectivePolicy.from_row(row) if row is not None else EffectivePolicy()


# --- text rules ------------------------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """Full-width → half-width (NFKC) and case-folded, so ＡＢＣ, abc and ABC compare equal."""
    return unicodedata.normalize("NFKC", text or "").casefold()


def _squeeze(normalized: str) -> str:
    # Spammers split words with spaces, dots or emoji ("代 购", "微.信"); keeping only letters, digits and
    # CJK characters defeats that, and makes "全场五折！" and "全场五折" the same message.
    return "".join(ch for ch in normalized if ch.isalnum())


def match_keyword(text: str, keywords: tuple[str, ...] | list[str]) -> str | None:
    """The first forbidden keyword found in ``text`` (case/width-insensitive, ignoring separators)."""
    norm = normalize_text(text)
    squeezed = _squeeze(norm)
    for kw in keywords:
        k = normalize_text(kw).strip()
        if not k:
            continue
        if k in norm or _squeeze(k) in squeezed:
            return kw
    return None


_TLDS = (
    "com|cn|net|org|cc|co|io|me|top|xyz|vip|shop|info|biz|tv|link|site|online|club|app|ink|wang|ltd|pub|"
    "live|store|tech|fun|icu|ai|hk|tw|mo|jp|kr|uk|us|ru|de|mobi|pro|asia|work|life|cloud|red|kim|love|"
    "group|xin|ren|gov|edu|so|ly|gl|gd|to|in"
)
_URL_RE = re.compile(r"(?:https?|ftp)://([^\s/?#:]+)", re.IGNORECASE)
_DOMAIN_RE = re.compile(
    rf"(?<![a-z0-9@.-])((?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+(?:{_TLDS}))(?![a-z0-9-])",
    re.IGNORECASE,
)
# "abc。com" (ideographic full stop) is read as "abc.com".
_IDEOGRAPHIC_DOT_RE = re.compile(r"(?<=[a-z0-9])。(?=[a-z])")


def find_external_link(text: str, allowed_hosts: list[str] | tuple[str, ...] | None = None) -> str | None:
    """The first link host in ``text`` that is not one of ``allowed_hosts`` (or their subdomains).

    Recognises http(s) URLs, ``www.`` hosts and bare domains such as ``abc.com`` or ``t.cn/xyz`` inside
    Chinese text; full-width characters are normalised first.
    """
    norm = _IDEOGRAPHIC_DOT_RE.sub(".", normalize_text(text))
    allowed = [h.strip().lower().lstrip(".") for h in (allowed_hosts or ()) if h and h.strip()]
    hosts = [m.group(1) for m in _URL_RE.finditer(norm)]
    hosts += [m.group(1) for m in _DOMAIN_RE.finditer(_URL_RE.sub(" ", norm))]
    for host in hosts:
        host = host.lower().rstrip(".")
        if not any(host == a or host.endswith("." + a) for a in allowed):
            return host
    return None


_MOBILE_IN_TEXT_RE = re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)")
_DIGIT_GAP_RE = re.compile(r"(?<=\d)[\s\-_.·()（）]+(?=\d)")
_WECHAT_RE = re.compile(
    r"(?:微信|威信|薇信|徽信|v信|vx|wx|weixin|wechat|加我|加v|qq|扣扣|企鹅)"
    r"[\s:：号是为=]*"
    r"([a-z][-_a-z0-9]{5,19}|\d{5,12})",
    re.IGNORECASE,
)
_EMAIL_RE = re.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+", re.IGNORECASE)


def find_contact(text: str) -> str | None:
    """A phone number, WeChat/QQ id offer or e-mail address in ``text`` (the matched fragment), or None.

    11-digit mainland mobiles are found even when split by spaces or dashes; WeChat ids are an id-like token
    (a letter then 5–19 letters/digits/_/-, or 5–12 digits) after 微信 / vx / V信 / wx / 加我 / QQ.
    """
    norm = normalize_text(text)
    joined = _DIGIT_GAP_RE.sub("", norm)
    for regex, source in ((_MOBILE_IN_TEXT_RE, joined), (_WECHAT_RE, norm), (_EMAIL_RE, norm)):
        m = regex.search(source)
        if m:
            return m.group(0)
    return None


# --- QR images -------------------------------------------------------------------------------------
#
# No QR decoder (pyzbar, OpenCV, zxing-cpp) is installed, so QR codes are recognised by their three finder
# patterns: squares whose scan lines cross dark/light/dark/light/dark runs in the ratio 1:1:3:1:1, found
# along rows and confirmed along the column through the centre (the method of ZXing's FinderPatternFinder).
# Three such centres of similar module size at the corners of a right isosceles triangle make a QR code.
# This recognises a QR code without decoding it, which is all the rule needs. It can miss heavily
# distorted or tiny codes (modules under ~2 px after scaling to 1000 px) and, rarely, flag artwork made
# of three concentric squares.

_QR_MAX_SIDE = 1000


def _otsu_threshold(histogram: list[int]) -> int:
    total = sum(histogram)
    sum_all = sum(i * h for i, h in enumerate(histogram))
    sum_b = 0.0
    weight_b = 0
    best, best_t = -1.0, 128
    for t, h in enumerate(histogram):
        weight_b += h
        if weight_b == 0:
            continue
        weight_f = total - weight_b
        if weight_f == 0:
            break
        sum_b += t * h
        mean_b = sum_b / weight_b
        mean_f = (sum_all - sum_b) / weight_f
        between = weight_b * weight_f * (mean_b - mean_f) ** 2
        if between > best:
            best, best_t = between, t
    return best_t


def _finder_ratio(runs: list[int]) -> float | None:
    """The module size if five runs are in the 1:1:3:1:1 ratio, else None."""
    total = sum(runs)
    if total < 7:
        return None
    module = total / 7.0
    tolerance = module / 2.0
    if (
        abs(module - runs[0]) < tolerance
        and abs(module - runs[1]) < tolerance
        and abs(3.0 * module - runs[2]) < 3 * tolerance
        and abs(module - runs[3]) < tolerance
        and abs(module - runs[4]) < tolerance
    ):
        return module
    return None


def _cross_check(
    dark: bytes, width: int, height: int, x: int, y: int, dx: int, dy: int, max_count: int
) -> tuple[float, float] | None:
    """Confirm a finder pattern on the line through (x, y) in direction (dx, dy).

    Returns (module size, offset of the pattern's centre from (x, y) along the line), or None.
    """

    def dark_at(k: int) -> bool | None:
        xx, yy = x + k * dx, y + k * dy
        if not (0 <= xx < width and 0 <= yy < height):
            return None
        return dark[yy * width + xx] == 1

    if not dark_at(0):
        return None
    counts = [0, 0, 0, 0, 0]
    k = 0
    for index, want, sign in ((2, True, -1), (1, False, -1), (0, True, -1)):
        while dark_at(k) is want and counts[index] <= 5 * max_count:
            counts[index] += 1
            k += sign
    k = 1
    for index, want in ((2, True), (3, False), (4, True)):
        while dark_at(k) is want and counts[index] <= 5 * max_count:
            counts[index] += 1
            k += 1
    if min(counts) == 0 or max(counts) > max_count * 3:
        return None
    module = _finder_ratio(counts)
    if module is None:
        return None
    start = k - counts[4] - counts[3] - counts[2]  # first pixel of the centre run
    return module, start + counts[2] / 2.0 - 0.5


def _finder_centres(dark: bytes, width: int, height: int) -> list[tuple[float, float, float, int]]:
    """Clustered finder-pattern centres as (x, y, module size, number of rows that saw it)."""
    found: list[list[float]] = []  # x, y, module, hits
    for y in range(height):
        row = dark[y * width : (y + 1) * width]
        runs: list[tuple[int, int]] = [(k, len(list(g))) for k, g in itertools.groupby(row)]
        pos = 0
        starts = []
        for _k, n in runs:
            starts.append(pos)
            pos += n
        for i in range(len(runs) - 4):
            if runs[i][0] != 1:
                continue
            lengths = [runs[i + j][1] for j in range(5)]
            module = _finder_ratio(lengths)
            if module is None:
                continue
            cx = starts[i + 2] + lengths[2] / 2.0
            limit = int(module * 3) + 2
            vertical = _cross_check(dark, width, height, int(cx), y, 0, 1, limit)
            if vertical is None or not (0.6 < vertical[0] / module < 1.6):
                continue
            cy = y + vertical[1]
            # The diagonal through a finder's centre crosses the same rings; chance patterns rarely do.
            diagonal = _cross_check(dark, width, height, int(cx), round(cy), 1, 1, limit)
            if diagonal is None:
                continue
            msize = (module + vertical[0]) / 2
            for c in found:
                if abs(c[0] - cx) <= msize * 2 and abs(c[1] - cy) <= msize * 2 and 0.6 < c[2] / msize < 1.6:
                    c[3] += 1
                    c[0] += (cx - c[0]) / c[3]
                    c[1] += (cy - c[1]) / c[3]
                    c[2] += (msize - c[2]) / c[3]
                    break
            else:
                found.append([cx, cy, msize, 1])
    # A real finder's centre square is 3 modules tall, so about 3 × module rows see it (fewer when tilted);
    # a chance 1:1:3:1:1 run in noise, blocky textures or text is seen on a few rows only.
    return [(c[0], c[1], c[2], int(c[3])) for c in found if c[3] >= max(3.0, c[2])]


def _is_qr_triangle(a: tuple[float, ...], b: tuple[float, ...], c: tuple[float, ...]) -> bool:
    modules = (a[2], b[2], c[2])
    if max(modules) / min(modules) > 1.5:
        return False
    module = sum(modules) / 3
    sides = sorted(math.dist(p[:2], q[:2]) for p, q in ((a, b), (b, c), (a, c)))
    short, mid, long = sides
    # Finder centres of a version-1 code are 14 modules apart; version 40's are 170.
    if short < 10 * module or mid > 200 * module:
        return False
    return abs(short - mid) / mid < 0.2 and abs(long - math.hypot(short, mid)) / long < 0.1


def looks_like_qr_code(data: bytes) -> bool:
    """True when the image holds a QR code, recognised by its three finder patterns (see above)."""
    from PIL import Image, UnidentifiedImageError

    if not data or len(data) > MAX_IMAGE_BYTES:
        return False
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.draft("L", (_QR_MAX_SIDE, _QR_MAX_SIDE))
            gray = opened.convert("L")
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError):
        return False
    gray.thumbnail((_QR_MAX_SIDE, _QR_MAX_SIDE))
    width, height = gray.size
    if width < 21 or height < 21:
        return False
    threshold = _otsu_threshold(gray.histogram())
    dark = gray.point(lambda v: 1 if v <= threshold else 0).tobytes()
    centres = _finder_centres(dark, width, height)
    if len(centres) > 40:  # a texture, not a code; do not spend time on the triangles
        return False
    return any(_is_qr_triangle(*trio) for trio in itertools.combinations(centres, 3))


def _message_image_bytes(message: Message) -> bytes:
    if not message.image:
        return b""
    try:
        message.image.open("rb")
        try:
            return message.image.read(MAX_IMAGE_BYTES + 1)
        finally:
            message.image.close()
    except (OSError, ValueError):
        logger.warning("moderation: cannot read image of message %s", message.pk)
        return b""


# --- reviewing a message -------------------------------------------------------------------------


def _allowed_link_hosts() -> list[str]:
    return list(getattr(settings, "SIYU_ALLOWED_LINK_HOSTS", []) or [])


def _check_rules(message: Message, policy: EffectivePolicy, now: datetime) -> tuple[str, str] | None:
    """(rule, reason) of the first rule the message breaks, or None."""
    text = message.text or ""
    if text and policy.forbidden_keywords:
        kw = match_keyword(text, policy.forbidden_keywords)
        if kw:
            return ModerationRule.KEYWORD, _("Forbidden word: %(word)s") % {"word": kw}
    if text and policy.block_contact:
        contact = find_contact(text)
        if contact:
            return ModerationRule.CONTACT, _("Contact details are not allowed in the group.")
    if text and policy.block_links:
        host = find_external_link(text, _allowed_link_hosts())
        if host:
            return ModerationRule.LINK, _("External link: %(host)s") % {"host": host}
    if policy.block_qr_images and message.image and looks_like_qr_code(_message_image_bytes(message)):
        return ModerationRule.QR_IMAGE, _("QR code images are not allowed in the group.")
    own = Message.objects.filter(
        community_id=message.community_id,
        member=message.member,
        sender_kind=Message.SenderKind.MEMBER,
    ).exclude(pk=message.pk)
    norm = _squeeze(normalize_text(text))
    if policy.repeat_count >= 2 and len(norm) >= REPEAT_MIN_LENGTH:
        recent = own.filter(created_at__gte=now - REPEAT_WINDOW, created_at__lte=now).values_list(
            "text", flat=True
        )
        same = sum(1 for t in recent if _squeeze(normalize_text(t)) == norm)
        if same + 1 >= policy.repeat_count:
            return ModerationRule.REPEAT, _("The same message %(count)s times in 10 minutes.") % {
                "count": same + 1
            }
    if policy.flood_count >= 2:
        since = now - timedelta(seconds=policy.flood_seconds)
        count = own.filter(created_at__gte=since, created_at__lte=now).count() + 1
        if count >= policy.flood_count:
            return ModerationRule.FLOOD, _("%(count)s messages within %(seconds)s seconds.") % {
                "count": count,
                "seconds": policy.flood_seconds,
            }
    return None


def offence_count(
    community: Community, member: Member, window_days: int, *, now: datetime | None = None
) -> int:
    """The member's un-overridden warn/mute/remove actions in ``community`` within ``window_days``."""
    now = now or timezone.now()
    return ModerationAction.objects.filter(
        community=community,
        member=member,
        action__in=COUNTED_ACTIONS,
        overridden_at__isnull=True,
        created_at__gte=now - timedelta(days=window_days),
    ).count()


def review_message(message: Message) -> Verdict:
    """Apply the group's rules to a stored message and act on a breach.

    Guarantees: staff, robot and system messages are always allowed; a member on the brand blocklist is
    removed; otherwise the first broken rule (forbidden word, contact details, external link, QR image,
    repeated content, flood) hides the message and takes the next ladder step — the step is the number of
    the member's un-overridden actions in this group within ``window_days`` (1st → ladder[0], …, staying on
    the last step). Every step is logged as a ``ModerationAction`` pointing at the message. The rest of a
    flood burst already acted on is hidden without another step (logged as ``hide``). Runs in the caller's
    transaction; everything it writes commits or rolls back with the message.
    """
    if message.sender_kind != Message.SenderKind.MEMBER or message.member_id is None:
        return ALLOWED
    community = message.community
    member = message.member
    assert member is not None
    now = message.created_at or timezone.now()
    with transaction.atomic():
        if is_blocked(member):
            return _act(
                message, community, member, "remove", ModerationRule.BLOCKLIST, _("On the blocklist.")
            )
        policy = effective_policy(community)
        hit = _check_rules(message, policy, now)
        if hit is None:
            return ALLOWED
        rule, reason = hit
        if rule == ModerationRule.FLOOD and _recent_flood_action(community, member, policy, now):
            return _act(message, community, member, ModerationAction.Kind.HIDE, rule, reason, policy=policy)
        ladder = policy.ladder or LADDER_STEPS
        step = min(offence_count(community, member, policy.window_days, now=now), len(ladder) - 1)
        return _act(message, community, member, ladder[step], rule, reason, policy=policy)


def _recent_flood_action(
    community: Community, member: Member, policy: EffectivePolicy, now: datetime
) -> bool:
    # One burst is one offence: without this a member forwarding ten photos at once would go from warning
    # to removal within a second, before they could read the warning.
    return ModerationAction.objects.filter(
        community=community,
        member=member,
        rule=ModerationRule.FLOOD,
        created_at__gte=now - timedelta(seconds=policy.flood_seconds),
    ).exists()


def _act(
    message: Message,
    community: Community,
    member: Member,
    action: str,
    rule: str,
    reason: str,
    *,
    policy: EffectivePolicy | None = None,
) -> Verdict:
    policy = policy or effective_policy(community)
    message.hidden = True
    message.save(update_fields=["hidden"])
    logged = ModerationAction.objects.create(
        community=community,
        member=member,
        rule=rule,
        message=message,
        action=action,
        reason=reason[:255],
        actor=None,
    )
    _delete_on_channel(community, message, logged)
    rule_label = ModerationRule(rule).label
    name = member_display_name(member)
    if action == ModerationAction.Kind.WARN:
        _robot_notice(
            community,
            logged,
            _("%(name)s, please respect the group rules (%(rule)s). Your message was hidden.")
            % {"name": name, "rule": rule_label},
        )
    elif action == ModerationAction.Kind.MUTE:
        until = timezone.now() + timedelta(minutes=policy.mute_minutes)
        mute_member(community, member, until, action_id=logged.pk)
        _robot_notice(
            community,
            logged,
            _("%(name)s was muted for %(minutes)s minutes for breaking the group rules (%(rule)s).")
            % {"name": name, "minutes": policy.mute_minutes, "rule": rule_label},
        )
    elif action == ModerationAction.Kind.REMOVE:
        remove_from_group(community, member, by=None, reason=reason, key=f"moderation:{logged.pk}")
        _robot_notice(
            community,
            logged,
            _("%(name)s was removed from the group for breaking the group rules (%(rule)s).")
            % {"name": name, "rule": rule_label},
        )
    return Verdict(
        allowed=False,
        action=None if action == ModerationAction.Kind.HIDE else action,
        rule=rule,
        reason=reason,
    )


def _delete_on_channel(community: Community, message: Message, action: ModerationAction) -> None:
    # A Telegram group shows the message in the app, not only in Siyu: delete it there too. WeCom has no
    # API to delete a member's group message, so it stays visible in WeCom itself.
    if (
        community.channel == ChannelKind.TELEGRAM
        and message.external_id
        and community.connector_id
        and community.external_id
    ):
        from siyu.channels.services import outbox

        assert community.connector is not None
        outbox.enqueue(
            community.connector,
            "delete_message",
            {"chat_id": community.external_id, "message_id": message.external_id},
            bucket=f"chat:{community.external_id}",
            idempotency_key=f"moderation:{action.pk}:delete",
            community_id=community.pk,
        )


def member_display_name(member: Member) -> str:
    """How the robot names a member in a group: as the chat shows them to other members."""
    return display_name(member)


def _robot_notice(community: Community, action: ModerationAction, text: str) -> None:
    from siyu.communities.services import robot  # late: the robot's module imports the message services

    robot.post_to_group(community, text=text, idempotency_key=f"moderation:{action.pk}:notice")


def _channel_user_id(community: Community, member: Member) -> str | None:
    channel = {
        ChannelKind.WECOM: ChannelIdentity.Channel.WECOM,
        ChannelKind.TELEGRAM: ChannelIdentity.Channel.TELEGRAM,
    }
    kind = channel.get(ChannelKind(community.channel))
    if kind is None:
        return None
    return (
        ChannelIdentity.objects.filter(member=member, channel=kind)
        .order_by("id")
        .values_list("external_id", flat=True)
        .first()
    )


def mute_member(community: Community, member: Member, until: datetime, *, action_id: int) -> None:
    """Mute the member's active membership until ``until`` (never shortening a longer mute) and, on
    Telegram, enqueue the channel mute. WeCom has no mute API: the mute holds in Siyu's web chat only."""
    CommunityMembership.objects.filter(
        community=community, member=member, status=CommunityMembership.Status.ACTIVE
    ).filter(Q(muted_until__isnull=True) | Q(muted_until__lt=until)).update(muted_until=until)
    if community.channel == ChannelKind.TELEGRAM and community.connector_id and community.external_id:
        user_id = _channel_user_id(community, member)
        if user_id:
            from siyu.channels.services import outbox

            assert community.connector is not None
            outbox.enqueue(
                community.connector,
                "mute",
                {"chat_id": community.external_id, "user_id": user_id, "until": until.isoformat()},
                bucket=f"chat:{community.external_id}",
                idempotency_key=f"moderation:{action_id}:mute",
                community_id=community.pk,
            )


def remove_from_group(
    community: Community, member: Member, *, by: Staff | None, reason: str, key: str
) -> CommunityMembership | None:
    """End the member's stay as *removed* and remove them on the channel: on Telegram by an outbox call,
    on WeCom (no API) by a ``StaffTask`` for the store. ``key`` makes the channel call idempotent."""
    from siyu.communities.services.joining import leave_community  # late: joining checks the blocklist here

    membership = leave_community(community, member, removed=True, by=by, reason=reason)
    if membership is None:
        return None
    user_id = _channel_user_id(community, member)
    if community.channel == ChannelKind.WECOM:
        StaffTask.objects.create(
            store_id=community.store_id,
            community=community,
            kind=StaffTask.Kind.REMOVE_MEMBER,
            title=_("Remove %(name)s from %(group)s")
            % {"name": member_display_name(member), "group": community.name},
            payload={
                "member_id": member.pk,
                "external_userid": user_id or "",
                "chat_id": community.external_id,
                "reason": reason[:200],
            },
        )
    elif (
        community.channel == ChannelKind.TELEGRAM
        and community.connector_id
        and community.external_id
        and user_id
    ):
        from siyu.channels.services import outbox

        assert community.connector is not None
        outbox.enqueue(
            community.connector,
            "remove",
            {"chat_id": community.external_id, "user_id": user_id},
            bucket=f"chat:{community.external_id}",
            idempotency_key=f"{key}:remove",
            community_id=community.pk,
        )
    return membership


# --- joining checks --------------------------------------------------------------------------------


def _blocklist_match(member: Member) -> Q:
    cond = Q(member_id=member.pk)
    if member.mobile:
        cond |= Q(mobile=member.mobile)
    for channel, external_id in ChannelIdentity.objects.filter(member=member).values_list(
        "channel", "external_id"
    ):
        cond |= Q(channel=channel, external_id=external_id)
    return cond


def is_blocked(member: Member) -> bool:
    """True when the member is on their brand's blocklist, by member, mobile number or channel identity."""
    return BlocklistEntry.objects.filter(brand_id=member.brand_id).filter(_blocklist_match(member)).exists()


def removal_in_force(community: Community, member: Member) -> ModerationAction | None:
    """The un-overridden removal of the member from ``community`` within the policy window, if any."""
    policy = effective_policy(community)
    return (
        ModerationAction.objects.filter(
            community=community,
            member=member,
            action=ModerationAction.Kind.REMOVE,
            overridden_at__isnull=True,
            created_at__gte=timezone.now() - timedelta(days=policy.window_days),
        )
        .order_by("-created_at")
        .first()
    )


def may_join(community: Community, member: Member) -> bool:
    """False when the member is blocklisted or was removed from this group by moderation and the removal
    still stands (not overridden, within the window). The joining service calls this before a join."""
    return not is_blocked(member) and removal_in_force(community, member) is None


# --- staff tools ---------------------------------------------------------------------------------


def _scoped_actions(staff: Staff) -> QuerySet[ModerationAction]:
    require_staff(staff)
    qs = ModerationAction.objects.select_related(
        "community", "community__store", "member", "actor", "overridden_by"
    )
    scope = store_scope(staff)
    if scope is not None:
        qs = qs.filter(community__store_id__in=scope)
    return qs


def get_action(staff: Staff, action_id: Any) -> ModerationAction:
    """One moderation action in a group of ``staff``'s stores; NotFound otherwise."""
    pk = parse_id(action_id, "action", _("No such moderation action."))
    action = _scoped_actions(staff).filter(pk=pk).first()
    if action is None:
        raise NotFound(_("No such moderation action."), field="action")
    return action


def moderation_log(
    staff: Staff, community_id: Any = None, store_id: Any = None
) -> QuerySet[ModerationAction]:
    """Moderation actions newest first, in ``staff``'s scope, optionally of one group or one store
    (a group or store outside the scope is NotFound)."""
    qs = _scoped_actions(staff)
    if community_id not in (None, ""):
        qs = qs.filter(community=get_community(staff, community_id))
    if store_id not in (None, ""):
        pk = parse_id(store_id, "store", _("No such store."))
        scope = store_scope(staff)
        if scope is not None and pk not in scope:
            raise NotFound(_("No such store."), field="store")
        qs = qs.filter(community__store_id=pk)
    return qs.order_by("-created_at", "-id")


def _override(
    staff: Staff, action: ModerationAction, note: str, *, ip: str | None = None
) -> ModerationAction:
    now = timezone.now()
    action.overridden_by = staff
    action.overridden_at = now
    action.override_note = note[:255]
    action.save(update_fields=["overridden_by", "overridden_at", "override_note"])
    message = Message.objects.filter(pk=action.message_id).first() if action.message_id else None
    if message is not None and message.hidden:
        # The robot was wrong: show the message again.
        message.hidden = False
        message.save(update_fields=["hidden"])
        announce_message(message)
    if action.action == ModerationAction.Kind.MUTE:
        CommunityMembership.objects.filter(
            community_id=action.community_id,
            member_id=action.member_id,
            status=CommunityMembership.Status.ACTIVE,
            muted_until__gt=now,
        ).update(muted_until=None)
    record_audit(
        staff,
        "moderation.override",
        target_type="member",
        target_id=action.member_id,
        store_id=action.community.store_id,
        detail={
            "action_id": action.pk,
            "action": action.action,
            "rule": action.rule,
            "community": action.community_id,
            "note": action.override_note,
        },
        ip=ip,
    )
    return action


@transaction.atomic
def override_action(staff: Staff, action_id: Any, note: str, *, ip: str | None = None) -> ModerationAction:
    """Undo a moderation action in one of ``staff``'s groups (others are NotFound).

    Guarantees: the action is marked overridden (by, when, note) and no longer counts towards the ladder;
    the hidden message is shown again; an active mute is lifted in Siyu (a Telegram mute runs out on its
    own); a removal no longer stops the member re-joining (they are not put back automatically). Audited.
    Overriding twice is a Conflict; a note is required.
    """
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(_("Say why the action is overridden."), field="note")
    action = get_action(staff, action_id)
    action = ModerationAction.objects.select_for_update().select_related("community").get(pk=action.pk)
    if action.overridden_at is not None:
        raise Conflict(_("This action was already overridden."), field="action")
    return _override(staff, action, note, ip=ip)


@transaction.atomic
def submit_appeal(member: Member, action_id: Any, text: str) -> Appeal:
    """A member appeals against their own removal, once.

    Guarantees: only the removed member may appeal (another member's action is NotFound); only removals
    can be appealed (ValidationFailed); a second appeal against the same removal, or one against a removal
    already overridden, is a Conflict. Nothing is written when refused.
    """
    pk = parse_id(action_id, "action", _("No such moderation action."))
    action = ModerationAction.objects.select_for_update().filter(pk=pk, member_id=member.pk).first()
    if action is None:
        raise NotFound(_("No such moderation action."), field="action")
    if action.action != ModerationAction.Kind.REMOVE:
        raise ValidationFailed(_("Only a removal can be appealed."), field="action")
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(_("Tell us why the removal was wrong."), field="text")
    if len(text) > 1000:
        raise ValidationFailed(_("Too long (1000 characters at most)."), field="text")
    if Appeal.objects.filter(action=action).exists():
        raise Conflict(_("You have already appealed against this removal."), field="action")
    if action.overridden_at is not None:
        raise Conflict(_("This removal was already lifted."), field="action")
    return Appeal.objects.create(action=action, member=member, text=text)


def appeals(staff: Staff, *, status: str | None = Appeal.Status.PENDING) -> QuerySet[Appeal]:
    """Appeals against removals in ``staff``'s groups, oldest first (``status`` None: all)."""
    qs = Appeal.objects.filter(action__in=_scoped_actions(staff)).select_related(
        "action__community", "member"
    )
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("created_at", "id")


@transaction.atomic
def review_appeal(staff: Staff, appeal_id: Any, accept: bool, *, ip: str | None = None) -> Appeal:
    """Accept (= override the removal) or reject a pending appeal in one of ``staff``'s groups.

    Out-of-scope appeals are NotFound; an appeal already reviewed is a Conflict. Audited.
    """
    pk = parse_id(appeal_id, "appeal", _("No such appeal."))
    appeal = appeals(staff, status=None).filter(pk=pk).first()
    if appeal is None:
        raise NotFound(_("No such appeal."), field="appeal")
    appeal = Appeal.objects.select_for_update().get(pk=appeal.pk)
    if appeal.status != Appeal.Status.PENDING:
        raise Conflict(_("This appeal was already reviewed."), field="appeal")
    action = ModerationAction.objects.select_for_update().select_related("community").get(pk=appeal.action_id)
    appeal.status = Appeal.Status.ACCEPTED if accept else Appeal.Status.REJECTED
    appeal.reviewed_by = staff
    appeal.reviewed_at = timezone.now()
    appeal.save(update_fields=["status", "reviewed_by", "reviewed_at"])
    if accept and action.overridden_at is None:
        _override(staff, action, _("Appeal accepted."), ip=ip)
    record_audit(
        staff,
        "moderation.appeal_reviewed",
        target_type="member",
        target_id=appeal.member_id,
        store_id=action.community.store_id,
        detail={"appeal_id": appeal.pk, "action_id": action.pk, "accepted": bool(accept)},
        ip=ip,
    )
    return appeal


# --- policies --------------------------------------------------------------------------------------

_INT_LIMITS = {
    "flood_count": (2, 100),
    "flood_seconds": (1, 3600),
    "repeat_count": (2, 100),
    "mute_minutes": (1, 30 * 24 * 60),
    "window_days": (1, 365),
}
_BOOL_FIELDS = ("block_links", "block_qr_images", "block_contact")
POLICY_FIELDS = frozenset({"forbidden_keywords", "ladder", *_INT_LIMITS, *_BOOL_FIELDS})


def _clean_policy(data: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationFailed(_("A policy must be an object of settings."), field="policy")
    unknown = set(data) - POLICY_FIELDS
    if unknown:
        raise ValidationFailed(_("Unknown field."), field=sorted(unknown)[0])
    clean: dict[str, Any] = {}
    if "forbidden_keywords" in data:
        words = data["forbidden_keywords"]
        if isinstance(words, str):
            words = re.split(r"[\n,，]+", words)
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValidationFailed(_("Forbidden words must be a list of words."), field="forbidden_keywords")
        cleaned = list(dict.fromkeys(w.strip() for w in words if w.strip()))
        if len(cleaned) > 500 or any(len(w) > 50 for w in cleaned):
            raise ValidationFailed(
                _("At most 500 forbidden words of 50 characters each."), field="forbidden_keywords"
            )
        clean["forbidden_keywords"] = cleaned
    for name in _BOOL_FIELDS:
        if name in data:
            if not isinstance(data[name], bool):
                raise ValidationFailed(_("Must be true or false."), field=name)
            clean[name] = data[name]
    for name, (low, high) in _INT_LIMITS.items():
        if name in data:
            value = data[name]
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValidationFailed(
                    _("Must be a whole number from %(low)s to %(high)s.") % {"low": low, "high": high},
                    field=name,
                )
            clean[name] = value
    if "ladder" in data:
        ladder = data["ladder"]
        if (
            not isinstance(ladder, list)
            or not 1 <= len(ladder) <= 10
            or any(step not in LADDER_STEPS for step in ladder)
        ):
            raise ValidationFailed(
                _("The ladder is a list of steps: warn, mute or remove (1 to 10 steps)."), field="ladder"
            )
        clean["ladder"] = list(ladder)
    return clean


def policy_for(staff: Staff, community_id: Any = None) -> EffectivePolicy:
    """The policy in force for a group of ``staff``'s scope, or the brand default for ``None``."""
    require_staff(staff)
    if community_id in (None, ""):
        from siyu.org.services.brand import current_brand_id

        row = ModerationPolicy.objects.filter(
            brand_id=current_brand_id(staff), community__isnull=True
        ).first()
        return EffectivePolicy.from_row(row) if row is not None else EffectivePolicy()
    return effective_policy(get_community(staff, community_id))


@transaction.atomic
def set_policy(
    staff: Staff, community_id: Any, data: dict[str, Any], *, ip: str | None = None
) -> ModerationPolicy:
    """Create or change the brand default policy (``community_id`` None; HQ roles only) or one group's
    policy (any role serving the group's store; other groups are NotFound).

    Fields not given keep their current value; a group's first policy starts from the one it enforced
    until then (brand default or built-in). Invalid values raise ValidationFailed and change nothing. Audited.
    """
    from siyu.org.services.brand import current_brand_id

    require_staff(staff)
    clean = _clean_policy(data)
    if community_id in (None, ""):
        if not (staff.is_hq or staff.is_superuser):
            raise PermissionDenied(_("Only head office sets the default group rules."), field="community")
        community = None
        brand_id = current_brand_id(staff)
        row = (
            ModerationPolicy.objects.select_for_update()
            .filter(brand_id=brand_id, community__isnull=True)
            .first()
        )
        base = EffectivePolicy.from_row(row) if row else EffectivePolicy()
    else:
        community = get_community(staff, community_id)
        brand_id = community.brand_id
        row = ModerationPolicy.objects.select_for_update().filter(community=community).first()
        base = EffectivePolicy.from_row(row) if row else effective_policy(community)
    values = {**base.as_dict(), **clean}
    if row is None:
        row = ModerationPolicy(brand_id=brand_id, community=community)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_by = staff
    row.save()
    record_audit(
        staff,
        "moderation.policy_set",
        target_type="community" if community else "brand",
        target_id=community.pk if community else brand_id,
        store_id=community.store_id if community else None,
        detail={"fields": sorted(clean)},
        ip=ip,
    )
    return row


@transaction.atomic
def clear_policy(staff: Staff, community_id: Any, *, ip: str | None = None) -> None:
    """Drop a group's own policy so it enforces the brand default again (NotFound outside the scope)."""
    community = get_community(staff, community_id)
    deleted, _detail = ModerationPolicy.objects.filter(community=community).delete()
    if deleted:
        record_audit(
            staff,
            "moderation.policy_cleared",
            target_type="community",
            target_id=community.pk,
            store_id=community.store_id,
            ip=ip,
        )


# --- blocklist -------------------------------------------------------------------------------------


def _check_blocklist_role(staff: Staff) -> None:
    require_staff(staff)
    if not (staff.is_hq or staff.is_superuser or staff.role == "store_manager"):
        raise PermissionDenied(_("Your role does not allow this."), field="blocklist")


@transaction.atomic
def add_to_blocklist(
    staff: Staff,
    *,
    member_id: Any = None,
    mobile: str = "",
    channel: str = "",
    external_id: str = "",
    reason: str = "",
    ip: str | None = None,
) -> BlocklistEntry:
    """Put someone on the brand-wide blocklist: a member (HQ, or a store manager for members they serve),
    or a mobile number / channel identity (HQ only, since it may name anyone in the chain).

    Guarantees: at least one identifier is required; an identical entry is a Conflict. Blocked members are
    refused at their next join (``may_join``) or message (removed). Audited.
    """
    from siyu.org.services.brand import current_brand_id

    _check_blocklist_role(staff)
    member = get_member(staff, member_id) if member_id not in (None, "") else None
    mobile = normalize_mobile(mobile) if (mobile or "").strip() else ""
    channel = (channel or "").strip()
    external_id = (external_id or "").strip()
    if channel or external_id:
        if channel not in ChannelIdentity.Channel.values:
            raise ValidationFailed(_("Unknown channel."), field="channel")
        if not external_id or len(external_id) > 128:
            raise ValidationFailed(_("Give the channel user id."), field="external_id")
    if member is None and not mobile and not external_id:
        raise ValidationFailed(
            _("Say whom to block: a member, a mobile number or a channel id."), field="member"
        )
    if (mobile or external_id) and not (staff.is_hq or staff.is_superuser):
        raise PermissionDenied(_("Only head office blocks by mobile number or channel id."), field="mobile")
    brand_id = member.brand_id if member else current_brand_id(staff)
    existing = BlocklistEntry.objects.filter(
        brand_id=brand_id, member=member, mobile=mobile, channel=channel, external_id=external_id
    )
    if existing.exists():
        raise Conflict(_("Already on the blocklist."), field="member")
    entry = BlocklistEntry.objects.create(
        brand_id=brand_id,
        member=member,
        mobile=mobile,
        channel=channel,
        external_id=external_id,
        reason=(reason or "").strip()[:255],
        added_by=staff,
    )
    record_audit(
        staff,
        "blocklist.add",
        target_type="member" if member else "blocklist",
        target_id=member.pk if member else entry.pk,
        store_id=member.home_store_id if member else None,
        detail={"entry": entry.pk, "channel": channel, "has_mobile": bool(mobile), "reason": entry.reason},
        ip=ip,
    )
    return entry


def blocklist(staff: Staff) -> QuerySet[BlocklistEntry]:
    """Blocklist entries ``staff`` may see: all for HQ; for store managers those naming members they serve."""
    _check_blocklist_role(staff)
    qs = BlocklistEntry.objects.select_related("member", "added_by").order_by("-created_at", "-id")
    scope = store_scope(staff)
    if scope is not None:
        qs = qs.filter(member__home_store_id__in=scope)
    return qs


@transaction.atomic
def remove_from_blocklist(staff: Staff, entry_id: Any, *, ip: str | None = None) -> None:
    """Delete a blocklist entry ``staff`` may see (others are NotFound). Audited."""
    pk = parse_id(entry_id, "entry", _("No such blocklist entry."))
    entry = blocklist(staff).filter(pk=pk).first()
    if entry is None:
        raise NotFound(_("No such blocklist entry."), field="entry")
    record_audit(
        staff,
        "blocklist.remove",
        target_type="member" if entry.member_id else "blocklist",
        target_id=entry.member_id or entry.pk,
        store_id=entry.member.home_store_id if entry.member else None,
        detail={"entry": entry.pk},
        ip=ip,
    )
    entry.delete()
