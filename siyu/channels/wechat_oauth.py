"""WeChat official-account web authorization (公众号网页授权, OAuth 2) for member sign-in inside WeChat.

See /work/shared/specs/wechat-oauth.md. Configuration: ``settings.SIYU_WECHAT_OAUTH`` (app_id, app_secret,
authorize_url, api_base — the last two overridable so tests talk to a local fake).

Flow: ``build_authorize_url`` → WeChat redirects back with ``code`` and ``state`` → ``authenticate(code)``
exchanges the code for openid/unionid (and, with ``snsapi_userinfo``, the profile).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger("siyu.wechat")

HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
SCOPE_BASE = "snsapi_base"
SCOPE_USERINFO = "snsapi_userinfo"
SCOPES = (SCOPE_BASE, SCOPE_USERINFO)
_STATE_RE = re.compile(r"[A-Za-z0-9]{1,128}")

# errcodes the sign-in flow tells apart; everything else is a generic failure.
ERR_INVALID_CODE = 40029
ERR_CODE_USED = 40163
ERR_API_UNAUTHORIZED = 48001


class WeChatNotConfigured(ImproperlyConfigured):
    """SIYU_WECHAT_APP_ID / SIYU_WECHAT_APP_SECRET are not set."""


class WeChatOAuthError(Exception):
    """WeChat answered with ``{"errcode", "errmsg"}`` (errcode 0 = could not reach it or bad reply)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg

    @property
    def is_bad_code(self) -> bool:
        """The authorization code is invalid, expired or already used: the member should start again."""
        return self.errcode in (ERR_INVALID_CODE, ERR_CODE_USED)


class WeChatSnapshotUser(WeChatOAuthError):
    """The visitor is a snapshot-page virtual account (is_snapshotuser = 1), not a real WeChat user."""

    def __init__(self) -> None:
        super().__init__(0, "snapshot user (is_snapshotuser=1)")


@dataclass
class WeChatUser:
    """A WeChat user as seen by our official account."""

    openid: str
    unionid: str = ""
    scope: str = SCOPE_BASE
    nickname: str = ""
    sex: int = 0
    province: str = ""
    city: str = ""
    country: str = ""
    headimgurl: str = ""
    privilege: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _config() -> dict[str, str]:
    cfg = dict(settings.SIYU_WECHAT_OAUTH)
    required = (("app_id", "SIYU_WECHAT_APP_ID"), ("app_secret", "SIYU_WECHAT_APP_SECRET"))
    missing = [env for key, env in required if not cfg.get(key)]
    if missing:
        raise WeChatNotConfigured(f"WeChat sign-in needs {', '.join(missing)} (see docs/sign-in.md).")
    return cfg


def is_configured() -> bool:
    """True when an app id and secret are set."""
    try:
        _config()
    except WeChatNotConfigured:
        return False
    return True


def build_authorize_url(redirect_uri: str, state: str, scope: str = SCOPE_BASE) -> str:
    """The URL to send the member's browser to. Parameter order and the ``#wechat_redirect`` fragment are
    required by WeChat; ``state`` must be 1–128 characters of a-zA-Z0-9."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}")
    if not _STATE_RE.fullmatch(state or ""):
        raise ValueError("state must be 1-128 characters a-zA-Z0-9")
    cfg = _config()
    return (
        f"{cfg['authorize_url']}?appid={quote(cfg['app_id'], safe='')}"
        f"&redirect_uri={quote(redirect_uri, safe='')}"
        f"&response_type=code&scope={scope}&state={state}#wechat_redirect"
    )


def _get(path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
    cfg = _config()
    # Built by hand so the parameters go out in the documented order.
    url = f"{cfg['api_base'].rstrip('/')}{path}?{urlencode(params)}"
    try:
        with httpx.Client(timeout=HTTP_TIMEOUT) as client:
            response = client.get(url)
        # WeChat sometimes labels JSON as text/plain; decode the bytes ourselves.
        data = json.loads(response.content.decode("utf-8"))
    except (httpx.HTTPError, ValueError) as exc:
        raise WeChatOAuthError(0, f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(data, dict):
        raise WeChatOAuthError(0, "unexpected reply")
    errcode = data.get("errcode")
    if errcode not in (None, 0):
        raise WeChatOAuthError(int(errcode), str(data.get("errmsg", "")))
    return data


def exchange_code(code: str) -> dict[str, Any]:
    """Exchange an authorization code for ``{access_token, expires_in, refresh_token, openid, scope,
    unionid?, is_snapshotuser?}``. Raises WeChatOAuthError (40029 invalid code, 40163 code used, …)."""
    cfg = _config()
    data = _get(
        "/sns/oauth2/access_token",
        [
            ("appid", cfg["app_id"]),
            ("secret", cfg["app_secret"]),
            ("code", code),
            ("grant_type", "authorization_code"),
        ],
    )
    if not data.get("openid") or not data.get("access_token"):
        raise WeChatOAuthError(0, "reply without openid")
    return data


def refresh_access_token(refresh_token: str) -> dict[str, Any]:
    """A fresh access token from a refresh token (valid 30 days)."""
    cfg = _config()
    return _get(
        "/sns/oauth2/refresh_token",
        [("appid", cfg["app_id"]), ("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
    )


def fetch_userinfo(access_token: str, openid: str) -> dict[str, Any]:
    """The profile behind an ``snsapi_userinfo`` token. Raises WeChatOAuthError 48001 without that scope."""
    return _get("/sns/userinfo", [("access_token", access_token), ("openid", openid), ("lang", "zh_CN")])


def authenticate(code: str, *, scope: str = SCOPE_BASE) -> WeChatUser:
    """Who signed in with ``code``. Refuses snapshot-page virtual accounts (WeChatSnapshotUser).

    With ``scope=snsapi_userinfo`` the profile is fetched too; a 48001 there (the token lacks that scope)
    is not fatal: the openid alone identifies the member.
    """
    token = exchange_code(code)
    if str(token.get("is_snapshotuser", "0")) == "1":
        raise WeChatSnapshotUser()
    user = WeChatUser(
        openid=str(token["openid"]),
        unionid=str(token.get("unionid") or ""),
        scope=str(token.get("scope") or scope),
    )
    if scope == SCOPE_USERINFO:
        try:
            info = fetch_userinfo(str(token["access_token"]), user.openid)
        except WeChatOAuthError as exc:
            if exc.errcode != ERR_API_UNAUTHORIZED:
                raise
            logger.info("WeChat userinfo refused (48001); continuing with openid only")
        else:
            user.unionid = str(info.get("unionid") or user.unionid)
            user.nickname = str(info.get("nickname") or "")
            user.sex = int(info.get("sex") or 0)
            user.province = str(info.get("province") or "")
            user.city = str(info.get("city") or "")
            user.country = str(info.get("country") or "")
            user.headimgurl = str(info.get("headimgurl") or "")
            user.privilege = [str(p) for p in info.get("privilege") or []]
    return user
