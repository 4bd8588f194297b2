"""Member import (CSV/XLSX, all-or-nothing) and member list export."""

from __future__ import annotations

import csv
import io
import random
import zipfile
from datetime import date, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone, translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from siyu.analytics.models import Event
from siyu.analytics.services.events import count_events
from siyu.common.errors import Conflict, PermissionDenied, ValidationFailed
from siyu.members.models import Member, MemberImport, MemberTag, Source, Tag, TagGroup
from siyu.members.services.imports import import_members, import_template
from siyu.members.services.member_export import export_members
from siyu.members.services.profiles import MemberFilter, age_band_for
from siyu.org.models import AuditEntry
from tests.factories import MemberFactory, StoreFactory, TagFactory, TagGroupFactory

EN_HEADER = ("mobile", "name", "gender", "birthday", "store_code", "tags")
ZH_HEADER = ("手机号", "姓名", "性别", "生日", "门店编码", "标签")


@pytest.fixture(autouse=True)
def english():
    # Assertions read messages and export headers; keep them independent of a future zh-hans catalogue.
    with translation.override("en"):
        yield


def make_csv(rows, header=EN_HEADER, encoding="utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def make_xlsx(rows, header=ZH_HEADER) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def error_cells(record: MemberImport) -> list[tuple[int, str]]:
    return [(e["row"], e["column"]) for e in record.errors]


def db_snapshot() -> tuple[int, ...]:
    return (
        Member.objects.count(),
        MemberTag.objects.count(),
        Tag.objects.count(),
        TagGroup.objects.count(),
        Event.objects.count(),
    )


# --- happy paths --------------------------------------------------------------------------------


def test_csv_import_creates_members_tags_events_and_audit(hq_operator, store_a, store_b):
    content = make_csv(
        [
            ["138 0013 8000", "张三", "女", "1990-05-01", "A001", "兴趣/咖啡;新客"],
            ["+86 13900139000", "Li Si", "M", "1985/12/31", "B001", ""],
            ["13700137000", "", "", "", "", "新客"],
        ]
    )
    record = import_members(hq_operator, "pos.csv", content, ip="10.0.0.1")

    assert record.status == MemberImport.Status.IMPORTED
    assert (record.row_count, record.created_count, record.updated_count) == (3, 3, 0)
    assert record.errors == []
    assert len(record.sha256) == 64
    zhang = Member.objects.get(mobile="13800138000")
    assert (zhang.name, zhang.gender, zhang.birthday, zhang.home_store) == (
        "张三",
        "f",
        date(1990, 5, 1),
        store_a,
    )
    assert zhang.source == Source.POS_IMPORT
    assert zhang.age_band != ""
    li = Member.objects.get(mobile="13900139000")
    assert (li.gender, li.birthday, li.home_store) == ("m", date(1985, 12, 31), store_b)
    plain = Member.objects.get(mobile="13700137000")
    assert (plain.gender, plain.home_store, plain.birthday, plain.age_band) == ("u", None, None, "")

    assert sorted(f"{mt.tag.group.name}/{mt.tag.name}" for mt in zhang.member_tags.all()) == [
        "兴趣/咖啡",
        "导入/新客",
    ]
    assert set(zhang.member_tags.values_list("origin", flat=True)) == {MemberTag.Origin.IMPORT}
    # The bare name "新客" resolves to the tag created for row 2, not a second one.
    assert Tag.objects.filter(name="新客").count() == 1
    assert plain.member_tags.get().tag.group.name == "导入"

    assert Event.objects.filter(type="member.created").count() == 3
    assert count_events("member.created") == 3
    assert Event.objects.filter(type="member.tagged").count() == 3
    audit = AuditEntry.objects.get(action="member.import")
    assert audit.actor == hq_operator
    assert audit.ip == "10.0.0.1"
    assert audit.detail["file_name"] == "pos.csv"
    assert (audit.detail["created"], audit.detail["updated"], audit.detail["rows"]) == (3, 0, 3)


def test_xlsx_import_with_chinese_headers_and_excel_cells(hq_admin, store_a):
    content = make_xlsx(
        [
            (13800138000, "张三", "男", datetime(1990, 5, 1), "A001", "兴趣/咖啡"),
            ("13900139000", "李四", "F", "19881231", "A001", None),
            (13700137000.0, "王五", "未知", 19700102, None, "VIP|常客，老客"),
            (None, None, None, None, None, None),  # blank rows are skipped
            ("13600136000", "赵六", "m", "2001/2/3", "A001", ""),
        ]
    )
    record = import_members(hq_admin, "C:\\fakepath\\会员.xlsx", content)

    assert record.status == "imported", record.errors
    assert (record.row_count, record.created_count) == (4, 4)
    assert record.file_name == "会员.xlsx"
    assert Member.objects.get(mobile="13800138000").birthday == date(1990, 5, 1)
    assert Member.objects.get(mobile="13900139000").birthday == date(1988, 12, 31)
    assert Member.objects.get(mobile="13700137000").birthday == date(1970, 1, 2)
    assert Member.objects.get(mobile="13600136000").birthday == date(2001, 2, 3)
    wang = Member.objects.get(mobile="13700137000")
    assert sorted(mt.tag.name for mt in wang.member_tags.all()) == ["VIP", "常客", "老客"]


def test_xlsx_errors_use_spreadsheet_row_numbers_even_after_blank_rows(hq_admin, store_a):
    content = make_xlsx(
        [
            ("13800138000", "a", "", "", "A001", ""),
            (None, None, None, None, None, None),
            ("1380013", "b", "", "", "A001", ""),
        ]
    )
    record = import_members(hq_admin, "m.xlsx", content)
    assert record.status == "rejected"
    assert error_cells(record) == [(4, "mobile")]


def test_gbk_csv_with_chinese_headers(hq_admin, store_a):
    content = make_csv([["13800138000", "张三丰", "男", "1990-05-01", "A001", "兴趣/太极"]], ZH_HEADER, "gbk")
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    record = import_members(hq_admin, "pos-export.csv", content)
    assert record.status == "imported", record.errors
    member = Member.objects.get(mobile="13800138000")
    assert member.name == "张三丰"
    assert member.member_tags.get().tag.name == "太极"


def test_utf8_bom_csv_and_alias_headers(hq_admin, store_a):
    header = ("手机", "会员姓名", "Sex", "出生日期", "门店代码", "Tags", "积分")
    content = b"\xef\xbb\xbf" + make_csv(
        [["13800138000", "张三", "女", "1990-05-01", "A001", "", "120"]], header
    )
    record = import_members(hq_admin, "bom.csv", content)
    assert record.status == "imported", record.errors
    assert Member.objects.get(mobile="13800138000").name == "张三"


def test_updates_only_the_non_empty_fields_of_existing_members(hq_admin, member_a, store_b):
    member_a.birthday = None
    member_a.save()
    content = make_csv([["13812341234", "", "男", "1990-05-01", "", ""]])
    record = import_members(hq_admin, "u.csv", content)

    assert (record.created_count, record.updated_count) == (0, 1)
    member_a.refresh_from_db()
    assert member_a.name == "王小明"  # empty cell: unchanged
    assert (member_a.gender, member_a.birthday) == ("m", date(1990, 5, 1))
    assert member_a.age_band != ""
    assert member_a.source != Source.POS_IMPORT
    assert Event.objects.filter(type="member.updated", member=member_a).count() == 1
    assert not Event.objects.filter(type="member.created").exists()

    # "未知" carries no information: it does not overwrite a known gender.
    import_members(hq_admin, "u2.csv", make_csv([["13812341234", "", "未知", "", "B001", ""]]))
    member_a.refresh_from_db()
    assert member_a.gender == "m"
    assert member_a.home_store == store_b


def test_reimport_of_the_same_file_changes_nothing(hq_operator, store_a, member_a):
    content = make_csv(
        [
            ["13800138000", "张三", "女", "1990-05-01", "A001", "兴趣/咖啡;新客"],
            ["13812341234", "王小明", "女", "", "A001", "兴趣/咖啡"],
        ]
    )
    first = import_members(hq_operator, "pos.csv", content)
    assert (first.status, first.created_count, first.updated_count) == ("imported", 1, 1)
    before = db_snapshot()
    updated_at = Member.objects.get(mobile="13800138000").updated_at

    second = import_members(hq_operator, "pos.csv", content)

    assert second.pk != first.pk
    assert (second.status, second.created_count, second.updated_count) == ("imported", 0, 0)
    assert second.sha256 == first.sha256
    assert db_snapshot() == before
    assert Member.objects.get(mobile="13800138000").updated_at == updated_at
    assert AuditEntry.objects.filter(action="member.import").count() == 2


# --- all or nothing -----------------------------------------------------------------------------


def test_1000_rows_with_3_bad_rows_imports_nothing_and_reports_exactly_those(hq_admin, store_a):
    rows = [[f"135{i:08d}", f"会员{i}", "女", "1990-01-01", "A001", "兴趣/咖啡"] for i in range(1000)]
    rows[10][0] = "12345"  # spreadsheet row 12
    rows[500][3] = (timezone.localdate() + timedelta(days=1)).isoformat()  # row 502
    rows[997][4] = "NOPE"  # row 999
    before = db_snapshot()

    record = import_members(hq_admin, "big.csv", make_csv(rows))

    assert record.status == MemberImport.Status.REJECTED
    assert error_cells(record) == [(12, "mobile"), (502, "birthday"), (999, "store_code")]
    assert all(e["reason"] for e in record.errors)
    assert (record.row_count, record.created_count, record.updated_count) == (1000, 0, 0)
    assert db_snapshot() == before
    assert not Tag.objects.filter(name="咖啡").exists()
    audit = AuditEntry.objects.get(action="member.import")
    assert audit.detail["status"] == "rejected"
    assert audit.detail["errors"] == 3


def test_row_checks_report_every_column(hq_admin, store_a):
    long_tag = "x" * 51
    rows = [
        ["13800138000", "a", "女", "1990-05-01", "A001", ""],
        ["138-0013-8000", "dup", "", "", "A001", ""],  # same number as row 2
        ["", "no mobile", "", "", "A001", ""],
        ["13900139000", "n" * 51, "maybe", "1990-02-30", "A001", f"兴趣/{long_tag}"],
        ["13700137000", "", "", "1899-12-31", "", "a/b/c"],
        ["1.38001E+10", "", "", "", "", ""],
    ]
    record = import_members(hq_admin, "bad.csv", make_csv(rows))
    assert record.status == "rejected"
    assert error_cells(record) == [
        (3, "mobile"),
        (4, "mobile"),
        (5, "name"),
        (5, "gender"),
        (5, "birthday"),
        (5, "tags"),
        (6, "birthday"),
        (6, "tags"),
        (7, "mobile"),
    ]
    assert "row 2" in record.errors[0]["reason"]
    assert "scientific" in record.errors[-1]["reason"]
    assert Member.objects.count() == 0


def test_at_most_1000_problems_are_listed(hq_admin):
    record = import_members(hq_admin, "bad.csv", make_csv([["1"] for _ in range(1100)], header=["mobile"]))
    assert record.status == "rejected"
    assert len(record.errors) == 1001
    assert record.errors[999]["row"] == 1001
    assert record.errors[-1]["row"] is None
    assert "100 more" in record.errors[-1]["reason"]
    assert AuditEntry.objects.get(action="member.import").detail["errors"] == 1100


# --- scope and permissions ----------------------------------------------------------------------


def test_clerk_may_not_import(clerk_a, store_a):
    with pytest.raises(PermissionDenied):
        import_members(clerk_a, "m.csv", make_csv([["13800138000", "", "", "", "A001", ""]]))
    assert MemberImport.objects.count() == 0


def test_store_role_imports_only_into_its_own_stores(manager_a, store_a, store_b, member_a, member_b):
    record = import_members(
        manager_a,
        "m.csv",
        make_csv(
            [
                ["13800138000", "新会员", "", "", "A001", ""],
                ["13700137000", "别店", "", "", "B001", ""],  # store B: not served
                ["13900001111", "改名", "", "", "", ""],  # member_b, of store B
                ["13600136000", "无门店", "", "", "", ""],  # a new member must get a store
                ["13812341234", "", "", "", "B001", ""],  # moving member_a out of scope
            ]
        ),
    )
    assert record.status == "rejected"
    assert error_cells(record) == [(3, "store_code"), (4, "mobile"), (5, "store_code"), (6, "store_code")]
    assert record.errors[1]["reason"] == "This mobile number cannot be added here."  # ADR 0010
    member_b.refresh_from_db()
    assert member_b.name == "李小红"
    assert not Member.objects.filter(mobile="13800138000").exists()

    ok = import_members(
        manager_a,
        "m.csv",
        make_csv([["13800138000", "新会员", "", "", "A001", ""], ["13812341234", "王大明", "", "", "", ""]]),
    )
    assert (ok.status, ok.created_count, ok.updated_count) == ("imported", 1, 1)
    assert Member.objects.get(mobile="13800138000").home_store == store_a
    member_a.refresh_from_db()
    assert member_a.name == "王大明"
    assert AuditEntry.objects.filter(action="member.import").first().store_id == store_a.pk


def test_only_tag_managers_create_tags_by_import(manager_a, hq_operator, brand, store_a):
    coffee = TagFactory(group=TagGroupFactory(brand=brand, name="兴趣"), name="咖啡")
    rows = [
        ["13800138000", "", "", "", "A001", "兴趣/咖啡"],  # exists: fine
        ["13900139000", "", "", "", "A001", "咖啡"],  # bare name of an existing tag: fine
        ["13700137000", "", "", "", "A001", "兴趣/烘焙"],  # unknown
        ["13600136000", "", "", "", "A001", "新客"],  # unknown
    ]
    rejected = import_members(manager_a, "t.csv", make_csv(rows))
    assert rejected.status == "rejected"
    assert error_cells(rejected) == [(4, "tags"), (5, "tags")]
    assert "may not create tags" in rejected.errors[0]["reason"]

    fine = import_members(manager_a, "t.csv", make_csv(rows[:2]))
    assert fine.status == "imported"
    assert MemberTag.objects.filter(tag=coffee, origin="import").count() == 2

    created = import_members(hq_operator, "t.csv", make_csv(rows))
    assert created.status == "imported"
    assert Tag.objects.filter(group__name="兴趣", name="烘焙").exists()
    assert Tag.objects.filter(group__name="导入", name="新客").exists()
    detail = AuditEntry.objects.filter(action="member.import").first().detail
    assert (detail["tags_created"], sorted(detail["new_tags"])) == (2, ["兴趣/烘焙", "导入/新客"])


def test_rule_tags_and_ambiguous_bare_names_are_row_errors(hq_admin, brand, store_a):
    TagFactory(group=TagGroupFactory(brand=brand, name="规则"), name="新客", rule={"joined_within_days": 30})
    TagFactory(group=TagGroupFactory(brand=brand, name="甲"), name="同名")
    TagFactory(group=TagGroupFactory(brand=brand, name="乙"), name="同名")
    record = import_members(
        hq_admin,
        "t.csv",
        make_csv(
            [["13800138000", "", "", "", "A001", "规则/新客"], ["13900139000", "", "", "", "A001", "同名"]]
        ),
    )
    assert error_cells(record) == [(2, "tags"), (3, "tags")]
    ok = import_members(hq_admin, "t.csv", make_csv([["13900139000", "", "", "", "A001", "乙/同名"]]))
    assert ok.status == "imported"


# --- unreadable files ---------------------------------------------------------------------------


def zip_with_text() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    return out.getvalue()


@pytest.mark.parametrize(
    ("file_name", "content", "needle"),
    [
        ("empty.csv", b"", "empty"),
        ("blank.csv", b"\r\n  \n", "empty"),
        ("header.csv", "手机号,姓名\r\n".encode(), "no member rows"),
        ("nomobile.csv", "姓名,性别\r\n张三,男\r\n".encode(), "mobile"),
        ("junk.csv", random.Random(1).randbytes(5000), ""),
        ("nul.csv", b"mobile\r\n138\x00\x00\r\n", "cannot be read"),
        ("junk.xlsx", b"PK\x03\x04" + random.Random(2).randbytes(3000), "xlsx"),
        ("notzip.xlsx", b"mobile\n13800138000\n", "xlsx"),
        ("text.xlsx", zip_with_text(), "xlsx"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), ".xls"),
        ("report.pdf", b"%PDF-1.4 junk", "CSV or XLSX"),
        ("twice.csv", "手机号,手机\r\n13800138000,13800138000\r\n".encode(), "header"),
    ],
)
def test_unreadable_files_are_refused_clearly(hq_admin, file_name, content, needle):
    with pytest.raises(ValidationFailed) as info:
        import_members(hq_admin, file_name, content)
    assert info.value.field == "file"
    assert needle in info.value.message
    assert MemberImport.objects.count() == 0


