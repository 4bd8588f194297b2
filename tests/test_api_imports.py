"""``/imports/members`` (multipart upload) and ``/members/export`` (file download)."""

from __future__ import annotations

import csv
import io

from django.core.files.uploadedfile import SimpleUploadedFile

from siyu.members.models import Member, MemberImport
from siyu.members.services import import_files
from tests.api_support import API, ApiClient, assert_error

CSV = "手机号,姓名,性别,门店编码\n13700000001,甲,女,A001\n13700000002,乙,男,A001\n"


def upload(client: ApiClient, name: str, content: bytes):
    return client.client.post(
        f"{API}/imports/members",
        {"file": SimpleUploadedFile(name, content)},
        HTTP_AUTHORIZATION=f"Bearer {client.token}",
    )


def test_import_members(as_manager, store_a):
    response = upload(as_manager, "members.csv", CSV.encode())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "imported"
    assert body["created_count"] == 2 and body["row_count"] == 2 and body["errors"] == []
    assert Member.objects.filter(mobile__in=["13700000001", "13700000002"], home_store=store_a).count() == 2
    listed = as_manager.get("/imports/members").json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == body["id"]


def test_rejected_import_lists_errors_and_writes_nothing(as_admin, store_a):
    content = (CSV + "1234,丙,女,A001\n").encode()
    response = upload(as_admin, "bad.csv", content)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "rejected"
    assert body["errors"] and body["errors"][0]["row"] == 4
    assert not Member.objects.filter(mobile="13700000001").exists()


def test_unreadable_file_is_400(as_admin):
    assert_error(upload(as_admin, "junk.xlsx", b"\x00\xff\xfe not a spreadsheet"), 400, "invalid", "file")


def test_import_needs_capability_and_multipart(as_clerk, as_admin):
    assert_error(upload(as_clerk, "members.csv", CSV.encode()), 403, "forbidden")
    assert_error(as_clerk.get("/imports/members"), 403, "forbidden")
    assert_error(as_admin.post("/imports/members", {"file": "x"}), 415, "unsupported_media_type")
    response = as_admin.client.post(
        f"{API}/imports/members", {"other": "x"}, HTTP_AUTHORIZATION=f"Bearer {as_admin.token}"
    )
    assert_error(response, 400, "invalid", "file")


def test_oversized_upload_is_413(as_admin, monkeypatch):
    monkeypatch.setattr(import_files, "MAX_FILE_BYTES", 1024)
    assert_error(upload(as_admin, "big.csv", b"a" * 2048), 413, "too_large", "file")
    assert not MemberImport.objects.exists()


def test_store_roles_see_only_their_own_imports(as_admin, as_manager, store_a):
    upload(as_admin, "hq.csv", CSV.encode())
    assert as_manager.get("/imports/members").json()["count"] == 0
    assert as_admin.get("/imports/members").json()["count"] == 1


def test_export_members_csv(as_manager, member_a, member_b):
    response = as_manager.get("/members/export", {"format": "csv"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"] and ".csv" in response["Content-Disposition"]
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 2  # header + the manager's one member
    assert "13812341234" not in text and "138****1234" in text
    assert "李小红" not in text


def test_export_members_xlsx_and_filters(as_admin, member_a, member_b, store_a):
    response = as_admin.get("/members/export", {"format": "xlsx", "store": store_a.pk})
    assert response.status_code == 200
    assert response.content[:2] == b"PK"
    assert_error(as_admin.get("/members/export", {"format": "pdf"}), 400, "invalid", "format")
    assert_error(as_admin.get("/members/export", {"gender": "x"}), 400, "invalid", "gender")


def test_export_needs_capability(as_clerk, member_a):
    assert_error(as_clerk.get("/members/export"), 403, "forbidden")
