"""Fake Tencent Cloud SMS and Aliyun dysmsapi servers that verify our signatures.

The signature checks are written here from the provider specs, independently of ``siyu.channels.sms``,
so a mistake in our signing code is caught rather than mirrored.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fakes import FakeServer, RecordedRequest, Reply

TENCENT_SECRET_ID = "AKIDfakeSecretId0000000000000000"
TENCENT_SECRET_KEY = "fakeTencentSecretKey000000000000"
ALIYUN_KEY_ID = "LTAIfakeAccessKeyId00"
ALIYUN_KEY_SECRET = "fakeAliyunAccessKeySecret00000"

_AUTH_RE = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<sid>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z]+)"
    r"/tc3_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})$"
)


class FakeTencentSms(FakeServer):
    """``POST /`` SendSms, API 3.0. Set ``per_number_code`` (e.g. "LimitExceeded.PhoneNumberDailyLimit")
    to make the next sends fail per number, or ``error`` to answer with a top-level Error."""

    def __init__(self, secret_id: str = TENCENT_SECRET_ID, secret_key: str = TENCENT_SECRET_KEY) -> None:
        super().__init__()
        self.secret_id, self.secret_key = secret_id, secret_key
        self.sent: list[dict[str, Any]] = []  # accepted messages: {"phone", "params", "sign", "template"}
        self.per_number_code: str | None = None
        self.error: tuple[str, str] | None = None

    def codes_for(self, mobile: str) -> list[str]:
        return [m["params"][0] for m in self.sent if m["phone"] == f"+86{mobile}"]

    def _error(self, code: str, message: str) -> Reply:
        return 200, {
            "Response": {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}
        }

    def _expected_signature(self, req: RecordedRequest, date: str, service: str, signed: str) -> str:
        # Header names and values are lower-cased in the canonical form (spec), e.g. x-tc-action:sendsms.
        canonical_headers = "".join(
            f"{n}:{req.headers.get(n, '').strip().lower()}\n" for n in signed.split(";")
        )
        canonical = "\n".join(
            [
                req.method,
                req.path or "/",
                "",
                canonical_headers,
                signed,
                hashlib.sha256(req.body).hexdigest(),
            ]
        )
        timestamp = req.headers.get("x-tc-timestamp", "")
        to_sign = (
            f"TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n"
            f"{hashlib.sha256(canonical.encode()).hexdigest()}"
        )

        def sign(key: bytes, msg: str) -> bytes:
            return hmac.new(key, msg.encode(), hashlib.sha256).digest()

        k = sign(sign(sign(f"TC3{self.secret_key}".encode(), date), service), "tc3_request")
        return hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()

    def handle(self, req: RecordedRequest) -> Reply:
        if req.method != "POST":
            return self._error("InvalidParameter", "Only POST is supported here")
        match = _AUTH_RE.match(req.headers.get("authorization", ""))
        if not match:
            return self._error("AuthFailure.InvalidAuthorization", "Authorization header is malformed")
        if match["sid"] != self.secret_id:
            return self._error("AuthFailure.SecretIdNotFound", "The SecretId is not found")
        if match["service"] != "sms" or not {"content-type", "host"} <= set(match["signed"].split(";")):
            return self._error(
                "AuthFailure.InvalidAuthorization", "Credential scope or signed headers invalid"
            )
        try:
            timestamp = int(req.headers.get("x-tc-timestamp", ""))
        except ValueError:
            return self._error("MissingParameter", "X-TC-Timestamp is missing")
        if abs(time.time() - timestamp) > 300:
            return self._error("AuthFailure.SignatureExpire", "Signature expired")
        if datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d") != match["date"]:
            return self._error("AuthFailure.SignatureFailure", "Credential date does not match the timestamp")
        expected = self._expected_signature(req, match["date"], match["service"], match["signed"])
        if not hmac.compare_digest(expected, match["sig"]):
            return self._error(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated. Please check your signature is correct.",
            )
        if req.headers.get("x-tc-action") != "SendSms" or req.headers.get("x-tc-version") != "2021-01-11":
            return self._error("InvalidAction", "The action or version is not supported")
        if not req.headers.get("x-tc-region"):
            return self._error("MissingParameter", "X-TC-Region is missing")
        if self.error:
            return self._error(*self.error)
        body = req.json()
        for key in ("SmsSdkAppId", "SignName", "TemplateId", "PhoneNumberSet"):
            if not body.get(key):
                return self._error(
                    "MissingParameter", f"The request is missing a required parameter `{key}`."
                )
        statuses = []
        for phone in body["PhoneNumberSet"]:
            if self.per_number_code:
                code, message = self.per_number_code, "refused by the fake"
            elif not re.fullmatch(r"\+861[3-9]\d{9}", phone):
                code, message = "InvalidParameterValue.IncorrectPhoneNumber", "incorrect phone number"
            else:
                code, message = "Ok", "send success"
                self.sent.append(
                    {
                        "phone": phone,
                        "params": body.get("TemplateParamSet", []),
                        "sign": body["SignName"],
                        "template": body["TemplateId"],
                    }
                )
            statuses.append(
                {
                    "SerialNo": f"2028:{uuid.uuid4().int % 10**20}",
                    "PhoneNumber": phone,
                    "Fee": 1 if code == "Ok" else 0,
                    "SessionContext": "",
                    "Code": code,
                    "Message": message,
                    "IsoCode": "CN",
                }
            )
        return 200, {"Response": {"SendStatusSet": statuses, "RequestId": str(uuid.uuid4())}}


def _pe(value: str) -> str:
    # RFC 3986: only A-Z a-z 0-9 - _ . ~ stay as they are.
    out = []
    for byte in value.encode("utf-8"):
        ch = chr(byte)
        if ch.isascii() and (ch.isalnum() or ch in "-_.~"):
            out.append(ch)
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


class FakeAliyunSms(FakeServer):
    """dysmsapi RPC endpoint (GET query or POST form). ``fail_code`` makes sends fail with that Code."""

    def __init__(self, key_id: str = ALIYUN_KEY_ID, key_secret: str = ALIYUN_KEY_SECRET) -> None:
        super().__init__()
        self.key_id, self.key_secret = key_id, key_secret
        self.sent: list[dict[str, Any]] = []  # {"phone", "params", "sign", "template"}
        self.fail_code: str | None = None
        self._nonces: set[str] = set()

    def codes_for(self, mobile: str) -> list[str]:
        return [m["params"]["code"] for m in self.sent if m["phone"] == mobile]

    @staticmethod
    def _error(status: int, code: str, message: str) -> Reply:
        return status, {
            "Code": code,
            "Message": message,
            "RequestId": str(uuid.uuid4()).upper(),
            "HostId": "dysmsapi.aliyuncs.com",
            "Recommend": "https://next.api.aliyun.com/troubleshoot",
        }

    def handle(self, req: RecordedRequest) -> Reply:
        params = {**req.query, **req.form}
        for key in ("AccessKeyId", "Signature", "SignatureNonce", "Timestamp", "SignatureMethod"):
            if not params.get(key):
                return self._error(400, "MissingParameter", f"{key} is mandatory for this action.")
        if params["AccessKeyId"] != self.key_id:
            return self._error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if params["SignatureMethod"] != "HMAC-SHA1" or params.get("SignatureVersion") != "1.0":
            return self._error(400, "InvalidParameter", "Unsupported signature method or version.")
        try:
            ts = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return self._error(400, "InvalidTimeStamp.Format", "Specified time stamp is not valid.")
        if abs(time.time() - ts.timestamp()) > 900:
            return self._error(
                400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
            )
        unsigned = sorted((k, v) for k, v in params.items() if k != "Signature")
        query = "&".join(f"{_pe(k)}={_pe(v)}" for k, v in unsigned)
        to_sign = f"{req.method}&{_pe('/')}&{_pe(query)}"
        expected = base64.b64encode(
            hmac.new(f"{self.key_secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
        ).decode()
        if not hmac.compare_digest(expected, params["Signature"]):
            return self._error(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation. "
                f"server string to sign is:{to_sign}",
            )
        if params["SignatureNonce"] in self._nonces:
            return self._error(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self._nonces.add(params["SignatureNonce"])
        if params.get("Action") != "SendSms" or params.get("Version") != "2017-05-25":
            return self._error(400, "InvalidAction.NotFound", "Specified api is not found.")
        for key in ("PhoneNumbers", "SignName", "TemplateCode"):
            if not params.get(key):
                return self._error(400, "MissingParameter", f"{key} is mandatory for this action.")
        request_id = str(uuid.uuid4()).upper()
        if self.fail_code:
            return 200, {"Code": self.fail_code, "Message": "refused by the fake", "RequestId": request_id}
        phones = params["PhoneNumbers"].split(",")
        if any(not re.fullmatch(r"1[3-9]\d{9}", p) for p in phones):
            return 200, {
                "Code": "isv.MOBILE_NUMBER_ILLEGAL",
                "Message": "非法手机号",
                "RequestId": request_id,
            }
        try:
            template_params = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            return 200, {
                "Code": "isv.INVALID_JSON_PARAM",
                "Message": "JSON参数不合法",
                "RequestId": request_id,
            }
        for phone in phones:
            self.sent.append(
                {
                    "phone": phone,
                    "params": template_params,
                    "sign": params["SignName"],
                    "template": params["TemplateCode"],
                }
            )
        return 200, {
            "Code": "OK",
            "Message": "OK",
            "BizId": f"{uuid.uuid4().int % 10**18}^0",
            "RequestId": request_id,
        }


@pytest.fixture
def tencent_sms(settings):
    """A running FakeTencentSms; settings point the ``tencent`` provider at it."""
    with FakeTencentSms() as fake:
        sms = copy.deepcopy(settings.SIYU_SMS)
        sms["tencent"].update(
            secret_id=TENCENT_SECRET_ID,
            secret_key=TENCENT_SECRET_KEY,
            sdk_app_id="1400000000",
            sign_name="私域测试",
            template_id="123456",
            region="ap-guangzhou",
            endpoint=fake.url + "/",
        )
        settings.SIYU_SMS = sms
        settings.SIYU_SMS_PROVIDER = "tencent"
        yield fake


@pytest.fixture
def aliyun_sms(settings):
    """A running FakeAliyunSms; settings point the ``aliyun`` provider at it."""
    with FakeAliyunSms() as fake:
        sms = copy.deepcopy(settings.SIYU_SMS)
        sms["aliyun"].update(
            access_key_id=ALIYUN_KEY_ID,
            access_key_secret=ALIYUN_KEY_SECRET,
            sign_name="私域测试",
            template_code="SMS_000000001",
            endpoint=fake.url + "/",
        )
        settings.SIYU_SMS = sms
        settings.SIYU_SMS_PROVIDER = "aliyun"
        yield fake