def test_too_many_rows_and_too_large_files(hq_admin):
    blank_sheet = make_xlsx([[None]] * 5 + [["13800138000"]], header=["手机号"])
    assert import_members(hq_admin, "gap.xlsx", blank_sheet).status == "imported"
    workbook = Workbook()
    workbook.active.append(["手机号"])
    workbook.active.cell(row=100_002, column=1, value="13900139000")
    out = io.BytesIO()
    workbook.save(out)
    with pytest.raises(ValidationFailed, match="20000"):
        import_members(hq_admin, "sparse.xlsx", out.getvalue())

    rows = "\r\n".join(f"135{i:08d}" for i in range(20_001))
    with pytest.raises(ValidationFailed, match="20000") as info:
        import_members(hq_admin, "many.csv", f"mobile\r\n{rows}\r\n".encode())
    assert info.value.field == "file"
    with pytest.raises(ValidationFailed, match="10 MB"):
        import_members(hq_admin, "big.csv", b"mobile\r\n" + b"1" * (10 * 1024 * 1024))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(content=st.binary(max_size=600), name=st.sampled_from(["f.csv", "f.xlsx", "f", "f.txt"]))
def test_junk_bytes_never_crash(hq_admin, content, name):
    with transaction.atomic():
        try:
            record = import_members(hq_admin, name, content)
        except ValidationFailed as exc:
            assert exc.field == "file"
        else:
            assert record.status in ("imported", "rejected")
        transaction.set_rollback(True)


