"""Security findings of issue 9: atomic login throttling, the plan-accept channel, member creation when the
mobile exists elsewhere (ADR 0010)."""

from __future__ import annotations

import re
import threading
from typing import Any, get_args

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.test import RequestFactory

from siyu.api.schemas import ChannelName
from siyu.channels.models import ChannelKind
from siyu.common.errors import NotAuthenticated, RateLimited, ValidationFailed
from siyu.communities.models import Community
from siyu.communities.services import matrix
from siyu.org.models import LoginAttempt
from siyu.org.services import login
from tests.api_support import assert_error
from tests.factories import TEST_PASSWORD
from tests.race_support import is_postgres, run_threads


class CountingHasher:
    """Counts the password checks (``verify``) and dummy hashes (``encode``, run for unknown usernames)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self._lock = threading.Lock()
        verify, encode = Argon2PasswordHasher.verify, Argon2PasswordHasher.encode

        def counted(original: Any) -> Any:
            def wrapper(hasher: Any, *args: Any, **kwargs: Any) -> Any:
                with self._lock:
                    self.calls += 1
                return original(hasher, *args, **kwargs)

            return wrapper

        monkeypatch.setattr(Argon2PasswordHasher, "verify", counted(verify))
        monkeypatch.setattr(Argon2PasswordHasher, "encode", counted(encode))


def _attempt(username: str, password: str, ip: str) -> object:
    request = RequestFactory().post("/login/", REMOTE_ADDR=ip)
    return login.staff_login(request, username, password)


# --- login throttling -----------------------------------------------------------------------------


def test_login_reserves_before_checking_the_password(clerk_a, monkeypatch, settings):
    settings.SIYU_LOGIN_MAX_FAILURES = 3
    hasher = CountingHasher(monkeypatch)
    outcomes = []
    for _i in range(6):
        try:
            _attempt(clerk_a.username, "wrong", "10.0.0.9")
        except (NotAuthenticated, RateLimited) as exc:
            outcomes.append(type(exc))
    assert outcomes == [NotAuthenticated] * 3 + [RateLimited] * 3
    assert hasher.calls == 3
    assert LoginAttempt.objects.filter(username=clerk_a.username.lower()).count() == 3


def test_successful_login_does_not_count_as_a_failure(clerk_a, settings):
    settings.SIYU_LOGIN_MAX_FAILURES = 2
    for _i in range(4):
        assert _attempt(clerk_a.username, TEST_PASSWORD, "10.0.0.8") == clerk_a
    assert LoginAttempt.objects.filter(succeeded=True).count() == 4
    with pytest.raises(NotAuthenticated):
        _attempt(clerk_a.username, "wrong", "10.0.0.8")
    assert _attempt(clerk_a.username, TEST_PASSWORD, "10.0.0.8") == clerk_a


def test_ip_limit_covers_many_usernames(clerk_a, settings):
    settings.SIYU_LOGIN_MAX_FAILURES = 1  # 4 failures per IP
    for i in range(4):
        with pytest.raises(NotAuthenticated):
            _attempt(f"nobody{i}", "wrong", "10.0.0.7")
    with pytest.raises(RateLimited):
        _attempt(clerk_a.username, TEST_PASSWORD, "10.0.0.7")
    assert _attempt(clerk_a.username, TEST_PASSWORD, "10.0.0.6") == clerk_a


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("known", [True, False], ids=["known-user", "unknown-user"])
def test_forty_parallel_wrong_logins_check_the_password_at_most_five_times(
    known, brand, store_a, clerk_a, monkeypatch, settings
):
    if not is_postgres():
        pytest.skip("needs PostgreSQL (real parallel connections)")
    settings.SIYU_LOGIN_MAX_FAILURES = 5
    hasher = CountingHasher(monkeypatch)
    username = clerk_a.username if known else "no-such-staff"
    results = run_threads(40, lambda i: _attempt(username, f"wrong-{i}", f"10.1.0.{i}"))
    kinds = [type(r).__name__ for r in results]
    assert kinds.count("NotAuthenticated") == 5, kinds
    assert kinds.count("RateLimited") == 35, kinds
    assert hasher.calls <= 5, hasher.calls
    assert LoginAttempt.objects.filter(username=username.lower(), succeeded=False).count() == 5


# --- group plan: the channel ---------------------------------------------------------------------


def test_channel_names_in_the_schema_are_the_channel_kinds():
    assert set(get_args(ChannelName)) == set(ChannelKind.values)


@pytest.mark.parametrize("channel", ["sms", "", "WEB", "x" * 40, 7, None])
def test_plan_accept_with_an_unknown_channel_is_400(as_manager, store_a, template, channel):
    response = as_manager.post(
        f"/stores/{store_a.pk}/group-plan/accept", {"template_id": template.pk, "channel": channel}
    )
    assert_error(response, 400, "invalid", "channel")
    response = as_manager.get(f"/stores/{store_a.pk}/group-plan", {"channel": channel or "nope"})
    assert_error(response, 400, "invalid", "channel")
    assert not Community.objects.exists()


def test_plan_accept_service_refuses_an_unknown_channel(manager_a, store_a, template):
    with pytest.raises(ValidationFailed) as caught:
        matrix.accept_plan(manager_a, store_a.pk, template.pk, channel="sms")
    assert caught.value.field == "channel"


# --- JSON on every /api/v1 answer -----------------------------------------------------------------

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
UNKNOWN_PATHS = [
    "/api/v1",
    "/api/v1/",
    "/api/v1/nope",
    "/api/v1/stores/",
    "/api/v1/stores/abc",
    "/api/v1/members/1/nothing",
    "/api/v1/docs/assets/evil.js",
    "/api/v1/openapi.json/x",
    "/api/v1/%FF%FE",
]
KNOWN_PATHS = ["/api/v1/stores", "/api/v1/members", "/api/v1/tokens", "/api/v1/openapi.json", "/api/v1/docs"]
# The pages a browser reads are HTML (or the file itself) for GET and HEAD: they are not API answers.
BROWSER_PAGES = {("GET", "/api/v1/docs"), ("HEAD", "/api/v1/docs")}


def _assert_house_json(response, method: str, path: str) -> None:
    where = (method, path, response.status_code)
    assert response["Content-Type"].startswith("application/json"), (*where, response["Content-Type"])
    if method == "HEAD":
        return
    body = response.json()
    if response.status_code >= 400:
        assert set(body) == {"code", "message", "field"}, (*where, body)
        assert isinstance(body["message"], str) and body["message"]


@pytest.fixture
def csrf_clients(hq_admin):
    """Callers that meet Django's CSRF checks: a signed-in browser session without the token, a bearer
    token, and nobody."""
    from django.test import Client

    from tests.api_support import ApiClient

    session = Client(enforce_csrf_checks=True)
    session.force_login(hq_admin)
    token = ApiClient(hq_admin).token
    bearer = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {token}")
    return {"session": session, "bearer": bearer, "anonymous": Client(enforce_csrf_checks=True)}


@pytest.mark.parametrize("who", ["session", "bearer", "anonymous"])
def test_every_api_answer_is_json_for_every_method_and_path(csrf_clients, who):
    client = csrf_clients[who]
    for path in UNKNOWN_PATHS + KNOWN_PATHS:
        for method in METHODS:
            if (method, path) in BROWSER_PAGES:
                continue
            for body in (b"{}", b"<html>", b""):
                response = client.generic(method, path, body, content_type="application/json")
                assert response.status_code < 500, (method, path, response.status_code)
                _assert_house_json(response, method, path)
                if path in UNKNOWN_PATHS and not path.startswith("/api/v1/docs/assets"):
                    assert response.status_code == 404, (method, path, response.status_code)


def test_wrong_methods_are_json_405(csrf_clients):
    client = csrf_clients["bearer"]
    for method, path in [
        ("PUT", "/api/v1/stores"),
        ("DELETE", "/api/v1/openapi.json"),
        ("POST", "/api/v1/docs"),
    ]:
        response = client.generic(method, path, b"{}", content_type="application/json")
        assert_error(response, 405, "method_not_allowed")


def test_csrf_failure_of_a_session_caller_is_json_403(csrf_clients):
    response = csrf_clients["session"].post("/api/v1/tags", {"name": "x"}, content_type="application/json")
    body = assert_error(response, 403, "csrf_failed")
    assert "CSRF" in body["message"]


# --- XLSX bombs -------------------------------------------------------------------------------------

_SHEET_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)


def _xlsx(parts: dict[str, Any], *, level: int = 9) -> bytes:
    """A workbook made by hand: ``parts`` maps a zip entry to bytes or to an iterable of byte chunks
    (written streaming, so a test can pack a huge part without holding it)."""
    import io
    import zipfile

    from openpyxl import Workbook

    base = io.BytesIO()
    book = Workbook()
    book.active.append(["mobile", "name"])
    book.active.append(["13800000000", "张三"])
    book.save(base)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(base) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as dst,
    ):
        for info in src.infolist():
            if info.filename not in parts:
                dst.writestr(info.filename, src.read(info.filename))
        for name, data in parts.items():
            with dst.open(name, "w", force_zip64=True) as f:
                for chunk in [data] if isinstance(data, bytes) else data:
                    f.write(chunk)
    return out.getvalue()


def _huge_shared_string(mb: int = 190) -> Any:
    """The issue's bomb: one shared string of ``mb`` MB of "A" (compresses about a thousand times)."""
    yield b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>'
    for _i in range(mb):
        yield b"A" * (1024 * 1024)
    yield b"</t></si></sst>"


