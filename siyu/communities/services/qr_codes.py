"""Whether a picture shows a QR code, for the group rule against QR images (contact and spam codes).

Detection is ZXing's (the ``zxing-cpp`` package): it finds and decodes QR codes (also Micro QR and rMQR)
anywhere in a photo, rotated or in perspective. It takes tens of milliseconds on a chat-sized picture, so
callers run it *before* they open a write transaction (check first, then write): a database lock is never
held while a picture is decoded.

A code too damaged to decode is not reported; neither can a phone's scanner read it.
"""

from __future__ import annotations

import io
import logging

import zxingcpp
from PIL import Image, UnidentifiedImageError

logger = logging.getLogger("siyu.communities")

MAX_IMAGE_BYTES = 10 * 1024 * 1024
# Larger pictures are scaled down first: a code a phone can scan at this size is still found, and decoding
# time stays bounded. Chat pictures are already at most 2560 px (``messages.MAX_IMAGE_SIDE``).
MAX_SIDE = 2560
MAX_PIXELS = 40_000_000
_QR_FORMATS = zxingcpp.BarcodeFormats(
    [zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.MicroQRCode, zxingcpp.BarcodeFormat.RMQRCode]
)


def contains_qr_code(data: bytes) -> bool:
    """True when the picture ``data`` (any format Pillow reads) shows a readable QR code.

    Empty, oversized (over 10 MB or 40 megapixels) and unreadable data is False: pictures are checked for
    what they are elsewhere (``messages.clean_image``); this only answers the question it is asked.
    """
    if not data or len(data) > MAX_IMAGE_BYTES:
        return False
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                return False
            opened.draft("L", (MAX_SIDE, MAX_SIDE))
            gray = opened.convert("L")
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError, SyntaxError):
        return False
    gray.thumbnail((MAX_SIDE, MAX_SIDE))
    try:
        found = zxingcpp.read_barcodes(gray, formats=_QR_FORMATS)
    except (ValueError, RuntimeError):
        logger.warning("qr_codes: the decoder refused a %sx%s picture", *gray.size)
        return False
    return bool(found)