# --- all-or-nothing property --------------------------------------------------------------------

BAD_CELLS = {
    "mobile": (0, "1234"),
    "gender": (2, "?"),
    "birthday": (3, "1990-13-01"),
    "store_code": (4, "ZZZ"),
    "tags": (5, "a/b/c"),
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.sampled_from([None, *BAD_CELLS]), min_size=1, max_size=8))
def test_either_every_row_is_imported_or_nothing_changes(hq_operator, member_a, plan):
    with transaction.atomic():
        rows = [
            [f"1350000{i:04d}", f"会员{i}", "女", "1990-01-01", "A001", "兴趣/咖啡"] for i in range(len(plan))
        ]
        for i, bad in enumerate(plan):
            if bad:
                column, value = BAD_CELLS[bad]
                rows[i][column] = value
        before = db_snapshot()
        record = import_members(hq_operator, "p.csv", make_csv(rows))
        if any(plan):
            assert record.status == "rejected"
            assert db_snapshot() == before
            assert error_cells(record) == [(i + 2, bad) for i, bad in enumerate(plan) if bad]
        else:
            assert record.status == "imported"
            assert Member.objects.filter(mobile__in=[r[0] for r in rows]).count() == len(rows)
            assert record.created_count == len(rows)
        transaction.set_rollback(True)


