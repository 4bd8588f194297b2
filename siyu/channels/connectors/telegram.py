"""Telegram groups through a bot (Bot API): posts, invite links, mute, remove, delete, webhook setup.

Protocol facts: /work/shared/specs/telegram.md. Every reply is ``{ok, result}`` or ``{ok: false, error_code,
description, parameters?}``; a 429 carries ``parameters.retry_after`` which the outbox honours.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from siyu.channels.connectors.base import Capability, ChannelConnector, ChannelError, RateLimit, Unsupported
from siyu.channels.models import Connector

DEFAULT_API_BASE = "https://api.telegram.org"
HTTP_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
TEXT_MAX = 4096  # UTF-16 code units, as Telegram counts them
INVITE_NAME_MAX = 32
MEMBER_LIMIT_MAX = 99_999
SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
# Permissions that a mute takes away (restrictChatMember).
MUTED_PERMISSIONS = {
    "can_send_messages": False,
    "can_send_audios": False,
    "can_send_documents": False,
    "can_send_photos": False,
    "can_send_videos": False,
    "can_send_video_notes": False,
    "can_send_voice_notes": False,
    "can_send_polls": False,
    "can_send_other_messages": False,
    "can_add_web_page_previews": False,
}


def truncate_utf16(text: str, limit: int = TEXT_MAX) -> str:
    """``text`` cut to ``limit`` UTF-16 code units without splitting a surrogate pair."""
    if len(text.encode("utf-16-le")) // 2 <= limit:
        return text
    out, units = [], 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        if units + width > limit - 1:
            break
        out.append(ch)
        units += width
    return "".join(out) + "…"


def _epoch(value: Any) -> int:
    """A unix time from an int, an aware datetime or an ISO 8601 string; 0 (forever) when empty."""
    if value in (None, "", 0):
        return 0
    if isinstance(value, int | float):
        return int(value)
    when = value if isinstance(value, datetime) else parse_datetime(str(value))
    if when is None:
        raise ChannelError(f"bad time {value!r}", retryable=False)
    if timezone.is_naive(when):
        when = timezone.make_aware(when)
    return int(when.timestamp())


class TelegramConnector(ChannelConnector):
    """One bot. Config keys: bot_token, webhook_secret, api_base, store_code."""

    kind = "telegram"
    capabilities = frozenset(
        {
            Capability.JOIN_LINK,
            Capability.POST_TEXT,
            Capability.POST_MARKDOWN,
            Capability.POST_CARD,
            Capability.MUTE,
            Capability.REMOVE_MEMBER,
            Capability.ANNOUNCE,
            Capability.RECEIVE_MEMBER_EVENTS,
            Capability.RECEIVE_MESSAGES,
        }
    )
    # ≤20 messages per minute to one group; ~30 messages per second overall (see overall_rate_limit).
    rate_limits = {"chat": RateLimit(20, 60.0)}
    overall_rate_limit = RateLimit(30, 1.0)

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.config: dict[str, Any] = dict(connector.config or {})
        self.api_base = str(self.config.get("api_base") or DEFAULT_API_BASE).rstrip("/")

    def rate_limit_for(self, prefix: str) -> RateLimit | None:
        return self.rate_limits.get(prefix)

    def bucket_for(self, action: str, payload: dict[str, Any]) -> str | None:
        if payload.get("chat_id") not in (None, ""):
            return f"chat:{payload['chat_id']}"
        return None

    def call(self, method: str, params: dict[str, Any]) -> Any:
        """One Bot API call; returns ``result`` or raises ChannelError (429 → retry_after)."""
        token = self.config.get("bot_token")
        if not token:
            raise ChannelError("Telegram connector lacks bot_token", retryable=False)
        url = f"{self.api_base}/bot{token}/{method}"
        try:
            with httpx.Client(timeout=HTTP_TIMEOUT) as client:
                response = client.post(url, json=params)
        except httpx.HTTPError as exc:
            raise ChannelError(f"Telegram unreachable: {exc.__class__.__name__}", retryable=True) from exc
        try:
            data = response.json()
        except ValueError as exc:
            raise ChannelError(
                f"Telegram answered non-JSON (HTTP {response.status_code})",
                retryable=response.status_code >= 500,
            ) from exc
        if isinstance(data, dict) and data.get("ok") is True:
            return data.get("result")
        data = data if isinstance(data, dict) else {}
        code = int(data.get("error_code") or response.status_code)
        parameters = data.get("parameters") or {}
        message = f"Telegram {method} failed: {code} {data.get('description', '')}".strip()
        if code == 429:
            retry_after = float(parameters.get("retry_after") or 1)
            raise ChannelError(message, retryable=True, retry_after=retry_after, code=code)
        if parameters.get("migrate_to_chat_id"):
            # The group became a supergroup with a new id; the caller must update the group's id.
            raise ChannelError(message, retryable=False, code=f"migrate:{parameters['migrate_to_chat_id']}")
        raise ChannelError(message, retryable=code >= 500, code=code)

    # --- methods --------------------------------------------------------------------------------
    def send_message(self, chat_id: int | str, text: str, **extra: Any) -> dict[str, Any]:
        if not text:
            raise ChannelError("empty message", retryable=False)
        return dict(self.call("sendMessage", {"chat_id": chat_id, "text": truncate_utf16(text), **extra}))

    def create_chat_invite_link(
        self,
        chat_id: int | str,
        *,
        name: str = "",
        member_limit: int | None = None,
        expire_date: int | None = None,
        creates_join_request: bool = False,
    ) -> dict[str, Any]:
        """An invite link; ``member_limit`` (1..99999) and ``creates_join_request`` exclude each other."""
        params: dict[str, Any] = {"chat_id": chat_id}
        if name:
            params["name"] = name[:INVITE_NAME_MAX]
        if expire_date:
            params["expire_date"] = int(expire_date)
        if member_limit is not None and creates_join_request:
            raise ChannelError("member_limit and creates_join_request are exclusive", retryable=False)
        if member_limit is not None:
            params["member_limit"] = max(1, min(int(member_limit), MEMBER_LIMIT_MAX))
        if creates_join_request:
            params["creates_join_request"] = True
        return dict(self.call("createChatInviteLink", params))

    def restrict_chat_member(self, chat_id: int | str, user_id: int, *, until_date: int = 0) -> bool:
        """Mute: no sending until ``until_date`` (0, or <30 s / >366 days away, means forever)."""
        params = {
            "chat_id": chat_id,
            "user_id": int(user_id),
            "permissions": dict(MUTED_PERMISSIONS),
            "until_date": int(until_date),
        }
        return bool(self.call("restrictChatMember", params))

    def ban_chat_member(
        self, chat_id: int | str, user_id: int, *, until_date: int = 0, revoke_messages: bool = False
    ) -> bool:
        params: dict[str, Any] = {"chat_id": chat_id, "user_id": int(user_id)}
        if until_date:
            params["until_date"] = int(until_date)
        if revoke_messages:
            params["revoke_messages"] = True
        return bool(self.call("banChatMember", params))

    def delete_message(self, chat_id: int | str, message_id: int) -> bool:
        return bool(self.call("deleteMessage", {"chat_id": chat_id, "message_id": int(message_id)}))

    def set_webhook(self, url: str, *, secret_token: str, allowed_updates: list[str] | None = None) -> bool:
        """Point the bot at our webhook; ``chat_member`` is requested so joins and leaves arrive."""
        if not SECRET_TOKEN_RE.fullmatch(secret_token or ""):
            raise ChannelError("secret_token must be 1-256 characters of A-Z a-z 0-9 _ -", retryable=False)
        params = {
            "url": url,
            "secret_token": secret_token,
            "allowed_updates": allowed_updates or ["message", "chat_member", "my_chat_member"],
        }
        return bool(self.call("setWebhook", params))

    # --- outbox entry point ---------------------------------------------------------------------
    @staticmethod
    def _post_text(payload: dict[str, Any]) -> str:
        if payload.get("text"):
            return str(payload["text"])
        if payload.get("markdown"):
            # Siyu's markdown is WeCom-flavoured; sent as plain text so nothing needs MarkdownV2 escaping.
            return str(payload["markdown"])
        card = payload.get("card") or {}
        if card:
            lines = [str(card.get(k) or "") for k in ("title", "description", "url")]
            return "\n".join(line for line in lines if line)
        if payload.get("image_b64"):
            raise Unsupported("the Telegram connector does not post images")
        raise ChannelError("nothing to post", retryable=False)

    def perform(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        chat_id = payload.get("chat_id")
        if chat_id in (None, ""):
            raise ChannelError("payload lacks chat_id", retryable=False)
        if action in ("post", "announce"):
            message = self.send_message(chat_id, self._post_text(payload))
            return {"message_id": message.get("message_id")}
        if action == "mute":
            until = _epoch(payload.get("until"))
            self.restrict_chat_member(chat_id, int(payload["user_id"]), until_date=until)
            return {"muted": True}
        if action == "remove":
            self.ban_chat_member(chat_id, int(payload["user_id"]))
            return {"removed": True}
        if action == "delete_message":
            self.delete_message(chat_id, int(payload["message_id"]))
            return {"deleted": True}
        if action == "invite_link":
            link = self.create_chat_invite_link(
                chat_id, name=str(payload.get("name") or ""), member_limit=payload.get("member_limit")
            )
            return {"invite_link": link.get("invite_link")}
        raise Unsupported(f"Telegram connector cannot {action}")
