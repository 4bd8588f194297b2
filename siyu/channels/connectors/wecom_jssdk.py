"""WeCom JS-SDK and web OAuth for the chat-toolbar sidebar (聊天工具栏): signatures, tickets, staff identity.

Protocol facts: /work/shared/specs/wecom.md ("Putting content into customer groups" §2), summarised in
docs/channels.md ("Sidebar"). These are plain functions over a ``WeComConnector`` (its access token and HTTP
client); caching the tickets across processes is ``siyu.channels.services.wecom_sidebar_auth``'s job.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from siyu.channels.connectors.base import ChannelError
from siyu.channels.connectors.wecom import TOKEN_EXPIRED, WeComConnector

logger = logging.getLogger("siyu.channels.wecom")

OAUTH_AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
CORP_TICKET_PATH = "/cgi-bin/get_jsapi_ticket"
AGENT_TICKET_PATH = "/cgi-bin/ticket/get"
GETUSERINFO_PATH = "/cgi-bin/auth/getuserinfo"
DEFAULT_TICKET_LIFETIME = 7200  # seconds, when WeCom does not say
OAUTH_STATE_MAX = 128  # bytes, a-zA-Z0-9 only
OAUTH_CODE_MAX = 512  # bytes


def jsapi_signature(ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    """The JS-SDK signature: sha1 hex of ``jsapi_ticket=T&noncestr=N&timestamp=TS&url=U``.

    Fields in exactly that order, values as they are (not URL-encoded); ``url`` is the page's full URL
    without its ``#fragment`` (cut here if the caller left it). The enterprise (``wx.config``) and app
    (``agentConfig``) signatures differ only by the ticket.
    """
    page = url.split("#", 1)[0]
    plain = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={page}"
    return hashlib.sha1(plain.encode("utf-8")).hexdigest()  # noqa: S324 - the protocol's own signature


@dataclass(frozen=True)
class Ticket:
    ticket: str
    expires_in: int  # seconds


def _get(impl: WeComConnector, path: str, params: dict[str, str], what: str) -> dict[str, Any]:
    """One GET server API call with extra query parameters; on a token-expired error refresh once, retry."""
    for attempt in (0, 1):
        token = impl.access_token(refresh=attempt == 1)
        data = impl._http("GET", path, params={"access_token": token, **params}, body=None)
        code = int(data.get("errcode") or 0)
        if code in TOKEN_EXPIRED and attempt == 0:
            logger.info("WeCom token rejected (%s); refreshing", code)
            continue
        if code:
            raise impl._error(data, what)
        return dict(data)
    raise AssertionError("unreachable")


def _ticket(data: dict[str, Any], what: str) -> Ticket:
    ticket = str(data.get("ticket") or "")
    if not ticket:
        raise ChannelError(f"WeCom {what} answered without a ticket", retryable=True)
    return Ticket(ticket=ticket, expires_in=int(data.get("expires_in") or DEFAULT_TICKET_LIFETIME))


def fetch_corp_ticket(impl: WeComConnector) -> Ticket:
    """The enterprise jsapi_ticket (``GET /cgi-bin/get_jsapi_ticket``), fresh from WeCom (≤400/hour/corp)."""
    return _ticket(_get(impl, CORP_TICKET_PATH, {}, "get_jsapi_ticket"), "get_jsapi_ticket")


def fetch_agent_ticket(impl: WeComConnector) -> Ticket:
    """The app ticket (``GET /cgi-bin/ticket/get?type=agent_config``), fresh from WeCom (≤100/hour/app)."""
    data = _get(impl, AGENT_TICKET_PATH, {"type": "agent_config"}, "ticket/get")
    return _ticket(data, "ticket/get")


def oauth_authorize_url(impl: WeComConnector, redirect_uri: str, state: str) -> str:
    """The WeCom web OAuth link (snsapi_base: silent, gives the member's userid) for a page inside WeCom.

    ``redirect_uri`` must be on the app's trusted domain; WeCom sends the browser back to it with
    ``code`` and ``state``. The parameters keep the documented order; ``#wechat_redirect`` is required.
    """
    corp_id = str(impl.config.get("corp_id") or "")
    if not corp_id:
        raise ChannelError("WeCom connector lacks corp_id", retryable=False)
    if not state.isalnum() or not state.isascii() or len(state) > OAUTH_STATE_MAX:
        raise ChannelError("OAuth state must be 1..128 letters or digits", retryable=False)
    parts = [
        f"appid={quote(corp_id, safe='')}",
        f"redirect_uri={quote(redirect_uri, safe='')}",
        "response_type=code",
        "scope=snsapi_base",
        f"state={state}",
    ]
    agent_id = str(impl.config.get("agent_id") or "")
    if agent_id:
        parts.append(f"agentid={quote(agent_id, safe='')}")
    return f"{OAUTH_AUTHORIZE_URL}?{'&'.join(parts)}#wechat_redirect"


def userid_from_code(impl: WeComConnector, code: str) -> str:
    """The staff member's userid behind an OAuth ``code`` (``GET /cgi-bin/auth/getuserinfo``), or "" when the
    visitor is not a member of the corp (WeCom answers ``openid`` / ``external_userid`` instead).

    The field is ``userid`` (older ``/cgi-bin/user/getuserinfo`` said ``UserId``; both are read). Raises
    ChannelError when WeCom refuses the code (used, expired: 40029) or the call fails.
    """
    if not code or len(code.encode("utf-8")) > OAUTH_CODE_MAX:
        raise ChannelError("OAuth code missing or too long", retryable=False)
    data = _get(impl, GETUSERINFO_PATH, {"code": code}, "auth/getuserinfo")
    return str(data.get("userid") or data.get("UserId") or "")
