"""WeChat Pay v3 against the local fake server; pay at pickup, SANDBOX and provider selection."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from siyu.channels.payments import (
    InvalidNotification,
    InvalidResponseSignature,
    PaymentError,
    PaymentNotConfigured,
    get_payment_provider,
)
from siyu.channels.payments.pay_at_pickup import PayAtPickupProvider
from siyu.channels.payments.sandbox import SandboxPaymentProvider, confirm_sandbox_payment
from siyu.channels.payments.wechatpay import (
    WechatPayProvider,
    authorization_header,
    format_time_expire,
    request_message,
)
from tests.fakes.wechatpay import (
    APIV3_KEY,
    APPID,
    MCHID,
    MERCHANT_SERIAL,
    FakeWechatPay,
    private_pem,
    rsa_test_key,
)

NOTIFY = "https://shop.example.com/api/payments/wechatpay/notify"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def _verify(key, message: bytes, signature_b64: str) -> None:
    key.public_key().verify(base64.b64decode(signature_b64), message, padding.PKCS1v15(), hashes.SHA256())


def _jsapi(provider, out_trade_no="SY20261125000001", amount=8800, expires_at=None):
    return provider.create_payment(
        out_trade_no=out_trade_no,
        amount_fen=amount,
        description="私域小店-拿铁 x2",
        payer_openid=OPENID,
        client_ip=None,
        notify_url=NOTIFY,
        expires_at=expires_at,
        kind="jsapi",
    )


# --- request signing ------------------------------------------------------------------------------------


def test_authorization_header_is_byte_exact_against_independent_vector():
    key = rsa_test_key(0)
    body = '{"appid":"wxd678efh567hg6787","mchid":"1900000109"}'
    header = authorization_header(
        mchid=MCHID,
        serial_no=MERCHANT_SERIAL,
        private_key=key,
        method="POST",
        url="/v3/pay/transactions/jsapi",
        body=body,
        timestamp="1554208460",
        nonce="593BEC0C930BF1AFEB40B4A08C8FB242",
    )
    # Computed here from the spec, not through our helper: PKCS#1 v1.5 is deterministic, so bytes must match.
    message = (
        b"POST\n/v3/pay/transactions/jsapi\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n"
        b'{"appid":"wxd678efh567hg6787","mchid":"1900000109"}\n'
    )
    expected_sig = base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
    assert header == (
        'WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",'
        f'timestamp="1554208460",serial_no="{MERCHANT_SERIAL}",signature="{expected_sig}"'
    )


def test_get_message_has_empty_body_line():
    assert request_message("get", "/v3/certificates", "1", "N", "") == "GET\n/v3/certificates\n1\nN\n\n"


def test_time_expire_is_rfc3339_in_china_time():
    moment = dt.datetime(2018, 6, 8, 2, 34, 56, 123456, tzinfo=dt.UTC)
    assert format_time_expire(moment) == "2018-06-08T10:34:56+08:00"
    with pytest.raises(ValueError):
        format_time_expire(dt.datetime(2018, 6, 8, 2, 34, 56))


def test_fake_rejects_requests_signed_with_another_key(wechatpay, settings):
    settings.SIYU_WECHATPAY = {**wechatpay.settings_dict(), "private_key_pem": private_pem(rsa_test_key(2))}
    with pytest.raises(PaymentError) as err:
        _jsapi(WechatPayProvider())
    assert err.value.code == "SIGN_ERROR" and err.value.status == 401 and not err.value.retryable


# --- orders ---------------------------------------------------------------------------------------------


def test_jsapi_order_body_headers_and_pay_sign(wechatpay):
    provider = get_payment_provider()
    assert isinstance(provider, WechatPayProvider)
    expires = dt.datetime(2026, 11, 25, 12, 30, tzinfo=dt.UTC)
    request = _jsapi(provider, expires_at=expires)

    sent = [r for r in wechatpay.requests if r.path == "/v3/pay/transactions/jsapi"][-1]
    assert sent.json() == {
        "appid": APPID,
        "mchid": MCHID,
        "description": "私域小店-拿铁 x2",
        "out_trade_no": "SY20261125000001",
        "notify_url": NOTIFY,
        "time_expire": "2026-11-25T20:30:00+08:00",
        "amount": {"total": 8800, "currency": "CNY"},
        "payer": {"openid": OPENID},
    }
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["user-agent"]
    assert sent.headers["wechatpay-serial"] == wechatpay.current.serial
    assert sent.auth["serial"] == MERCHANT_SERIAL

    order = wechatpay.orders["SY20261125000001"]
    assert request.kind == "jsapi" and request.requires_online_payment
    assert request.prepay_id == order["prepay_id"]
    params = request.jsapi_params
    assert params is not None
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["appId"] == APPID and params["signType"] == "RSA"
    assert params["package"] == f"prepay_id={order['prepay_id']}"
    assert params["timeStamp"].isdigit() and abs(int(params["timeStamp"]) - time.time()) < 60
    message = f"{APPID}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n".encode()
    _verify(wechatpay.merchant_key, message, params["paySign"])


def test_h5_order_body(wechatpay):
    request = get_payment_provider().create_payment(
        out_trade_no="SY20261125000002",
        amount_fen=1,
        description="私域小店",
        payer_openid=None,
        client_ip="203.0.113.9",
        notify_url=NOTIFY,
        expires_at=None,
        kind="h5",
    )
    sent = wechatpay.requests[-1]
    assert sent.path == "/v3/pay/transactions/h5"
    assert sent.json() == {
        "appid": APPID,
        "mchid": MCHID,
        "description": "私域小店",
        "out_trade_no": "SY20261125000002",
        "notify_url": NOTIFY,
        "amount": {"total": 1, "currency": "CNY"},
        "scene_info": {"payer_client_ip": "203.0.113.9", "h5_info": {"type": "Wap"}},
    }
    assert request.kind == "h5" and request.h5_url.startswith("https://wx.tenpay.com/")


def test_local_validation_refuses_before_calling(wechatpay):
    provider = get_payment_provider()
    with pytest.raises(PaymentError) as err:
        _jsapi(provider, out_trade_no="bad no!")
    assert err.value.code == "PARAM_ERROR" and not err.value.retryable
    with pytest.raises(PaymentError):
        _jsapi(provider, amount=0)
    assert not [r for r in wechatpay.requests if r.path.startswith("/v3/pay")]


def test_spec_error_format_is_surfaced(wechatpay):
    provider = get_payment_provider()
    _jsapi(provider)
    with pytest.raises(PaymentError) as err:
        _jsapi(provider, amount=9900)  # same out_trade_no, different amount
    assert err.value.code == "INVALID_REQUEST" and not err.value.retryable
    wechatpay.fail_next = (500, "SYSTEM_ERROR", "系统错误")
    with pytest.raises(PaymentError) as err:
        provider.query_payment("SY20261125000001")
    assert err.value.retryable and err.value.code == "SYSTEM_ERROR"


def test_unreachable_is_retryable(wechatpay, settings):
    settings.SIYU_WECHATPAY = {**wechatpay.settings_dict(), "api_base": "http://127.0.0.1:9"}
    with pytest.raises(PaymentError) as err:
        _jsapi(WechatPayProvider())
    assert err.value.retryable


def test_tampered_response_is_rejected(wechatpay):
    provider = get_payment_provider()
    _jsapi(provider, out_trade_no="SY20261125000009")  # certificates now cached
    wechatpay.tamper_next_response = True
    with pytest.raises(InvalidResponseSignature):
        _jsapi(provider, out_trade_no="SY20261125000010")


def test_query_and_close(wechatpay):
    provider = get_payment_provider()
    _jsapi(provider)
    status = provider.query_payment("SY20261125000001")
    assert status.state == "NOTPAY" and not status.paid
    sent = wechatpay.requests[-1]
    assert sent.target == f"/v3/pay/transactions/out-trade-no/SY20261125000001?mchid={MCHID}"
    assert sent.method == "GET" and sent.body == b""

    wechatpay.pay("SY20261125000001")
    status = provider.query_payment("SY20261125000001")
    assert status.paid and status.amount_fen == 8800 and status.payer_total_fen == 8800
    assert status.transaction_id.startswith("4200000") and status.payer_openid == OPENID
    assert status.success_time is not None and status.success_time.utcoffset() == dt.timedelta(hours=8)

    _jsapi(provider, out_trade_no="SY20261125000003")
    provider.close_payment("SY20261125000003")
    assert wechatpay.requests[-1].json() == {"mchid": MCHID}
    assert provider.query_payment("SY20261125000003").state == "CLOSED"

    with pytest.raises(PaymentError) as err:
        provider.query_payment("SY20261125999999")
    assert err.value.status == 404 and not err.value.retryable


# --- notifications --------------------------------------------------------------------------------------


def _paid_notification(fake: FakeWechatPay, provider, **kwargs):
    _jsapi(provider)
    transaction = fake.pay("SY20261125000001")
    return transaction, fake.build_notification(transaction, **kwargs)


def test_valid_notification_is_verified_and_decrypted(wechatpay):
    provider = get_payment_provider()
    transaction, (headers, body) = _paid_notification(wechatpay, provider)
    notice = provider.parse_notification(headers, body)
    assert notice.event_type == "TRANSACTION.SUCCESS" and notice.paid
    assert notice.out_trade_no == "SY20261125000001" and notice.amount_fen == 8800
    assert notice.transaction_id == transaction["transaction_id"]
    assert notice.notification_id == json.loads(body)["id"]
    assert notice.raw == transaction
    # Header names arrive in any case (Django's request.headers, WSGI, test clients).
    assert provider.parse_notification({k.lower(): v for k, v in headers.items()}, body).paid


@pytest.mark.parametrize(
    ("forgery", "code"),
    [
        ({"tamper_body_after_signing": True}, "bad_signature"),
        ({"signing_key": "other"}, "bad_signature"),
        ({"tamper_ciphertext": True}, "decrypt"),
        ({"apiv3_key": "Z" * 32}, "decrypt"),
        ({"timestamp": -300}, "stale"),
        ({"timestamp": +310}, "stale"),  # future: a clock far ahead is as suspect
        ({"serial": "0123456789ABCDEF"}, "unknown_serial"),
    ],
)
def test_forged_notifications_are_rejected(wechatpay, forgery, code):
    provider = get_payment_provider()
    if forgery.get("signing_key") == "other":
        forgery = {"signing_key": rsa_test_key(2)}
    if "timestamp" in forgery:
        forgery = {"timestamp": int(time.time()) + forgery["timestamp"]}
    _transaction, (headers, body) = _paid_notification(wechatpay, provider, **forgery)
    with pytest.raises(InvalidNotification) as err:
        provider.parse_notification(headers, body)
    assert err.value.code == code and not err.value.retryable


def test_timestamp_just_inside_window_is_accepted(wechatpay):
    provider = get_payment_provider()
    _t, (headers, body) = _paid_notification(wechatpay, provider, timestamp=int(time.time()) - 290)
    assert provider.parse_notification(headers, body).paid


def test_missing_headers_and_wrong_type_are_rejected(wechatpay):
    provider = get_payment_provider()
    _t, (headers, body) = _paid_notification(wechatpay, provider)
    with pytest.raises(InvalidNotification):
        provider.parse_notification({k: v for k, v in headers.items() if k != "Wechatpay-Signature"}, body)
    with pytest.raises(InvalidNotification) as err:
        provider.parse_refund_notification(headers, body)
    assert err.value.code == "wrong_type"


# --- refunds --------------------------------------------------------------------------------------------


def test_refund_query_and_refund_notification(wechatpay):
    provider = get_payment_provider()
    _jsapi(provider)
    wechatpay.pay("SY20261125000001")
    result = provider.refund(
        out_trade_no="SY20261125000001",
        out_refund_no="RF20261125000001",
        amount_fen=3000,
        total_fen=8800,
        reason="顾客退一杯",
        notify_url=NOTIFY + "/refund",
    )
    assert wechatpay.requests[-1].path == "/v3/refund/domestic/refunds"
    assert wechatpay.requests[-1].json() == {
        "out_trade_no": "SY20261125000001",
        "out_refund_no": "RF20261125000001",
        "reason": "顾客退一杯",
        "notify_url": NOTIFY + "/refund",
        "amount": {"refund": 3000, "total": 8800, "currency": "CNY"},
    }
    assert result.status == "PROCESSING" and result.refund_fen == 3000 and result.total_fen == 8800
    assert result.refund_id

    assert provider.query_refund("RF20261125000001").refund_id == result.refund_id

    headers, body = wechatpay.build_notification(
        wechatpay.refund_notification_plain("RF20261125000001"),
        original_type="refund",
        event_type="REFUND.SUCCESS",
    )
    notice = provider.parse_refund_notification(headers, body)
    assert notice.event_type == "REFUND.SUCCESS" and notice.status == "SUCCESS"
    assert notice.out_refund_no == "RF20261125000001" and notice.refund_fen == 3000
    with pytest.raises(InvalidNotification):
        provider.parse_notification(headers, body)

    with pytest.raises(PaymentError) as err:
        provider.refund(
            out_trade_no="SY20261125000001",
            out_refund_no="RF20261125000002",
            amount_fen=6000,
            total_fen=8800,
            reason="",
            notify_url="",
        )
    assert err.value.code == "INVALID_REQUEST"


# --- platform certificates / public key -----------------------------------------------------------------


def test_certificates_downloaded_decrypted_and_cached(wechatpay):
    provider = get_payment_provider()
    _jsapi(provider)
    provider.query_payment("SY20261125000001")
    _t, (headers, body) = _paid_notification(wechatpay, WechatPayProvider())
    WechatPayProvider().parse_notification(headers, body)
    downloads = [r for r in wechatpay.requests if r.path == "/v3/certificates"]
    assert len(downloads) == 1
    assert downloads[0].target == "/v3/certificates" and downloads[0].body == b""
    assert "wechatpay-serial" not in downloads[0].headers


def test_rotated_platform_certificate_is_fetched_on_unknown_serial(wechatpay, monkeypatch):
    from siyu.channels.payments import wechatpay as module

    provider = get_payment_provider()
    _jsapi(provider)  # caches the first certificate
    wechatpay.add_platform_key(rsa_test_key(3))
    monkeypatch.setattr(module, "_MIN_REFRESH_SECONDS", 0)
    transaction = wechatpay.pay("SY20261125000001")
    headers, body = wechatpay.build_notification(transaction)
    assert headers["Wechatpay-Serial"] == wechatpay.current.serial
    assert provider.parse_notification(headers, body).paid
    assert len([r for r in wechatpay.requests if r.path == "/v3/certificates"]) == 2


def test_wrong_apiv3_key_cannot_decrypt_certificates(wechatpay, settings):
    settings.SIYU_WECHATPAY = {**wechatpay.settings_dict(), "apiv3_key": "Q" * 32}
    with pytest.raises(PaymentError) as err:
        _jsapi(WechatPayProvider())
    assert err.value.code == "certificate_decrypt_failed"


def test_public_key_mode_needs_no_certificates(wechatpay_pubkey):
    provider = get_payment_provider()
    transaction, (headers, body) = _paid_notification(wechatpay_pubkey, provider)
    assert headers["Wechatpay-Serial"].startswith("PUB_KEY_ID_")
    assert provider.parse_notification(headers, body).transaction_id == transaction["transaction_id"]
    assert wechatpay_pubkey.requests[0].headers["wechatpay-serial"].startswith("PUB_KEY_ID_")
    assert not [r for r in wechatpay_pubkey.requests if r.path == "/v3/certificates"]
    forged_headers, forged_body = wechatpay_pubkey.build_notification(
        transaction, signing_key=rsa_test_key(2)
    )
    with pytest.raises(InvalidNotification):
        provider.parse_notification(forged_headers, forged_body)


# --- configuration and provider selection ---------------------------------------------------------------


def test_default_provider_is_pay_at_pickup(settings):
    if hasattr(settings, "SIYU_PAYMENT_PROVIDER"):
        del settings.SIYU_PAYMENT_PROVIDER
    provider = get_payment_provider()
    assert isinstance(provider, PayAtPickupProvider) and not provider.requires_online_payment
    request = _jsapi(provider)
    assert (
        request.kind == "pay_at_pickup" and not request.requires_online_payment and request.amount_fen == 8800
    )
    with pytest.raises(InvalidNotification):
        provider.parse_notification({}, b"{}")
    with pytest.raises(PaymentError):
        provider.refund(
            out_trade_no="x", out_refund_no="y", amount_fen=1, total_fen=1, reason="", notify_url=""
        )


def test_sandbox_refused_outside_debug_and_testing(settings):
    settings.SIYU_PAYMENT_PROVIDER = "sandbox"
    settings.DEBUG = False
    settings.TESTING = False
    with pytest.raises(PaymentNotConfigured):
        get_payment_provider()
    with pytest.raises(PaymentNotConfigured):
        confirm_sandbox_payment("SB0000001")
    settings.DEBUG = True
    assert isinstance(get_payment_provider(), SandboxPaymentProvider)


def test_sandbox_flow(settings):
    settings.SIYU_PAYMENT_PROVIDER = "sandbox"
    provider = get_payment_provider()
    # Sandbox trades live in the shared cache (Redis when set): a fresh trade number per run.
    trade = "SB" + uuid.uuid4().hex[:20].upper()
    request = _jsapi(provider, out_trade_no=trade)
    assert request.sandbox and request.h5_url == f"/h5/pay/sandbox/{trade}/"
    assert provider.query_payment(trade).state == "NOTPAY"
    notice = confirm_sandbox_payment(trade)
    assert notice.sandbox and notice.paid and notice.amount_fen == 8800 and notice.provider == "sandbox"
    assert confirm_sandbox_payment(trade).notification_id == notice.notification_id
    assert provider.query_payment(trade).paid
    refund = provider.refund(
        out_trade_no=trade,
        out_refund_no="R" + trade,
        amount_fen=8800,
        total_fen=8800,
        reason="",
        notify_url="",
    )
    assert refund.status == "SUCCESS"
    with pytest.raises(InvalidNotification):
        provider.parse_notification({}, b"")


def test_unknown_provider_and_missing_wechatpay_config(settings):
    settings.SIYU_PAYMENT_PROVIDER = "alipay"
    with pytest.raises(PaymentNotConfigured):
        get_payment_provider()
    settings.SIYU_PAYMENT_PROVIDER = "wechatpay"
    settings.SIYU_WECHATPAY = {"mchid": MCHID}
    with pytest.raises(PaymentNotConfigured) as err:
        get_payment_provider()
    assert "SIYU_WECHATPAY_APIV3_KEY" in str(err.value)
    settings.SIYU_WECHATPAY = {
        "mchid": MCHID,
        "appid": APPID,
        "serial_no": MERCHANT_SERIAL,
        "private_key_pem": private_pem(rsa_test_key(0)),
        "apiv3_key": APIV3_KEY[:31],
    }
    with pytest.raises(PaymentNotConfigured):
        get_payment_provider()


def test_fake_checks_order_bodies_in_spec_error_format(wechatpay):
    provider = get_payment_provider()
    with pytest.raises(PaymentError) as err:
        provider._call("POST", "/v3/pay/transactions/jsapi", {"appid": APPID, "mchid": MCHID})
    assert err.value.code == "PARAM_ERROR" and err.value.status == 400
    assert "payer.openid required" in err.value.message


def test_notification_reply_format():
    from siyu.channels.payments.wechatpay import notification_reply

    assert notification_reply(None) == (204, b"")
    status, body = notification_reply(InvalidNotification("bad", code="bad_signature"))
    assert status == 400 and json.loads(body) == {"code": "FAIL", "message": "bad"}