def _sheet_with_a_huge_cell(mb: int = 60) -> Any:
    """A sheet whose one inline string is ``mb`` MB, compressed only ~40 times (some noise in every
    64 KB) so that neither the size nor the ratio of the part gives it away."""
    import random

    rng = random.Random(9)
    yield _SHEET_HEAD + b'<row r="1"><c r="A1" t="inlineStr"><is><t>'
    for _i in range(mb * 16):
        noise = bytes(rng.choice(b"BCDEFGHIJKLMNOPQRSTUVWXYZ") for _j in range(1500))
        yield noise + b"A" * (64 * 1024 - 1500)
    yield b"</t></is></c></row></sheetData></worksheet>"


def _row_with_many_cells(cells: int = 400_000) -> Any:
    yield _SHEET_HEAD + b'<row r="1">'
    for i in range(cells):
        yield b'<c t="inlineStr"><is><t>%d</t></is></c>' % i
    yield b"</row></sheetData></worksheet>"


BOMBS = {
    "huge-shared-string": lambda: _xlsx({"xl/sharedStrings.xml": _huge_shared_string()}),
    "huge-cell-low-ratio": lambda: _xlsx({"xl/worksheets/sheet1.xml": _sheet_with_a_huge_cell()}, level=1),
    "wide-row": lambda: _xlsx({"xl/worksheets/sheet1.xml": _row_with_many_cells()}),
    "entities": lambda: _xlsx(
        {
            "xl/sharedStrings.xml": b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><sst><si><t>&b;</t></si></sst>'
        }
    ),
}


