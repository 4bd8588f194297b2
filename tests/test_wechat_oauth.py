"""WeChat web authorization connector against the local fake."""

from __future__ import annotations

import copy
from urllib.parse import parse_qsl, urlsplit

import pytest

from siyu.channels import wechat_oauth
from tests.fakes.wechat import WECHAT_APP_ID

# Fixture from the WeChat fake, bound here so pytest finds it.


def test_authorize_url_parameter_order_and_fragment(wechat_fake):
    url = wechat_oauth.build_authorize_url(
        "https://m.example.com/h5/wechat/callback/?a=1&b=2", "abc123XYZ", wechat_oauth.SCOPE_USERINFO
    )
    assert url == (
        "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx0000000000fake01"
        "&redirect_uri=https%3A%2F%2Fm.example.com%2Fh5%2Fwechat%2Fcallback%2F%3Fa%3D1%26b%3D2"
        "&response_type=code&scope=snsapi_userinfo&state=abc123XYZ#wechat_redirect"
    )
    keys = [k for k, _v in parse_qsl(urlsplit(url).query)]
    assert keys == ["appid", "redirect_uri", "response_type", "scope", "state"]


@pytest.mark.parametrize("state", ["", "has-dash", "x" * 129, "中文"])
def test_authorize_url_rejects_bad_state(wechat_fake, state):
    with pytest.raises(ValueError):
        wechat_oauth.build_authorize_url("https://m.example.com/cb", state)


def test_authorize_url_rejects_bad_scope(wechat_fake):
    with pytest.raises(ValueError):
        wechat_oauth.build_authorize_url("https://m.example.com/cb", "s", "snsapi_login")


def test_not_configured(settings):
    cfg = copy.deepcopy(settings.SIYU_WECHAT_OAUTH)
    cfg.update(app_id="", app_secret="")
    settings.SIYU_WECHAT_OAUTH = cfg
    assert not wechat_oauth.is_configured()
    with pytest.raises(wechat_oauth.WeChatNotConfigured, match="SIYU_WECHAT_APP_ID"):
        wechat_oauth.build_authorize_url("https://m.example.com/cb", "s")


def test_base_scope_exchange(wechat_fake):
    code = wechat_fake.issue_code("o-openid-1")
    user = wechat_oauth.authenticate(code)
    assert user.openid == "o-openid-1"
    assert user.unionid == ""
    assert user.nickname == ""
    req = wechat_fake.requests[-1]
    assert req.path == "/sns/oauth2/access_token"
    assert list(req.query) == ["appid", "secret", "code", "grant_type"]
    assert req.query["appid"] == WECHAT_APP_ID
    assert req.query["grant_type"] == "authorization_code"
    assert len(wechat_fake.requests) == 1  # no userinfo call for snsapi_base


def test_userinfo_scope_fetches_profile(wechat_fake):
    code = wechat_fake.issue_code(
        "o-openid-2", scope="snsapi_userinfo", unionid="u-union-2", nickname="小明", sex=1
    )
    user = wechat_oauth.authenticate(code, scope=wechat_oauth.SCOPE_USERINFO)
    assert (user.openid, user.unionid, user.nickname, user.sex) == ("o-openid-2", "u-union-2", "小明", 1)
    assert user.city == "北京"
    userinfo = wechat_fake.requests[-1]
    assert userinfo.path == "/sns/userinfo"
    assert userinfo.query["lang"] == "zh_CN"


def test_userinfo_48001_falls_back_to_openid(wechat_fake):
    # Asked for userinfo but the token only carries snsapi_base: WeChat answers 48001.
    code = wechat_fake.issue_code("o-openid-3", scope="snsapi_base")
    user = wechat_oauth.authenticate(code, scope=wechat_oauth.SCOPE_USERINFO)
    assert user.openid == "o-openid-3"
    assert user.nickname == ""
    with pytest.raises(wechat_oauth.WeChatOAuthError) as err:
        token = wechat_oauth.exchange_code(wechat_fake.issue_code("o-openid-3"))
        wechat_oauth.fetch_userinfo(token["access_token"], token["openid"])
    assert err.value.errcode == 48001


def test_invalid_code_40029(wechat_fake):
    with pytest.raises(wechat_oauth.WeChatOAuthError) as err:
        wechat_oauth.authenticate("no-such-code")
    assert err.value.errcode == 40029
    assert err.value.is_bad_code


def test_used_code_40163(wechat_fake):
    code = wechat_fake.issue_code("o-openid-4")
    wechat_oauth.authenticate(code)
    with pytest.raises(wechat_oauth.WeChatOAuthError) as err:
        wechat_oauth.authenticate(code)
    assert err.value.errcode == 40163
    assert err.value.is_bad_code


def test_wrong_secret_is_not_a_bad_code(wechat_fake, settings):
    cfg = copy.deepcopy(settings.SIYU_WECHAT_OAUTH)
    cfg["app_secret"] = "wrong"
    settings.SIYU_WECHAT_OAUTH = cfg
    with pytest.raises(wechat_oauth.WeChatOAuthError) as err:
        wechat_oauth.authenticate(wechat_fake.issue_code("o-openid-5"))
    assert err.value.errcode == 40125
    assert not err.value.is_bad_code


def test_snapshot_user_refused(wechat_fake):
    code = wechat_fake.issue_code("o-snapshot", snapshot=True)
    with pytest.raises(wechat_oauth.WeChatSnapshotUser):
        wechat_oauth.authenticate(code)


def test_refresh_token(wechat_fake):
    token = wechat_oauth.exchange_code(wechat_fake.issue_code("o-openid-6"))
    fresh = wechat_oauth.refresh_access_token(token["refresh_token"])
    assert fresh["openid"] == "o-openid-6"
    assert fresh["access_token"] != token["access_token"]


def test_unreachable_api(settings):
    cfg = copy.deepcopy(settings.SIYU_WECHAT_OAUTH)
    cfg.update(app_id="wx1", app_secret="s", api_base="http://127.0.0.1:9")
    settings.SIYU_WECHAT_OAUTH = cfg
    with pytest.raises(wechat_oauth.WeChatOAuthError) as err:
        wechat_oauth.authenticate("code")
    assert err.value.errcode == 0
