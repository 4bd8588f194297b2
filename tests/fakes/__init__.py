"""Local fakes of external providers (SMS, WeChat), served over real HTTP on 127.0.0.1.

Each fake is a small ``ThreadingHTTPServer`` that checks what a real provider checks (signatures,
credentials, single-use codes), records every request and answers in the provider's format.
The fixtures in sms, wechat and wechatpay are registered as pytest plugins (tests/conftest.py): ask for
``tencent_sms``, ``aliyun_sms``, ``wechat_fake``, ``wechatpay`` or ``wechatpay_pubkey`` by name. Telegram
and WeCom tests start ``FakeTelegram`` / ``FakeWeCom`` in fixtures of their own.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    form: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


Reply = tuple[int, dict[str, Any] | list[Any] | str]


class FakeServer:
    """Base: subclasses implement ``handle(request) -> (status, json body)``."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                form: dict[str, str] = {}
                if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                    form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
                req = RecordedRequest(
                    method=self.command,
                    path=split.path,
                    query=dict(parse_qsl(split.query, keep_blank_values=True)),
                    headers=headers,
                    body=body,
                    form=form,
                )
                with fake._lock:
                    fake.requests.append(req)
                    status, payload = fake.handle(req)
                data = (
                    payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _serve
            do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def handle(self, request: RecordedRequest) -> Reply:
        raise NotImplementedError

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
