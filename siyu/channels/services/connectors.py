"""Configuring channel connectors (WeCom apps, Telegram bots): validated, so a bad key fails here, not at
the first callback."""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from siyu.channels.connectors.telegram import DEFAULT_API_BASE as TELEGRAM_API_BASE
from siyu.channels.connectors.telegram import SECRET_TOKEN_RE
from siyu.channels.connectors.wecom import DEFAULT_API_BASE as WECOM_API_BASE
from siyu.channels.connectors.wecom import DEFAULT_MASS_QUOTA, MASS_QUOTA_RULES
from siyu.channels.models import ChannelKind, Connector
from siyu.channels.wecom_crypto import WeComCryptoError, decode_aes_key
from siyu.common.errors import ValidationFailed
from siyu.org.models import Store
from siyu.org.services.brand import current_brand_id

_TOKEN_RE = re.compile(r"[A-Za-z0-9]{3,32}")
_BOT_TOKEN_RE = re.compile(r"\d{3,20}:[A-Za-z0-9_-]{20,100}")
_PLAIN_RE = re.compile(r"[A-Za-z0-9_.@-]{1,128}")


def _required(value: Any, field: str) -> str:
    text = str(value or "").strip()
    if not text:
        raise ValidationFailed(_("This field is required."), field=field)
    return text


def _api_base(value: Any, default: str) -> str:
    base = str(value or default).strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationFailed(_("Enter an http(s) URL."), field="api_base")
    return base


def _store_code(value: Any) -> str:
    code = str(value or "").strip()
    if code and not Store.objects.filter(code=code).exists():
        raise ValidationFailed(_("No store has this code."), field="store")
    return code


def add_wecom_connector(
    *,
    corp_id: str,
    corp_secret: str,
    token: str,
    aes_key: str,
    agent_id: str = "",
    api_base: str = "",
    store_code: str = "",
    mass_quota: str = "",
    name: str = "",
) -> Connector:
    """Create a WeCom connector after checking every input (corp id and secret present; callback token of
    3–32 letters/digits; EncodingAESKey of 43 characters decoding to 32 bytes; API base an http(s) URL;
    store code, if given, an existing store; mass-message quota one of ``days_in_month`` (default),
    ``7_per_week``, ``1_per_day`` or a number per month). No robot key: no robot can join a customer group
    (a store's internal staff-group robot is configured per store). Raises ValidationFailed with the field,
    creating nothing."""
    corp_id = _required(corp_id, "corp_id")
    if not _PLAIN_RE.fullmatch(corp_id):
        raise ValidationFailed(_("The corp ID has unexpected characters."), field="corp_id")
    corp_secret = _required(corp_secret, "corp_secret")
    token = _required(token, "token")
    if not _TOKEN_RE.fullmatch(token):
        raise ValidationFailed(_("The callback token must be 3 to 32 letters or digits."), field="token")
    aes_key = _required(aes_key, "aes_key")
    try:
        decode_aes_key(aes_key)
    except WeComCryptoError:
        raise ValidationFailed(
            _("The EncodingAESKey must be 43 characters that decode to 32 bytes."), field="aes_key"
        ) from None
    agent_id = str(agent_id or "").strip()
    if agent_id and not agent_id.isdigit():
        raise ValidationFailed(_("The agent ID is a number."), field="agent_id")
    mass_quota = str(mass_quota or "").strip()
    if (
        mass_quota
        and mass_quota not in MASS_QUOTA_RULES
        and not (mass_quota.isdigit() and int(mass_quota) > 0)
    ):
        raise ValidationFailed(
            _("The mass-message quota is days_in_month, 7_per_week, 1_per_day or a number per month."),
            field="mass_quota",
        )
    config = {
        "corp_id": corp_id,
        "corp_secret": corp_secret,
        "token": token,
        "aes_key": aes_key,
        "agent_id": agent_id,
        "api_base": _api_base(api_base, WECOM_API_BASE),
        "store_code": _store_code(store_code),
        "mass_quota": mass_quota or DEFAULT_MASS_QUOTA,
    }
    with transaction.atomic():
        return Connector.objects.create(
            brand_id=current_brand_id(),
            kind=ChannelKind.WECOM,
            name=(name or f"WeCom {corp_id}")[:100],
            config=config,
        )


def add_telegram_connector(
    *,
    bot_token: str,
    webhook_secret: str = "",
    api_base: str = "",
    store_code: str = "",
    name: str = "",
) -> Connector:
    """Create a Telegram connector (bot token as BotFather gives it; webhook secret 1–256 of A-Z a-z 0-9 _ -,
    generated when empty). Raises ValidationFailed with the field, creating nothing."""
    bot_token = _required(bot_token, "bot_token")
    if not _BOT_TOKEN_RE.fullmatch(bot_token):
        raise ValidationFailed(_("This does not look like a bot token (123456:ABC…)."), field="bot_token")
    webhook_secret = str(webhook_secret or "").strip() or secrets.token_urlsafe(32)
    if not SECRET_TOKEN_RE.fullmatch(webhook_secret):
        raise ValidationFailed(
            _("The webhook secret must be 1 to 256 letters, digits, _ or -."), field="webhook_secret"
        )
    config = {
        "bot_token": bot_token,
        "webhook_secret": webhook_secret,
        "api_base": _api_base(api_base, TELEGRAM_API_BASE),
        "store_code": _store_code(store_code),
    }
    with transaction.atomic():
        return Connector.objects.create(
            brand_id=current_brand_id(),
            kind=ChannelKind.TELEGRAM,
            name=(name or f"Telegram bot {bot_token.split(':', 1)[0]}")[:100],
            config=config,
        )


def callback_path(connector: Connector) -> str:
    """The path WeCom / Telegram must call for this connector (under /hooks/)."""
    name = "hooks:wecom" if connector.kind == ChannelKind.WECOM else "hooks:telegram"
    return reverse(name, args=[connector.pk])


def callback_url(connector: Connector, base_url: str) -> str:
    return base_url.rstrip("/") + callback_path(connector)
