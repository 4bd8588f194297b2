"""WeChat Pay API v3 (direct merchant): JSAPI and H5 orders, query, close, refunds, notifications.

Follows /work/shared/specs/wechatpay.md: requests are signed with the merchant API private key
(``WECHATPAY2-SHA256-RSA2048``), every 2xx response and every notification is verified with the
WeChat Pay platform key named by ``Wechatpay-Serial`` (a platform certificate from ``GET /v3/certificates``
or the WeChat Pay public key ``PUB_KEY_ID_…``), and notification resources are decrypted with
AES-256-GCM under the APIv3 key.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.utils.dateparse import parse_datetime

from siyu.channels.payments.base import (
    InvalidNotification,
    InvalidResponseSignature,
    PaymentError,
    PaymentKind,
    PaymentNotConfigured,
    PaymentNotice,
    PaymentProvider,
    PaymentRequest,
    PaymentStatus,
    RefundNotice,
    RefundResult,
    header,
)

DEFAULT_API_BASE = "https://api.mch.weixin.qq.com"
AUTH_SCHEMA = "WECHATPAY2-SHA256-RSA2048"
USER_AGENT = "Siyu-WechatPay/1.0 (+https://github.com/siyu)"
MAX_CLOCK_SKEW_SECONDS = 300
CHINA_TZ = ZoneInfo("Asia/Shanghai")
# Provider calls sit inside a member's request: fail fast rather than hold a worker.
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# Official APIv3 docs (not in the spec, so configurable via ``out_trade_no_pattern``): 6–32 characters of
# digits, ASCII letters, "_", "-", "*".
DEFAULT_OUT_TRADE_NO_PATTERN = r"^[0-9A-Za-z_\-*]{6,32}$"

_ENV_NAMES = {
    "mchid": "SIYU_WECHATPAY_MCHID",
    "appid": "SIYU_WECHATPAY_APPID",
    "serial_no": "SIYU_WECHATPAY_SERIAL_NO",
    "private_key": "SIYU_WECHATPAY_PRIVATE_KEY / SIYU_WECHATPAY_PRIVATE_KEY_PATH",
    "apiv3_key": "SIYU_WECHATPAY_APIV3_KEY",
}


# --- primitives (spec "Signing our requests" / "Verifying responses and notifications") ------------------


def request_message(method: str, url: str, timestamp: str, nonce: str, body: str) -> str:
    """The string we sign: ``METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n`` (URL = path + query)."""
    return f"{method.upper()}\n{url}\n{timestamp}\n{nonce}\n{body}\n"


def rsa_sign(private_key: rsa.RSAPrivateKey, message: str) -> str:
    """base64(RSASSA-PKCS1-v1_5 / SHA-256) of the UTF-8 message."""
    signature = private_key.sign(message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def authorization_header(
    *,
    mchid: str,
    serial_no: str,
    private_key: rsa.RSAPrivateKey,
    method: str,
    url: str,
    body: str,
    timestamp: str,
    nonce: str,
) -> str:
    """``WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",timestamp="…",serial_no="…",signature="…"``."""
    signature = rsa_sign(private_key, request_message(method, url, timestamp, nonce, body))
    return (
        f'{AUTH_SCHEMA} mchid="{mchid}",nonce_str="{nonce}",timestamp="{timestamp}",'
        f'serial_no="{serial_no}",signature="{signature}"'
    )