def test_10000_rows_import_whole_and_reimport_changes_nothing(hq_operator, store_a, store_b):
    rows = [
        [
            f"136{i:08d}",
            f"会员{i}",
            "女" if i % 2 else "男",
            "1990-01-01",
            "A001" if i % 3 else "B001",
            "兴趣/咖啡",
        ]
        for i in range(10_000)
    ]
    content = make_csv(rows)
    record = import_members(hq_operator, "10k.csv", content)
    assert record.status == "imported"
    assert record.created_count == 10_000
    assert MemberTag.objects.count() == 10_000
    assert Event.objects.filter(type="member.created").count() == 10_000
    again = import_members(hq_operator, "10k.csv", content)
    assert (again.created_count, again.updated_count) == (0, 0)


# --- template -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_template_can_be_imported_as_is(hq_operator, brand, fmt):
    StoreFactory(brand=brand, code="BJ001")  # the sample row names the demo's first store
    content, content_type, file_name = import_template(fmt)
    assert file_name.endswith(f".{fmt}")
    assert ("csv" in content_type) == (fmt == "csv")
    if fmt == "csv":
        assert content.startswith(b"\xef\xbb\xbf")
        assert content.decode("utf-8-sig").splitlines()[0] == "手机号,姓名,性别,生日,门店编码,标签"
    record = import_members(hq_operator, file_name, content)
    assert record.status == "imported", record.errors
    assert Member.objects.get(mobile="13800138000").name == "张三"


