"""WeCom (企业微信) customer groups: server API client and the outbox connector.

Protocol facts: /work/shared/specs/wecom.md (summarised in docs/channels.md). What WeCom has no API for —
creating a customer group, removing or muting a member, renaming — is declared missing, so callers make it
a ``StaffTask`` instead.

No robot can join a customer group and no WeCom API posts into one silently (spec: "Putting content into
customer groups"). So this connector cannot ``post`` or ``announce``: content reaches a customer group as a
mass message its owner confirms (``mass_message`` → ``add_msg_template`` with ``chat_type: group``, read back
by ``siyu.channels.services.wecom_mass``) or through a staff member's sidebar. The group robot webhook
(``robot_send``) stays for a store's *internal* staff group only, always with that group's own robot key.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from siyu.channels import hooks
from siyu.channels.connectors import wecom_staff
from siyu.channels.connectors.base import (
    Capability,
    ChannelConnector,
    ChannelError,
    DeliveryPath,
    RateLimit,
    Unsupported,
)
from siyu.channels.connectors.text import truncate_utf8
from siyu.channels.models import Connector, WeComJoinWay, WeComMassTask

logger = logging.getLogger("siyu.channels.wecom")

DEFAULT_API_BASE = "https://qyapi.weixin.qq.com"
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)

# Documented limits (bytes unless said otherwise).
ROBOT_TEXT_MAX = 2048
ROBOT_MARKDOWN_MAX = 4096
ROBOT_IMAGE_MAX = 2 * 1024 * 1024
NEWS_TITLE_MAX = 128
NEWS_DESCRIPTION_MAX = 512
NEWS_ARTICLES_MAX = 8
MASS_TEXT_MAX = 4000
MASS_ATTACHMENTS_MAX = 9
JOIN_WAY_CHATS_MAX = 5
JOIN_WAY_REMARK_MAX = 30  # characters
JOIN_WAY_STATE_MAX = 30  # characters
JOIN_WAY_ROOM_BASE_NAME_MAX = 40  # characters
GROUPCHAT_LIST_LIMIT_MAX = 1000
MASS_CHATS_MAX = 2000  # chat_id_list of one group mass message
MASS_RESULT_LIMIT = 1000  # page size of get_groupmsg_task / get_groupmsg_send_result
DEFAULT_MASS_QUOTA = "days_in_month"
MASS_QUOTA_RULES = ("days_in_month", "7_per_week", "1_per_day")
DEFAULT_API_CALLS_PER_MINUTE = 600
ROBOT_PER_MINUTE = 20

ERR_BUSY = -1
ERR_FREQUENCY = 45009
ERR_CONCURRENCY = 45033
ERR_ROBOT_INVALID = 93000
TOKEN_EXPIRED = frozenset({40014, 42001, 42007, 42009})
# Retrying these later may succeed; anything else is a configuration or request problem.
RETRYABLE = {ERR_BUSY: 2.0, ERR_FREQUENCY: 60.0, ERR_CONCURRENCY: 5.0, 41063: 60.0}
TOKEN_REFRESH_MARGIN = 300  # seconds before expiry at which a cached token is refreshed
JOIN_WAY_STATE_PREFIX = "siyu-lc"


@dataclass(frozen=True)
class MassQuota:
    """How many enterprise mass messages one customer group may receive in one period: ``period`` names
    it (``2026-12``, ``2026-W49``, ``2026-12-05``, Asia/Shanghai) and ``limit`` is the cap."""

    period: str
    limit: int


def mass_quota(rule: Any, now: datetime | None = None) -> MassQuota:
    """The quota in force at ``now`` under ``rule`` (a connector's ``config["mass_quota"]``).

    ``"days_in_month"`` (the default, WeCom's current rule): as many per calendar month as it has days;
    ``"7_per_week"``: 7 per ISO week; ``"1_per_day"``: 1 per day; an integer: that many per calendar month.
    An unknown rule falls back to the default (the quota is never looser than WeCom's).
    """
    local = timezone.localtime(now or timezone.now())
    rule = DEFAULT_MASS_QUOTA if rule in (None, "") else rule
    if rule == "7_per_week":
        year, week, _day = local.isocalendar()
        return MassQuota(f"{year}-W{week:02d}", 7)
    if rule == "1_per_day":
        return MassQuota(local.strftime("%Y-%m-%d"), 1)
    month = local.strftime("%Y-%m")
    days = calendar.monthrange(local.year, local.month)[1]
    if (isinstance(rule, int) and not isinstance(rule, bool)) or (isinstance(rule, str) and rule.isdigit()):
        return MassQuota(month, max(0, min(int(rule), days)))
    return MassQuota(month, days)


def robot_bucket(robot_key: str) -> str:
    """The outbox bucket of one robot; a digest so the webhook key itself never appears in a bucket name."""
    return "robot:" + hashlib.sha256(robot_key.encode("utf-8")).hexdigest()[:16]


class WeComConnector(ChannelConnector):
    """One WeCom self-built app (corp id + secret).

    Config keys: corp_id, corp_secret, token, aes_key, agent_id, api_base, store_code, api_calls_per_minute,
    mass_quota ("days_in_month" (default), "7_per_week", "1_per_day" or an integer per month),
    mass_cancel_hours (an unconfirmed mass message is cancelled after this long; default 24).
    """

    kind = "wecom"
    # No robot can join a customer group and no API posts into one silently (docs/channels.md).
    delivery_paths = (DeliveryPath.OWNER_CONFIRM, DeliveryPath.STAFF)
    # What WeCom lets an app do to a customer group by API: a join link (群活码) and member events. Not:
    # post, announce, mute, remove, rename, create a group, or read messages.
    capabilities = frozenset({Capability.JOIN_LINK, Capability.RECEIVE_MEMBER_EVENTS})
    rate_limits = {
        # Internal staff-group robots only (``robot_send``): 20 messages a minute per robot key.
        "robot": RateLimit(ROBOT_PER_MINUTE, 60.0),
        "api": RateLimit(DEFAULT_API_CALLS_PER_MINUTE, 60.0),
    }

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.config: dict[str, Any] = dict(connector.config or {})
        self.api_base = str(self.config.get("api_base") or DEFAULT_API_BASE).rstrip("/")

    # --- rate limiting --------------------------------------------------------------------------
    def rate_limit_for(self, prefix: str) -> RateLimit | None:
        """Per-bucket limit; the API call limit is configurable per connector (``api_calls_per_minute``)."""
        if prefix == "api" and self.config.get("api_calls_per_minute"):
            return RateLimit(int(self.config["api_calls_per_minute"]), 60.0)
        return self.rate_limits.get(prefix)

    def bucket_for(self, action: str, payload: dict[str, Any]) -> str | None:
        """Server API calls share the app's API budget; internal robot posts are limited per robot key."""
        if action in ("join_way_sync", "mass_message", "mass_remind", "mass_cancel"):
            return f"api:{self.connector.pk}"
        if payload.get("robot_key"):
            return robot_bucket(str(payload["robot_key"]))
        return None

    # --- HTTP -----------------------------------------------------------------------------------
    def _http(self, method: str, path: str, *, params: dict[str, str], body: dict[str, Any] | None) -> Any:
        url = f"{self.api_base}{path}"
        try:
            with httpx.Client(timeout=HTTP_TIMEOUT) as client:
                if method == "GET":
                    response = client.get(url, params=params)
                else:
                    response = client.post(url, params=params, json=body)
        except httpx.HTTPError as exc:
            raise ChannelError(f"WeCom unreachable: {exc.__class__.__name__}", retryable=True) from exc
        if response.status_code >= 500:
            raise ChannelError(f"WeCom HTTP {response.status_code}", retryable=True)
        try:
            data = response.json()
        except ValueError as exc:
            raise ChannelError(f"WeCom answered non-JSON (HTTP {response.status_code})") from exc
        if not isinstance(data, dict):
            raise ChannelError("WeCom answered an unexpected JSON shape")
        return data

    @staticmethod
    def _error(data: dict[str, Any], what: str) -> ChannelError:
        code = int(data.get("errcode") or 0)
        message = f"WeCom {what} failed: {code} {data.get('errmsg', '')}".strip()
        if code in RETRYABLE:
            return ChannelError(message, retryable=True, retry_after=RETRYABLE[code], code=code)
        return ChannelError(message, retryable=False, code=code)

    def _token_cache_key(self) -> str:
        ident = f"{self.config.get('corp_id', '')}:{self.config.get('corp_secret', '')}"
        return f"siyu:wecom:token:{self.connector.pk}:{hashlib.sha256(ident.encode()).hexdigest()[:16]}"

    def access_token(self, *, refresh: bool = False) -> str:
        """A valid access token, cached (Django cache) until shortly before it expires."""
        key = self._token_cache_key()
        if not refresh:
            token = cache.get(key)
            if token:
                return str(token)
        corp_id, secret = self.config.get("corp_id"), self.config.get("corp_secret")
        if not corp_id or not secret:
            raise ChannelError("WeCom connector lacks corp_id / corp_secret", retryable=False)
        data = self._http(
            "GET", "/cgi-bin/gettoken", params={"corpid": str(corp_id), "corpsecret": str(secret)}, body=None
        )
        if data.get("errcode") or not data.get("access_token"):
            # A wrong secret is not retried quickly: repeated failures get the server IP blocked for an hour.
            raise self._error(data, "gettoken")
        expires_in = int(data.get("expires_in") or 7200)
        cache.set(key, data["access_token"], max(60, expires_in - TOKEN_REFRESH_MARGIN))
        return str(data["access_token"])

    def call(self, path: str, body: dict[str, Any] | None = None, *, method: str = "POST") -> dict[str, Any]:
        """One server API call with the access token; on a token-expired error, refresh once and retry."""
        for attempt in (0, 1):
            token = self.access_token(refresh=attempt == 1)
            data = self._http(method, path, params={"access_token": token}, body=body)
            code = int(data.get("errcode") or 0)
            if code in TOKEN_EXPIRED and attempt == 0:
                logger.info("WeCom token rejected (%s); refreshing", code)
                continue
            if code:
                raise self._error(data, path.rsplit("/", 1)[-1])
            return dict(data)
        raise AssertionError("unreachable")

    # --- customer groups ------------------------------------------------------------------------
    def groupchat_get(self, chat_id: str, *, need_name: bool = True) -> dict[str, Any]:
        """Full state of one customer group (``group_chat``)."""
        data = self.call(
            "/cgi-bin/externalcontact/groupchat/get", {"chat_id": chat_id, "need_name": 1 if need_name else 0}
        )
        return dict(data.get("group_chat") or {})

    def groupchat_list(
        self, *, status_filter: int = 0, owner_userids: list[str] | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Every customer group visible to the app (follows ``next_cursor`` to the end)."""
        if not 1 <= limit <= GROUPCHAT_LIST_LIMIT_MAX:
            raise ChannelError("groupchat/list limit must be 1..1000", retryable=False)
        out: list[dict[str, Any]] = []
        cursor = ""
        while True:
            body: dict[str, Any] = {"status_filter": status_filter, "limit": limit}
            if owner_userids:
                body["owner_filter"] = {"userid_list": owner_userids[:100]}
            if cursor:
                body["cursor"] = cursor
            data = self.call("/cgi-bin/externalcontact/groupchat/list", body)
            out.extend(data.get("group_chat_list") or [])
            cursor = str(data.get("next_cursor") or "")
            if not cursor:
                return out

    # --- join ways (群活码) ----------------------------------------------------------------------
    @staticmethod
    def _join_way_body(
        *,
        chat_ids: list[str],
        state: str,
        remark: str,
        room_base_name: str,
        room_base_id: int | None,
        auto_create_room: bool,
    ) -> dict[str, Any]:
        if not 1 <= len(chat_ids) <= JOIN_WAY_CHATS_MAX:
            raise ChannelError("a join way takes 1 to 5 groups", retryable=False)
        body: dict[str, Any] = {
            "scene": 2,
            "remark": remark[:JOIN_WAY_REMARK_MAX],
            "auto_create_room": 1 if auto_create_room else 0,
            "chat_id_list": list(chat_ids),
            "state": state[:JOIN_WAY_STATE_MAX],
        }
        if auto_create_room:
            body["room_base_name"] = room_base_name[:JOIN_WAY_ROOM_BASE_NAME_MAX]
            if room_base_id is not None:
                body["room_base_id"] = int(room_base_id)
        return body

    def add_join_way(
        self,
        chat_ids: list[str],
        *,
        state: str,
        remark: str = "",
        room_base_name: str = "",
        room_base_id: int | None = None,
        auto_create_room: bool = True,
    ) -> str:
        """Create a QR-code join way (scene 2) over ``chat_ids``; returns its config_id."""
        body = self._join_way_body(
            chat_ids=chat_ids,
            state=state,
            remark=remark,
            room_base_name=room_base_name,
            room_base_id=room_base_id,
            auto_create_room=auto_create_room,
        )
        data = self.call("/cgi-bin/externalcontact/groupchat/add_join_way", body)
        return str(data["config_id"])

    def get_join_way(self, config_id: str) -> dict[str, Any]:
        data = self.call("/cgi-bin/externalcontact/groupchat/get_join_way", {"config_id": config_id})
        return dict(data.get("join_way") or {})

    def update_join_way(
        self,
        config_id: str,
        chat_ids: list[str],
        *,
        state: str,
        remark: str = "",
        room_base_name: str = "",
        room_base_id: int | None = None,
        auto_create_room: bool = True,
    ) -> None:
        body = self._join_way_body(
            chat_ids=chat_ids,
            state=state,
            remark=remark,
            room_base_name=room_base_name,
            room_base_id=room_base_id,
            auto_create_room=auto_create_room,
        )
        self.call("/cgi-bin/externalcontact/groupchat/update_join_way", {"config_id": config_id, **body})

    def del_join_way(self, config_id: str) -> None:
        self.call("/cgi-bin/externalcontact/groupchat/del_join_way", {"config_id": config_id})

    # --- mass messages (群发) --------------------------------------------------------------------
    def mass_quota(self, now: datetime | None = None) -> MassQuota:
        """Per customer group: the mass-message quota in force now (``config["mass_quota"]``)."""
        return mass_quota(self.config.get("mass_quota"), now)

    def mass_cancel_hours(self) -> float:
        """How long an unconfirmed mass message is left to its owner before it is cancelled (default 24 h)."""
        try:
            hours = float(self.config.get("mass_cancel_hours") or 24)
        except (TypeError, ValueError):
            hours = 24.0
        return max(1.0, hours)

    def add_msg_template(
        self,
        chat_ids: list[str],
        *,
        sender: str,
        text: str = "",
        attachments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """One group mass message from ``sender`` (the groups' owner, who confirms it in the client) to
        ``chat_ids`` (≤ 2,000). Returns ``{"msgid", "fail_list"}``. The per-group quota is the caller's to
        enforce before calling (``siyu.communities.services.mass``)."""
        if not sender:
            raise ChannelError(
                "a group mass message needs a sender (the group owner's userid)", retryable=False
            )
        if not chat_ids:
            raise ChannelError("no groups to send to", retryable=False)
        if len(chat_ids) > MASS_CHATS_MAX:
            raise ChannelError("a group mass message takes at most 2000 groups", retryable=False)
        if not text and not attachments:
            raise ChannelError("a mass message needs text or attachments", retryable=False)
        if attachments and len(attachments) > MASS_ATTACHMENTS_MAX:
            raise ChannelError("at most 9 attachments", retryable=False)
        body: dict[str, Any] = {"chat_type": "group", "sender": sender, "chat_id_list": list(chat_ids)}
        if text:
            body["text"] = {"content": truncate_utf8(text, MASS_TEXT_MAX)}
        if attachments:
            body["attachments"] = [self._attachment(a) for a in attachments]
        data = self.call("/cgi-bin/externalcontact/add_msg_template", body)
        return {
            "msgid": str(data.get("msgid") or ""),
            "fail_list": sorted(str(c) for c in data.get("fail_list") or []),
        }

    def get_groupmsg_task(self, msgid: str) -> list[dict[str, Any]]:
        """Per sender of a mass message: ``{userid, status (0 not sent, 2 sent), send_time?}`` (all pages)."""
        return self._paged("/cgi-bin/externalcontact/get_groupmsg_task", {"msgid": msgid}, "task_list")

    def get_groupmsg_send_result(self, msgid: str, userid: str) -> list[dict[str, Any]]:
        """Per target of ``userid``'s part of a mass message: ``{chat_id | external_userid, userid, status
        (0 not sent, 1 sent, 2 not a friend, 3 already received one), send_time? (status 1)}`` (all pages)."""
        return self._paged(
            "/cgi-bin/externalcontact/get_groupmsg_send_result",
            {"msgid": msgid, "userid": userid},
            "send_list",
        )

    def remind_groupmsg_send(self, msgid: str) -> None:
        """Remind the senders of a mass message who have not sent it yet (WeCom: ≤ 3 per message per 24 h)."""
        self.call("/cgi-bin/externalcontact/remind_groupmsg_send", {"msgid": msgid})

    def cancel_groupmsg_send(self, msgid: str) -> None:
        """Stop what of a mass message has not been sent yet (what was sent cannot be recalled)."""
        self.call("/cgi-bin/externalcontact/cancel_groupmsg_send", {"msgid": msgid})

    def _paged(self, path: str, body: dict[str, Any], key: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page: dict[str, Any] = {**body, "limit": MASS_RESULT_LIMIT}
            if cursor:
                page["cursor"] = cursor
            data = self.call(path, page)
            out.extend(dict(item) for item in data.get(key) or [])
            cursor = str(data.get("next_cursor") or "")
            if not cursor:
                return out

    @staticmethod
    def _attachment(a: dict[str, Any]) -> dict[str, Any]:
        kind = a.get("msgtype")
        if kind == "link":
            link = dict(a.get("link") or {})
            link["title"] = truncate_utf8(str(link.get("title", "")), 128)
            if "desc" in link:
                link["desc"] = truncate_utf8(str(link["desc"]), 512)
            return {"msgtype": "link", "link": link}
        if kind == "miniprogram":
            mp = dict(a.get("miniprogram") or {})
            mp["title"] = truncate_utf8(str(mp.get("title", "")), 64)
            return {"msgtype": "miniprogram", "miniprogram": mp}
        if kind in ("image", "video", "file"):
            return {"msgtype": kind, kind: dict(a.get(kind) or {})}
        raise ChannelError(f"unknown attachment type {kind!r}", retryable=False)

    # --- group robot webhook: internal staff groups only -------------------------------------------
    @staticmethod
    def robot_message(payload: dict[str, Any]) -> dict[str, Any]:
        """The webhook JSON for one post, within WeCom's byte limits (text is cut at a character boundary)."""
        if payload.get("text"):
            text: dict[str, Any] = {"content": truncate_utf8(str(payload["text"]), ROBOT_TEXT_MAX)}
            if payload.get("mentioned_list"):
                text["mentioned_list"] = list(payload["mentioned_list"])
            if payload.get("mentioned_mobile_list"):
                text["mentioned_mobile_list"] = list(payload["mentioned_mobile_list"])
            return {"msgtype": "text", "text": text}
        if payload.get("markdown"):
            return {
                "msgtype": "markdown",
                "markdown": {"content": truncate_utf8(str(payload["markdown"]), ROBOT_MARKDOWN_MAX)},
            }
        if payload.get("image_b64"):
            try:
                raw = base64.b64decode(str(payload["image_b64"]), validate=True)
            except ValueError as exc:
                raise ChannelError("image_b64 is not base64", retryable=False) from exc
            if len(raw) > ROBOT_IMAGE_MAX:
                raise ChannelError("image larger than 2 MB", retryable=False)
            if not (raw.startswith(b"\xff\xd8\xff") or raw.startswith(b"\x89PNG\r\n\x1a\n")):
                raise ChannelError("robot images must be JPG or PNG", retryable=False)
            return {
                "msgtype": "image",
                "image": {
                    "base64": base64.b64encode(raw).decode("ascii"),
                    "md5": hashlib.md5(raw).hexdigest(),  # noqa: S324 - checksum required by the protocol
                },
            }
        cards = payload.get("articles") or ([payload["card"]] if payload.get("card") else [])
        if cards:
            articles = []
            for card in cards[:NEWS_ARTICLES_MAX]:
                article = {
                    "title": truncate_utf8(str(card.get("title") or ""), NEWS_TITLE_MAX),
                    "url": str(card.get("url") or ""),
                }
                if card.get("description"):
                    article["description"] = truncate_utf8(str(card["description"]), NEWS_DESCRIPTION_MAX)
                if card.get("image_url") or card.get("picurl"):
                    article["picurl"] = str(card.get("image_url") or card.get("picurl"))
                if not article["title"] or not article["url"]:
                    raise ChannelError("a card needs a title and a url", retryable=False)
                articles.append(article)
            return {"msgtype": "news", "news": {"articles": articles}}
        raise ChannelError("nothing to post", retryable=False)

    def robot_send(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Post one message into a store's *internal* staff group through that group's robot webhook ``key``
        (no access token: the key authorises). Never for a customer group — no robot can join one."""
        if not key:
            raise ChannelError(
                "no robot key: an internal staff group's robot key is required", retryable=False
            )
        message = self.robot_message(payload)
        data = self._http("POST", "/cgi-bin/webhook/send", params={"key": key}, body=message)
        if int(data.get("errcode") or 0):
            raise self._error(data, "webhook/send")
        return {"msgtype": message["msgtype"]}

    # --- outbox entry point ---------------------------------------------------------------------
    def perform(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action in ("post", "announce"):
            raise Unsupported(
                "WeCom has no API that posts into a customer group (no robot can join one): content goes "
                "out as a mass message the group owner confirms, or a staff member sends it from the sidebar"
            )
        if action == "mass_message":
            return self._mass_message(payload)
        if action == "mass_remind":
            self.remind_groupmsg_send(str(payload["msgid"]))
            return {"reminded": str(payload["msgid"])}
        if action == "mass_cancel":
            self.cancel_groupmsg_send(str(payload["msgid"]))
            return {"cancelled": str(payload["msgid"])}
        if action == "join_way_sync":
            way = sync_join_way(int(payload["live_code_id"]))
            return {"config_id": way.config_id if way else "", "chat_ids": way.chat_ids if way else []}
        if action in wecom_staff.ACTIONS:  # app messages, store robots, welcome templates
            return wecom_staff.perform(self, action, payload)
        if action in ("mute", "remove", "rename", "create_group"):
            raise Unsupported(f"WeCom has no API to {action} in a customer group; it is a staff task")
        raise Unsupported(f"unknown WeCom action {action!r}")

    def _mass_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``add_msg_template`` for one batch, and the ``WeComMassTask`` that tracks its read-back. The task
        is keyed by the batch's idempotency ``key``: a repeated call (the outbox retrying after a crash
        between the call and its bookkeeping) finds it and does not create a second mass message."""
        key = str(payload.get("key") or "")
        if key:
            task = WeComMassTask.objects.filter(connector=self.connector, batch_key=key).first()
            if task is not None:
                return {"msgid": task.msgid, "fail_list": list(task.fail_list)}
        chat_ids = [str(c) for c in payload.get("chat_id_list") or []]
        result = self.add_msg_template(
            chat_ids,
            sender=str(payload.get("sender") or ""),
            text=str(payload.get("text") or ""),
            attachments=payload.get("attachments"),
        )
        failed = set(result["fail_list"])
        cancel_at = timezone.now() + timedelta(hours=self.mass_cancel_hours())
        if payload.get("expires_at"):
            cancel_at = min(cancel_at, datetime.fromisoformat(str(payload["expires_at"])))
        try:
            with transaction.atomic():
                WeComMassTask.objects.create(
                    connector=self.connector,
                    msgid=result["msgid"],
                    batch_key=key or result["msgid"],
                    sender=str(payload.get("sender") or ""),
                    chat_ids=[c for c in chat_ids if c not in failed],
                    fail_list=sorted(failed),
                    cancel_at=cancel_at,
                )
        except IntegrityError:
            logger.info("mass task for %s already recorded", key or result["msgid"])
        return result


# --- keeping a live code's join way current --------------------------------------------------------


def join_way_state(live_code_id: int) -> str:
    """The ``state`` our join ways carry; WeCom returns it on each member who joined through it."""
    return f"{JOIN_WAY_STATE_PREFIX}{live_code_id}"


def live_code_from_state(state: str) -> int | None:
    prefix = JOIN_WAY_STATE_PREFIX
    if state and state.startswith(prefix) and state[len(prefix) :].isdigit():
        return int(state[len(prefix) :])
    return None


def sync_join_way(live_code_id: int) -> WeComJoinWay | None:
    """Create or update the WeCom join way of one live code so it lists the set's groups with room.

    What to list comes from the apps above (``hooks.join_way_spec``: communities knows the groups).
    Guarantees: creates the join way (add_join_way + get_join_way for the QR) the first time there is a
    group to list; afterwards updates it only when the list changed; returns None (nothing called) for a
    code that is not on WeCom; keeps the current join way when no group has room (WeCom's auto_create_room
    opens the next one). Provider calls happen outside any transaction; raises ChannelError when WeCom
    refuses (the outbox retries ``join_way_sync``).
    """
    spec = hooks.join_way_spec.ask(live_code_id)
    if spec is None:
        return None
    impl = WeComConnector(spec.connector)
    way = WeComJoinWay.objects.filter(live_code_id=live_code_id).first()
    chat_ids = list(spec.chat_ids)
    if not chat_ids:
        return way
    fields: dict[str, Any] = {
        "state": join_way_state(live_code_id),
        "remark": spec.remark,
        "room_base_name": spec.room_base_name,
        "room_base_id": spec.room_base_id,
    }
    if way is None:
        config_id = impl.add_join_way(chat_ids, **fields)
        qr_code = str(impl.get_join_way(config_id).get("qr_code") or "")
        try:
            with transaction.atomic():
                return WeComJoinWay.objects.create(
                    connector=spec.connector,
                    live_code_id=live_code_id,
                    config_id=config_id,
                    chat_ids=chat_ids,
                    qr_code=qr_code,
                )
        except IntegrityError:
            # A concurrent sync created it first: drop our duplicate on WeCom and use theirs.
            impl.del_join_way(config_id)
            way = WeComJoinWay.objects.get(live_code_id=live_code_id)
    if list(way.chat_ids) != chat_ids or not way.qr_code:
        impl.update_join_way(way.config_id, chat_ids, **fields)
        way.chat_ids = chat_ids
        if not way.qr_code:
            way.qr_code = str(impl.get_join_way(way.config_id).get("qr_code") or "")
        way.save(update_fields=["chat_ids", "qr_code", "updated_at"])
    return way
