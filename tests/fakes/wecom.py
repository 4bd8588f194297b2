"""Fake WeCom server API (gettoken, customer groups, join ways, mass messages and their results, reminders
and cancellation, the group robot webhook, app messages to staff, group welcome templates, JS-SDK tickets
and OAuth) and a builder of callbacks signed and encrypted like WeCom's.

Mass messages to groups wait for their sender like the real client: nothing is "sent" until the test calls
``confirm(msgid)`` (the owner tapped send), optionally with per-group outcomes (2 not a friend, 3 already
received one). The robot webhook accepts only keys registered as *internal* staff-group robots
(``internal_robot_keys``); any other key is refused and recorded in ``violations`` — no robot can be in a
customer group, so a test asserts ``fake.violations == []``.

The server checks our requests against /work/shared/specs/wecom.md (required fields, types, limits) and
answers errcode 40058 when one is wrong, so a test passing means the request was well-formed. The callback
crypto here is written independently of ``siyu.channels.wecom_crypto`` (cryptography's PKCS7 padder with a
256-bit block instead of a hand-written routine) so the two check each other.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import struct
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.fakes import FakeServer, RecordedRequest, Reply

CORP_ID = "wwfakecorp0000001"
CORP_SECRET = "fake-corp-secret-0000000000000000000000"
CALLBACK_TOKEN = "SiyuFakeToken42"
# 43 characters, decoding (with "=") to 32 bytes.
AES_KEY = base64.b64encode(bytes(range(1, 33))).decode().rstrip("=")
ROBOT_KEY = "robot-key-0001"  # registered as a store's internal staff-group robot
ROBOT_PER_MINUTE = 20
# Sidebar (helper "sidebar"): GET endpoints for JS-SDK tickets and web OAuth.
SIDEBAR_GET_PATHS = frozenset(
    {"/cgi-bin/get_jsapi_ticket", "/cgi-bin/ticket/get", "/cgi-bin/auth/getuserinfo"}
)


def _bytes(value: Any) -> int:
    return len(str(value).encode("utf-8"))


class BadRequest(Exception):
    def __init__(self, message: str, errcode: int = 40058) -> None:
        super().__init__(message)
        self.errcode = errcode


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise BadRequest(message)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class FakeWeCom(FakeServer):
    """Stateful fake. ``clock`` (seconds) drives the robot's per-minute window; tests may replace it."""

    def __init__(self, corp_id: str = CORP_ID, corp_secret: str = CORP_SECRET) -> None:
        super().__init__()
        self.corp_id, self.corp_secret = corp_id, corp_secret
        self.tokens: dict[str, bool] = {}  # token -> still valid
        self.groups: dict[str, dict[str, Any]] = {}
        self.join_ways: dict[str, dict[str, Any]] = {}
        self.internal_robot_keys: set[str] = {ROBOT_KEY}
        self.robot_log: dict[str, list[float]] = {}
        self.robot_messages: list[dict[str, Any]] = []
        self.violations: list[str] = []  # robot webhook calls with a key that is no internal robot's
        self.mass_messages: list[dict[str, Any]] = []
        self.mass: dict[str, dict[str, Any]] = {}  # msgid -> sender, chats {chat_id: status}, send_time…
        self.refuse_chats: set[str] = set()  # chat ids add_msg_template puts in fail_list
        self.page_size: int | None = None  # cap on result pages (to exercise cursors)
        self.clock: Callable[[], float] = time.time
        self.fail_next: list[int] = []  # errcodes to answer to the next API calls (not gettoken)
        # App messages (message/send) and group welcome templates.
        self.agent_id = 1000002
        self.app_messages: list[dict[str, Any]] = []
        self.app_log: dict[str, list[float]] = {}  # userid -> send times (per-member limits)
        self.app_dropped: list[tuple[str, str]] = []  # (userid, title) over WeCom's per-member limits
        self.welcome_templates: dict[str, dict[str, Any]] = {}
        self._init_sidebar()  # JS-SDK tickets and OAuth (sidebar block below)

    # --- test helpers ---------------------------------------------------------------------------
    def add_group(self, chat_id: str, name: str, *, owner: str = "staff01") -> dict[str, Any]:
        group = {
            "chat_id": chat_id,
            "name": name,
            "owner": owner,
            "create_time": int(time.time()),
            "notice": "",
            "admin_list": [],
            "member_version": "v1",
            "member_list": [
                {
                    "userid": owner,
                    "type": 1,
                    "join_time": int(time.time()),
                    "join_scene": 1,
                    "group_nickname": "",
                }
            ],
        }
        self.groups[chat_id] = group
        return group

    def add_member(
        self, chat_id: str, userid: str, *, unionid: str = "", state: str = "", name: str = ""
    ) -> None:
        entry: dict[str, Any] = {
            "userid": userid,
            "type": 2,
            "join_time": int(time.time()),
            "join_scene": 3,
            "group_nickname": "",
            "name": name or userid,
        }
        if unionid:
            entry["unionid"] = unionid
        if state:
            entry["state"] = state
        group = self.groups[chat_id]
        group["member_list"].append(entry)
        group["member_version"] = secrets.token_hex(4)

    def remove_member(self, chat_id: str, userid: str) -> None:
        group = self.groups[chat_id]
        group["member_list"] = [m for m in group["member_list"] if m["userid"] != userid]
        group["member_version"] = secrets.token_hex(4)

    def expire_tokens(self) -> None:
        for token in self.tokens:
            self.tokens[token] = False

    def confirm(self, msgid: str, *, outcomes: dict[str, int] | None = None, at: int | None = None) -> None:
        """The owner sends mass message ``msgid`` in the client: each group becomes 1 (sent), or the status
        in ``outcomes`` (2 not a friend, 3 already received another mass message)."""
        task = self.mass[msgid]
        assert not task["cancelled"], "a cancelled mass message cannot be sent"
        when = at or int(time.time())
        task["sent"], task["send_time"] = True, when
        for chat_id in task["chats"]:
            task["chats"][chat_id] = (outcomes or {}).get(chat_id, 1)

    def mass_of(self, sender: str) -> list[dict[str, Any]]:
        """The mass messages created with ``sender``, oldest first."""
        return [m for m in self.mass.values() if m["sender"] == sender]

    def calls(self, path_suffix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith(path_suffix)]

    # --- dispatch -------------------------------------------------------------------------------
    @staticmethod
    def _err(errcode: int, errmsg: str) -> Reply:
        return 200, {"errcode": errcode, "errmsg": f"{errmsg}, hint: [{secrets.token_hex(4)}]"}

    def handle(self, req: RecordedRequest) -> Reply:
        path = req.path
        if path == "/cgi-bin/gettoken":
            return self._gettoken(req)
        if path == "/cgi-bin/webhook/send":
            return self._guard(lambda: self._robot(req))
        if path in SIDEBAR_GET_PATHS:
            return self._sidebar_get(req)
        handlers = {
            "/cgi-bin/externalcontact/groupchat/list": self._groupchat_list,
            "/cgi-bin/externalcontact/groupchat/get": self._groupchat_get,
            "/cgi-bin/externalcontact/groupchat/add_join_way": self._add_join_way,
            "/cgi-bin/externalcontact/groupchat/get_join_way": self._get_join_way,
            "/cgi-bin/externalcontact/groupchat/update_join_way": self._update_join_way,
            "/cgi-bin/externalcontact/groupchat/del_join_way": self._del_join_way,
            "/cgi-bin/externalcontact/add_msg_template": self._add_msg_template,
            **self._staff_handlers(),
            "/cgi-bin/externalcontact/get_groupmsg_task": self._get_groupmsg_task,
            "/cgi-bin/externalcontact/get_groupmsg_send_result": self._get_groupmsg_send_result,
            "/cgi-bin/externalcontact/remind_groupmsg_send": self._remind_groupmsg_send,
            "/cgi-bin/externalcontact/cancel_groupmsg_send": self._cancel_groupmsg_send,
        }
        handler = handlers.get(path)
        if handler is None:
            return 404, {"errcode": 404, "errmsg": "not found"}
        token = req.query.get("access_token")
        if not token:
            return self._err(41001, "access_token missing")
        if token not in self.tokens:
            return self._err(40014, "invalid access_token")
        if not self.tokens[token]:
            return self._err(42001, "access_token expired")
        if req.method != "POST":
            return self._err(40058, "POST required")
        if self.fail_next:
            return self._err(self.fail_next.pop(0), "injected failure")
        try:
            body = req.json()
        except ValueError:
            return self._err(40058, "body is not JSON")
        if not isinstance(body, dict):
            return self._err(40058, "body is not an object")
        return self._guard(lambda: handler(body))

    def _guard(self, fn: Callable[[], dict[str, Any]]) -> Reply:
        try:
            result = fn()
        except BadRequest as exc:
            return self._err(exc.errcode, str(exc))
        return 200, {"errcode": 0, "errmsg": "ok", **result}

    def _gettoken(self, req: RecordedRequest) -> Reply:
        if req.method != "GET":
            return self._err(40058, "GET required")
        if req.query.get("corpid") != self.corp_id:
            return self._err(40013, "invalid corpid")
        if req.query.get("corpsecret") != self.corp_secret:
            return self._err(40001, "invalid secret")
        token = secrets.token_urlsafe(32)
        self.tokens[token] = True
        return 200, {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}

    # --- customer groups ------------------------------------------------------------------------
    def _groupchat_list(self, body: dict[str, Any]) -> dict[str, Any]:
        _need(_is_int(body.get("limit")) and 1 <= body["limit"] <= 1000, "limit must be 1..1000")
        _need(body.get("status_filter", 0) in (0, 1, 2, 3), "status_filter must be 0..3")
        owner = body.get("owner_filter")
        if owner is not None:
            ids = owner.get("userid_list") if isinstance(owner, dict) else None
            _need(isinstance(ids, list) and len(ids) <= 100, "owner_filter.userid_list must be ≤100")
        ids = sorted(self.groups)
        start = int(body.get("cursor") or 0)
        page = ids[start : start + body["limit"]]
        nxt = str(start + body["limit"]) if start + body["limit"] < len(ids) else ""
        return {"group_chat_list": [{"chat_id": c, "status": 0} for c in page], "next_cursor": nxt}

    def _groupchat_get(self, body: dict[str, Any]) -> dict[str, Any]:
        chat_id = body.get("chat_id")
        _need(isinstance(chat_id, str) and bool(chat_id), "chat_id required")
        _need(body.get("need_name", 0) in (0, 1), "need_name must be 0 or 1")
        group = self.groups.get(chat_id)
        if group is None:
            raise BadRequest("invalid chat_id", 40050)
        result = dict(group)
        if not body.get("need_name"):
            result["member_list"] = [
                {k: v for k, v in m.items() if k != "name"} for m in group["member_list"]
            ]
        return {"group_chat": result}

    # --- join ways ------------------------------------------------------------------------------
    def _check_join_way(self, body: dict[str, Any]) -> None:
        _need(body.get("scene") in (1, 2), "scene must be 1 or 2")
        _need(len(str(body.get("remark", ""))) <= 30, "remark longer than 30 characters")
        _need(body.get("auto_create_room", 1) in (0, 1), "auto_create_room must be 0 or 1")
        _need(len(str(body.get("room_base_name", ""))) <= 40, "room_base_name longer than 40 characters")
        if "room_base_id" in body:
            _need(_is_int(body["room_base_id"]), "room_base_id must be an integer")
        chats = body.get("chat_id_list")
        _need(isinstance(chats, list) and 1 <= len(chats) <= 5, "chat_id_list must have 1..5 ids")
        _need(all(isinstance(c, str) and c in self.groups for c in chats), "unknown chat id in chat_id_list")
        _need(len(str(body.get("state", ""))) <= 30, "state longer than 30 characters")

    def _add_join_way(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_join_way(body)
        config_id = secrets.token_hex(16)
        way = {
            k: body.get(k) for k in ("scene", "remark", "auto_create_room", "room_base_name", "room_base_id")
        }
        way.update(config_id=config_id, chat_id_list=list(body["chat_id_list"]), state=body.get("state", ""))
        if body["scene"] == 2:
            way["qr_code"] = f"https://wework.qpic.cn/wwpic/fake/{config_id}/0"
        self.join_ways[config_id] = way
        return {"config_id": config_id}

    def _get_join_way(self, body: dict[str, Any]) -> dict[str, Any]:
        way = self.join_ways.get(body.get("config_id"))  # type: ignore[arg-type]
        if way is None:
            raise BadRequest("invalid config_id", 41044)
        return {"join_way": dict(way)}

    def _update_join_way(self, body: dict[str, Any]) -> dict[str, Any]:
        way = self.join_ways.get(body.get("config_id"))  # type: ignore[arg-type]
        if way is None:
            raise BadRequest("invalid config_id", 41044)
        self._check_join_way(body)
        way.update({k: v for k, v in body.items() if k != "config_id"})
        return {}

    def _del_join_way(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.join_ways.pop(body.get("config_id"), None) is None:  # type: ignore[arg-type]
            raise BadRequest("invalid config_id", 41044)
        return {}

    # --- mass messages --------------------------------------------------------------------------
    def _add_msg_template(self, body: dict[str, Any]) -> dict[str, Any]:
        _need(body.get("chat_type", "single") in ("single", "group"), "chat_type must be single or group")
        if body.get("chat_type") == "group":
            _need(isinstance(body.get("sender"), str) and bool(body["sender"]), "sender required for group")
            chats = body.get("chat_id_list")
            if chats is not None:
                _need(isinstance(chats, list) and len(chats) <= 2000, "chat_id_list ≤2000")
        else:
            ids = body.get("external_userid")
            _need(isinstance(ids, list) and len(ids) <= 10000, "external_userid ≤10000")
        text = body.get("text")
        if text is not None:
            _need(
                isinstance(text, dict) and _bytes(text.get("content", "")) <= 4000,
                "text.content > 4000 bytes",
            )
        attachments = body.get("attachments", [])
        _need(isinstance(attachments, list) and len(attachments) <= 9, "at most 9 attachments")
        _need(bool(text) or bool(attachments), "text or attachments required")
        for a in attachments:
            kind = a.get("msgtype")
            _need(kind in ("image", "link", "miniprogram", "video", "file"), "bad attachment msgtype")
            if kind == "link":
                _need(_bytes(a["link"].get("title", "")) <= 128, "link title > 128 bytes")
                _need(_bytes(a["link"].get("desc", "")) <= 512, "link desc > 512 bytes")
                _need(bool(a["link"].get("url")), "link url required")
        msgid = "msg" + secrets.token_hex(8)
        self.mass_messages.append({**body, "msgid": msgid})
        fail_list: list[str] = []
        if body.get("chat_type") == "group":
            chats: dict[str, int] = {}
            for chat_id in body.get("chat_id_list") or []:
                group = self.groups.get(chat_id)
                # WeCom sends a group mass message only to groups the sender owns.
                if chat_id in self.refuse_chats or group is None or group["owner"] != body["sender"]:
                    fail_list.append(chat_id)
                else:
                    chats[chat_id] = 0
            self.mass[msgid] = {
                "msgid": msgid,
                "sender": body["sender"],
                "chats": chats,
                "body": body,
                "sent": False,
                "send_time": 0,
                "cancelled": False,
                "reminders": [],
                "created": self.clock(),
            }
        return {"fail_list": fail_list, "msgid": msgid}

    def _page(self, items: list[dict[str, Any]], body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        limit = body.get("limit", 500)
        _need(_is_int(limit) and 1 <= limit <= 1000, "limit must be 1..1000")
        size = min(limit, self.page_size or limit)
        cursor = body.get("cursor") or ""
        _need(cursor == "" or (isinstance(cursor, str) and cursor.isdigit()), "bad cursor")
        start = int(cursor or 0)
        page = items[start : start + size]
        return page, (str(start + size) if start + size < len(items) else "")

    def _task(self, body: dict[str, Any]) -> dict[str, Any]:
        msgid = body.get("msgid")
        _need(isinstance(msgid, str) and bool(msgid), "msgid required")
        task = self.mass.get(msgid)  # type: ignore[arg-type]
        if task is None:
            raise BadRequest("invalid msgid", 41062)
        return task

    def _get_groupmsg_task(self, body: dict[str, Any]) -> dict[str, Any]:
        task = self._task(body)
        row: dict[str, Any] = {"userid": task["sender"], "status": 2 if task["sent"] else 0}
        if task["sent"]:
            row["send_time"] = task["send_time"]
        page, cursor = self._page([row], body)
        return {"task_list": page, "next_cursor": cursor}

    def _get_groupmsg_send_result(self, body: dict[str, Any]) -> dict[str, Any]:
        task = self._task(body)
        _need(isinstance(body.get("userid"), str) and bool(body["userid"]), "userid required")
        rows: list[dict[str, Any]] = []
        if body["userid"] == task["sender"]:
            for chat_id, status in sorted(task["chats"].items()):
                row = {"chat_id": chat_id, "userid": task["sender"], "status": status}
                if status == 1:
                    row["send_time"] = task["send_time"]
                rows.append(row)
        page, cursor = self._page(rows, body)
        return {"send_list": page, "next_cursor": cursor}

    def _remind_groupmsg_send(self, body: dict[str, Any]) -> dict[str, Any]:
        task = self._task(body)
        now = self.clock()
        recent = [t for t in task["reminders"] if t > now - 86400]
        if len(recent) >= 3:
            raise BadRequest("remind at most 3 times per 24 h", 45009)
        task["reminders"].append(now)
        return {}

    def _cancel_groupmsg_send(self, body: dict[str, Any]) -> dict[str, Any]:
        task = self._task(body)
        task["cancelled"] = True
        return {}

    # --- robot ----------------------------------------------------------------------------------
    def _robot(self, req: RecordedRequest) -> dict[str, Any]:
        key = req.query.get("key", "")
        if key not in self.internal_robot_keys:
            # No robot can be added to a customer group: any other key is a Siyu bug, recorded.
            self.violations.append(f"robot webhook call with key {key!r}, not an internal staff-group robot")
            raise BadRequest("invalid webhook url", 93000)
        _need(req.method == "POST", "POST required")
        try:
            body = req.json()
        except ValueError:
            raise BadRequest("body is not JSON") from None
        kind = body.get("msgtype")
        if kind == "text":
            content = body.get("text", {}).get("content")
            _need(
                isinstance(content, str) and 0 < _bytes(content) <= 2048, "text.content must be 1..2048 bytes"
            )
            for field in ("mentioned_list", "mentioned_mobile_list"):
                if field in body["text"]:
                    _need(isinstance(body["text"][field], list), f"{field} must be a list")
        elif kind == "markdown":
            content = body.get("markdown", {}).get("content")
            _need(isinstance(content, str) and 0 < _bytes(content) <= 4096, "markdown.content 1..4096 bytes")
        elif kind == "image":
            image = body.get("image", {})
            try:
                raw = base64.b64decode(image.get("base64", ""), validate=True)
            except ValueError:
                raise BadRequest("image.base64 invalid") from None
            _need(0 < len(raw) <= 2 * 1024 * 1024, "image must be ≤2 MB")
            _need(hashlib.md5(raw).hexdigest() == image.get("md5"), "image.md5 mismatch")  # noqa: S324 - the protocol's own checksum/signature
        elif kind == "news":
            articles = body.get("news", {}).get("articles")
            _need(isinstance(articles, list) and 1 <= len(articles) <= 8, "news.articles must have 1..8")
            for a in articles:
                _need(0 < _bytes(a.get("title", "")) <= 128, "article title 1..128 bytes")
                _need(_bytes(a.get("description", "")) <= 512, "article description ≤512 bytes")
                _need(bool(a.get("url")), "article url required")
        else:
            raise BadRequest("invalid msgtype", 40008)
        now = self.clock()
        window = [t for t in self.robot_log.get(key, []) if t > now - 60]
        if len(window) >= ROBOT_PER_MINUTE:
            self.robot_log[key] = window
            raise BadRequest("api freq out of limit", 45009)
        self.robot_log[key] = [*window, now]
        self.robot_messages.append({"key": key, "at": now, **body})
        return {}

    # --- app messages (message/send) -------------------------------------------------------------
    APP_PER_MINUTE = 30
    APP_PER_HOUR = 1000

    def _staff_handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        base = "/cgi-bin/externalcontact/group_welcome_template"
        return {
            "/cgi-bin/message/send": self._message_send,
            f"{base}/add": self._welcome_add,
            f"{base}/edit": self._welcome_edit,
            f"{base}/get": self._welcome_get,
            f"{base}/del": self._welcome_del,
        }

    def _message_send(self, body: dict[str, Any]) -> dict[str, Any]:
        _need(body.get("agentid") == self.agent_id, "agentid must be the app's AgentId (an integer)")
        touser = body.get("touser")
        _need(isinstance(touser, str) and bool(touser), "touser required")
        users = touser.split("|")
        _need(len(users) <= 1000, "touser ≤1000")
        kind = body.get("msgtype")
        if kind == "textcard":
            card = body.get("textcard")
            _need(isinstance(card, dict), "textcard required")
            _need(0 < _bytes(card.get("title", "")) <= 128, "textcard.title 1..128 bytes")
            _need(0 < _bytes(card.get("description", "")) <= 512, "textcard.description 1..512 bytes")
            _need(str(card.get("url", "")).startswith(("http://", "https://", "/")), "textcard.url required")
            _need(len(str(card.get("btntxt", ""))) <= 4, "textcard.btntxt ≤4 characters")
        elif kind == "text":
            _need(bool(body.get("text", {}).get("content")), "text.content required")
        else:
            raise BadRequest("invalid msgtype", 40008)
        _need(body.get("enable_duplicate_check", 0) in (0, 1), "enable_duplicate_check must be 0 or 1")
        now = self.clock()
        # WeCom accepts the call but silently drops a member's messages beyond the per-member limits.
        for user in users:
            times = [t for t in self.app_log.get(user, []) if t > now - 3600]
            if (
                len(times) >= self.APP_PER_HOUR
                or len([t for t in times if t > now - 60]) >= self.APP_PER_MINUTE
            ):
                self.app_dropped.append((user, str((body.get("textcard") or {}).get("title", ""))))
            else:
                times.append(now)
            self.app_log[user] = times
        msgid = "app" + secrets.token_hex(8)
        self.app_messages.append({**body, "msgid": msgid, "at": now})
        return {"invaliduser": "", "invalidparty": "", "invalidtag": "", "unlicenseduser": "", "msgid": msgid}

    def app_messages_to(self, userid: str) -> list[dict[str, Any]]:
        return [m for m in self.app_messages if userid in m["touser"].split("|")]

    # --- group welcome templates ------------------------------------------------------------------
    def _check_welcome(self, body: dict[str, Any]) -> None:
        text = body.get("text")
        if text is not None:
            _need(
                isinstance(text, dict) and _bytes(text.get("content", "")) <= 3000,
                "text.content > 3000 bytes",
            )
        kinds = [k for k in ("image", "link", "miniprogram", "file", "video") if k in body]
        _need(len(kinds) <= 1, "at most one attachment")
        _need(bool(text) or bool(kinds), "text or an attachment required")
        if "link" in body:
            link = body["link"]
            _need(0 < _bytes(link.get("title", "")) <= 128, "link.title 1..128 bytes")
            _need(bool(link.get("url")), "link.url required")

    def _welcome_add(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_welcome(body)
        _need(body.get("notify", 1) in (0, 1), "notify must be 0 or 1")
        _need(len(self.welcome_templates) < 100, "at most 100 templates")
        template_id = "wt" + secrets.token_hex(10)
        self.welcome_templates[template_id] = {k: v for k, v in body.items() if k != "notify"}
        return {"template_id": template_id}

    def _welcome_edit(self, body: dict[str, Any]) -> dict[str, Any]:
        template_id = body.get("template_id")
        if template_id not in self.welcome_templates:
            raise BadRequest("invalid template_id")
        self._check_welcome(body)
        self.welcome_templates[template_id] = {k: v for k, v in body.items() if k != "template_id"}
        return {}

    def _welcome_get(self, body: dict[str, Any]) -> dict[str, Any]:
        template = self.welcome_templates.get(body.get("template_id"))  # type: ignore[arg-type]
        if template is None:
            raise BadRequest("invalid template_id")
        return dict(template)

    def _welcome_del(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.welcome_templates.pop(body.get("template_id"), None) is None:  # type: ignore[arg-type]
            raise BadRequest("invalid template_id")
        return {}

    # === sidebar (JS-SDK tickets, web OAuth) — helper "sidebar" ==========================================
    def _init_sidebar(self) -> None:
        self.ticket_expires_in = 7200
        self.ticket_fetches: dict[str, int] = {"corp": 0, "agent": 0}
        self.tickets: dict[str, str] = {}  # kind -> the ticket last handed out
        self.oauth_codes: dict[str, str] = {}  # single-use code -> userid ("" = not a corp member)

    def issue_oauth_code(self, userid: str) -> str:
        """A code as WeCom adds to the OAuth redirect for ``userid`` ("" for a visitor outside the corp)."""
        code = secrets.token_urlsafe(24)
        self.oauth_codes[code] = userid
        return code

    def _sidebar_get(self, req: RecordedRequest) -> Reply:
        if req.method != "GET":
            return self._err(40058, "GET required")
        token = req.query.get("access_token")
        if not token:
            return self._err(41001, "access_token missing")
        if token not in self.tokens:
            return self._err(40014, "invalid access_token")
        if not self.tokens[token]:
            return self._err(42001, "access_token expired")
        if self.fail_next:
            return self._err(self.fail_next.pop(0), "injected failure")
        if req.path == "/cgi-bin/auth/getuserinfo":
            code = req.query.get("code", "")
            if code not in self.oauth_codes:
                return self._err(40029, "invalid code")
            userid = self.oauth_codes.pop(code)  # a code works once
            if not userid:
                return 200, {"errcode": 0, "errmsg": "ok", "openid": "o" + secrets.token_hex(8)}
            return 200, {"errcode": 0, "errmsg": "ok", "userid": userid, "user_ticket": secrets.token_hex(8)}
        if req.path == "/cgi-bin/ticket/get":
            if req.query.get("type") != "agent_config":
                return self._err(40058, "type must be agent_config")
            kind = "agent"
        else:
            kind = "corp"
        self.ticket_fetches[kind] += 1
        self.tickets[kind] = f"{kind}-ticket-{self.ticket_fetches[kind]}-{secrets.token_hex(6)}"
        return 200, {
            "errcode": 0,
            "errmsg": "ok",
            "ticket": self.tickets[kind],
            "expires_in": self.ticket_expires_in,
        }

    # === end sidebar =======================================================================================


# --- callbacks, signed and encrypted like WeCom ------------------------------------------------------


class CallbackBuilder:
    """Builds what WeCom sends to a callback URL, with its own implementation of the crypto."""

    def __init__(self, token: str = CALLBACK_TOKEN, aes_key: str = AES_KEY, corp_id: str = CORP_ID) -> None:
        self.token = token
        self.key = base64.b64decode(aes_key + "=")
        assert len(self.key) == 32
        self.corp_id = corp_id

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        parts = [self.token, timestamp, nonce, encrypt]
        parts.sort()
        return hashlib.sha1("".join(parts).encode()).hexdigest()  # noqa: S324 - the protocol's own checksum/signature

    def encrypt(self, message: str | bytes, *, receive_id: str | None = None) -> str:
        msg = message.encode() if isinstance(message, str) else message
        rid = (self.corp_id if receive_id is None else receive_id).encode()
        plain = os.urandom(16) + struct.pack("!I", len(msg)) + msg + rid
        padder = padding.PKCS7(256).padder()  # block size 32 bytes, as WeCom pads
        padded = padder.update(plain) + padder.finalize()
        enc = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(enc.update(padded) + enc.finalize()).decode()

    def decrypt(self, encrypt: str) -> bytes:
        dec = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
        padded = dec.update(base64.b64decode(encrypt)) + dec.finalize()
        unpadder = padding.PKCS7(256).unpadder()
        plain = unpadder.update(padded) + unpadder.finalize()
        (length,) = struct.unpack("!I", plain[16:20])
        return plain[20 : 20 + length]

    def post(
        self, event_xml: str, *, receive_id: str | None = None, bad_signature: bool = False
    ) -> tuple[str, bytes]:
        """(query string, body) of one event callback."""
        timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
        encrypt = self.encrypt(event_xml, receive_id=receive_id)
        signature = self.sign(timestamp, nonce, encrypt)
        if bad_signature:
            signature = hashlib.sha1(b"forged" + signature.encode()).hexdigest()  # noqa: S324 - the protocol's own checksum/signature
        body = (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>"
        )
        return f"msg_signature={signature}&timestamp={timestamp}&nonce={nonce}", body.encode()

    def verify_query(self, echo_plain: str) -> str:
        """The query string of a URL-verification GET (echostr URL-encoded, as WeCom sends it)."""
        timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
        echostr = self.encrypt(echo_plain)
        signature = self.sign(timestamp, nonce, echostr)
        return (
            f"msg_signature={signature}&timestamp={timestamp}&nonce={nonce}&echostr={quote(echostr, safe='')}"
        )


def chat_event_xml(
    chat_id: str,
    change_type: str,
    *,
    update_detail: str = "",
    members: list[str] | None = None,
    quit_scene: int | None = None,
    cur_mem_ver: str = "",
    corp_id: str = CORP_ID,
    create_time: int | None = None,
) -> str:
    """The decrypted XML of a ``change_external_chat`` event."""
    parts = [
        f"<ToUserName><![CDATA[{corp_id}]]></ToUserName>",
        "<FromUserName><![CDATA[sys]]></FromUserName>",
        f"<CreateTime>{create_time or int(time.time())}</CreateTime>",
        "<MsgType><![CDATA[event]]></MsgType>",
        "<Event><![CDATA[change_external_chat]]></Event>",
        f"<ChatId><![CDATA[{chat_id}]]></ChatId>",
        f"<ChangeType><![CDATA[{change_type}]]></ChangeType>",
    ]
    if update_detail:
        parts.append(f"<UpdateDetail><![CDATA[{update_detail}]]></UpdateDetail>")
        if update_detail == "add_member":
            parts.append("<JoinScene>3</JoinScene>")
        if quit_scene is not None:
            parts.append(f"<QuitScene>{quit_scene}</QuitScene>")
        if members is not None:
            parts.append(f"<MemChangeCnt>{len(members)}</MemChangeCnt>")
            items = "".join(f"<Item><![CDATA[{m}]]></Item>" for m in members)
            parts.append(f"<MemChangeList>{items}</MemChangeList>")
        parts.append("<LastMemVer><![CDATA[prev]]></LastMemVer>")
        parts.append(f"<CurMemVer><![CDATA[{cur_mem_ver or secrets.token_hex(4)}]]></CurMemVer>")
    return "<xml>" + "".join(parts) + "</xml>"
