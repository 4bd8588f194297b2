"""A fake WeChat Pay API v3 server that checks what the real one checks.

Written from /work/shared/specs/wechatpay.md independently of ``siyu.channels.payments.wechatpay``: it
parses our ``Authorization`` header, rebuilds the signed message itself and verifies it with the merchant's
public key, validates order/refund bodies field by field, signs every response with its platform key, and
builds notifications (signed + AES-256-GCM encrypted) the way WeChat Pay delivers them.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

MCHID = "1900000109"
APPID = "wxd678efh567hg6787"
MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
APIV3_KEY = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6"  # 32 ASCII bytes
PUBLIC_KEY_ID = "PUB_KEY_ID_0119000001092025010100000000000001"
TIME_EXPIRE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$")
OUT_TRADE_NO_RE = re.compile(r"^[0-9A-Za-z_\-*]{6,32}$")
AUTH_RE = re.compile(
    r'^WECHATPAY2-SHA256-RSA2048 mchid="(?P<mchid>[^"]*)",nonce_str="(?P<nonce>[^"]*)",'
    r'timestamp="(?P<ts>\d+)",serial_no="(?P<serial>[^"]*)",signature="(?P<sig>[A-Za-z0-9+/=]+)"$'
)

_KEY_CACHE: list[rsa.RSAPrivateKey] = []


def rsa_test_key(index: int) -> rsa.RSAPrivateKey:
    """Deterministic-per-process test keys (generating 2048-bit keys is slow, so reuse them)."""
    while len(_KEY_CACHE) <= index:
        _KEY_CACHE.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEY_CACHE[index]


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def self_signed_certificate(key: rsa.RSAPrivateKey, serial: int) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA (fake)")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


def spec_sign(key: rsa.RSAPrivateKey, lines: list[str]) -> str:
    """Spec: base64 PKCS1v15/SHA-256 over the lines, each terminated by \\n."""
    message = "".join(line + "\n" for line in lines).encode("utf-8")
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def spec_encrypt(key: str, plaintext: bytes, associated_data: str) -> dict[str, str]:
    """AEAD_AES_256_GCM resource as WeChat Pay sends it (12-character nonce, tag appended, base64)."""
    nonce = uuid.uuid4().hex[:12]
    sealed = AESGCM(key.encode()).encrypt(nonce.encode(), plaintext, associated_data.encode())
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "associated_data": associated_data,
        "nonce": nonce,
        "ciphertext": base64.b64encode(sealed).decode(),
    }


@dataclass
class WxRequest:
    method: str
    target: str  # path + query exactly as sent
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    auth: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class PlatformKey:
    serial: str
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate | None  # None in public-key mode


class FakeWechatPay:
    """Endpoints: JSAPI/H5 orders, query, close, refunds, refund query, /v3/certificates."""

    def __init__(self, *, public_key_mode: bool = False) -> None:
        self.merchant_key = rsa_test_key(0)
        self.public_key_mode = public_key_mode
        self.apiv3_key = APIV3_KEY
        self.platform_keys: list[PlatformKey] = []
        self.add_platform_key(rsa_test_key(1))
        self.requests: list[WxRequest] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.tamper_next_response = False
        self.fail_next: tuple[int, str, str] | None = None
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                req = WxRequest(
                    method=self.command,
                    target=self.path,
                    path=split.path,
                    query=dict(parse_qsl(split.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                with fake._lock:
                    fake.requests.append(req)
                    status, payload, serial = fake.dispatch(req)
                body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
                headers = {"Request-ID": uuid.uuid4().hex}
                if 200 <= status < 300:
                    headers.update(fake.sign_headers(body, serial=serial))
                    if fake.tamper_next_response:
                        fake.tamper_next_response = False
                        # Change a value the signature covers (a prepay_id / transaction digit).
                        body = body.replace(b'"wx', b'"wy', 1) if b'"wx' in body else body + b" "
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if body:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = _serve
            do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> FakeWechatPay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    # -- keys --------------------------------------------------------------------------------------------

    def add_platform_key(self, key: rsa.RSAPrivateKey) -> PlatformKey:
        """Add (and start signing with) a platform key: a rotation when one already exists."""
        if self.public_key_mode:
            entry = PlatformKey(PUBLIC_KEY_ID, key, None)
        else:
            serial_int = int.from_bytes(os.urandom(16), "big") >> 1
            cert = self_signed_certificate(key, serial_int)
            entry = PlatformKey(format(serial_int, "X"), key, cert)
        self.platform_keys.append(entry)
        return entry

    @property
    def current(self) -> PlatformKey:
        return self.platform_keys[-1]

    def settings_dict(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "mchid": MCHID,
            "appid": APPID,
            "serial_no": MERCHANT_SERIAL,
            "private_key_pem": private_pem(self.merchant_key),
            "apiv3_key": self.apiv3_key,
            "api_base": self.url,
        }
        if self.public_key_mode:
            cfg["public_key_id"] = PUBLIC_KEY_ID
            cfg["public_key_pem"] = public_pem(self.current.key)
        return cfg

    def sign_headers(
        self,
        body: bytes,
        *,
        serial: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
        timestamp: int | None = None,
    ) -> dict[str, str]:
        platform = next((p for p in self.platform_keys if p.serial == serial), self.current)
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = uuid.uuid4().hex.upper()
        message = ts.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
        signature = (key or platform.key).sign(message, padding.PKCS1v15(), hashes.SHA256())
        return {
            "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": base64.b64encode(signature).decode(),
            "Wechatpay-Serial": platform.serial,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }

    # -- request handling --------------------------------------------------------------------------------

    @staticmethod
    def error(
        status: int, code: str, message: str, detail: dict[str, Any] | None = None
    ) -> tuple[int, Any, None]:
        payload: dict[str, Any] = {"code": code, "message": message}
        if detail:
            payload["detail"] = detail
        return status, payload, None

    def check_auth(self, req: WxRequest) -> tuple[int, Any, None] | None:
        match = AUTH_RE.match(req.headers.get("authorization", ""))
        if not match:
            return self.error(401, "SIGN_ERROR", "Authorization header malformed")
        req.auth = match.groupdict()
        if req.auth["mchid"] != MCHID:
            return self.error(401, "SIGN_ERROR", "mchid mismatch")
        if req.auth["serial"] != MERCHANT_SERIAL:
            return self.error(401, "SIGN_ERROR", "merchant certificate serial unknown")
        if abs(time.time() - int(req.auth["ts"])) >= 300:
            return self.error(401, "SIGN_ERROR", "timestamp expired")
        body = req.body.decode("utf-8")
        message = f"{req.method}\n{req.target}\n{req.auth['ts']}\n{req.auth['nonce']}\n{body}\n".encode()
        try:
            self.merchant_key.public_key().verify(
                base64.b64decode(req.auth["sig"]), message, padding.PKCS1v15(), hashes.SHA256()
            )
        except Exception:
            return self.error(401, "SIGN_ERROR", "signature verification failed")
        if req.headers.get("accept") != "application/json" or not req.headers.get("user-agent"):
            return self.error(400, "INVALID_REQUEST", "Accept/User-Agent headers required")
        if req.method == "POST" and req.headers.get("content-type") != "application/json":
            return self.error(400, "INVALID_REQUEST", "Content-Type must be application/json")
        wanted = req.headers.get("wechatpay-serial")
        if wanted is not None and wanted not in {p.serial for p in self.platform_keys}:
            return self.error(400, "PARAM_ERROR", "Wechatpay-Serial unknown")
        return None

    def dispatch(self, req: WxRequest) -> tuple[int, Any, str | None]:
        if self.fail_next:
            status, code, message = self.fail_next
            self.fail_next = None
            return self.error(status, code, message)
        refused = self.check_auth(req)
        if refused:
            return refused
        path = req.path
        if req.method == "GET" and path == "/v3/certificates":
            return self.certificates()
        if req.method == "POST" and path in ("/v3/pay/transactions/jsapi", "/v3/pay/transactions/h5"):
            return self.place_order(req, "JSAPI" if path.endswith("jsapi") else "MWEB")
        m = re.fullmatch(r"/v3/pay/transactions/out-trade-no/([^/]+)(/close)?", path)
        if m and req.method == "GET" and not m.group(2):
            return self.query(req, unquote(m.group(1)))
        if m and req.method == "POST" and m.group(2):
            return self.close(req, unquote(m.group(1)))
        if req.method == "POST" and path == "/v3/refund/domestic/refunds":
            return self.create_refund(req)
        m = re.fullmatch(r"/v3/refund/domestic/refunds/([^/]+)", path)
        if m and req.method == "GET":
            refund = self.refunds.get(unquote(m.group(1)))
            if refund is None:
                return self.error(404, "RESOURCE_NOT_EXISTS", "refund not found")
            return 200, refund, None
        return self.error(404, "RESOURCE_NOT_EXISTS", f"no such endpoint {req.method} {path}")

    def certificates(self) -> tuple[int, Any, str | None]:
        data = []
        for platform in self.platform_keys:
            assert platform.certificate is not None
            pem = platform.certificate.public_bytes(serialization.Encoding.PEM)
            data.append(
                {
                    "serial_no": platform.serial,
                    "effective_time": platform.certificate.not_valid_before_utc.isoformat(),
                    "expire_time": platform.certificate.not_valid_after_utc.isoformat(),
                    "encrypt_certificate": spec_encrypt(self.apiv3_key, pem, "certificate"),
                }
            )
        return 200, {"data": data}, None

    def place_order(self, req: WxRequest, trade_type: str) -> tuple[int, Any, str | None]:
        try:
            body = req.json()
        except ValueError:
            return self.error(400, "PARAM_ERROR", "body is not JSON")
        allowed = {
            "appid",
            "mchid",
            "description",
            "out_trade_no",
            "notify_url",
            "time_expire",
            "attach",
            "goods_tag",
            "amount",
            "detail",
            "scene_info",
            "settle_info",
        }
        if trade_type == "JSAPI":
            allowed.add("payer")
        problems = [f"unexpected field {k}" for k in body if k not in allowed]
        for name in ("appid", "mchid", "description", "out_trade_no", "notify_url"):
            if not isinstance(body.get(name), str) or not body[name]:
                problems.append(f"{name} required")
        if body.get("appid") != APPID or body.get("mchid") != MCHID:
            problems.append("appid/mchid mismatch")
        if not OUT_TRADE_NO_RE.match(str(body.get("out_trade_no", ""))):
            problems.append("out_trade_no format")
        if "time_expire" in body and not TIME_EXPIRE_RE.match(str(body["time_expire"])):
            problems.append("time_expire must be RFC 3339 with +08:00")
        amount = body.get("amount")
        if not isinstance(amount, dict) or type(amount.get("total")) is not int or amount["total"] <= 0:
            problems.append("amount.total must be a positive integer (fen)")
        elif amount.get("currency", "CNY") != "CNY":
            problems.append("amount.currency must be CNY")
        if trade_type == "JSAPI":
            payer = body.get("payer")
            if not isinstance(payer, dict) or not payer.get("openid"):
                problems.append("payer.openid required")
        else:
            scene = body.get("scene_info")
            if (
                not isinstance(scene, dict)
                or not scene.get("payer_client_ip")
                or not isinstance(scene.get("h5_info"), dict)
                or not scene["h5_info"].get("type")
            ):
                problems.append("scene_info.payer_client_ip and scene_info.h5_info.type required")
        if problems:
            return self.error(400, "PARAM_ERROR", "; ".join(problems), {"issues": problems})
        existing = self.orders.get(body["out_trade_no"])
        if existing is not None:
            if existing["request"]["amount"]["total"] != amount["total"]:
                return self.error(400, "INVALID_REQUEST", "out_trade_no reused with different parameters")
        else:
            existing = {
                "request": body,
                "trade_type": trade_type,
                "trade_state": "NOTPAY",
                "prepay_id": f"wx{uuid.uuid4().hex}",
                "transaction_id": "",
                "payer_openid": (body.get("payer") or {}).get("openid", ""),
                "success_time": "",
            }
            self.orders[body["out_trade_no"]] = existing
        if trade_type == "JSAPI":
            return 200, {"prepay_id": existing["prepay_id"]}, None
        return (
            200,
            {
                "h5_url": f"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id={existing['prepay_id']}"
            },
            None,
        )

    def transaction(self, out_trade_no: str) -> dict[str, Any]:
        order = self.orders[out_trade_no]
        total = order["request"]["amount"]["total"]
        paid = order["trade_state"] in {"SUCCESS", "REFUND"}
        data: dict[str, Any] = {
            "appid": APPID,
            "mchid": MCHID,
            "out_trade_no": out_trade_no,
            "transaction_id": order["transaction_id"],
            "trade_type": order["trade_type"],
            "trade_state": order["trade_state"],
            "trade_state_desc": {"SUCCESS": "支付成功", "NOTPAY": "未支付", "CLOSED": "已关闭"}.get(
                order["trade_state"], ""
            ),
            "bank_type": "OTHERS" if paid else "",
            "attach": "",
            "success_time": order["success_time"],
            "payer": {"openid": order["payer_openid"]},
            "amount": {
                "total": total,
                "payer_total": total if paid else 0,
                "currency": "CNY",
                "payer_currency": "CNY",
            },
        }
        return data

    def pay(self, out_trade_no: str, openid: str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o") -> dict[str, Any]:
        """The member pays: the trade becomes SUCCESS; returns the Transaction object."""
        order = self.orders[out_trade_no]
        order["trade_state"] = "SUCCESS"
        order["transaction_id"] = "4200000" + uuid.uuid4().hex[:21]
        order["payer_openid"] = order["payer_openid"] or openid
        order["success_time"] = (
            dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(microsecond=0).isoformat()
        )
        return self.transaction(out_trade_no)

    def query(self, req: WxRequest, out_trade_no: str) -> tuple[int, Any, str | None]:
        if req.query.get("mchid") != MCHID:
            return self.error(400, "PARAM_ERROR", "mchid query parameter required")
        if out_trade_no not in self.orders:
            return self.error(404, "ORDER_NOT_EXIST", "order does not exist")
        return 200, self.transaction(out_trade_no), None

    def close(self, req: WxRequest, out_trade_no: str) -> tuple[int, Any, str | None]:
        body = req.json() or {}
        if body != {"mchid": MCHID}:
            return self.error(400, "PARAM_ERROR", "body must be {mchid}")
        order = self.orders.get(out_trade_no)
        if order is None:
            return self.error(404, "ORDER_NOT_EXIST", "order does not exist")
        if order["trade_state"] == "SUCCESS":
            return self.error(400, "ORDERPAID", "order paid")
        order["trade_state"] = "CLOSED"
        return 204, None, None

    def create_refund(self, req: WxRequest) -> tuple[int, Any, str | None]:
        body = req.json() or {}
        allowed = {
            "transaction_id",
            "out_trade_no",
            "out_refund_no",
            "reason",
            "notify_url",
            "funds_account",
            "amount",
            "goods_detail",
        }
        problems = [f"unexpected field {k}" for k in body if k not in allowed]
        if not (body.get("transaction_id") or body.get("out_trade_no")):
            problems.append("transaction_id or out_trade_no required")
        if not OUT_TRADE_NO_RE.match(str(body.get("out_refund_no", ""))):
            problems.append("out_refund_no format")
        amount = body.get("amount")
        if not isinstance(amount, dict) or any(type(amount.get(k)) is not int for k in ("refund", "total")):
            problems.append("amount.refund/total must be integers")
        elif amount.get("currency") != "CNY":
            problems.append("amount.currency must be CNY")
        if problems:
            return self.error(400, "PARAM_ERROR", "; ".join(problems))
        order = self.orders.get(body.get("out_trade_no", ""))
        if order is None:
            return self.error(404, "RESOURCE_NOT_EXISTS", "order does not exist")
        if order["trade_state"] not in {"SUCCESS", "REFUND"}:
            return self.error(403, "INVALID_REQUEST", "order not paid")
        total = order["request"]["amount"]["total"]
        refunded = sum(
            r["amount"]["refund"] for r in self.refunds.values() if r["out_trade_no"] == body["out_trade_no"]
        )
        if amount["total"] != total or amount["refund"] <= 0 or refunded + amount["refund"] > total:
            return self.error(400, "INVALID_REQUEST", "refund amount invalid")
        if body["out_refund_no"] in self.refunds:
            return 200, self.refunds[body["out_refund_no"]], None
        refund = {
            "refund_id": "50000" + uuid.uuid4().hex[:24],
            "out_refund_no": body["out_refund_no"],
            "transaction_id": order["transaction_id"],
            "out_trade_no": body["out_trade_no"],
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "success_time": "",
            "create_time": dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
            .replace(microsecond=0)
            .isoformat(),
            "status": "PROCESSING",
            "funds_account": "AVAILABLE",
            "amount": {
                "total": total,
                "refund": amount["refund"],
                "payer_total": total,
                "payer_refund": amount["refund"],
                "currency": "CNY",
            },
        }
        self.refunds[body["out_refund_no"]] = refund
        order["trade_state"] = "REFUND"
        return 200, refund, None

    # -- notifications -----------------------------------------------------------------------------------

    def build_notification(
        self,
        resource_plain: dict[str, Any],
        *,
        original_type: str = "transaction",
        event_type: str = "TRANSACTION.SUCCESS",
        timestamp: int | None = None,
        signing_key: rsa.RSAPrivateKey | None = None,
        serial: str | None = None,
        apiv3_key: str | None = None,
        tamper_ciphertext: bool = False,
        tamper_body_after_signing: bool = False,
    ) -> tuple[dict[str, str], bytes]:
        """(headers, body) of a notification as WeChat Pay POSTs it to notify_url."""
        resource = spec_encrypt(
            apiv3_key or self.apiv3_key, json.dumps(resource_plain).encode(), original_type
        )
        resource["original_type"] = original_type
        if tamper_ciphertext:
            raw = bytearray(base64.b64decode(resource["ciphertext"]))
            raw[0] ^= 0x01
            resource["ciphertext"] = base64.b64encode(bytes(raw)).decode()
        envelope = {
            "id": str(uuid.uuid4()),
            "create_time": dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
            .replace(microsecond=0)
            .isoformat(),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功" if original_type == "transaction" else "退款状态变更",
            "resource": resource,
        }
        body = json.dumps(envelope, ensure_ascii=False).encode()
        headers = self.sign_headers(body, key=signing_key, timestamp=timestamp)
        if serial is not None:
            headers["Wechatpay-Serial"] = serial
        headers["Request-ID"] = uuid.uuid4().hex
        if tamper_body_after_signing:
            body = body.replace(b'"event_type"', b'"event_type" ', 1)
        return headers, body

    def refund_notification_plain(self, out_refund_no: str, status: str = "SUCCESS") -> dict[str, Any]:
        refund = self.refunds[out_refund_no]
        return {
            "mchid": MCHID,
            "out_trade_no": refund["out_trade_no"],
            "transaction_id": refund["transaction_id"],
            "out_refund_no": out_refund_no,
            "refund_id": refund["refund_id"],
            "refund_status": status,
            "success_time": "2026-11-25T20:00:00+08:00",
            "user_received_account": refund["user_received_account"],
            "amount": {k: refund["amount"][k] for k in ("total", "refund", "payer_total", "payer_refund")},
        }


@pytest.fixture
def wechatpay(settings):
    """A running FakeWechatPay (platform certificates mode); settings select the ``wechatpay`` provider."""
    from siyu.channels.payments.wechatpay import clear_certificate_cache

    clear_certificate_cache()
    with FakeWechatPay() as fake:
        settings.SIYU_PAYMENT_PROVIDER = "wechatpay"
        settings.SIYU_WECHATPAY = fake.settings_dict()
        yield fake
    clear_certificate_cache()


@pytest.fixture
def wechatpay_pubkey(settings):
    """A running FakeWechatPay in WeChat Pay public key mode (``PUB_KEY_ID_…``)."""
    from siyu.channels.payments.wechatpay import clear_certificate_cache

    clear_certificate_cache()
    with FakeWechatPay(public_key_mode=True) as fake:
        settings.SIYU_PAYMENT_PROVIDER = "wechatpay"
        settings.SIYU_WECHATPAY = fake.settings_dict()
        yield fake
    clear_certificate_cache()