def test_template_unknown_format():
    with pytest.raises(ValidationFailed) as info:
        import_template("pdf")
    assert info.value.field == "format"


# --- export -------------------------------------------------------------------------------------


def read_csv_export(content: bytes) -> list[dict[str, str]]:
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def test_export_csv_masks_mobiles_unless_revealed(hq_operator, hq_admin, member_a, member_b, brand):
    tag = TagFactory(group=TagGroupFactory(brand=brand, name="兴趣"), name="咖啡")
    MemberTag.objects.create(member=member_a, tag=tag)

    content, content_type, file_name = export_members(hq_operator, MemberFilter(), "csv", ip="10.0.0.2")
    assert content_type.startswith("text/csv")
    assert file_name.startswith("members-") and file_name.endswith(".csv")
    rows = {r["Name"]: r for r in read_csv_export(content)}
    assert set(rows) == {"王小明", "李小红"}
    assert rows["王小明"]["Mobile"] == "138****1234"
    assert rows["王小明"]["Store code"] == "A001"
    assert rows["王小明"]["Store name"] == "朝阳大悦城店"
    assert rows["王小明"]["Tags"] == "兴趣/咖啡"
    assert rows["王小明"]["Member ID"] == str(member_a.pk)
    assert rows["王小明"]["Joined at"] == timezone.localtime(member_a.joined_at).strftime("%Y-%m-%d %H:%M:%S")
    audit = AuditEntry.objects.get(action="member.export_list")
    assert (audit.actor, audit.ip, audit.detail["rows"], audit.detail["mobile_revealed"]) == (
        hq_operator,
        "10.0.0.2",
        2,
        False,
    )

    revealed, _ct, _fn = export_members(hq_admin, MemberFilter(), "csv")
    assert {r["Mobile"] for r in read_csv_export(revealed)} == {"13812341234", "13900001111"}


