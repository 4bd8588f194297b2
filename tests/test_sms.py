"""SMS connectors against the local provider fakes, which verify our signatures."""

from __future__ import annotations

import copy
import json
import logging

import pytest

from siyu.channels.sms import SmsNotConfigured, get_sms_sender
from siyu.channels.sms.aliyun import AliyunSmsSender, percent_encode, rpc_signature
from siyu.channels.sms.console import ConsoleSmsSender, clear_codes, last_code
from siyu.channels.sms.tencent import TencentSmsSender, tc3_signature

MOBILE = "13812341234"


# --- known-answer vectors from the providers' documentation ----------------------------------------


def test_tc3_signature_matches_tencent_documentation_example():
    payload = '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    date, signature = tc3_signature(
        secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        host="cvm.tencentcloudapi.com",
        payload=payload,
        timestamp=1551113065,
        service="cvm",
    )
    assert date == "2019-02-25"
    assert signature == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"


def test_aliyun_rpc_signature_matches_documentation_example():
    params = {
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "Format": "XML",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "SignatureVersion": "1.0",
        "Timestamp": "2016-02-23T12:46:24Z",
        "Version": "2014-05-26",
    }
    assert rpc_signature("GET", params, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_aliyun_percent_encoding_is_rfc3986():
    assert percent_encode("a b*c~d/é+") == "a%20b%2Ac~d%2F%C3%A9%2B"


# --- Tencent -----------------------------------------------------------------------------------------


def test_tencent_send_accepted_by_fake(tencent_sms):
    result = get_sms_sender().send_code(MOBILE, "123456")
    assert result.ok, result
    assert result.provider == "tencent"
    assert result.message_id
    assert tencent_sms.codes_for(MOBILE) == ["123456"]
    req = tencent_sms.requests[-1]
    assert req.headers["x-tc-action"] == "SendSms"
    assert req.headers["x-tc-version"] == "2021-01-11"
    assert req.headers["x-tc-region"] == "ap-guangzhou"
    assert req.headers["content-type"] == "application/json; charset=utf-8"
    assert req.headers["authorization"].startswith("TC3-HMAC-SHA256 Credential=AKIDfake")
    assert "SignedHeaders=content-type;host," in req.headers["authorization"]
    body = req.json()
    assert body["PhoneNumberSet"] == ["+8613812341234"]
    assert body["TemplateParamSet"] == ["123456"]
    assert body["SmsSdkAppId"] == "1400000000"


def test_tencent_wrong_secret_rejected_by_fake(tencent_sms, settings):
    cfg = copy.deepcopy(settings.SIYU_SMS)
    cfg["tencent"]["secret_key"] = "not-the-secret"
    settings.SIYU_SMS = cfg
    result = get_sms_sender().send_code(MOBILE, "123456")
    assert not result.ok
    assert result.error_code == "AuthFailure.SignatureFailure"
    assert tencent_sms.sent == []


def test_tencent_tampered_body_rejected(tencent_sms):
    import httpx

    sender = TencentSmsSender()
    request = sender.build_request(MOBILE, "123456")
    tampered = json.loads(request.content)
    tampered["PhoneNumberSet"] = ["+8613900000000"]
    forged = httpx.Request(
        "POST", request.url, headers=dict(request.headers), content=json.dumps(tampered).encode()
    )
    forged.headers["Content-Length"] = str(len(forged.content))
    with httpx.Client() as client:
        data = client.send(forged).json()
    assert sender.parse_response(data).error_code == "AuthFailure.SignatureFailure"
    assert tencent_sms.sent == []


def test_tencent_per_number_failure(tencent_sms):
    tencent_sms.per_number_code = "LimitExceeded.PhoneNumberDailyLimit"
    result = get_sms_sender().send_code(MOBILE, "123456")
    assert not result.ok
    assert result.error_code == "LimitExceeded.PhoneNumberDailyLimit"


def test_tencent_top_level_error(tencent_sms):
    tencent_sms.error = ("FailedOperation.InsufficientBalanceInSmsPackage", "no balance")
    result = get_sms_sender().send_code(MOBILE, "123456")
    assert (result.ok, result.error_code) == (False, "FailedOperation.InsufficientBalanceInSmsPackage")


def test_tencent_ok_is_case_sensitive():
    sender = TencentSmsSender(
        {
            "secret_id": "x",
            "secret_key": "y",
            "sdk_app_id": "1",
            "sign_name": "s",
            "template_id": "t",
            "endpoint": "http://127.0.0.1:9/",
        }
    )
    data = {"Response": {"SendStatusSet": [{"Code": "OK", "Message": "?"}], "RequestId": "r"}}
    assert not sender.parse_response(data).ok


def test_tencent_unreachable_is_a_failed_result(settings):
    cfg = copy.deepcopy(settings.SIYU_SMS)
    cfg["tencent"].update(
        secret_id="a",
        secret_key="b",
        sdk_app_id="1",
        sign_name="s",
        template_id="t",
        endpoint="http://127.0.0.1:9/",
    )
    settings.SIYU_SMS, settings.SIYU_SMS_PROVIDER = cfg, "tencent"
    result = get_sms_sender().send_code(MOBILE, "123456")
    assert (result.ok, result.error_code) == (False, "network_error")


def test_tencent_missing_credentials_is_a_configuration_error(settings):
    cfg = copy.deepcopy(settings.SIYU_SMS)
    cfg["tencent"].update(secret_id="", secret_key="")
    settings.SIYU_SMS, settings.SIYU_SMS_PROVIDER = cfg, "tencent"
    with pytest.raises(SmsNotConfigured, match="SIYU_TENCENT_SECRET_ID"):
        get_sms_sender()


# --- Aliyun ------------------------------------------------------------------------------------------


def test_aliyun_send_accepted_by_fake(aliyun_sms):
    result = get_sms_sender().send_code(MOBILE, "654321")
    assert result.ok, result
    assert result.provider == "aliyun"
    assert result.message_id
    assert aliyun_sms.codes_for(MOBILE) == ["654321"]
    form = aliyun_sms.requests[-1].form
    assert aliyun_sms.requests[-1].method == "POST"
    assert form["Action"] == "SendSms"
    assert form["Version"] == "2017-05-25"
    assert form["RegionId"] == "cn-hangzhou"
    assert form["SignatureMethod"] == "HMAC-SHA1"
    assert form["SignatureVersion"] == "1.0"
    assert form["Format"] == "JSON"
    assert form["SignName"] == "私域测试"
    assert json.loads(form["TemplateParam"]) == {"code": "654321"}


def test_aliyun_wrong_secret_rejected_by_fake(aliyun_sms, settings):
    cfg = copy.deepcopy(settings.SIYU_SMS)
    cfg["aliyun"]["access_key_secret"] = "not-the-secret"
    settings.SIYU_SMS = cfg
    result = get_sms_sender().send_code(MOBILE, "654321")
    assert (result.ok, result.error_code) == (False, "SignatureDoesNotMatch")
    assert aliyun_sms.sent == []


def test_aliyun_tampered_parameter_rejected(aliyun_sms):
    import httpx

    sender = AliyunSmsSender()
    params = sender.signed_params(MOBILE, "654321")
    params["PhoneNumbers"] = "13900000000"
    response = httpx.post(aliyun_sms.url + "/", data=params)
    assert response.status_code == 400
    assert response.json()["Code"] == "SignatureDoesNotMatch"
    assert aliyun_sms.sent == []


def test_aliyun_replayed_nonce_rejected(aliyun_sms):
    import httpx

    params = AliyunSmsSender().signed_params(MOBILE, "654321")
    assert httpx.post(aliyun_sms.url + "/", data=params).json()["Code"] == "OK"
    assert httpx.post(aliyun_sms.url + "/", data=params).json()["Code"] == "SignatureNonceUsed"


def test_aliyun_unknown_access_key(aliyun_sms, settings):
    cfg = copy.deepcopy(settings.SIYU_SMS)
    cfg["aliyun"]["access_key_id"] = "LTAIunknown"
    settings.SIYU_SMS = cfg
    result = get_sms_sender().send_code(MOBILE, "654321")
    assert (result.ok, result.error_code) == (False, "InvalidAccessKeyId.NotFound")


@pytest.mark.parametrize("code", ["isv.BUSINESS_LIMIT_CONTROL", "isv.MOBILE_NUMBER_ILLEGAL"])
def test_aliyun_business_errors(aliyun_sms, code):
    aliyun_sms.fail_code = code
    result = get_sms_sender().send_code(MOBILE, "654321")
    assert (result.ok, result.error_code) == (False, code)


# --- console and factory -----------------------------------------------------------------------------


def test_console_logs_and_remembers(settings, caplog):
    settings.SIYU_SMS_PROVIDER = "console"
    clear_codes()
    with caplog.at_level(logging.INFO, logger="siyu.sms"):
        result = get_sms_sender().send_code(MOBILE, "111222")
    assert result.ok and result.provider == "console"
    assert last_code(MOBILE) == "111222"
    assert "111222" in caplog.text
    assert MOBILE not in caplog.text  # the number is masked in the log


def test_console_refused_outside_debug_and_tests(settings):
    settings.DEBUG = False
    settings.TESTING = False
    settings.SIYU_SMS_PROVIDER = "console"
    with pytest.raises(SmsNotConfigured, match="SIYU_DEBUG"):
        get_sms_sender()
    settings.TESTING = True
    sender = ConsoleSmsSender()
    settings.TESTING = False
    with pytest.raises(SmsNotConfigured):
        sender.send_code(MOBILE, "123456")


@pytest.mark.parametrize("provider", ["", "twilio"])
def test_unset_or_unknown_provider(settings, provider):
    settings.SIYU_SMS_PROVIDER = provider
    with pytest.raises(SmsNotConfigured):
        get_sms_sender()
