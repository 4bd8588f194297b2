"""Member sign-in services: one-time codes, WeChat authorization, linking."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from siyu.analytics.models import Event
from siyu.channels.sms.console import clear_codes, last_code
from siyu.common.errors import Conflict, PermissionDenied, RateLimited, ValidationFailed
from siyu.members.models import ChannelIdentity, Member, OtpCode, Source
from siyu.members.services import signin
from tests.factories import BrandFactory, MemberFactory

MOBILE = "13700001234"


@pytest.fixture(autouse=True)
def _console_sms(settings):
    settings.SIYU_SMS_PROVIDER = "console"
    clear_codes()


@pytest.fixture
def no_interval(settings):
    settings.SIYU_OTP_MIN_INTERVAL_SECONDS = 0


# --- request_code ----------------------------------------------------------------------------------


def test_request_code_stores_only_a_hash(brand):
    otp = signin.request_code("+86 137-0000-1234", ip="10.0.0.1")
    code = last_code(MOBILE)
    assert code is not None and len(code) == 6 and code.isdigit()
    otp.refresh_from_db()
    assert otp.mobile == MOBILE
    assert otp.ip == "10.0.0.1"
    assert len(otp.code_hash) == 64 and code not in otp.code_hash
    assert otp.used_at is None and otp.attempts == 0
    ttl = (otp.expires_at - otp.created_at).total_seconds()
    assert ttl == pytest.approx(300, abs=1)


def test_request_code_rejects_bad_number(brand):
    with pytest.raises(ValidationFailed) as err:
        signin.request_code("12345", ip=None)
    assert err.value.field == "mobile"
    assert not OtpCode.objects.exists()


def test_request_code_via_tencent_fake(brand, tencent_sms):
    signin.request_code(MOBILE, ip=None)
    assert len(tencent_sms.codes_for(MOBILE)) == 1
    member = signin.verify_code(MOBILE, tencent_sms.codes_for(MOBILE)[0], ip=None)
    assert member.mobile == MOBILE


def test_failed_send_leaves_nothing_and_keeps_old_code(brand, aliyun_sms, no_interval):
    signin.request_code(MOBILE, ip=None)
    first = aliyun_sms.codes_for(MOBILE)[0]
    aliyun_sms.fail_code = "isv.BUSINESS_LIMIT_CONTROL"
    with pytest.raises(signin.ChannelUnavailable) as err:
        signin.request_code(MOBILE, ip=None)
    assert err.value.field == "mobile"
    assert OtpCode.objects.filter(mobile=MOBILE).count() == 1
    assert signin.verify_code(MOBILE, first, ip=None).mobile == MOBILE


def test_unconfigured_provider_is_a_clear_error(brand, settings):
    settings.SIYU_SMS_PROVIDER = ""
    with pytest.raises(signin.ChannelUnavailable):
        signin.request_code(MOBILE, ip=None)
    assert not OtpCode.objects.exists()


def test_new_code_invalidates_older_ones(brand, no_interval):
    signin.request_code(MOBILE, ip=None)
    first = last_code(MOBILE)
    signin.request_code(MOBILE, ip=None)
    second = last_code(MOBILE)
    if first == second:  # one in a million: the test is about the older row, not the digits
        pytest.skip("same code drawn twice")
    with pytest.raises(ValidationFailed):
        signin.verify_code(MOBILE, first, ip=None)
    assert signin.verify_code(MOBILE, second, ip=None).mobile == MOBILE


def test_min_interval_per_number(brand):
    signin.request_code(MOBILE, ip=None)
    with pytest.raises(RateLimited) as err:
        signin.request_code(MOBILE, ip=None)
    assert err.value.field == "mobile"
    assert OtpCode.objects.count() == 1
    OtpCode.objects.update(created_at=timezone.now() - timedelta(seconds=61))
    signin.request_code(MOBILE, ip=None)


def test_rate_limit_per_number_per_hour(brand, settings, no_interval):
    settings.SIYU_OTP_PER_MOBILE_PER_HOUR = 3
    for _ in range(3):
        signin.request_code(MOBILE, ip=None)
    with pytest.raises(RateLimited):
        signin.request_code(MOBILE, ip=None)
    assert OtpCode.objects.count() == 3
    signin.request_code("13700009999", ip=None)  # another number is unaffected
    OtpCode.objects.filter(mobile=MOBILE).update(created_at=timezone.now() - timedelta(minutes=61))
    signin.request_code(MOBILE, ip=None)  # the window slides


def test_rate_limit_per_ip(brand, settings):
    settings.SIYU_OTP_PER_IP_PER_HOUR = 2
    signin.request_code("13700000001", ip="10.1.1.1")
    signin.request_code("13700000002", ip="10.1.1.1")
    with pytest.raises(RateLimited):
        signin.request_code("13700000003", ip="10.1.1.1")
    signin.request_code("13700000003", ip="10.1.1.2")
    assert OtpCode.objects.filter(ip="10.1.1.1").count() == 2


# --- verify_code -----------------------------------------------------------------------------------


def test_verify_creates_member(brand, store_a):
    signin.request_code(MOBILE, ip=None)
    member = signin.verify_code(MOBILE, last_code(MOBILE), ip="10.0.0.1")
    assert member.mobile == MOBILE
    assert member.source == Source.H5
    assert member.brand_id == brand.pk
    assert member.home_store is None
    types = list(Event.objects.filter(member=member).order_by("id").values_list("type", flat=True))
    assert types == ["member.created", "member.signed_in"]
    assert OtpCode.objects.get().used_at is not None


def test_verify_existing_member(brand, member_a):
    signin.request_code(member_a.mobile, ip=None)
    member = signin.verify_code(member_a.mobile, last_code(member_a.mobile), ip=None)
    assert member.pk == member_a.pk
    assert Member.objects.count() == 1
    assert list(Event.objects.values_list("type", flat=True)) == ["member.signed_in"]


def test_code_is_single_use(brand):
    signin.request_code(MOBILE, ip=None)
    code = last_code(MOBILE)
    signin.verify_code(MOBILE, code, ip=None)
    with pytest.raises(ValidationFailed) as err:
        signin.verify_code(MOBILE, code, ip=None)
    assert err.value.field == "code"


def test_expired_code_refused(brand):
    signin.request_code(MOBILE, ip=None)
    OtpCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ValidationFailed) as err:
        signin.verify_code(MOBILE, last_code(MOBILE), ip=None)
    assert err.value.field == "code"
    assert not Member.objects.exists()


def test_wrong_code_and_attempts_limit(brand, settings):
    settings.SIYU_OTP_MAX_ATTEMPTS = 3
    signin.request_code(MOBILE, ip=None)
    code = last_code(MOBILE)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(3):
        with pytest.raises(ValidationFailed) as err:
            signin.verify_code(MOBILE, wrong, ip=None)
        assert err.value.field == "code"
    assert OtpCode.objects.get().attempts == 3
    with pytest.raises(ValidationFailed) as err:
        signin.verify_code(MOBILE, code, ip=None)  # even the right code: attempts are used up
    assert err.value.code == "too_many_attempts"
    assert not Member.objects.exists()


@pytest.mark.parametrize("code", ["", "12345", "abcdef", "1234567"])
def test_malformed_code(brand, code):
    signin.request_code(MOBILE, ip=None)
    with pytest.raises(ValidationFailed) as err:
        signin.verify_code(MOBILE, code, ip=None)
    assert err.value.field == "code"
    assert OtpCode.objects.get().attempts == 0


def test_verify_without_any_code(brand):
    with pytest.raises(ValidationFailed) as err:
        signin.verify_code(MOBILE, "123456", ip=None)
    assert err.value.field == "code"


@pytest.mark.django_db(transaction=True)
def test_concurrent_double_verify_gives_one_success():
    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections (PostgreSQL)")
    BrandFactory()
    for round_no in range(5):
        mobile = f"1370000{round_no:04d}"
        signin.request_code(mobile, ip=None)
        code = last_code(mobile)
        barrier = threading.Barrier(4)
        outcomes: list[str] = []
        lock = threading.Lock()

        def verify(
            mobile: str = mobile,
            code: str | None = code,
            barrier: threading.Barrier = barrier,
            outcomes: list[str] = outcomes,
            lock: threading.Lock = lock,
        ) -> None:
            try:
                barrier.wait()
                signin.verify_code(mobile, code or "", ip=None)
                result = "ok"
            except ValidationFailed:
                result = "refused"
            finally:
                connection.close()
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=verify) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]
        assert Member.objects.filter(mobile=mobile).count() == 1
        assert Event.objects.filter(type="member.signed_in", member__mobile=mobile).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_respect_the_per_number_limit():
    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections (PostgreSQL)")
    BrandFactory()
    barrier = threading.Barrier(6)
    outcomes: list[str] = []
    lock = threading.Lock()

    def request() -> None:
        try:
            barrier.wait()
            signin.request_code(MOBILE, ip=None)
            result = "sent"
        except RateLimited:
            result = "limited"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=request) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["limited"] * 5 + ["sent"]  # the 60-second interval holds under a race
    assert OtpCode.objects.filter(mobile=MOBILE).count() == 1


# --- WeChat ----------------------------------------------------------------------------------------


def test_wechat_state_mismatch(brand, wechat_fake):
    code = wechat_fake.issue_code("o-1")
    with pytest.raises(ValidationFailed) as err:
        signin.wechat_sign_in(code, "abc", "xyz")
    assert err.value.field == "state"
    with pytest.raises(ValidationFailed):
        signin.wechat_sign_in(code, "abc", None)
    assert len(wechat_fake.requests) == 0  # refused before talking to WeChat


def test_wechat_refusal_without_code(brand, wechat_fake):
    with pytest.raises(ValidationFailed) as err:
        signin.wechat_sign_in(None, "s1", "s1")
    assert err.value.field == "code"


def test_wechat_unknown_identity_then_link(brand, wechat_fake):
    code = wechat_fake.issue_code("o-new", scope="snsapi_userinfo", unionid="u-new", nickname="新朋友")
    member, info = signin.wechat_sign_in(code, "s1", "s1", scope="snsapi_userinfo")
    assert member is None
    assert info["openid"] == "o-new" and info["unionid"] == "u-new" and info["nickname"] == "新朋友"
    assert not ChannelIdentity.objects.exists()

    signin.request_code(MOBILE, ip=None)
    member = signin.verify_code(MOBILE, last_code(MOBILE), ip=None)
    identity = signin.link_wechat_identity(member, info)
    assert (identity.member_id, identity.channel, identity.external_id, identity.unionid) == (
        member.pk,
        "wechat",
        "o-new",
        "u-new",
    )
    assert signin.link_wechat_identity(member, info).pk == identity.pk  # idempotent

    known, _info = signin.wechat_sign_in(wechat_fake.issue_code("o-new"), "s2", "s2")
    assert known is not None and known.pk == member.pk
    assert Event.objects.filter(member=member, type="member.signed_in", payload__method="wechat").count() == 1


def test_wechat_known_by_unionid_links_new_openid(brand, member_a, wechat_fake):
    ChannelIdentity.objects.create(member=member_a, channel="wecom", external_id="wm-ext-1", unionid="u-a")
    code = wechat_fake.issue_code("o-a", scope="snsapi_userinfo", unionid="u-a")
    member, _info = signin.wechat_sign_in(code, "s", "s", scope="snsapi_userinfo")
    assert member is not None and member.pk == member_a.pk
    assert ChannelIdentity.objects.filter(member=member_a, channel="wechat", external_id="o-a").exists()


def test_wechat_identity_of_erased_member_is_unknown(brand, member_a, wechat_fake):
    ChannelIdentity.objects.create(member=member_a, channel="wechat", external_id="o-x")
    Member.objects.filter(pk=member_a.pk).update(mobile=None, erased_at=timezone.now())
    member, _info = signin.wechat_sign_in(wechat_fake.issue_code("o-x"), "s", "s")
    assert member is None


def test_wechat_snapshot_user_refused(brand, wechat_fake):
    code = wechat_fake.issue_code("o-snap", snapshot=True)
    with pytest.raises(PermissionDenied):
        signin.wechat_sign_in(code, "s", "s")
    assert not ChannelIdentity.objects.exists()


@pytest.mark.parametrize("reuse", [False, True])
def test_wechat_bad_code(brand, wechat_fake, reuse):
    code = wechat_fake.issue_code("o-1") if reuse else "bogus"
    if reuse:
        signin.wechat_sign_in(code, "s", "s")
    with pytest.raises(ValidationFailed) as err:
        signin.wechat_sign_in(code, "s", "s")
    assert err.value.field == "code"


def test_wechat_unreachable(brand, settings):
    settings.SIYU_WECHAT_OAUTH = {
        **settings.SIYU_WECHAT_OAUTH,
        "app_id": "wx1",
        "app_secret": "s",
        "api_base": "http://127.0.0.1:9",
    }
    with pytest.raises(signin.ChannelUnavailable):
        signin.wechat_sign_in("code", "s", "s")


def test_link_conflict_with_other_member(brand, member_a, member_b):
    ChannelIdentity.objects.create(member=member_a, channel="wechat", external_id="o-taken")
    with pytest.raises(Conflict) as err:
        signin.link_wechat_identity(member_b, {"openid": "o-taken", "unionid": ""})
    assert err.value.field == "wechat"


def test_link_refused_for_erased_member(brand):
    member = MemberFactory(brand=brand, home_store=None, mobile=None, erased_at=timezone.now())
    with pytest.raises(Conflict):
        signin.link_wechat_identity(member, {"openid": "o-1"})