def test_export_filtered_by_store_and_scoped_for_store_roles(
    hq_admin, manager_a, member_a, member_b, store_b
):
    content, _ct, _fn = export_members(hq_admin, MemberFilter(store_id=store_b.pk), "csv")
    assert [r["Name"] for r in read_csv_export(content)] == ["李小红"]
    audit = AuditEntry.objects.get(action="member.export_list")
    assert audit.detail["filter"] == {"store_id": store_b.pk, "include_erased": False}
    assert audit.detail["rows"] == 1

    content, _ct, _fn = export_members(manager_a, MemberFilter(), "csv")
    assert [r["Name"] for r in read_csv_export(content)] == ["王小明"]


def test_export_needs_the_export_capability(clerk_a, member_a):
    with pytest.raises(PermissionDenied):
        export_members(clerk_a, MemberFilter(), "csv")
    assert not AuditEntry.objects.filter(action="member.export_list").exists()


def test_export_unknown_format(hq_admin):
    with pytest.raises(ValidationFailed) as info:
        export_members(hq_admin, MemberFilter(), "pdf")
    assert info.value.field == "format"


def test_export_of_a_store_that_does_not_exist_is_empty_and_audited(hq_admin, member_a):
    content, _ct, _fn = export_members(hq_admin, MemberFilter(store_id=987654), "csv")
    assert read_csv_export(content) == []
    audit = AuditEntry.objects.get(action="member.export_list")
    assert (audit.store_id, audit.detail["filter"]["store_id"], audit.detail["rows"]) == (None, 987654, 0)


