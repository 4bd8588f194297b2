"""The one home of small input rules every app shares: ids, idempotency keys, money in yuan and fen.

Each function takes raw input (from a form, JSON or a query string) and returns a clean value, or raises a
typed error from ``siyu.common.errors`` naming the field. None of them touches the database.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, overload

from django.utils.translation import gettext as _

from siyu.common.errors import NotFound, ValidationFailed

MAX_DB_ID = 2**63 - 1
MAX_KEY_LENGTH = 100
# Yuan as people type it: up to 9,999,999.99 (a bit under 10^9 fen); a "¥"/"￥" sign, full-width digits and
# a full-width comma or full stop as the decimal point (what a Chinese input method types) allowed.
_YUAN_RE = re.compile(r"^[0-9]{1,7}(\.[0-9]{1,2})?$")
_FULL_WIDTH = str.maketrans("０１２３４５６７８９，．", "0123456789..", "¥￥")


def parse_id(value: Any, field: str, message: str | None = None) -> int:
    """A positive database id from user input, or NotFound: a junk id names nothing that exists.

    Accepts an int or a string of digits; refuses booleans, floats, blanks and anything out of range.
    """
    text = message if message is not None else _("Not found.")
    if isinstance(value, bool | float):
        raise NotFound(text, field=field)
    if isinstance(value, str):
        value = value.strip()
        if not value.isascii() or not value.isdigit():
            raise NotFound(text, field=field)
    try:
        pk = int(value)
    except (TypeError, ValueError):
        raise NotFound(text, field=field) from None
    if not 0 < pk <= MAX_DB_ID:
        raise NotFound(text, field=field)
    return pk


def optional_id(value: Any, *, ints_only: bool = False) -> int | None:
    """An optional id or cursor from a query string or header: ``parse_id``'s value, or None when the value
    is absent or junk (a filter naming nothing is simply not applied). With ``ints_only`` only a real int
    counts (JSON numbers and service arguments: ``"1"`` is junk there)."""
    if value is None or value == "":
        return None
    if ints_only and (isinstance(value, bool) or not isinstance(value, int)):
        return None
    try:
        return parse_id(value, "id")
    except NotFound:
        return None


def parse_ids(value: Any, field: str, *, limit: int, message: str | None = None) -> list[int]:
    """A list of distinct positive ids (order kept), at most ``limit`` of them. ValidationFailed for a
    value that is not a list or is too long; NotFound (``parse_id``) for a junk id inside it."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValidationFailed(_("Give a list of ids."), field=field)
    if len(value) > limit:
        raise ValidationFailed(_("At most %(n)s at once.") % {"n": limit}, field=field)
    seen: dict[int, None] = {}
    for item in value:
        seen[parse_id(item, field, message)] = None
    return list(seen)


@overload
def clean_idempotency_key(value: Any, field: str = ..., *, required: Literal[True] = ...) -> str: ...
@overload
def clean_idempotency_key(value: Any, field: str = ..., *, required: bool) -> str | None: ...
def clean_idempotency_key(value: Any, field: str = "idempotency_key", *, required: bool = True) -> str | None:
    """A client's idempotency key: 1 to 100 printable ASCII characters, surrounding blanks dropped.

    None when absent (None) and not ``required``; ValidationFailed for a blank or malformed key. This is the
    only key validator: the API header, H5 forms, the flash-sale buy and service arguments all use it.
    """
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(_("An idempotency key is required."), field=field)
    key = value.strip()
    if len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ValidationFailed(
            _("An idempotency key has 1 to %(n)s printable ASCII characters.") % {"n": MAX_KEY_LENGTH},
            field=field,
        )
    return key


def yuan_to_fen(raw: Any, field: str, *, minimum: int = 0, maximum: int = 999_999_999) -> int:
    """``"9.9"`` → ``990``: a yuan amount with at most two decimals, converted exactly (no floats).

    Takes a string (a ``¥``/``￥`` sign, full-width digits and a full-width ``，`` or ``．`` tolerated), a
    Decimal or an int (whole yuan). ValidationFailed for anything else or outside ``minimum``…``maximum`` fen.
    """
    if isinstance(raw, bool | float):
        raise ValidationFailed(_("Give the amount in yuan, e.g. 9.90."), field=field)
    if isinstance(raw, int):
        raw = str(raw)
    if isinstance(raw, Decimal):
        if not raw.is_finite():
            raise ValidationFailed(_("Give the amount in yuan, e.g. 9.90."), field=field)
        raw = format(raw, "f")
    text = (raw if isinstance(raw, str) else "").translate(_FULL_WIDTH).strip()
    if not _YUAN_RE.match(text):
        raise ValidationFailed(_("Give the amount in yuan, e.g. 9.90."), field=field)
    try:
        fen = int(Decimal(text) * 100)
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        raise ValidationFailed(_("Give the amount in yuan, e.g. 9.90."), field=field) from None
    if not minimum <= fen <= maximum:
        raise ValidationFailed(
            _("Must be between %(low)s and %(high)s yuan.")
            % {"low": fen_to_yuan(minimum), "high": fen_to_yuan(maximum)},
            field=field,
        )
    return fen


def clean_text(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    """Text from a form or JSON, stripped: None is empty; not a string, a NUL character, blank when
    ``required`` or longer than ``limit`` characters is ValidationFailed."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(_("Expected text."), field=field)
    value = value.strip()
    if "\x00" in value:
        raise ValidationFailed(_("Invalid characters."), field=field)
    if required and not value:
        raise ValidationFailed(_("This field is required."), field=field)
    if len(value) > limit:
        raise ValidationFailed(_("Too long (%(limit)s characters at most).") % {"limit": limit}, field=field)
    return value


def clean_int(
    value: Any, field: str, low: int, high: int, message: str | None = None, *, from_text: bool = False
) -> int:
    """A whole number from JSON or a service argument: a real int (not bool, float or string) in
    ``low``…``high``; ValidationFailed otherwise (``message`` replaces the default wording). With
    ``from_text`` a string of digits (a form field) counts too."""
    if from_text and isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 20:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(message or _("Give a whole number."), field=field)
    if not low <= value <= high:
        raise ValidationFailed(
            message or _("Must be between %(low)s and %(high)s.") % {"low": low, "high": high}, field=field
        )
    return value


def clean_fen(value: Any, field: str, *, minimum: int = 0, maximum: int = 999_999_999) -> int:
    """An amount already in fen, as a real int (bool, float and strings hide rounding) within bounds."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(_("Give the amount as a whole number of fen."), field=field)
    if not minimum <= value <= maximum:
        raise ValidationFailed(
            _("Must be between %(low)s and %(high)s.") % {"low": minimum, "high": maximum}, field=field
        )
    return value


def fen_to_yuan(fen: int | None) -> str:
    """``3990`` → ``"39.90"``; ``-150`` → ``"-1.50"``; None → ``""`` (display only)."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def optional_aware_datetime(value: Any, field: str) -> datetime | None:
    """None for an empty value; an aware datetime as it is; an ISO 8601 string with its offset parsed.
    ValidationFailed on ``field`` for a naive datetime or anything else."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValidationFailed(_("Give a date and time with its time zone."), field=field)
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    raise ValidationFailed(_("Give a date and time, e.g. 2026-12-01T09:00+08:00."), field=field)