def verify_message(
    public_key: rsa.RSAPublicKey, *, timestamp: str, nonce: str, body: bytes, signature: str
) -> bool:
    """Whether ``signature`` (base64) signs ``TIMESTAMP\\nNONCE\\nBODY\\n`` under ``public_key``."""
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except ValueError:
        return False
    message = timestamp.encode("utf-8") + b"\n" + nonce.encode("utf-8") + b"\n" + body + b"\n"
    try:
        public_key.verify(raw_signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def aead_decrypt(apiv3_key: bytes, *, nonce: str, associated_data: str, ciphertext: str) -> bytes:
    """AEAD_AES_256_GCM: key = APIv3 key, nonce/AAD as UTF-8, ciphertext base64 with the 16-byte tag
    appended. Raises ValueError when the data was tampered with or the key is wrong."""
    try:
        data = base64.b64decode(ciphertext, validate=True)
        return AESGCM(apiv3_key).decrypt(
            nonce.encode("utf-8"), data, associated_data.encode("utf-8") if associated_data else None
        )
    except (InvalidTag, ValueError) as exc:
        raise ValueError("AEAD_AES_256_GCM decryption failed") from exc


def format_time_expire(moment: datetime) -> str:
    """RFC 3339 in China time with an explicit offset, e.g. ``2018-06-08T10:34:56+08:00``."""
    if moment.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    return moment.astimezone(CHINA_TZ).replace(microsecond=0).isoformat()


def _parse_time(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _raise_refusal(method: str, url: str, status: int, data: Any, body: bytes) -> NoReturn:
    """Raise PaymentError for a non-2xx answer in the spec's ``{code, message, detail?}`` format."""
    code = str(data.get("code", "")) if isinstance(data, dict) else ""
    message = str(data.get("message", "")) if isinstance(data, dict) else body[:200].decode(errors="replace")
    retryable = status >= 500 or status == 429 or code in {"SYSTEM_ERROR", "FREQUENCY_LIMITED"}
    raise PaymentError(
        f"WeChat Pay refused {method} {url.split('?')[0]}: {status} {code} {message}",
        retryable=retryable,
        code=code or f"http_{status}",
        status=status,
    )


# --- configuration --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WechatPayConfig:
    mchid: str
    appid: str
    serial_no: str
    private_key: rsa.RSAPrivateKey
    apiv3_key: bytes
    api_base: str = DEFAULT_API_BASE
    public_key_id: str = ""
    public_key: rsa.RSAPublicKey | None = None
    h5_type: str = "Wap"
    h5_app_name: str = ""
    h5_app_url: str = ""
    out_trade_no_pattern: str = DEFAULT_OUT_TRADE_NO_PATTERN
    certificates_ttl_seconds: int = 12 * 3600

    @classmethod
    def from_settings(cls, raw: Mapping[str, Any] | None = None) -> WechatPayConfig:
        """Build from ``settings.SIYU_WECHATPAY`` (or ``raw``). Raises PaymentNotConfigured naming the
        environment variables that are missing or wrong."""
        cfg: Mapping[str, Any] = raw if raw is not None else (getattr(settings, "SIYU_WECHATPAY", {}) or {})
        private_pem = _pem_from(cfg, "private_key_pem", "private_key_path")
        missing = [
            env
            for key, env in _ENV_NAMES.items()
            if not (private_pem if key == "private_key" else str(cfg.get(key) or "").strip())
        ]
        if missing:
            raise PaymentNotConfigured(
                f"WeChat Pay needs {', '.join(missing)} (see docs/payments.md).",
            )
        apiv3_key = str(cfg["apiv3_key"]).encode("utf-8")
        if len(apiv3_key) != 32:
            raise PaymentNotConfigured("SIYU_WECHATPAY_APIV3_KEY must be exactly 32 ASCII characters.")
        private_key = _load_private_key(private_pem)
        public_key_id = str(cfg.get("public_key_id") or "").strip()
        public_pem = _pem_from(cfg, "public_key_pem", "public_key_path")
        public_key = _load_public_key(public_pem) if public_pem else None
        if bool(public_key_id) != bool(public_key):
            raise PaymentNotConfigured(
                "Set both SIYU_WECHATPAY_PUBLIC_KEY_ID and SIYU_WECHATPAY_PUBLIC_KEY(_PATH), or neither "
                "(then platform certificates are downloaded)."
            )
        return cls(
            mchid=str(cfg["mchid"]).strip(),
            appid=str(cfg["appid"]).strip(),
            serial_no=str(cfg["serial_no"]).strip().upper(),
            private_key=private_key,
            apiv3_key=apiv3_key,
            api_base=str(cfg.get("api_base") or DEFAULT_API_BASE).rstrip("/"),
            public_key_id=public_key_id,
            public_key=public_key,
            h5_type=str(cfg.get("h5_type") or "Wap"),
            h5_app_name=str(cfg.get("h5_app_name") or ""),
            h5_app_url=str(cfg.get("h5_app_url") or ""),
            out_trade_no_pattern=str(cfg.get("out_trade_no_pattern") or DEFAULT_OUT_TRADE_NO_PATTERN),
            certificates_ttl_seconds=int(cfg.get("certificates_ttl_seconds") or 12 * 3600),
        )


def _pem_from(cfg: Mapping[str, Any], pem_key: str, path_key: str) -> str:
    pem = str(cfg.get(pem_key) or "").strip()
    if pem:
        # Environment variables often carry PEM with literal "\n".
        return pem.replace("\\n", "\n")
    path = str(cfg.get(path_key) or "").strip()
    if path:
        try:
            return Path(path).read_text()
        except OSError as exc:
            raise PaymentNotConfigured(f"Cannot read {path_key} {path!r}: {exc}") from exc
    return ""


def _load_private_key(pem: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    except (ValueError, TypeError) as exc:
        raise PaymentNotConfigured("The WeChat Pay merchant private key is not a PEM RSA key.") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PaymentNotConfigured("The WeChat Pay merchant private key must be an RSA key.")
    return key


def _load_public_key(pem: str) -> rsa.RSAPublicKey:
    key: object
    try:
        if "BEGIN CERTIFICATE" in pem:
            key = x509.load_pem_x509_certificate(pem.encode("utf-8")).public_key()
        else:
            key = serialization.load_pem_public_key(pem.encode("utf-8"))
    except ValueError as exc:
        raise PaymentNotConfigured("The WeChat Pay public key is not a PEM RSA public key.") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise PaymentNotConfigured("The WeChat Pay public key must be an RSA key.")
    return key


# --- platform certificates cache ------------------------------------------------------------------------


@dataclass
class _CertCache:
    keys: dict[str, rsa.RSAPublicKey]
    newest_serial: str
    fetched_at: float


_cert_lock = threading.Lock()
_cert_cache: dict[tuple[str, str], _CertCache] = {}
# An unknown serial triggers a refresh, but not more often than this (a forger could otherwise make us
# hammer /v3/certificates).
_MIN_REFRESH_SECONDS = 60


def clear_certificate_cache() -> None:
    """Forget downloaded platform certificates (tests; or after rotating the APIv3 key)."""
    with _cert_lock:
        _cert_cache.clear()


# --- provider -------------------------------------------------------------------------------------------


class WechatPayProvider(PaymentProvider):
    """WeChat Pay v3 for a direct merchant (普通商户)."""

    name = "wechatpay"
    requires_online_payment = True

    def __init__(self, config: WechatPayConfig | None = None) -> None:
        self.config = config or WechatPayConfig.from_settings()

    # -- HTTP --------------------------------------------------------------------------------------------

    def _signed_request(self, method: str, url: str, payload: dict[str, Any] | None) -> httpx.Request:
        """The signed request (exposed for tests). ``url`` is path + query as sent."""
        cfg = self.config
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")) if payload is not None else ""
        timestamp = str(int(time.time()))
        nonce = secrets.token_hex(16).upper()
        headers = {
            "Authorization": authorization_header(
                mchid=cfg.mchid,
                serial_no=cfg.serial_no,
                private_key=cfg.private_key,
                method=method,
                url=url,
                body=body,
                timestamp=timestamp,
                nonce=nonce,
            ),
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        expected_serial = self._expected_serial(url)
        if expected_serial:
            headers["Wechatpay-Serial"] = expected_serial
        return httpx.Request(method, cfg.api_base + url, headers=headers, content=body.encode("utf-8"))

    def _expected_serial(self, url: str) -> str:
        if self.config.public_key_id:
            return self.config.public_key_id
        if url.startswith("/v3/certificates"):
            return ""
        return self._platform_keys().newest_serial

    def _call(self, method: str, url: str, payload: dict[str, Any] | None = None) -> tuple[int, Any]:
        request = self._signed_request(method, url, payload)
        try:
            with httpx.Client(timeout=HTTP_TIMEOUT) as client:
                response = client.send(request)
        except httpx.HTTPError as exc:
            raise PaymentError(
                f"WeChat Pay unreachable: {type(exc).__name__}: {exc}", retryable=True
            ) from exc
        body = response.content
        data: Any = None
        if body:
            try:
                data = json.loads(body)
            except ValueError:
                data = None
        if not 200 <= response.status_code < 300:
            _raise_refusal(method, url, response.status_code, data, body)
        if not url.startswith("/v3/certificates"):
            self._verify_response(response.headers, body)
        if body and data is None:
            raise PaymentError(
                "WeChat Pay answered with a body that is not JSON.", retryable=True, code="bad_json"
            )
        return response.status_code, data

    def _verify_response(self, headers: Mapping[str, str], body: bytes) -> None:
        try:
            self._verify_signed(headers, body, refresh_on_unknown=True)
        except InvalidNotification as exc:
            raise InvalidResponseSignature(
                f"WeChat Pay response signature check failed: {exc.message}"
            ) from exc

    # -- signatures on responses and notifications ------------------------------------------------------

    def _verify_signed(self, headers: Mapping[str, str], body: bytes, *, refresh_on_unknown: bool) -> None:
        timestamp = header(headers, "Wechatpay-Timestamp")
        nonce = header(headers, "Wechatpay-Nonce")
        signature = header(headers, "Wechatpay-Signature")
        serial = header(headers, "Wechatpay-Serial")
        signature_type = header(headers, "Wechatpay-Signature-Type")
        if not (timestamp and nonce and signature and serial):
            raise InvalidNotification("missing Wechatpay-* signature headers", code="missing_signature")
        if signature_type and signature_type != AUTH_SCHEMA:
            raise InvalidNotification(f"unsupported signature type {signature_type!r}", code="bad_signature")
        try:
            ts = int(timestamp)
        except ValueError:
            raise InvalidNotification("Wechatpay-Timestamp is not a number", code="stale") from None
        if abs(time.time() - ts) >= MAX_CLOCK_SKEW_SECONDS:
            raise InvalidNotification("Wechatpay-Timestamp is too far from now", code="stale")
        key = self._key_for_serial(serial, refresh_on_unknown=refresh_on_unknown)
        if key is None:
            raise InvalidNotification(f"unknown Wechatpay-Serial {serial!r}", code="unknown_serial")
        if not verify_message(key, timestamp=timestamp, nonce=nonce, body=body, signature=signature):
            raise InvalidNotification("Wechatpay-Signature does not verify", code="bad_signature")

    def _key_for_serial(self, serial: str, *, refresh_on_unknown: bool) -> rsa.RSAPublicKey | None:
        cfg = self.config
        if cfg.public_key_id:
            return cfg.public_key if serial == cfg.public_key_id else None
        cache = self._platform_keys()
        key = cache.keys.get(serial.upper())
        if key is None and refresh_on_unknown and time.time() - cache.fetched_at >= _MIN_REFRESH_SECONDS:
            key = self._platform_keys(force=True).keys.get(serial.upper())
        return key

    def _platform_keys(self, *, force: bool = False) -> _CertCache:
        """Platform certificates from ``GET /v3/certificates``, cached per (api_base, mchid)."""
        cache_key = (self.config.api_base, self.config.mchid)
        with _cert_lock:
            cached = _cert_cache.get(cache_key)
            if (
                cached is not None
                and not force
                and time.time() - cached.fetched_at < self.config.certificates_ttl_seconds
            ):
                return cached
        fresh = self.download_certificates()
        with _cert_lock:
            _cert_cache[cache_key] = fresh
        return fresh

    def download_certificates(self) -> _CertCache:
        """Fetch and decrypt the platform certificates; the response must verify with one of them."""
        request = self._signed_request("GET", "/v3/certificates", None)
        try:
            with httpx.Client(timeout=HTTP_TIMEOUT) as client:
                response = client.send(request)
        except httpx.HTTPError as exc:
            raise PaymentError(
                f"WeChat Pay unreachable: {type(exc).__name__}: {exc}", retryable=True
            ) from exc
        if response.status_code != 200:
            try:
                error_data = json.loads(response.content)
            except ValueError:
                error_data = None
            _raise_refusal("GET", "/v3/certificates", response.status_code, error_data, response.content)
        try:
            entries = json.loads(response.content)["data"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PaymentError("GET /v3/certificates: unexpected body", retryable=True) from exc
        keys: dict[str, rsa.RSAPublicKey] = {}
        newest: tuple[str, str] = ("", "")
        for entry in entries:
            enc = entry.get("encrypt_certificate") or {}
            if enc.get("algorithm") != "AEAD_AES_256_GCM":
                continue
            try:
                pem = aead_decrypt(
                    self.config.apiv3_key,
                    nonce=str(enc.get("nonce", "")),
                    associated_data=str(enc.get("associated_data", "")),
                    ciphertext=str(enc.get("ciphertext", "")),
                )
                cert = x509.load_pem_x509_certificate(pem)
            except ValueError as exc:
                raise PaymentError(
                    "A platform certificate does not decrypt with the APIv3 key (wrong key?).",
                    retryable=False,
                    code="certificate_decrypt_failed",
                ) from exc
            serial = f"{cert.serial_number:X}"
            if serial != str(entry.get("serial_no", "")).upper():
                raise PaymentError(
                    "Platform certificate serial mismatch.", retryable=False, code="certificate"
                )
            public_key = cert.public_key()
            if not isinstance(public_key, rsa.RSAPublicKey):
                continue
            keys[serial] = public_key
            effective = str(entry.get("effective_time", ""))
            if effective >= newest[1]:
                newest = (serial, effective)
        if not keys:
            raise PaymentError("GET /v3/certificates returned no usable certificate.", retryable=True)
        # The download itself is signed with one of the certificates it contains.
        serial = header(response.headers, "Wechatpay-Serial").upper()
        if serial not in keys or not verify_message(
            keys[serial],
            timestamp=header(response.headers, "Wechatpay-Timestamp"),
            nonce=header(response.headers, "Wechatpay-Nonce"),
            body=response.content,
            signature=header(response.headers, "Wechatpay-Signature"),
        ):
            raise InvalidResponseSignature("GET /v3/certificates response signature check failed")
        return _CertCache(keys=keys, newest_serial=newest[0], fetched_at=time.time())

    # -- orders ------------------------------------------------------------------------------------------

    def _check_out_trade_no(self, value: str, field: str = "out_trade_no") -> None:
        if not re.fullmatch(self.config.out_trade_no_pattern, value or ""):
            raise PaymentError(
                f"{field} {value!r} does not match {self.config.out_trade_no_pattern}",
                retryable=False,
                code="PARAM_ERROR",
            )

    def create_payment(
        self,
        *,
        out_trade_no: str,
        amount_fen: int,
        description: str,
        payer_openid: str | None,
        client_ip: str | None,
        notify_url: str,
        expires_at: datetime | None,
        kind: PaymentKind,
    ) -> PaymentRequest:
        """Place a JSAPI order (needs ``payer_openid``) or an H5 order (needs ``client_ip``)."""
        self._check_out_trade_no(out_trade_no)
        if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
            raise PaymentError("amount_fen must be a positive integer", retryable=False, code="PARAM_ERROR")
        cfg = self.config
        body: dict[str, Any] = {
            "appid": cfg.appid,
            "mchid": cfg.mchid,
            "description": description,
            "out_trade_no": out_trade_no,
            "notify_url": notify_url,
        }
        if expires_at is not None:
            body["time_expire"] = format_time_expire(expires_at)
        body["amount"] = {"total": amount_fen, "currency": "CNY"}
        if kind == "jsapi":
            if not payer_openid:
                raise PaymentError(
                    "JSAPI payment needs the payer's openid", retryable=False, code="PARAM_ERROR"
                )
            body["payer"] = {"openid": payer_openid}
            _status, data = self._call("POST", "/v3/pay/transactions/jsapi", body)
            prepay_id = str((data or {}).get("prepay_id") or "")
            if not prepay_id:
                raise PaymentError("WeChat Pay returned no prepay_id", retryable=True, code="bad_response")
            return PaymentRequest(
                provider=self.name,
                kind="jsapi",
                out_trade_no=out_trade_no,
                amount_fen=amount_fen,
                requires_online_payment=True,
                prepay_id=prepay_id,
                jsapi_params=self.jsapi_params(prepay_id),
            )
        if kind == "h5":
            if not client_ip:
                raise PaymentError("H5 payment needs the payer's IP", retryable=False, code="PARAM_ERROR")
            h5_info: dict[str, str] = {"type": cfg.h5_type}
            if cfg.h5_app_name:
                h5_info["app_name"] = cfg.h5_app_name
            if cfg.h5_app_url:
                h5_info["app_url"] = cfg.h5_app_url
            body["scene_info"] = {"payer_client_ip": client_ip, "h5_info": h5_info}
            _status, data = self._call("POST", "/v3/pay/transactions/h5", body)
            h5_url = str((data or {}).get("h5_url") or "")
            if not h5_url:
                raise PaymentError("WeChat Pay returned no h5_url", retryable=True, code="bad_response")
            return PaymentRequest(
                provider=self.name,
                kind="h5",
                out_trade_no=out_trade_no,
                amount_fen=amount_fen,
                requires_online_payment=True,
                h5_url=h5_url,
            )
        raise PaymentError(f"unknown payment kind {kind!r}", retryable=False, code="PARAM_ERROR")

    def jsapi_params(
        self, prepay_id: str, *, timestamp: str | None = None, nonce: str | None = None
    ) -> dict[str, str]:
        """The client invoke object; paySign signs ``appId\\ntimeStamp\\nnonceStr\\npackage\\n``."""
        app_id = self.config.appid
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or secrets.token_hex(16)
        package = f"prepay_id={prepay_id}"
        pay_sign = rsa_sign(self.config.private_key, f"{app_id}\n{timestamp}\n{nonce}\n{package}\n")
        return {
            "appId": app_id,
            "timeStamp": timestamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": pay_sign,
        }

    def query_payment(self, out_trade_no: str) -> PaymentStatus:
        self._check_out_trade_no(out_trade_no)
        url = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}?" + urlencode(
            {"mchid": self.config.mchid}
        )
        _status, data = self._call("GET", url)
        return self._status_from(data or {})

    def query_payment_by_transaction_id(self, transaction_id: str) -> PaymentStatus:
        url = f"/v3/pay/transactions/id/{quote(transaction_id, safe='')}?" + urlencode(
            {"mchid": self.config.mchid}
        )
        _status, data = self._call("GET", url)
        return self._status_from(data or {})

    def _status_from(self, data: dict[str, Any]) -> PaymentStatus:
        amount = data.get("amount") or {}
        return PaymentStatus(
            provider=self.name,
            out_trade_no=str(data.get("out_trade_no", "")),
            state=str(data.get("trade_state", "")),
            transaction_id=str(data.get("transaction_id") or ""),
            amount_fen=_int_or_none(amount.get("total")),
            payer_total_fen=_int_or_none(amount.get("payer_total")),
            success_time=_parse_time(data.get("success_time")),
            payer_openid=str((data.get("payer") or {}).get("openid") or ""),
            state_desc=str(data.get("trade_state_desc") or ""),
            raw=data,
        )

    def close_payment(self, out_trade_no: str) -> None:
        """Close an unpaid trade (2xx with an empty body)."""
        self._check_out_trade_no(out_trade_no)
        self._call(
            "POST",
            f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}/close",
            {"mchid": self.config.mchid},
        )

    # -- refunds -----------------------------------------------------------------------------------------

    def refund(
        self,
        *,
        out_trade_no: str,
        out_refund_no: str,
        amount_fen: int,
        total_fen: int,
        reason: str,
        notify_url: str,
    ) -> RefundResult:
        self._check_out_trade_no(out_trade_no)
        self._check_out_trade_no(out_refund_no, "out_refund_no")
        if not (0 < amount_fen <= total_fen):
            raise PaymentError(
                "refund must be positive and at most the total", retryable=False, code="PARAM_ERROR"
            )
        body: dict[str, Any] = {"out_trade_no": out_trade_no, "out_refund_no": out_refund_no}
        if reason:
            body["reason"] = reason
        if notify_url:
            body["notify_url"] = notify_url
        body["amount"] = {"refund": amount_fen, "total": total_fen, "currency": "CNY"}
        _status, data = self._call("POST", "/v3/refund/domestic/refunds", body)
        return self._refund_from(data or {})

    def query_refund(self, out_refund_no: str) -> RefundResult:
        self._check_out_trade_no(out_refund_no, "out_refund_no")
        _status, data = self._call("GET", f"/v3/refund/domestic/refunds/{quote(out_refund_no, safe='')}")
        return self._refund_from(data or {})

    def _refund_from(self, data: dict[str, Any]) -> RefundResult:
        amount = data.get("amount") or {}
        return RefundResult(
            provider=self.name,
            out_trade_no=str(data.get("out_trade_no", "")),
            out_refund_no=str(data.get("out_refund_no", "")),
            status=str(data.get("status") or data.get("refund_status") or ""),
            refund_id=str(data.get("refund_id") or ""),
            transaction_id=str(data.get("transaction_id") or ""),
            refund_fen=_int_or_none(amount.get("refund")),
            total_fen=_int_or_none(amount.get("total")),
            success_time=_parse_time(data.get("success_time")),
            user_received_account=str(data.get("user_received_account") or ""),
            raw=data,
        )

    # -- notifications -----------------------------------------------------------------------------------

    def _decode_notification(
        self, headers: Mapping[str, str], body: bytes, original_type: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Verify the signature, then decrypt ``resource``; returns (envelope, plaintext object)."""
        try:
            self._verify_signed(headers, body, refresh_on_unknown=True)
        except PaymentError as exc:
            if isinstance(exc, InvalidNotification):
                raise
            # Could not fetch certificates to check the serial: WeChat Pay will retry.
            raise InvalidNotification(f"cannot verify now: {exc.message}", code="unverifiable") from exc
        try:
            envelope = json.loads(body)
            resource = envelope["resource"]
            algorithm = resource["algorithm"]
        except (ValueError, KeyError, TypeError):
            raise InvalidNotification("malformed notification body", code="malformed") from None
        if envelope.get("resource_type") != "encrypt-resource" or algorithm != "AEAD_AES_256_GCM":
            raise InvalidNotification("unsupported resource encryption", code="malformed")
        if resource.get("original_type") != original_type:
            raise InvalidNotification(
                f"expected a {original_type} notification, got {resource.get('original_type')!r}",
                code="wrong_type",
            )
        try:
            plaintext = aead_decrypt(
                self.config.apiv3_key,
                nonce=str(resource.get("nonce", "")),
                associated_data=str(resource.get("associated_data") or ""),
                ciphertext=str(resource.get("ciphertext", "")),
            )
            data = json.loads(plaintext)
        except ValueError:
            raise InvalidNotification(
                "resource does not decrypt with the APIv3 key", code="decrypt"
            ) from None
        if not isinstance(data, dict):
            raise InvalidNotification("resource is not an object", code="malformed")
        if data.get("mchid") and str(data["mchid"]) != self.config.mchid:
            raise InvalidNotification("notification for another merchant", code="wrong_merchant")
        return envelope, data

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        envelope, data = self._decode_notification(headers, body, "transaction")
        if data.get("appid") and str(data["appid"]) != self.config.appid:
            raise InvalidNotification("notification for another appid", code="wrong_merchant")
        status = self._status_from(data)
        return PaymentNotice(
            provider=self.name,
            notification_id=str(envelope.get("id", "")),
            event_type=str(envelope.get("event_type", "")),
            out_trade_no=status.out_trade_no,
            state=status.state,
            transaction_id=status.transaction_id,
            amount_fen=status.amount_fen,
            payer_total_fen=status.payer_total_fen,
            success_time=status.success_time,
            payer_openid=status.payer_openid,
            raw=data,
        )

    def parse_refund_notification(self, headers: Mapping[str, str], body: bytes) -> RefundNotice:
        envelope, data = self._decode_notification(headers, body, "refund")
        refund = self._refund_from(data)
        return RefundNotice(
            provider=self.name,
            notification_id=str(envelope.get("id", "")),
            event_type=str(envelope.get("event_type", "")),
            out_trade_no=refund.out_trade_no,
            out_refund_no=refund.out_refund_no,
            status=refund.status,
            refund_id=refund.refund_id,
            transaction_id=refund.transaction_id,
            refund_fen=refund.refund_fen,
            total_fen=refund.total_fen,
            success_time=refund.success_time,
            user_received_account=refund.user_received_account,
            raw=data,
        )


def notification_reply(error: InvalidNotification | None) -> tuple[int, bytes]:
    """The HTTP answer to a notification (spec): 204 with no body once applied; otherwise a 4xx/5xx with
    ``{"code":"FAIL","message":…}`` so WeChat Pay retries (15 s … 6 h, about 24 h in all)."""
    if error is None:
        return 204, b""
    status = 500 if error.code == "unverifiable" else 400
    return status, json.dumps({"code": "FAIL", "message": error.message}, ensure_ascii=False).encode("utf-8")
