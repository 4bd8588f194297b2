"""Fake WeChat web-authorization API (``/sns/oauth2/access_token``, ``/sns/userinfo``, refresh).

Codes are issued by the test (``issue_code``) as WeChat would after the member taps "allow"; they are
single-use (40163 on reuse) and unknown codes give 40029, like the real API.
"""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.fakes import FakeServer, RecordedRequest, Reply

WECHAT_APP_ID = "wx0000000000fake01"
WECHAT_APP_SECRET = "fakeappsecret000000000000000000"


@dataclass
class _Grant:
    openid: str
    scope: str
    unionid: str = ""
    snapshot: bool = False
    profile: dict[str, Any] = field(default_factory=dict)


class FakeWeChat(FakeServer):
    def __init__(self, app_id: str = WECHAT_APP_ID, app_secret: str = WECHAT_APP_SECRET) -> None:
        super().__init__()
        self.app_id, self.app_secret = app_id, app_secret
        self._codes: dict[str, _Grant] = {}
        self._used: set[str] = set()
        self._tokens: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}

    def issue_code(
        self,
        openid: str,
        *,
        scope: str = "snsapi_base",
        unionid: str = "",
        snapshot: bool = False,
        nickname: str = "微信用户",
        sex: int = 0,
    ) -> str:
        """A fresh authorization code, as WeChat appends to the redirect_uri."""
        code = secrets.token_hex(16)
        profile = {
            "nickname": nickname,
            "sex": sex,
            "province": "北京",
            "city": "北京",
            "country": "中国",
            "headimgurl": "https://thirdwx.qlogo.cn/mmopen/fake/132",
            "privilege": [],
        }
        self._codes[code] = _Grant(openid, scope, unionid, snapshot, profile)
        return code

    @staticmethod
    def _err(errcode: int, errmsg: str) -> Reply:
        return 200, {"errcode": errcode, "errmsg": f"{errmsg} rid: {secrets.token_hex(4)}"}

    def _token_reply(self, grant: _Grant) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self._tokens[access] = grant
        self._refresh[refresh] = grant
        reply: dict[str, Any] = {
            "access_token": access,
            "expires_in": 7200,
            "refresh_token": refresh,
            "openid": grant.openid,
            "scope": grant.scope,
        }
        if grant.scope == "snsapi_userinfo" and grant.unionid:
            reply["unionid"] = grant.unionid
        if grant.snapshot:
            reply["is_snapshotuser"] = 1
        return reply

    def handle(self, req: RecordedRequest) -> Reply:
        q = req.query
        if req.path == "/sns/oauth2/access_token":
            if q.get("appid") != self.app_id:
                return self._err(40013, "invalid appid")
            if q.get("secret") != self.app_secret:
                return self._err(40125, "invalid appsecret")
            if q.get("grant_type") != "authorization_code":
                return self._err(40002, "invalid grant_type")
            code = q.get("code", "")
            if code in self._used:
                return self._err(40163, "code been used")
            grant = self._codes.pop(code, None)
            if grant is None:
                return self._err(40029, "invalid code")
            self._used.add(code)
            return 200, self._token_reply(grant)
        if req.path == "/sns/oauth2/refresh_token":
            if q.get("appid") != self.app_id:
                return self._err(40013, "invalid appid")
            grant = self._refresh.get(q.get("refresh_token", ""))
            if grant is None:
                return self._err(40030, "invalid refresh_token")
            return 200, self._token_reply(grant)
        if req.path == "/sns/userinfo":
            grant = self._tokens.get(q.get("access_token", ""))
            if grant is None or q.get("openid") != grant.openid:
                return self._err(40001, "invalid credential, access_token is invalid or not latest")
            if grant.scope != "snsapi_userinfo":
                return self._err(48001, "api unauthorized")
            info = {"openid": grant.openid, **grant.profile}
            if grant.unionid:
                info["unionid"] = grant.unionid
            return 200, info
        return 404, {"errcode": 404, "errmsg": "not found"}


@pytest.fixture
def wechat_fake(settings):
    """A running FakeWeChat; ``settings.SIYU_WECHAT_OAUTH`` points at it."""
    with FakeWeChat() as fake:
        cfg = copy.deepcopy(settings.SIYU_WECHAT_OAUTH)
        cfg.update(
            app_id=WECHAT_APP_ID,
            app_secret=WECHAT_APP_SECRET,
            api_base=fake.url,
            authorize_url="https://open.weixin.qq.com/connect/oauth2/authorize",
        )
        settings.SIYU_WECHAT_OAUTH = cfg
        yield fake
