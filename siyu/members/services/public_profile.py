"""How a member appears to other members: the nickname and avatar they chose (or brought from WeChat), and
the one rule for the name shown in chat, 接龙 relay lines and team progress (``public_name``).

A nickname and an avatar are the member's own data: only the member sets them (H5 "我的"), they appear in
the member's data export and erasure removes them (``privacy``). Nothing here ever shows a full legal name
or a full mobile number.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
import uuid

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from siyu.analytics.services.events import record_event
from siyu.common.errors import Conflict, ValidationFailed
from siyu.common.mobile import mask_mobile
from siyu.members.models import Member

logger = logging.getLogger("siyu.members")

MAX_NICKNAME = 20
AVATAR_SIDE = 160
MAX_AVATAR_BYTES = 5 * 1024 * 1024
MAX_AVATAR_PIXELS = 40_000_000
_AVATAR_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
# Stored avatar names: random, so a URL says nothing about the member and cannot be guessed.
AVATAR_NAME_RE = re.compile(r"^[0-9a-f]{32}\.jpg$")

# A nickname is a name, not an advert: no links, mobile numbers, e-mail addresses or long digit runs
# (QQ/WeChat ids). Deliberately stricter than group-message moderation, and with no database.
_LINK_RE = re.compile(r"(?:[a-z]+://|www\.|[a-z0-9-]+\.(?:[a-z]{2,}))", re.IGNORECASE)
_DIGIT_RUN_RE = re.compile(r"\d{5,}")
_DIGIT_GAP_RE = re.compile(r"(?<=\d)[\s\-_.·()（）]+(?=\d)")


# --- the name other members see ------------------------------------------------------------------------


def public_name(member: Member | None) -> str:
    """The name other members see: the nickname; else the surname and ``**`` (王小明 → 王**); else the
    masked mobile number (138****1234); else "Member". Never the full name or number."""
    if member is None or member.erased_at is not None:
        return _("Member")
    nickname = (member.nickname or "").strip()
    if nickname:
        return nickname
    name = (member.name or "").strip()
    if name:
        return f"{name[0]}**"
    return mask_mobile(member.mobile) or _("Member")


def name_for_self(member: Member) -> str:
    """How a member's own pages greet them: their nickname, else their name, else the masked mobile
    number (the member sees their own data; others see ``public_name``)."""
    return (member.nickname or "").strip() or (member.name or "").strip() or mask_mobile(member.mobile)


def avatar_name(member: Member | None) -> str:
    """The stored avatar's file name (``<32 hex>.jpg``) for the avatar URL, or "" without one."""
    if member is None or member.erased_at is not None or not member.avatar:
        return ""
    return str(member.avatar.name).rsplit("/", 1)[-1]


# --- nickname ------------------------------------------------------------------------------------------


def clean_nickname(value: object) -> str:
    """A nickname of 1–20 characters after trimming; "" clears it. No links, mobile numbers, e-mail
    addresses or runs of five or more digits; no control characters. Raises ValidationFailed."""
    text = unicodedata.normalize("NFKC", str(value or "")).strip()
    text = " ".join(text.split())
    if not text:
        return ""
    if len(text) > MAX_NICKNAME:
        raise ValidationFailed(
            _("A nickname can be at most %(n)s characters.") % {"n": MAX_NICKNAME}, field="nickname"
        )
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in text):
        raise ValidationFailed(_("The nickname contains characters that cannot be shown."), field="nickname")
    joined = _DIGIT_GAP_RE.sub("", text)
    if _LINK_RE.search(text) or "@" in text or _DIGIT_RUN_RE.search(joined):
        raise ValidationFailed(
            _("A nickname cannot contain links, phone numbers or other contact details."), field="nickname"
        )
    return text


def _locked_live(member: Member) -> Member:
    locked = Member.objects.select_for_update().get(pk=member.pk)
    if locked.erased_at:
        raise Conflict(_("This member's data was erased."), field="member")
    return locked


@transaction.atomic
def set_nickname(member: Member, value: object) -> Member:
    """The member sets (or clears, with "") their own nickname. Event ``member.profile_updated``."""
    nickname = clean_nickname(value)
    locked = _locked_live(member)
    if locked.nickname != nickname:
        Member.objects.filter(pk=member.pk).update(nickname=nickname, updated_at=timezone.now())
        record_event(
            "member.profile_updated",
            member_id=member.pk,
            store_id=member.home_store_id,
            payload={"fields": ["nickname"]},
        )
    member.nickname = nickname
    return member


def nickname_from_wechat(member: Member, wechat_nickname: object) -> bool:
    """Fill in the nickname from WeChat authorization (``snsapi_userinfo``) when the member has none yet:
    never overwrites a nickname the member chose. A WeChat nickname our rules refuse is skipped (cut to 20
    characters first). Returns whether the nickname was set. The WeChat head image is not fetched: see
    docs/members.md ("Nickname and avatar")."""
    raw = unicodedata.normalize("NFKC", str(wechat_nickname or "")).strip()[:MAX_NICKNAME]
    try:
        nickname = clean_nickname(raw)
    except ValidationFailed:
        return False
    if not nickname or member.erased_at is not None:
        return False
    with transaction.atomic():
        updated = Member.objects.filter(pk=member.pk, nickname="", erased_at__isnull=True).update(
            nickname=nickname, updated_at=timezone.now()
        )
        if updated:
            record_event(
                "member.profile_updated",
                member_id=member.pk,
                store_id=member.home_store_id,
                payload={"fields": ["nickname"], "source": "wechat"},
            )
    if updated:
        member.nickname = nickname
    return bool(updated)


