"""Messages in groups: the pictures members send (checked and re-encoded), what a member's chat shows
(their groups, history), and how a message is presented and announced live.

Writing messages (a member's post, a message mirrored from WeCom/Telegram, a staff post) is in
``siyu.communities.services.posting``, above moderation and the robot, which use this module. Every stored
message that members may see is announced live (``siyu.communities.services.live``) after its transaction
commits.
"""

from __future__ import annotations

import io
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from siyu.channels.models import ChannelKind
from siyu.common.errors import NotFound, ValidationFailed
from siyu.communities.models import Community, CommunityMembership, Message
from siyu.communities.services import live
from siyu.members.hooks import MemberErased
from siyu.members.models import Member
from siyu.members.services.public_profile import avatar_name, public_name

logger = logging.getLogger("siyu.communities")

MAX_TEXT = 2000
MAX_IMAGE_BYTES = 5 * 1024 * 1024
# Larger pictures are scaled down when re-encoded; beyond MAX_PIXELS they are refused (decompression bombs).
MAX_IMAGE_SIDE = 2560
MAX_PIXELS = 40_000_000
HISTORY_PAGE = 50
MAX_HISTORY_PAGE = 100
_IMAGE_FORMATS = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"), "WEBP": ("webp", "image/webp")}


# --- images -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CleanImage:
    """A member's picture after checking and re-encoding: no EXIF (location!), orientation applied."""

    content: bytes
    extension: str
    mime: str
    width: int
    height: int


def clean_image(data: bytes, *, field: str = "image") -> CleanImage:
    """Check that ``data`` is a JPEG, PNG or WebP picture of at most 5 MB and re-encode it.

    Re-encoding drops EXIF and every other metadata block (GPS position, camera serial) after applying the
    EXIF orientation, and scales pictures larger than ``MAX_IMAGE_SIDE`` down. Raises ValidationFailed for
    anything else, including files that only claim to be pictures.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise ValidationFailed(_("The picture is empty."), field=field)
    if len(data) > MAX_IMAGE_BYTES:
        raise ValidationFailed(_("Pictures can be at most 5 MB."), field=field)
    not_a_picture = ValidationFailed(_("Send a JPEG, PNG or WebP picture."), field=field)
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = probe.format or ""
            if fmt not in _IMAGE_FORMATS:
                raise not_a_picture
            if probe.width * probe.height > MAX_PIXELS:
                raise ValidationFailed(_("The picture has too many pixels."), field=field)
            probe.verify()
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            img: Image.Image = ImageOps.exif_transpose(opened)
            if fmt == "JPEG" and img.mode not in ("RGB", "L"):
                img = img.convert("RGB")
            img.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
            out = io.BytesIO()
            options: dict[str, Any] = {"JPEG": {"quality": 85}, "WEBP": {"quality": 85}}.get(fmt, {})
            img.save(out, format=fmt, **options)
            width, height = img.size
    except ValidationFailed:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise not_a_picture from exc
    extension, mime = _IMAGE_FORMATS[fmt]
    return CleanImage(out.getvalue(), extension, mime, width, height)


def attach_image(message: Message, image: CleanImage) -> None:
    # A random name: the upload's own name is neither trusted nor needed.
    message.image.save(f"{uuid.uuid4().hex}.{image.extension}", ContentFile(image.content), save=False)


def discard_image(message: Message) -> None:
    if message.image:
        try:
            message.image.delete(save=False)
        except OSError:
            logger.warning("Could not delete the orphaned chat image %s", message.image.name)


# --- how members appear --------------------------------------------------------------------------


def display_name(member: Member | None) -> str:
    """How a member appears to other members in groups: the one rule of ``members`` (``public_name``) —
    their nickname, else the surname and ``**``, else the masked mobile number. Never a full name or
    number."""
    return public_name(member)


def avatar_url(member: Member | None) -> str:
    """The URL of the member's avatar (served by the H5 avatar view), or "" without one."""
    name = avatar_name(member)
    return reverse("h5:avatar", args=[name]) if name else ""


# --- member chat ----------------------------------------------------------------------------------


def open_chat(community_id: int, member: Member) -> tuple[Community, CommunityMembership]:
    """The web group ``community_id`` and the member's active membership in it.

    Raises NotFound when the group does not exist, is not a web-channel group, or the member is not in it —
    to a non-member a group's chat looks like it does not exist.
    """
    community = Community.objects.select_related("store").filter(pk=community_id).first()
    if community is None or community.channel != ChannelKind.WEB or member.erased_at is not None:
        raise NotFound(_("No such group."), field="community")
    membership = _active_membership(community, member)
    if membership is None:
        raise NotFound(_("No such group."), field="community")
    return community, membership


