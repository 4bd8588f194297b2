"""H5 member pages through Django's test client."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from siyu.channels.sms.console import clear_codes, last_code
from siyu.members.models import ChannelIdentity, ConsentRecord, Member, OtpCode
from siyu.members.services.signin import SESSION_KEY, WECHAT_PENDING_KEY

MOBILE = "13700004321"
WECHAT_UA = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 MicroMessenger/8.0.50"


@pytest.fixture(autouse=True)
def _console_sms(settings):
    settings.SIYU_SMS_PROVIDER = "console"
    clear_codes()


def sign_in(client, mobile: str = MOBILE):
    client.post(reverse("h5:login"), {"action": "send", "mobile": mobile})
    return client.post(reverse("h5:login"), {"action": "verify", "mobile": mobile, "code": last_code(mobile)})


def test_login_page_renders(client, brand):
    response = client.get(reverse("h5:login"))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "vendor/pico/pico.min.css" in html
    assert "vendor/htmx/htmx.min.js" in html
    assert 'name="mobile"' in html
    assert "server log" not in html  # DEBUG is off in tests


def test_console_hint_in_debug(client, brand, settings):
    settings.DEBUG = True
    html = client.get(reverse("h5:login")).content.decode()
    assert "server log" in html


def test_full_sms_sign_in_flow(client, brand):
    response = client.post(reverse("h5:login"), {"action": "send", "mobile": "137 0000 4321"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="code"' in html
    assert "137****4321" in html
    before = client.session.session_key
    response = client.post(
        reverse("h5:login"), {"action": "verify", "mobile": MOBILE, "code": last_code(MOBILE)}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("h5:home")
    member = Member.objects.get(mobile=MOBILE)
    assert client.session[SESSION_KEY] == member.pk
    assert client.session.session_key != before  # cycled on sign-in
    assert "_auth_user_id" not in client.session  # members are not Django users

    home = client.get(reverse("h5:home"))
    assert home.status_code == 200
    page = home.content.decode()
    assert "137****4321" in page
    assert MOBILE not in page
    assert home.wsgi_request.user.is_anonymous


def test_wrong_code_shows_form_error(client, brand):
    client.post(reverse("h5:login"), {"action": "send", "mobile": MOBILE})
    code = last_code(MOBILE)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    response = client.post(reverse("h5:login"), {"action": "verify", "mobile": MOBILE, "code": wrong})
    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.content.decode()
    assert SESSION_KEY not in client.session
    assert OtpCode.objects.get().attempts == 1


@pytest.mark.parametrize("mobile", ["", "12345", "not a number"])
def test_bad_mobile_shows_form_error(client, brand, mobile):
    response = client.post(reverse("h5:login"), {"action": "send", "mobile": mobile})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'aria-describedby="mobile-error"' in html
    assert not OtpCode.objects.exists()


def test_rate_limit_shows_form_error(client, brand):
    client.post(reverse("h5:login"), {"action": "send", "mobile": MOBILE})
    response = client.post(reverse("h5:login"), {"action": "send", "mobile": MOBILE})
    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.content.decode()
    assert OtpCode.objects.count() == 1


def test_unconfigured_sms_is_a_message_not_a_500(client, brand, settings):
    settings.SIYU_SMS_PROVIDER = ""
    response = client.post(reverse("h5:login"), {"action": "send", "mobile": MOBILE})
    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.content.decode()


def test_home_requires_sign_in(client, brand):
    response = client.get(reverse("h5:home"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('h5:login')}?next=%2Fh5%2F"


def test_next_is_followed_only_on_this_site(client, brand):
    client.get(reverse("h5:login"), {"next": "https://evil.example.com/"})
    assert sign_in(client)["Location"] == reverse("h5:home")
    client.post(reverse("h5:logout"))
    client.get(reverse("h5:login"), {"next": reverse("h5:my_data")})
    assert sign_in(client, "13700005555")["Location"] == reverse("h5:my_data")


def test_home_shows_member_and_store(client, brand, member_a):
    sign_in(client, member_a.mobile)
    html = client.get(reverse("h5:home")).content.decode()
    assert "王小明" in html  # the member's own page greets them by name (others see 王**)
    assert "朝阳大悦城店" in html
    me = client.get(reverse("h5:me")).content.decode()
    assert "138****1234" in me and "13812341234" not in me
    assert "朝阳大悦城店" in me


def test_consent_switch(client, brand, member_a):
    sign_in(client, member_a.mobile)
    response = client.post(reverse("h5:consent"), {"granted": "1"})
    assert response.status_code == 302
    member_a.refresh_from_db()
    assert member_a.marketing_consent is True
    # htmx: the switch posts without "granted" when switched off and gets the fragment back
    response = client.post(reverse("h5:consent"), {}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'id="consent-form"' in response.content.decode()
    member_a.refresh_from_db()
    assert member_a.marketing_consent is False
    assert list(ConsentRecord.objects.order_by("id").values_list("action", "source")) == [
        ("granted", "h5"),
        ("withdrawn", "h5"),
    ]


def test_consent_requires_sign_in(client, brand):
    assert client.post(reverse("h5:consent"), {"granted": "1"}).status_code == 302
    assert not ConsentRecord.objects.exists()


def test_my_data_download(client, brand, member_a):
    sign_in(client, member_a.mobile)
    response = client.get(reverse("h5:my_data"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["id"] == member_a.pk
    assert data["mobile"] == member_a.mobile
    assert any(e["type"] == "member.signed_in" for e in data["events"])


def test_logout(client, brand):
    sign_in(client)
    assert client.get(reverse("h5:logout")).status_code == 200  # confirmation page, still signed in
    assert SESSION_KEY in client.session
    response = client.post(reverse("h5:logout"))
    assert response.status_code == 302
    assert SESSION_KEY not in client.session
    assert client.get(reverse("h5:home")).status_code == 302


def test_erased_member_is_signed_out(client, brand):
    sign_in(client)
    Member.objects.filter(mobile=MOBILE).update(mobile=None, erased_at="2026-01-01T00:00:00+08:00")
    assert client.get(reverse("h5:home")).status_code == 302


# --- WeChat ----------------------------------------------------------------------------------------


def _start(client, scope: str = "snsapi_base") -> str:
    response = client.get(reverse("h5:wechat_start"), {"scope": scope})
    assert response.status_code == 302
    url = response["Location"]
    assert url.startswith("https://open.weixin.qq.com/connect/oauth2/authorize?appid=")
    assert url.endswith("#wechat_redirect")
    query = parse_qs(urlsplit(url).query)
    assert query["redirect_uri"] == ["http://testserver/h5/wechat/callback/"]
    assert query["scope"] == [scope]
    return query["state"][0]


def test_wechat_button_only_inside_wechat(client, brand, wechat_fake):
    assert "wechat/start" not in client.get(reverse("h5:login")).content.decode()
    html = client.get(reverse("h5:login"), HTTP_USER_AGENT=WECHAT_UA).content.decode()
    assert reverse("h5:wechat_start") in html


def test_wechat_new_member_links_after_sms(client, brand, wechat_fake):
    state = _start(client, "snsapi_userinfo")
    code = wechat_fake.issue_code("o-h5-new", scope="snsapi_userinfo", unionid="u-h5-new")
    response = client.get(reverse("h5:wechat_callback"), {"code": code, "state": state})
    assert response.status_code == 302
    assert response["Location"] == reverse("h5:login")
    assert SESSION_KEY not in client.session
    page = client.get(reverse("h5:login")).content.decode()
    assert 'name="mobile"' in page

    assert sign_in(client)["Location"] == reverse("h5:home")
    member = Member.objects.get(mobile=MOBILE)
    identity = ChannelIdentity.objects.get(channel="wechat", external_id="o-h5-new")
    assert identity.member_id == member.pk and identity.unionid == "u-h5-new"

    # next time WeChat alone signs the member in
    client.post(reverse("h5:logout"))
    state = _start(client)
    response = client.get(
        reverse("h5:wechat_callback"), {"code": wechat_fake.issue_code("o-h5-new"), "state": state}
    )
    assert response["Location"] == reverse("h5:home")
    assert client.session[SESSION_KEY] == member.pk


def test_wechat_known_member_signed_in(client, brand, member_a, wechat_fake):
    ChannelIdentity.objects.create(member=member_a, channel="wechat", external_id="o-known")
    state = _start(client)
    response = client.get(
        reverse("h5:wechat_callback"), {"code": wechat_fake.issue_code("o-known"), "state": state}
    )
    assert response["Location"] == reverse("h5:home")
    assert client.session[SESSION_KEY] == member_a.pk


def test_wechat_state_mismatch_is_refused(client, brand, member_a, wechat_fake):
    ChannelIdentity.objects.create(member=member_a, channel="wechat", external_id="o-known")
    state = _start(client)
    code = wechat_fake.issue_code("o-known")
    response = client.get(reverse("h5:wechat_callback"), {"code": code, "state": "forged"})
    assert response.status_code == 302
    assert response["Location"] == reverse("h5:login")
    assert SESSION_KEY not in client.session
    # the stored state is single-use: the right one no longer works after a failed callback
    response = client.get(reverse("h5:wechat_callback"), {"code": code, "state": state})
    assert response["Location"] == reverse("h5:login")
    assert SESSION_KEY not in client.session
    assert wechat_fake.requests == []  # refused before the code was ever exchanged


def test_wechat_snapshot_user_refused(client, brand, wechat_fake):
    state = _start(client)
    code = wechat_fake.issue_code("o-snap", snapshot=True)
    response = client.get(reverse("h5:wechat_callback"), {"code": code, "state": state}, follow=True)
    assert response.status_code == 200
    assert SESSION_KEY not in client.session
    assert WECHAT_PENDING_KEY not in client.session
    assert len(list(response.context["messages"])) == 1


def test_wechat_not_configured(client, brand, settings):
    settings.SIYU_WECHAT_OAUTH = {**settings.SIYU_WECHAT_OAUTH, "app_id": "", "app_secret": ""}
    response = client.get(reverse("h5:wechat_start"))
    assert response.status_code == 302
    assert response["Location"] == reverse("h5:login")
