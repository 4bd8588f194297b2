"""Share posters (分享海报): a PNG per (campaign, member, art version) drawn locally with Pillow.

The poster carries the campaign's art (a coloured banner with its headline; a default when none), the
member's nickname and avatar (their initial on a disc when they have no avatar), the store's name and a QR
code of the member's personal invite link. Chinese text needs a font with Chinese glyphs: the first
found of ``SIYU_POSTER_FONT``, Noto Sans SC from the npm package ``@expo-google-fonts/noto-sans-sc``
(installed with the front-end packages) and the usual system locations
(``communities.services.livecodes.cjk_font_path``); without one Pillow's built-in font is used and Chinese
characters are drawn as boxes — the poster still works (the QR is what matters) and ``font_status()`` says so.

Posters are cached on disk under ``SIYU_VAR_DIR/media/referral-posters/<campaign>/``; the file name carries
the art version and a hash of everything drawn (link, nickname, avatar, store, language), so a change of any
of them draws a new poster and a cached file is never stale. Writes go to a temporary file renamed into place,
so a reader never sees half a PNG.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from siyu.communities.services.livecodes import cjk_font_path
from siyu.members.models import Member
from siyu.referrals.models import ReferralCampaign
from siyu.referrals.services.links import invite_url

POSTER_SIZE = (750, 1334)  # a phone screen: long-press to save
DEFAULT_COLOUR = "#c0392b"


NOTO_SANS_SC = ("@expo-google-fonts", "noto-sans-sc", "400Regular", "NotoSansSC_400Regular.ttf")


@lru_cache(maxsize=1)
def poster_font_path() -> str | None:
    """A font file with Chinese glyphs, or None (see module docstring)."""
    configured = os.environ.get("SIYU_POSTER_FONT", "")
    if configured and Path(configured).is_file():
        return configured
    bundled = Path(settings.NODE_MODULES).joinpath(*NOTO_SANS_SC)
    if bundled.is_file():
        return str(bundled)
    return cjk_font_path()


def font_status() -> str:
    """A sentence for the operations page and the docs: which font the posters use."""
    path = poster_font_path()
    if path:
        return _("Posters use the font %(path)s.") % {"path": path}
    return _("No Chinese font was found: posters draw Chinese characters as boxes. Set SIYU_POSTER_FONT.")


@lru_cache(maxsize=64)
def _font(size: int) -> Any:
    """The poster font at ``size`` (loaded once per size and process: loading is most of a poster's time)."""
    from PIL import ImageFont

    path = poster_font_path()
    if path:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            pass
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _text(draw: Any, text: str, y: int, size: int, fill: str, width: int) -> int:
    """Centred text at ``y``, shrunk to fit; returns the next free y."""
    while True:
        font = _font(size)
        text_width = draw.textlength(text, font=font)
        if text_width <= width - 80 or size <= 18:
            break
        size -= 4
    draw.text(((width - text_width) / 2, y), text, font=font, fill=fill)
    return y + int(size * 1.45)


def _qr(data: str, side: int) -> Any:
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
    qr.add_data(data)
    qr.make(fit=True)
    qr.box_size = max(2, side // (qr.modules_count + 8))
    return qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")


def _avatar(member: Member, side: int, colour: str) -> Any:
    from PIL import Image, ImageDraw, ImageOps

    mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(mask).ellipse([0, 0, side - 1, side - 1], fill=255)
    picture = None
    if member.avatar:
        try:
            with member.avatar.open("rb") as fh:
                picture = ImageOps.fit(Image.open(fh).convert("RGB"), (side, side))
        except (OSError, ValueError):
            picture = None
    if picture is None:
        picture = Image.new("RGB", (side, side), colour)
        initial = (member.nickname or member.name or "?").strip()[:1] or "?"
        draw = ImageDraw.Draw(picture)
        font = _font(side // 2)
        box = draw.textbbox((0, 0), initial, font=font)
        draw.text(
            ((side - (box[2] - box[0])) / 2 - box[0], (side - (box[3] - box[1])) / 2 - box[1]),
            initial,
            font=font,
            fill="white",
        )
    disc = Image.new("RGB", (side, side), "white")
    disc.paste(picture, (0, 0), mask)
    return disc, mask


def _lighter(colour: str, share: float = 0.12) -> str:
    """``colour`` mixed with ``share`` of white (the banner's stripes)."""
    try:
        rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    except ValueError:
        rgb = [192, 57, 43]
    return "#" + "".join(f"{round(c + (255 - c) * share):02x}" for c in rgb)


def display_name(member: Member) -> str:
    return member.nickname or member.name or _("A friend")


def draw_poster(campaign: ReferralCampaign, member: Member, url: str) -> bytes:
    """The poster PNG (not cached)."""
    from PIL import Image, ImageDraw

    width, height = POSTER_SIZE
    colour = campaign.art_color or DEFAULT_COLOUR
    poster = Image.new("RGB", POSTER_SIZE, "white")
    draw = ImageDraw.Draw(poster)
    # The campaign art: a banner in the campaign's colour with light stripes and its headline.
    draw.rectangle([0, 0, width, 460], fill=colour)
    stripe = _lighter(colour)
    for x in range(-460, width, 60):
        draw.line([(x, 460), (x + 460, 0)], fill=stripe, width=14)
    draw.rectangle([0, 461, width, 480], fill="white")  # trim the stripes' ends
    _text(draw, campaign.store.name, 48, 40, "white", width)
    _text(draw, campaign.headline or campaign.name, 140, 64, "white", width)
    _text(draw, _("Join our customer group"), 250, 36, "white", width)
    side = 150
    disc, mask = _avatar(member, side, colour)
    poster.paste(disc, ((width - side) // 2, 460 - side // 2), mask)
    y = 460 + side // 2 + 20
    y = _text(draw, display_name(member), y, 40, "#222222", width)
    y = _text(draw, _("invites you to join"), y, 30, "#666666", width)
    qr = _qr(url, 420)
    poster.paste(qr, ((width - qr.size[0]) // 2, y + 10))
    y = y + 10 + qr.size[1] + 10
    _text(draw, _("Long-press or scan the code to join"), y, 30, "#333333", width)
    draw.rectangle([0, height - 70, width, height], fill=colour)
    _text(draw, campaign.name, height - 58, 30, "white", width)
    out = io.BytesIO()
    poster.save(out, format="PNG", compress_level=3)
    return out.getvalue()


def poster_dir(campaign_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "referral-posters" / str(int(campaign_id))


def cache_path(campaign: ReferralCampaign, member: Member, url: str) -> Path:
    material = "|".join(
        [
            url,
            member.nickname or "",
            member.name or "",
            str(member.avatar or ""),
            campaign.store.name,
            translation.get_language() or "",  # the poster's own words are translated
        ]
    )
    digest = hashlib.sha256(material.encode()).hexdigest()[:16]
    return poster_dir(campaign.pk) / f"{member.pk}-v{campaign.art_version}-{digest}.png"


def poster_png(campaign: ReferralCampaign, member: Member, base_url: str) -> bytes:
    """The member's poster for ``campaign``, from the cache or drawn and cached (see module guarantees)."""
    url = invite_url(campaign, member.pk, base_url)
    path = cache_path(campaign, member, url)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    data = draw_poster(campaign, member, url)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
    return data
