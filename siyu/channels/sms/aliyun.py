"""Aliyun SMS (dysmsapi 2017-05-25) ``SendSms`` with the RPC signature v1 (HMAC-SHA1).

See /work/shared/specs/sms.md. The template must use one variable, ``${code}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings

from siyu.channels.sms.base import HTTP_TIMEOUT, SendResult, SmsSender, require_config

VERSION = "2017-05-25"
REGION = "cn-hangzhou"

_ENV_NAMES = {
    "access_key_id": "SIYU_ALIYUN_ACCESS_KEY_ID",
    "access_key_secret": "SIYU_ALIYUN_ACCESS_KEY_SECRET",
    "sign_name": "SIYU_ALIYUN_SMS_SIGN",
    "template_code": "SIYU_ALIYUN_SMS_TEMPLATE",
    "endpoint": "SIYU_ALIYUN_SMS_ENDPOINT",
}


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as Aliyun's pe(): unreserved characters kept, space %20, ``*`` %2A, ``~`` kept."""
    return quote(value, safe="~")


def canonical_query(params: dict[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))


def rpc_signature(method: str, params: dict[str, str], secret: str) -> str:
    """base64(HMAC-SHA1(secret + "&", METHOD&%2F&pe(canonical query))) over every parameter but Signature."""
    unsigned = {k: v for k, v in params.items() if k != "Signature"}
    string_to_sign = f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query(unsigned))}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


class AliyunSmsSender(SmsSender):
    provider = "aliyun"

    def __init__(self, config: dict[str, str] | None = None) -> None:
        self.config = dict(config if config is not None else settings.SIYU_SMS["aliyun"])
        require_config(self.provider, self.config, _ENV_NAMES)

    def signed_params(
        self, mobile: str, code: str, *, nonce: str | None = None, now: datetime | None = None
    ) -> dict[str, str]:
        """Every request parameter including ``Signature`` (exposed so tests can inspect it)."""
        cfg = self.config
        now = now or datetime.now(UTC)
        params = {
            "AccessKeyId": cfg["access_key_id"],
            "Action": "SendSms",
            "Format": "JSON",
            "RegionId": REGION,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": nonce or uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": VERSION,
            "PhoneNumbers": mobile,
            "SignName": cfg["sign_name"],
            "TemplateCode": cfg["template_code"],
            "TemplateParam": json.dumps({"code": code}, separators=(",", ":")),
        }
        params["Signature"] = rpc_signature("POST", params, cfg["access_key_secret"])
        return params

    def send_code(self, mobile: str, code: str) -> SendResult:
        # POST with a form body keeps the phone number out of proxy and access logs that record URLs.
        params = self.signed_params(mobile, code)
        try:
            with httpx.Client(timeout=HTTP_TIMEOUT) as client:
                response = client.post(
                    self.config["endpoint"],
                    content=canonical_query(params).encode("ascii"),
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return self._transport_failure(exc)
        return self.parse_response(data)

    def parse_response(self, data: Any) -> SendResult:
        """``Code == "OK"`` is success; any other code (signature, limits, bad number) is a failure."""
        if not isinstance(data, dict):
            return SendResult(False, self.provider, error_code="bad_response", error_message=str(data)[:200])
        if data.get("Code") == "OK":
            return SendResult(
                True, self.provider, message_id=str(data.get("BizId") or data.get("RequestId", ""))
            )
        return SendResult(
            False,
            self.provider,
            message_id=str(data.get("RequestId", "")),
            error_code=str(data.get("Code") or "unknown"),
            error_message=str(data.get("Message", "")),
        )