def test_export_xlsx(hq_admin, member_a):
    member_a.birthday = date(1990, 5, 1)
    member_a.save()
    content, content_type, file_name = export_members(hq_admin, MemberFilter(), "xlsx")
    assert content_type.endswith("spreadsheetml.sheet") and file_name.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(content)).active
    header, row = (list(r) for r in sheet.iter_rows(values_only=True))
    data = dict(zip(header, row, strict=True))
    assert data["Mobile"] == "13812341234"
    assert data["Name"] == "王小明"
    assert data["Birthday"].date() == date(1990, 5, 1)
    assert data["Member ID"] == member_a.pk


def test_export_neutralises_spreadsheet_formulas(hq_admin, store_a):
    MemberFactory(
        home_store=store_a, brand=store_a.brand, name='=HYPERLINK("http://x")', mobile="13800138000"
    )
    content, _ct, _fn = export_members(hq_admin, MemberFilter(), "csv")
    assert read_csv_export(content)[0]["Name"] == '\'=HYPERLINK("http://x")'
    xlsx, _ct, _fn = export_members(hq_admin, MemberFilter(), "xlsx")
    sheet = load_workbook(io.BytesIO(xlsx)).active
    assert sheet.cell(row=2, column=3).value == '\'=HYPERLINK("http://x")'
    assert sheet.cell(row=2, column=3).data_type == "s"


def test_export_queries_do_not_grow_with_members(hq_admin, brand, store_a, django_assert_max_num_queries):
    tags = [TagFactory(group=TagGroupFactory(brand=brand, name="兴趣")) for _ in range(3)]
    for _ in range(40):
        member = MemberFactory(brand=brand, home_store=store_a)
        for tag in tags:
            MemberTag.objects.create(member=member, tag=tag)
    with django_assert_max_num_queries(8):
        content, _ct, _fn = export_members(hq_admin, MemberFilter(), "csv")
    assert len(read_csv_export(content)) == 40


def test_revealed_export_round_trips_through_import(hq_admin, brand, member_a, member_b):
    tag = TagFactory(group=TagGroupFactory(brand=brand, name="兴趣"), name="咖啡")
    MemberTag.objects.create(member=member_b, tag=tag)
    member_a.birthday = date(1991, 3, 4)
    member_a.age_band = age_band_for(member_a.birthday)
    member_a.save()
    before = db_snapshot()
    for fmt in ("csv", "xlsx"):
        content, _ct, file_name = export_members(hq_admin, MemberFilter(), fmt)
        record = import_members(hq_admin, file_name, content)
        assert (record.status, record.created_count, record.updated_count) == ("imported", 0, 0), (
            record.errors
        )
    assert db_snapshot() == before


def test_a_number_created_meanwhile_is_a_conflict_and_nothing_is_written(hq_admin, store_a, monkeypatch):
    original = Member.objects.bulk_create

    def racing_bulk_create(objs, *args, **kwargs):
        # Someone signs up with the same number between our check and our insert.
        MemberFactory(brand=store_a.brand, home_store=store_a, mobile=objs[0].mobile)
        return original(objs, *args, **kwargs)

    monkeypatch.setattr(Member.objects, "bulk_create", racing_bulk_create)
    with pytest.raises(Conflict) as info:
        import_members(hq_admin, "m.csv", make_csv([["13800138000", "", "", "", "A001", "兴趣/咖啡"]]))
    assert info.value.field == "file"
    assert db_snapshot() == (0, 0, 0, 0, 0)
    assert MemberImport.objects.count() == 0
