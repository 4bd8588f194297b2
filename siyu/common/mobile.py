"""Mainland China mobile numbers: validation, normalisation and masking."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

from siyu.common.errors import ValidationFailed

_MOBILE_RE = re.compile(r"1[3-9]\d{9}")
_STRIP_RE = re.compile(r"[\s\-().]")


def normalize_mobile(raw: object, *, field: str = "mobile") -> str:
    """Return the 11-digit form of a mainland mobile number, or raise ValidationFailed.

    Accepts spaces, dashes, dots and brackets, and a ``+86``/``0086``/``86`` prefix.
    """
    if raw is None:
        raise ValidationFailed(_("Mobile number is required."), field=field)
    text = str(raw).strip()
    if text.endswith(".0") and text[:-2].isdigit():  # numbers read from spreadsheets as floats
        text = text[:-2]
    text = _STRIP_RE.sub("", text)
    for prefix in ("+86", "0086"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    else:
        if len(text) == 13 and text.startswith("86"):
            text = text[2:]
    if not _MOBILE_RE.fullmatch(text):
        raise ValidationFailed(_("Not a valid mainland China mobile number."), field=field)
    return text


def mask_mobile(mobile: str | None) -> str:
    """``13812341234`` → ``138****1234``; empty for no number (e.g. an erased member)."""
    if not mobile:
        return ""
    if len(mobile) < 7:
        return "*" * len(mobile)
    return f"{mobile[:3]}****{mobile[-4:]}"
