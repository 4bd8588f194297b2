"""The demo's own product pictures, drawn with Pillow at seed time (nothing is downloaded).

Each picture is a soft background in the category's colour with a simple drawing of the category's kind of
thing (a cup, a pillow, a box, a candle, a lamp, a spray bottle, a vase) and, when the system has a CJK
font, the product's name. Deterministic for a product name.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import os
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SIZE = 720
# Fonts that can draw Chinese, in order of preference (``SIYU_DEMO_FONT`` first when set).
CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
# Category → base hue (0–1).
HUES = {"餐厨": 0.08, "家纺": 0.58, "收纳": 0.12, "香氛": 0.85, "灯具": 0.14, "清洁": 0.48, "装饰": 0.0}


@lru_cache(maxsize=1)
def cjk_font_path() -> str | None:
    """A font file that can draw Chinese, or None (then pictures carry shapes only)."""
    for candidate in (os.environ.get("SIYU_DEMO_FONT", ""), *CJK_FONTS):
        if candidate and Path(candidate).is_file():
            try:
                ImageFont.truetype(candidate, 20)
            except OSError:
                continue
            return candidate
    return None


def _rgb(h: float, lightness: float, saturation: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hls_to_rgb(h % 1.0, lightness, saturation)
    return int(r * 255), int(g * 255), int(b * 255)


def _draw_cup(d: ImageDraw.ImageDraw, c: tuple[int, int, int], a: tuple[int, int, int]) -> None:
    d.rounded_rectangle((230, 220, 450, 470), radius=36, fill=c)
    d.arc((400, 270, 520, 410), start=-90, end=90, fill=c, width=26)
    d.ellipse((190, 470, 490, 520), fill=a)
    for x in (290, 340, 390):  # steam
        d.arc((x - 20, 120, x + 20, 200), start=90, end=270, fill=a, width=8)


def _draw_pillow(d: ImageDraw.ImageDraw, c: tuple[int, int, int], a: tuple[int, int, int]) -> None:
    d.rounded_rectangle((160, 210, 560, 480), radius=90, fill=c)
    d.rounded_rectangle((200, 245, 520, 445), radius=70, outline=a, width=6)
    d.line((200, 345, 520, 345), fill=a, width=4)


def _draw_box(d: ImageDraw.ImageDraw, c: tuple[int, int, int], a: tuple[int, int, int]) -> None:
    d.polygon([(180, 270), (360, 200), (540, 270), (360, 340)], fill=a)
    d.polygon([(180, 270), (360, 340), (360, 520), (180, 450)], fill=c)
    d.polygon([(540, 270), (360, 340), (360, 520), (540, 450)], fill=_shade(c, 0.85))
    d.rounded_rectangle((240, 330, 300, 350), radius=8, fill=a)


def _draw_candle(d: ImageDraw.ImageDraw, c: tuple[int, int, int], a: tuple[int, int, int]) -> None:
    d.rounded_rectangle((260, 260, 460, 500), radius=24, fill=c)
    d.ellipse((260, 240, 460, 290), fill=_shade(c, 1.15))
    d.line((360, 250, 360, 215), fill=(60, 60, 60), width=6)
    d.ellipse((335, 140, 385, 215), fill=(255, 190, 60))
    d.ellipse((348, 170, 372, 212), fill=(255, 240, 180))
    d.rectangle((260, 380, 460, 420), fill=a)


def _draw_lamp(d: ImageDraw.ImageDraw, c: tuple[int, int, int], a: tuple[int, int, int]) -> None:
    d.pieslice((200, 250, 520, 420), start=0, end=180, fill=(255, 236, 170))  # the light below the shade
    d.polygon([(250, 180), (470, 180), (530, 330), (190, 330)], fill=c)
    d.rectangle((350, 330, 370, 480), fill=a)
    d.rounded_rectangle((270, 480, 450, 515), radius=14, fill=a)


def _draw_spray(d: ImageDraw.ImageDraw, c: tuple[int, int, int], a: tuple[int, int, int]) -> None:
    d.rounded_rectangle((270, 270, 450, 520), radius=40, fill=c)
    d.rectangle((320, 200, 400, 270), fill=a)
    d.polygon([(300, 170), (420, 170), (420, 205), (300, 205)], fill=a)
    d.polygon([(300, 170), (250, 185), (300, 195)], fill=a)
    for i, (x, y) in enumerate(((210, 160), (190, 190), (215, 215))):
        d.ellipse((x - 8 + i, y - 8, x + 8 + i, y + 8), fill=_shade(c, 1.2))
    d.rounded_rectangle((300, 360, 420, 420), radius=12, fill=_shade(c, 1.2))


def _draw_vase(d: ImageDraw.ImageDraw, c: tuple[int, int, int], a: tuple[int, int, int]) -> None:
    d.ellipse((230, 280, 490, 520), fill=c)
    d.rectangle((320, 200, 400, 320), fill=c)
    d.ellipse((305, 185, 415, 215), fill=_shade(c, 0.85))
    d.line((360, 200, 320, 110), fill=(90, 140, 80), width=6)
    d.line((360, 200, 410, 100), fill=(90, 140, 80), width=6)
    d.ellipse((295, 85, 345, 135), fill=a)
    d.ellipse((390, 75, 440, 125), fill=a)


DRAWINGS = {
    "餐厨": _draw_cup,
    "家纺": _draw_pillow,
    "收纳": _draw_box,
    "香氛": _draw_candle,
    "灯具": _draw_lamp,
    "清洁": _draw_spray,
    "装饰": _draw_vase,
}


def _shade(c: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    r, g, b = (min(255, max(0, int(v * factor))) for v in c)
    return (r, g, b)


def product_picture(name: str, category: str) -> bytes:
    """A PNG picture for a demo product (deterministic for its name and category)."""
    digest = hashlib.sha256(name.encode()).digest()
    hue = HUES.get(category, digest[0] / 255) + (digest[1] / 255 - 0.5) * 0.08
    background = _rgb(hue, 0.92, 0.45)
    colour = _rgb(hue + 0.02, 0.55 + digest[2] / 255 * 0.15, 0.45)
    accent = _rgb(hue + 0.5, 0.45, 0.35)
    image = Image.new("RGB", (SIZE, SIZE), background)
    draw = ImageDraw.Draw(image)
    draw.ellipse((110, 90, 610, 590), fill=_rgb(hue, 0.88, 0.4))  # a soft disc behind the drawing
    DRAWINGS.get(category, _draw_box)(draw, colour, accent)
    font_path = cjk_font_path()
    if font_path:
        font = ImageFont.truetype(font_path, 64)
        box = draw.textbbox((0, 0), name, font=font)
        width = box[2] - box[0]
        draw.text(((SIZE - width) / 2, 580), name, font=font, fill=_rgb(hue, 0.25, 0.3))
    else:  # no font for the name: a tidy shelf line instead
        draw.rounded_rectangle((200, 600, 520, 616), radius=8, fill=_rgb(hue, 0.8, 0.35))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()