# --- avatar --------------------------------------------------------------------------------------------


def clean_avatar(data: bytes) -> bytes:
    """A picture (JPEG, PNG, WebP or GIF, at most 5 MB) as a 160 × 160 JPEG: EXIF orientation applied,
    cropped to the centre square, every metadata block dropped. Raises ValidationFailed otherwise."""
    if not data:
        raise ValidationFailed(_("The picture is empty."), field="avatar")
    if len(data) > MAX_AVATAR_BYTES:
        raise ValidationFailed(_("Pictures can be at most 5 MB."), field="avatar")
    not_a_picture = ValidationFailed(_("Send a JPEG, PNG or WebP picture."), field="avatar")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if (probe.format or "") not in _AVATAR_FORMATS:
                raise not_a_picture
            if probe.width * probe.height > MAX_AVATAR_PIXELS:
                raise ValidationFailed(_("The picture has too many pixels."), field="avatar")
            probe.verify()
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            img = ImageOps.exif_transpose(opened)
            if img.mode in ("RGBA", "LA", "P"):
                rgba = img.convert("RGBA")
                img = Image.new("RGB", rgba.size, (255, 255, 255))
                img.paste(rgba, mask=rgba.getchannel("A"))
            img = ImageOps.fit(img.convert("RGB"), (AVATAR_SIDE, AVATAR_SIDE), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            img.save(out, format="JPEG", quality=85)
    except ValidationFailed:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise not_a_picture from exc
    return out.getvalue()


def initials_picture(initials: str, colour: str) -> bytes:
    """A generated 160 × 160 PNG: up to two ``initials`` in white on ``colour`` (e.g. ``#2f6f8f``). Pillow's
    built-in font has Latin letters only, so Chinese names need their pinyin initials."""
    img = Image.new("RGB", (AVATAR_SIDE, AVATAR_SIDE), colour)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=64 if len(initials) > 1 else 80)
    centre = AVATAR_SIDE // 2
    draw.text((centre, centre), initials[:2].upper(), fill="#ffffff", font=font, anchor="mm")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _delete_file_after_commit(name: str) -> None:
    if not name:
        return
    storage = Member._meta.get_field("avatar").storage

    def delete() -> None:
        try:
            storage.delete(name)
        except OSError:
            logger.warning("Could not delete the avatar file %s", name)

    transaction.on_commit(delete)


@transaction.atomic
def set_avatar(member: Member, data: bytes) -> Member:
    """The member uploads their own avatar (see ``clean_avatar``); the previous file is deleted after
    commit. Event ``member.profile_updated``."""
    content = clean_avatar(data)
    locked = _locked_live(member)
    old = str(locked.avatar.name or "")
    locked.avatar.save(f"{uuid.uuid4().hex}.jpg", ContentFile(content), save=False)
    # The file is written before the row: if the transaction rolls back, only an orphan file remains.
    Member.objects.filter(pk=member.pk).update(avatar=locked.avatar.name, updated_at=timezone.now())
    _delete_file_after_commit(old)
    record_event(
        "member.profile_updated",
        member_id=member.pk,
        store_id=member.home_store_id,
        payload={"fields": ["avatar"]},
    )
    member.avatar = locked.avatar
    return member


@transaction.atomic
def remove_avatar(member: Member) -> Member:
    """The member removes their avatar (the file goes after commit)."""
    locked = _locked_live(member)
    old = str(locked.avatar.name or "")
    if old:
        Member.objects.filter(pk=member.pk).update(avatar="", updated_at=timezone.now())
        _delete_file_after_commit(old)
        record_event(
            "member.profile_updated",
            member_id=member.pk,
            store_id=member.home_store_id,
            payload={"fields": ["avatar"]},
        )
    member.avatar = ""
    return member


def erase_public_profile(member_id: int, avatar: str) -> None:
    """Part of erasure (``privacy.erase_member``, in its transaction): the avatar file goes after commit.
    The caller blanks ``nickname`` and ``avatar`` on the row itself."""
    _delete_file_after_commit(avatar)


def open_avatar(name: str) -> FieldFile:
    """The stored avatar ``name`` (``<32 hex>.jpg``) of a member not erased, opened for reading; LookupError
    when there is no such avatar. The name is random, so it is its own access key (like a CDN URL)."""
    if not AVATAR_NAME_RE.match(name or ""):
        raise LookupError(name)
    member = Member.objects.filter(avatar=f"avatars/{name}", erased_at__isnull=True).first()
    if member is None or not member.avatar:
        raise LookupError(name)
    try:
        return member.avatar.open("rb")
    except OSError as exc:
        raise LookupError(name) from exc