@pytest.mark.parametrize("kind", sorted(BOMBS))
def test_xlsx_bombs_are_refused_with_a_clear_error(kind):
    from siyu.members.services.import_files import read_rows

    content = BOMBS[kind]()
    assert len(content) < 10 * 1024 * 1024, len(
        content
    )  # under the upload limit: only the bomb checks stop it
    with pytest.raises(ValidationFailed) as caught:
        list(read_rows("members.xlsx", content))
    assert caught.value.field == "file"
    if kind != "entities":
        assert "too much data" in str(caught.value.message)


def test_a_normal_xlsx_still_reads():
    from siyu.members.services.import_files import read_rows

    rows = [row[:2] for row in read_rows("members.xlsx", _xlsx({}))]
    assert rows == [["mobile", "name"], ["13800000000", "张三"]]


MEMORY_PROBE = """
import resource, sys
import django
django.setup()
import openpyxl  # noqa: F401  (imported before the baseline: its code is not the file's cost)
from siyu.common.errors import ValidationFailed
from siyu.members.services.import_files import read_rows
content = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    for _row in read_rows("members.xlsx", content):
        pass
    outcome = "read"
except ValidationFailed:
    outcome = "refused"
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(outcome, (after - before) // 1024)
"""

# The most a worker may grow while refusing any of the bombs above (the original one reached 692 MB).
MEMORY_BOUND_MB = 100


