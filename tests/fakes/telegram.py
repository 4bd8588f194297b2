"""Fake Telegram Bot API: ``/bot<token>/<method>`` with the ``{ok, result}`` envelope, checking parameters
as documented in /work/shared/specs/telegram.md, plus injected 429s carrying ``parameters.retry_after``."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.fakes import FakeServer, RecordedRequest, Reply

BOT_TOKEN = "123456789:AAFakeBotTokenForSiyuTests_0123456789"
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


class TelegramBadRequest(Exception):
    pass


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise TelegramBadRequest(message)


class FakeTelegram(FakeServer):
    def __init__(self, token: str = BOT_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.throttle: list[int] = []  # retry_after values for the next calls (429 each)
        self.sent: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] = {}
        self._message_id = 100

    def calls(self, method: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/" + method)]

    def handle(self, req: RecordedRequest) -> Reply:
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", req.path)
        if match is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        if match.group(1) != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        if self.throttle:
            retry_after = self.throttle.pop(0)
            return 429, {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            }
        params: dict[str, Any] = req.form or (req.json() if req.body else {})
        method = getattr(self, "m_" + match.group(2), None)
        if method is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
        try:
            result = method(params)
        except TelegramBadRequest as exc:
            return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"}
        return 200, {"ok": True, "result": result}

    @staticmethod
    def _chat(params: dict[str, Any]) -> Any:
        chat_id = params.get("chat_id")
        _need(isinstance(chat_id, int | str) and chat_id != "", "chat_id is empty")
        return chat_id

    def m_sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(p)
        text = p.get("text")
        _need(
            isinstance(text, str) and 1 <= len(text.encode("utf-16-le")) // 2 <= 4096,
            "message text is empty or too long",
        )
        self._message_id += 1
        self.sent.append({"chat_id": chat_id, "text": text})
        return {
            "message_id": self._message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "supergroup", "title": "group"},
            "text": text,
        }

    def m_createChatInviteLink(self, p: dict[str, Any]) -> dict[str, Any]:
        self._chat(p)
        _need(len(str(p.get("name", ""))) <= 32, "invite link name is too long")
        if "member_limit" in p:
            _need(isinstance(p["member_limit"], int) and 1 <= p["member_limit"] <= 99999, "bad member_limit")
            _need(not p.get("creates_join_request"), "member_limit and creates_join_request are exclusive")
        link = {
            "invite_link": f"https://t.me/+fake{self._message_id}",
            "creator": {"id": 1, "is_bot": True, "first_name": "bot"},
            "creates_join_request": bool(p.get("creates_join_request")),
            "is_primary": False,
            "is_revoked": False,
        }
        for key in ("name", "expire_date", "member_limit"):
            if key in p:
                link[key] = p[key]
        return link

    def m_restrictChatMember(self, p: dict[str, Any]) -> bool:
        self._chat(p)
        _need(isinstance(p.get("user_id"), int), "user_id must be an integer")
        _need(isinstance(p.get("permissions"), dict), "permissions required")
        _need(isinstance(p.get("until_date", 0), int), "until_date must be an integer")
        return True

    def m_banChatMember(self, p: dict[str, Any]) -> bool:
        self._chat(p)
        _need(isinstance(p.get("user_id"), int), "user_id must be an integer")
        return True

    def m_deleteMessage(self, p: dict[str, Any]) -> bool:
        self._chat(p)
        _need(isinstance(p.get("message_id"), int), "message_id must be an integer")
        return True

    def m_setWebhook(self, p: dict[str, Any]) -> bool:
        _need(str(p.get("url", "")).startswith(("https://", "http://")), "bad webhook url")
        _need(bool(SECRET_RE.fullmatch(str(p.get("secret_token", "")))), "bad secret_token")
        self.webhook = dict(p)
        return True
