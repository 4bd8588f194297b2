"""Tencent Cloud SMS, API 3.0 ``SendSms`` (version 2021-01-11) signed with TC3-HMAC-SHA256.

See /work/shared/specs/sms.md. The template must have exactly one parameter, ``{1}`` = the code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from siyu.channels.sms.base import HTTP_TIMEOUT, SendResult, SmsSender, require_config

SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host"

_ENV_NAMES = {
    "secret_id": "SIYU_TENCENT_SECRET_ID",
    "secret_key": "SIYU_TENCENT_SECRET_KEY",
    "sdk_app_id": "SIYU_TENCENT_SMS_APP_ID",
    "sign_name": "SIYU_TENCENT_SMS_SIGN",
    "template_id": "SIYU_TENCENT_SMS_TEMPLATE",
    "endpoint": "SIYU_TENCENT_SMS_ENDPOINT",
}


def _hmac_sha256(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def tc3_signature(
    *,
    secret_key: str,
    host: str,
    payload: str,
    timestamp: int,
    content_type: str = CONTENT_TYPE,
    service: str = SERVICE,
) -> tuple[str, str]:
    """Return ``(date, hex signature)`` of a POST to ``/`` with the given JSON payload (spec: TC3)."""
    date = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")
    canonical_request = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{content_type}\nhost:{host}\n",
            SIGNED_HEADERS,
            hashlib.sha256(payload.encode("utf-8")).hexdigest(),
        ]
    )
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            str(timestamp),
            f"{date}/{service}/tc3_request",
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    k_date = _hmac_sha256(("TC3" + secret_key).encode("utf-8"), date)
    k_service = _hmac_sha256(k_date, service)
    k_signing = _hmac_sha256(k_service, "tc3_request")
    signature = hmac.new(k_signing, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return date, signature


class TencentSmsSender(SmsSender):
    provider = "tencent"

    def __init__(self, config: dict[str, str] | None = None) -> None:
        self.config = dict(config if config is not None else settings.SIYU_SMS["tencent"])
        require_config(self.provider, self.config, _ENV_NAMES)

    def build_request(self, mobile: str, code: str, *, timestamp: int | None = None) -> httpx.Request:
        """The signed HTTP request for one code (exposed so tests can inspect it)."""
        cfg = self.config
        body: dict[str, Any] = {
            "SmsSdkAppId": cfg["sdk_app_id"],
            "SignName": cfg["sign_name"],
            "TemplateId": cfg["template_id"],
            "TemplateParamSet": [code],
            "PhoneNumberSet": [f"+86{mobile}"],
        }
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        timestamp = int(time.time()) if timestamp is None else timestamp
        endpoint = cfg["endpoint"]
        # The Host we sign must be the Host header httpx sends: netloc keeps a non-default port.
        host = urlsplit(endpoint).netloc.lower()
        date, signature = tc3_signature(
            secret_key=cfg["secret_key"], host=host, payload=payload, timestamp=timestamp
        )
        authorization = (
            f"{ALGORITHM} Credential={cfg['secret_id']}/{date}/{SERVICE}/tc3_request, "
            f"SignedHeaders={SIGNED_HEADERS}, Signature={signature}"
        )
        headers = {
            "Authorization": authorization,
            "Content-Type": CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": ACTION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": VERSION,
            "X-TC-Region": cfg.get("region") or "ap-guangzhou",
        }
        return httpx.Request("POST", endpoint, headers=headers, content=payload.encode("utf-8"))

    def send_code(self, mobile: str, code: str) -> SendResult:
        request = self.build_request(mobile, code)
        try:
            with httpx.Client(timeout=HTTP_TIMEOUT) as client:
                response = client.send(request)
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return self._transport_failure(exc)
        return self.parse_response(data)

    def parse_response(self, data: Any) -> SendResult:
        """A SendSms response as a SendResult; a per-number ``Code`` other than ``Ok`` is a failure."""
        resp = data.get("Response") if isinstance(data, dict) else None
        if not isinstance(resp, dict):
            return SendResult(False, self.provider, error_code="bad_response", error_message=str(data)[:200])
        request_id = str(resp.get("RequestId", ""))
        error = resp.get("Error")
        if isinstance(error, dict):
            return SendResult(
                False,
                self.provider,
                message_id=request_id,
                error_code=str(error.get("Code", "")),
                error_message=str(error.get("Message", "")),
            )
        statuses = resp.get("SendStatusSet") or []
        if not statuses or not isinstance(statuses[0], dict):
            return SendResult(False, self.provider, message_id=request_id, error_code="bad_response")
        status = statuses[0]
        if status.get("Code") == "Ok":
            return SendResult(True, self.provider, message_id=str(status.get("SerialNo") or request_id))
        return SendResult(
            False,
            self.provider,
            message_id=request_id,
            error_code=str(status.get("Code", "")),
            error_message=str(status.get("Message", "")),
        )