@pytest.mark.parametrize("kind", sorted(BOMBS))
def test_refusing_an_xlsx_bomb_keeps_the_worker_small(kind, tmp_path):
    import os
    import subprocess
    import sys

    path = tmp_path / "bomb.xlsx"
    path.write_bytes(BOMBS[kind]())
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "siyu.settings"}
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(path)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome, grown_mb = done.stdout.split()
    assert int(grown_mb) < MEMORY_BOUND_MB, f"{kind}: grew {grown_mb} MB"
    assert outcome == "refused"


# --- a mobile that belongs to another store (ADR 0010) -------------------------------------------


def _import_csv(rows: list[list[str]]) -> bytes:
    lines = ["mobile,name,gender,birthday,store_code,tags", *(",".join(r) for r in rows)]
    return ("\n".join(lines) + "\n").encode()


def test_api_create_answers_the_same_for_own_and_other_stores_mobiles(as_clerk, as_admin, member_a, member_b):
    from siyu.members.models import Member

    own = as_clerk.post("/members", {"mobile": member_a.mobile, "home_store": "A001"})
    other = as_clerk.post("/members", {"mobile": member_b.mobile, "home_store": "A001"})
    assert_error(own, 409, "conflict", "mobile")
    assert own.json() == assert_error(other, 409, "conflict", "mobile")
    assert "store" not in own.json()["message"].replace("head office", "")
    assert Member.objects.filter(mobile=member_b.mobile).get().home_store_id == member_b.home_store_id
    # Head office sees the whole chain and is told plainly.
    body = assert_error(as_admin.post("/members", {"mobile": member_b.mobile}), 409, "conflict", "mobile")
    assert "already exists" in body["message"]


def test_console_create_answers_the_same_for_own_and_other_stores_mobiles(
    client, clerk_a, member_a, member_b
):
    from django.urls import reverse

    client.force_login(clerk_a)
    url = reverse("console:member_new")
    answers = []
    for mobile in (member_a.mobile, member_b.mobile):
        response = client.post(
            url, {"mobile": mobile, "gender": "f", "home_store": clerk_a.stores.first().pk}
        )
        assert response.status_code == 200
        html = response.content.decode()
        assert "cannot be added here" in html and "another store" not in html
        answers.append(
            re.sub(r"[A-Za-z0-9]{64}", "TOKEN", html.replace(mobile, "MOBILE"))
        )  # CSRF tokens differ
    assert answers[0] == answers[1]


def test_api_import_names_no_other_store(manager_a, member_b):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.api_support import ApiClient

    client = ApiClient(manager_a)
    content = _import_csv([[member_b.mobile, "改名", "", "", "", ""]])
    response = client.client.post(
        "/api/v1/imports/members",
        {"file": SimpleUploadedFile("m.csv", content)},
        HTTP_AUTHORIZATION=f"Bearer {client.token}",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "rejected"
    assert body["errors"] == [
        {
            "row": 2,
            "column": "mobile",
            "header": "mobile",
            "reason": "This mobile number cannot be added here.",
        }
    ]


def test_console_import_names_no_other_store(client, manager_a, member_b):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    client.force_login(manager_a)
    content = _import_csv([[member_b.mobile, "改名", "", "", "", ""]])
    response = client.post(
        reverse("console:imports"), {"file": SimpleUploadedFile("m.csv", content)}, follow=True
    )
    html = response.content.decode()
    assert "This mobile number cannot be added here." in html and "another store" not in html
    member_b.refresh_from_db()
    assert member_b.name != "改名"