def _active_membership(community: Community, member: Member) -> CommunityMembership | None:
    return (
        CommunityMembership.objects.filter(
            community=community, member=member, status=CommunityMembership.Status.ACTIVE
        )
        .order_by("-joined_at", "-id")
        .first()
    )


def my_groups(member: Member) -> list[CommunityMembership]:
    """The member's active memberships, newest first, with their groups and stores."""
    return list(
        CommunityMembership.objects.filter(member=member, status=CommunityMembership.Status.ACTIVE)
        .exclude(community__status=Community.Status.ARCHIVED)
        .select_related("community", "community__store")
        .order_by("-joined_at", "-id")
    )


def history(
    community: Community,
    *,
    before_id: int | None = None,
    limit: int = HISTORY_PAGE,
    include_hidden: bool = False,
) -> list[Message]:
    """Up to ``limit`` (at most 100) messages before ``before_id`` (or the latest), oldest first.

    Hidden messages are left out unless ``include_hidden`` (staff views). Callers check access first
    (``open_chat`` for members).
    """
    limit = max(1, min(int(limit), MAX_HISTORY_PAGE))
    qs = Message.objects.filter(community=community).select_related("member", "staff")
    if not include_hidden:
        qs = qs.filter(hidden=False)
    if before_id is not None:
        qs = qs.filter(id__lt=before_id)
    return list(reversed(qs.order_by("-id")[:limit]))


def messages_after(community: Community, after_id: int, *, limit: int = 200) -> list[Message]:
    """Visible messages with an id above ``after_id``, oldest first: what a reconnecting page missed."""
    qs = (
        Message.objects.filter(community=community, hidden=False, id__gt=after_id)
        .select_related("member", "staff")
        .order_by("id")
    )
    return list(qs[:limit])


def latest_message_id(community: Community) -> int:
    return (
        Message.objects.filter(community=community).order_by("-id").values_list("id", flat=True).first() or 0
    )


def message_image(community: Community, message_id: int) -> Message:
    """The picture message ``message_id`` of ``community`` that members may see, or NotFound."""
    message = Message.objects.filter(
        pk=message_id, community=community, hidden=False, image__isnull=False
    ).first()
    if message is None or not message.image:
        raise NotFound(_("No such picture."), field="message")
    return message


# --- presentation for the chat page and the live events ---------------------------------------------


def sender_key(community_id: int, member_id: int | None) -> str:
    """An opaque per-group id of a member, so pages can tell "mine" apart without learning member ids."""
    if member_id is None:
        return ""
    return salted_hmac("siyu.chat.sender", f"{community_id}:{member_id}").hexdigest()[:16]


def serialize_message(message: Message) -> dict[str, Any]:
    """The JSON the chat page renders. Contains no member id or mobile number."""
    is_member = message.sender_kind == Message.SenderKind.MEMBER
    if is_member:
        name = display_name(message.member)
    elif message.sender_kind == Message.SenderKind.STAFF:
        staff = message.staff
        name = (staff.display_name or staff.username) if staff is not None else _("Staff")
    elif message.sender_kind == Message.SenderKind.ROBOT:
        name = _("Group assistant")
    else:
        name = _("System")
    card = message.card or {}
    image_url = reverse("h5:chat_image", args=[message.community_id, message.pk]) if message.image else ""
    return {
        "id": message.pk,
        "kind": message.kind,
        "sender": {
            "kind": message.sender_kind,
            "name": name,
            "key": sender_key(message.community_id, message.member_id),
            "avatar_url": avatar_url(message.member) if is_member else "",
        },
        "text": message.text,
        "image_url": image_url,
        "card": {
            "title": str(card.get("title") or ""),
            "description": str(card.get("description") or ""),
            "url": str(card.get("url") or ""),
            "image_url": str(card.get("image_url") or ""),
            "button": str(card.get("button") or ""),
        }
        if card
        else None,
        "hidden": message.hidden,
        "created_at": timezone.localtime(message.created_at).isoformat(),
    }


def announce_message(message: Message) -> None:
    """Tell open chat pages about ``message`` once the current transaction commits."""
    live.publish_after_commit(
        message.community_id, {"type": "message", "id": message.pk, "message": serialize_message(message)}
    )


def announce_hidden(message: Message) -> None:
    """Tell open chat pages to remove ``message`` (after commit): for moderation hiding it later."""
    live.publish_after_commit(message.community_id, {"type": "hidden", "id": message.pk})


# --- erasure -------------------------------------------------------------------------------------


def erase_member_messages(event: MemberErased) -> None:
    """``members.hooks.member_erased`` handler: group messages are personal data too — their text, pictures
    and cards go, the rows (and counts) stay. Runs in the erasure's transaction."""
    for message in (
        Message.objects.filter(member_id=event.member_id).exclude(image="").exclude(image__isnull=True)
    ):
        message.image.delete(save=False)
    Message.objects.filter(member_id=event.member_id).update(text="", image="", card={})
