"""Issue 9, console a chain runs without the API: stores and staff screens, the staff home of store roles,
group template audiences as a form, the "post to groups" picker, chat opening at the newest message; and words
a person reads: event and audit sentences, import errors under the file's own headers, slips fixed."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import authenticate
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from siyu.analytics.services.descriptions import EVENT_SENTENCES, describe_event
from siyu.communities.models import Community, GroupTemplate, JoinRequest, LiveCode, StaffTask
from siyu.communities.services import matrix
from siyu.members.services.imports import import_members
from siyu.orders.models import Order
from siyu.org.models import AuditEntry, Staff, Store
from siyu.org.services import staff_admin
from siyu.org.services.audit_descriptions import describe_action
from tests.factories import StaffFactory, TagFactory, place_order, two_cups_at


@pytest.fixture
def listings(hq_admin, store_a, store_b):
    """CUP-W and CUP-B at store A, 10 in stock each (store B lists them too)."""
    return two_cups_at(hq_admin, store_a)


pytestmark = pytest.mark.django_db


def _html(response, status: int = 200) -> str:
    assert response.status_code == status, (response.status_code, response.content[:600])
    return response.content.decode()


# --- stores ---------------------------------------------------------------------------------------


def test_hq_admin_creates_and_edits_a_store(client, hq_admin, brand):
    client.force_login(hq_admin)
    assert reverse("console:store_new") in _html(client.get(reverse("console:stores")))
    data = {
        "code": "SH001",
        "name": "静安店",
        "status": "open",
        "address": "南京西路1号",
        "opening_hours": "10:00-22:00",
    }
    response = client.post(reverse("console:store_new"), data)
    assert response.status_code == 302, response.content[:500]
    store = Store.objects.get(code="SH001")
    assert (store.name, store.opening_hours, store.brand_id) == ("静安店", "10:00-22:00", brand.pk)
    assert AuditEntry.objects.filter(action="store.create", target_id=str(store.pk)).exists()

    edit = reverse("console:store_edit", args=[store.pk])
    assert 'value="SH001"' in _html(client.get(edit))
    response = client.post(edit, {**data, "status": "suspended", "opening_hours": "09:00-21:00"})
    assert response.status_code == 302
    store.refresh_from_db()
    assert (store.status, store.opening_hours) == ("suspended", "09:00-21:00")
    entry = AuditEntry.objects.get(action="store.update")
    assert set(entry.detail["changes"]) == {"status", "opening_hours"}


def test_store_form_errors_are_shown_on_the_field(client, hq_admin, store_a):
    client.force_login(hq_admin)
    html = _html(
        client.post(reverse("console:store_new"), {"code": "bad code!", "name": "x", "status": "open"})
    )
    assert "field-error" in html and Store.objects.filter(name="x").count() == 0
    html = _html(client.post(reverse("console:store_new"), {"code": "a001", "name": "x", "status": "open"}))
    assert "already exists" in html


def test_store_roles_cannot_manage_stores(client, manager_a, store_a):
    client.force_login(manager_a)
    html = _html(client.get(reverse("console:stores")))
    assert reverse("console:store_new") not in html
    assert client.get(reverse("console:store_new")).status_code == 403
    edit = reverse("console:store_edit", args=[store_a.pk])
    assert client.post(edit, {"code": "A001", "name": "改", "status": "closed"}).status_code == 403
    store_a.refresh_from_db()
    assert store_a.status == "open"


# --- staff ----------------------------------------------------------------------------------------


def test_create_staff_with_a_generated_password_shown_once(client, hq_admin, store_a):
    client.force_login(hq_admin)
    response = client.post(
        reverse("console:staff_new"),
        {"username": "newclerk", "display_name": "小王", "role": "clerk", "store_ids": [store_a.pk]},
    )
    html = _html(response)
    assert response["Cache-Control"] == "no-store"
    password = re.search(r'value="([A-Za-z0-9]{12})"', html).group(1)
    user = Staff.objects.get(username="newclerk")
    assert list(user.stores.all()) == [store_a] and user.role == "clerk"
    assert authenticate(username="newclerk", password=password) == user
    assert password not in str(AuditEntry.objects.filter(action="staff.create").values_list("detail"))


def test_store_role_needs_a_store(client, hq_admin):
    client.force_login(hq_admin)
    html = _html(client.post(reverse("console:staff_new"), {"username": "x1", "role": "clerk"}))
    assert "Choose at least one store" in html and not Staff.objects.filter(username="x1").exists()


def test_edit_reset_deactivate_reactivate(client, hq_admin, clerk_a, store_a, store_b):
    client.force_login(hq_admin)
    edit = reverse("console:staff_edit", args=[clerk_a.pk])
    response = client.post(
        edit, {"display_name": "阿明", "role": "store_manager", "store_ids": [store_a.pk, store_b.pk]}
    )
    assert response.status_code == 302
    clerk_a.refresh_from_db()
    assert clerk_a.role == "store_manager" and clerk_a.display_name == "阿明"
    assert set(clerk_a.stores.all()) == {store_a, store_b}

    # reset: a chosen password, then a generated one shown once
    reset = reverse("console:staff_password", args=[clerk_a.pk])
    assert client.post(reset, {"password": "Lantern-Quay-77"}).status_code == 302
    assert authenticate(username=clerk_a.username, password="Lantern-Quay-77") is not None
    html = _html(client.post(reset, {"password": ""}))
    generated = re.search(r'value="([A-Za-z0-9]{12})"', html).group(1)
    assert authenticate(username=clerk_a.username, password=generated) is not None
    assert AuditEntry.objects.filter(action="staff.password_reset").count() == 2

    active = reverse("console:staff_active", args=[clerk_a.pk])
    assert client.post(active, {"active": "0"}).status_code == 302
    clerk_a.refresh_from_db()
    assert not clerk_a.is_active
    assert authenticate(username=clerk_a.username, password=generated) is None
    client.post(active, {"active": "1"})
    clerk_a.refresh_from_db()
    assert clerk_a.is_active


def test_admin_cannot_deactivate_themselves(client, hq_admin):
    client.force_login(hq_admin)
    client.post(reverse("console:staff_active", args=[hq_admin.pk]), {"active": "0"})
    hq_admin.refresh_from_db()
    assert hq_admin.is_active


def test_manager_sees_their_stores_staff_read_only(client, manager_a, clerk_a, store_b, brand):
    other = StaffFactory(brand=brand, username="clerkb", role="clerk", stores=[store_b])
    client.force_login(manager_a)
    html = _html(client.get(reverse("console:staff")))
    assert "clerka" in html and "clerkb" not in html
    assert reverse("console:staff_new") not in html
    assert client.get(reverse("console:staff_edit", args=[other.pk])).status_code == 404
    page = _html(client.get(reverse("console:staff_edit", args=[clerk_a.pk])))
    assert reverse("console:staff_password", args=[clerk_a.pk]) not in page
    assert (
        client.post(reverse("console:staff_edit", args=[clerk_a.pk]), {"role": "hq_admin"}).status_code == 403
    )
    assert client.post(reverse("console:staff_password", args=[clerk_a.pk]), {}).status_code == 403
    clerk_a.refresh_from_db()
    assert clerk_a.role == "clerk"


def test_reset_password_service_refuses_a_weak_password(hq_admin, clerk_a):
    from siyu.common.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        staff_admin.reset_password(hq_admin, clerk_a.pk, "123")


# --- the staff home of store roles --------------------------------------------------------------------


@pytest.fixture
def template(hq_admin):
    return matrix.create_group_template(hq_admin, {"name": "宝妈群", "theme": "mom"})


def test_store_home_shows_pickups_join_requests_and_tasks(
    client, clerk_a, member_a, member_b, store_a, store_b, listings, template, hq_admin
):
    now = timezone.now()
    mine = place_order(member_a, store_a, [(listings[0].pk, 1)])
    later = place_order(member_a, store_a, [(listings[1].pk, 1)])
    Order.objects.filter(pk=mine.pk).update(
        status="ready", pickup_window_start=now, pickup_window_end=now + timedelta(hours=2)
    )
    Order.objects.filter(pk=later.pk).update(
        status="paid", pickup_window_start=now + timedelta(days=3), pickup_window_end=now + timedelta(days=4)
    )
    code = LiveCode.objects.create(brand=store_a.brand, store=store_a, template=template)
    JoinRequest.objects.create(live_code=code, member=member_a)
    code_b = LiveCode.objects.create(brand=store_b.brand, store=store_b, template=template)
    JoinRequest.objects.create(live_code=code_b, member=member_b)
    StaffTask.objects.create(store=store_a, kind=StaffTask.Kind.CREATE_GROUP, title="建群：宝妈群 1")
    StaffTask.objects.create(store=store_b, kind=StaffTask.Kind.CREATE_GROUP, title="建群：B 店")

    client.force_login(clerk_a)
    html = _html(client.get("/"))
    assert reverse("console:pickup") in html
    assert reverse("console:order_detail", args=[mine.pk]) in html
    assert reverse("console:order_detail", args=[later.pk]) not in html  # not due today
    assert member_a.mobile[-4:] in html and member_a.mobile not in html
    assert member_b.mobile[-4:] not in html  # another store's request
    assert "建群：宝妈群 1" in html and "B 店" not in html
    assert 'name="viewport"' in html

    jr = JoinRequest.objects.get(member=member_a)
    response = client.post(
        reverse("console:join_request_review", args=[jr.pk]), {"decision": "reject", "next": "/"}
    )
    assert response.status_code == 302 and response["Location"] == "/"
    task = StaffTask.objects.get(store=store_a)
    response = client.post(reverse("console:task_done", args=[task.pk]), {"next": "/"})
    assert response["Location"] == "/"


def test_hq_keeps_the_dashboard_without_the_coming_soon_line(client, hq_admin):
    client.force_login(hq_admin)
    html = _html(client.get("/"))
    assert "joined-chart" in html and "come later" not in html


# --- group template audience as a form -------------------------------------------------------------


def test_audience_is_built_from_form_fields_and_edited(client, hq_admin, store_a, brand):
    tag = TagFactory(name="高消费")
    client.force_login(hq_admin)
    response = client.post(
        reverse("console:group_templates"),
        {
            "name": "高端女性",
            "theme": "general",
            "recommended_size": 200,
            "threshold": "none",
            "aud_age_band": ["25-34", "35-44"],
            "aud_gender": "f",
            "aud_has_tag": [tag.pk],
            "aud_district": "朝阳区，海淀区",
            "aud_consent": "yes",
        },
    )
    assert response.status_code == 302, response.content[:800]
    template = GroupTemplate.objects.get(name="高端女性")
    assert template.audience == {
        "age_band": ["25-34", "35-44"],
        "gender": "f",
        "has_tag": [tag.pk],
        "district": ["朝阳区", "海淀区"],
        "consent": True,
    }
    listing = _html(client.get(reverse("console:group_templates")))
    assert "age 25–34/35–44 · Female · tags 高消费" in listing  # words, not the stored rule

    edit = reverse("console:group_template_edit", args=[template.pk])
    page = _html(client.get(edit))
    assert 'value="25-34" checked' in page or 'value="25-34"\n' in page or "checked" in page
    response = client.post(
        edit,
        {
            "name": "高端女性",
            "theme": "general",
            "recommended_size": 300,
            "threshold": "none",
            "aud_joined_within_days": 30,
            "active": "on",
        },
    )
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.audience == {"joined_within_days": 30} and template.recommended_size == 300
    entry = AuditEntry.objects.get(action="group_template.update")
    assert entry.detail["changes"]["audience"] == {"joined_within_days": 30}

    bad = client.post(
        edit,
        {
            "name": "高端女性",
            "theme": "general",
            "recommended_size": 300,
            "threshold": "none",
            "aud_joined_within_days": -3,
        },
    )
    html = _html(bad, 400)
    assert "field-error" in html
    template.refresh_from_db()
    assert template.audience == {"joined_within_days": 30}


def test_update_template_service_checks(hq_admin, clerk_a, template):
    from siyu.common.errors import PermissionDenied, ValidationFailed

    with pytest.raises(PermissionDenied):
        matrix.update_group_template(clerk_a, template.pk, {"recommended_size": 10})
    with pytest.raises(ValidationFailed) as info:
        matrix.update_group_template(hq_admin, template.pk, {"audience": {"gender": "x"}})
    assert info.value.field == "audience"
    assert matrix.update_group_template(hq_admin, template.pk, {"name": "宝妈群"}) == template
    assert not AuditEntry.objects.filter(action="group_template.update").exists()


def test_clerk_cannot_edit_templates(client, clerk_a, template):
    client.force_login(clerk_a)
    assert client.get(reverse("console:group_template_edit", args=[template.pk])).status_code == 403


# --- picker and chat -------------------------------------------------------------------------------


def test_group_picker_partial_has_filters_and_every_group(rf, hq_admin, store_a, store_b, template):
    groups_a = [
        Community.objects.create(
            brand=store_a.brand, store=store_a, template=template, name=f"A群{i}", sequence=i + 1
        )
        for i in range(3)
    ]
    group_b = Community.objects.create(
        brand=store_b.brand, store=store_b, template=template, name="B群", sequence=1
    )
    card_stores = [
        {"store": store_a, "groups": groups_a, "available": True, "reason": ""},
        {"store": store_b, "groups": [group_b], "available": False, "reason": "sold out"},
    ]
    html = render_to_string("console/communities/_group_picker.html", {"card_stores": card_stores})
    assert html.count('name="communities"') == 4
    assert "data-picker-store" in html and "data-picker-theme" in html and "data-picker-all" in html
    assert 'value="mom"' in html and 'data-theme="mom"' in html
    assert f'data-store="{store_b.pk}"' in html and "disabled" in html


def test_chat_log_opens_at_the_newest_message(client, hq_admin, store_a, template):
    group = Community.objects.create(
        brand=store_a.brand, store=store_a, template=template, name="群1", sequence=1
    )
    client.force_login(hq_admin)
    html = _html(client.get(reverse("console:group_detail", args=[group.pk])))
    assert '<ol class="chat-log" data-scroll-end>' in html


# --- sentences -------------------------------------------------------------------------------------


def test_every_event_code_has_a_sentence_in_both_languages():
    for code in EVENT_SENTENCES:
        sentence = describe_event(code, {"order_id": 12, "amount_fen": 3990, "fields": ["name"]})
        assert "%(" not in sentence and "{" not in sentence
    assert describe_event("order.paid", {"order_id": 12, "amount_fen": 3990}) == "Paid ¥39.90 for order #12"
    assert describe_event("order.paid", {}) == "Paid for an order"  # a payload without values
    assert describe_event("loyalty.points_added", {"x": {"y": 1}}) == "Event: loyalty · points added"
    with translation.override("zh-hans"):
        assert describe_event("member.signed_in") == "登录会员中心"
        assert (
            describe_event("order.paid", {"order_id": 12, "amount_fen": 3990}) == "为订单 #12 支付了 ¥39.90"
        )
        assert describe_event("new.thing") == "事件：new · thing"


def test_audit_sentences_and_fallback():
    assert describe_action("member.reveal_mobile", "7") == "Revealed the mobile number of member #7"
    assert describe_action("store.update", "3", {"changes": {"status": "closed", "name": "x"}}) == (
        "Changed store #3: name, status"
    )
    assert describe_action("store.create", "3", {}) == "Created a store"
    assert describe_action("x.brand_new", "1", {"a": [1]}) == "Action: x · brand new"
    with translation.override("zh-hans"):
        assert describe_action("member.reveal_mobile", "7") == "查看了会员 #7 的完整手机号"
        assert describe_action("x.y") == "操作：x · y"


def test_timeline_and_audit_log_show_sentences(client, hq_admin, member_a):
    client.force_login(hq_admin)
    client.post(reverse("console:member_reveal", args=[member_a.pk]))
    html = _html(client.get(reverse("console:audit")))
    assert f"Revealed the mobile number of member #{member_a.pk}" in html
    from siyu.analytics.services.events import record_event

    record_event("order.paid", member_id=member_a.pk, payload={"order_id": 5, "amount_fen": 100})
    record_event("mystery.code", member_id=member_a.pk, payload={"a": 1})
    html = _html(client.get(reverse("console:member_detail", args=[member_a.pk])))
    assert "Paid ¥1.00 for order #5" in html and "Event: mystery · code" in html
    assert "mystery.code" not in html


def test_audit_times_are_in_shanghai(client, hq_admin, member_a, settings):
    client.force_login(hq_admin)
    client.post(reverse("console:member_reveal", args=[member_a.pk]))
    entry = AuditEntry.objects.get(action="member.reveal_mobile")
    local = timezone.localtime(entry.created_at, timezone=__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    assert local.strftime("%Y-%m-%d %H:%M") in _html(client.get(reverse("console:audit")))


# --- imports ---------------------------------------------------------------------------------------


def test_import_errors_name_the_files_own_headers(hq_admin, store_a):
    content = "会员手机号,会员姓名,出生日期,门店代码\n12345,张三,1990-13-01,NOPE\n".encode()
    record = import_members(hq_admin, "pos.csv", content)
    assert record.status == "rejected"
    headers = {e["header"] for e in record.errors}
    assert {"会员手机号", "出生日期"} <= headers


def test_sample_row_imports_cleanly_in_the_demo():
    from siyu.members.models import Member
    from siyu.members.services.imports import import_template
    from siyu.tooling.demo.chain import seed_demo

    seed_demo(stores=3, members=50, seed=1, password="demo-pass-2026")
    for username in ("admin", "m001"):
        staff = Staff.objects.get(username=username)
        for fmt in ("csv", "xlsx"):
            content, _type, name = import_template(fmt)
            record = import_members(staff, name, content)
            assert record.status == "imported", (username, fmt, record.errors)
    assert Member.objects.get(mobile="13800138000").home_store.code == "BJ001"
