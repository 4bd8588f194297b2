"""``/members`` endpoints: scope (404 across stores), masking, writes, idempotent create."""

from __future__ import annotations

import pytest

from siyu.analytics.models import Event
from siyu.api.models import IdempotencyRecord
from siyu.members.models import ConsentRecord, Member, MemberNote, MemberTag
from siyu.org.models import AuditEntry
from tests.api_support import ApiClient, assert_error
from tests.factories import BrandFactory, MemberFactory, StaffFactory, StoreFactory, TagFactory


@pytest.fixture
def tag(brand):
    return TagFactory(group__brand=brand, name="咖啡")


# --- scope ------------------------------------------------------------------------------------


def test_clerk_sees_only_own_store_members(as_clerk, member_a, member_b):
    body = as_clerk.get("/members").json()
    assert body["count"] == 1
    assert [m["id"] for m in body["items"]] == [member_a.pk]
    # Filtering on the other store or searching for the other member finds nothing.
    assert as_clerk.get("/members", {"store": member_b.home_store_id}).json()["count"] == 0
    assert as_clerk.get("/members", {"q": "1111"}).json()["count"] == 0


def test_clerk_gets_404_for_other_store_member(as_clerk, member_b, tag):
    pk = member_b.pk
    assert_error(as_clerk.get(f"/members/{pk}"), 404, "not_found")
    assert_error(as_clerk.patch(f"/members/{pk}", {"name": "x"}), 404, "not_found")
    assert_error(as_clerk.post(f"/members/{pk}/tags", {"tag_id": tag.pk}), 404, "not_found")
    assert_error(as_clerk.delete(f"/members/{pk}/tags/{tag.pk}"), 404, "not_found")
    assert_error(as_clerk.post(f"/members/{pk}/consent", {"granted": True}), 404, "not_found")
    assert_error(as_clerk.post(f"/members/{pk}/erase"), 404, "not_found")
    assert_error(as_clerk.get(f"/members/{pk}/export"), 404, "not_found")
    assert_error(as_clerk.get(f"/members/{pk}/events"), 404, "not_found")
    assert_error(as_clerk.post(f"/members/{pk}/notes", {"text": "hi"}), 404, "not_found")
    assert_error(as_clerk.post(f"/members/{pk}/reveal-mobile"), 404, "not_found")
    member_b.refresh_from_db()
    assert member_b.name == "李小红" and member_b.erased_at is None and not member_b.marketing_consent
    assert not MemberTag.objects.filter(member=member_b).exists()
    assert not MemberNote.objects.filter(member=member_b).exists()


def test_manager_gets_404_for_other_store_export_and_erase(as_manager, member_b):
    # A manager may export (capability) but not outside its stores: still 404, not 403.
    assert_error(as_manager.get(f"/members/{member_b.pk}/export"), 404, "not_found")


def test_hq_sees_everyone(as_operator, member_a, member_b):
    assert as_operator.get("/members").json()["count"] == 2


# --- reads, masking ------------------------------------------------------------------------------


def test_mobile_is_masked_everywhere(as_admin, member_a):
    listed = as_admin.get("/members").json()["items"][0]
    assert listed["mobile"] == "138****1234"
    detail = as_admin.get(f"/members/{member_a.pk}").json()
    assert detail["mobile"] == "138****1234"
    updated = as_admin.patch(f"/members/{member_a.pk}", {"name": "新名字"}).json()
    assert updated["mobile"] == "138****1234"
    for response in (
        as_admin.get("/members"),
        as_admin.get(f"/members/{member_a.pk}"),
        as_admin.get(f"/members/{member_a.pk}/events"),
    ):
        assert b"13812341234" not in response.content


def test_member_filters(as_admin, member_a, member_b, tag, brand, store_a):
    MemberTag.objects.create(member=member_a, tag=tag)
    MemberFactory(brand=brand, home_store=store_a, gender="m", age_band="25-34", name="赵男")
    assert as_admin.get("/members", {"store": store_a.pk}).json()["count"] == 2
    assert as_admin.get("/members", {"tag": tag.pk}).json()["count"] == 1
    assert as_admin.get("/members", {"gender": "m"}).json()["count"] == 1
    assert as_admin.get("/members", {"age_band": "25-34"}).json()["count"] == 1
    assert as_admin.get("/members", {"q": "王小"}).json()["count"] == 1
    assert as_admin.get("/members", {"q": "1234"}).json()["items"][0]["id"] == member_a.pk
    assert (
        as_admin.get("/members", {"joined_from": "2000-01-01", "joined_to": "2999-12-31"}).json()["count"]
        == 3
    )
    assert as_admin.get("/members", {"joined_to": "2000-01-01"}).json()["count"] == 0
    assert_error(as_admin.get("/members", {"gender": "x"}), 400, "invalid", "gender")
    assert_error(as_admin.get("/members", {"age_band": "old"}), 400, "invalid", "age_band")
    assert_error(as_admin.get("/members", {"joined_from": "yesterday"}), 400, "invalid", "joined_from")
    assert_error(as_admin.get("/members", {"store": "abc"}), 400, "invalid", "store")


def test_detail_has_tags_consent_notes(as_admin, member_a, tag):
    as_admin.post(f"/members/{member_a.pk}/tags", {"tag_id": tag.pk})
    as_admin.post(f"/members/{member_a.pk}/consent", {"granted": True, "source": "store"})
    as_admin.post(f"/members/{member_a.pk}/notes", {"text": "喜欢拿铁"})
    detail = as_admin.get(f"/members/{member_a.pk}").json()
    assert detail["tags"] == [{"id": tag.pk, "group": tag.group.name, "name": "咖啡", "origin": "manual"}]
    assert detail["marketing_consent"] is True
    assert detail["consent_history"][0]["action"] == "granted"
    assert detail["consent_history"][0]["source"] == "store"
    assert detail["notes"][0]["text"] == "喜欢拿铁"
    assert detail["home_store"]["code"] == "A001"


# --- reveal --------------------------------------------------------------------------------------


def test_reveal_mobile_is_permitted_and_audited(as_admin, member_a):
    response = as_admin.post(f"/members/{member_a.pk}/reveal-mobile")
    assert response.status_code == 200
    assert response.json() == {"mobile": "13812341234"}
    assert AuditEntry.objects.filter(action="member.reveal_mobile", target_id=str(member_a.pk)).count() == 1


def test_reveal_mobile_refused_without_permission(as_clerk, member_a):
    assert_error(as_clerk.post(f"/members/{member_a.pk}/reveal-mobile"), 403, "forbidden", "mobile")
    assert not AuditEntry.objects.filter(action="member.reveal_mobile").exists()


# --- create / update -----------------------------------------------------------------------------


def test_create_member(as_clerk, store_a):
    response = as_clerk.post(
        "/members",
        {
            "mobile": "+86 139-0000-2222",
            "name": "新会员",
            "gender": "f",
            "birthday": "1990-05-01",
            "home_store": "A001",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["mobile"] == "139****2222"
    assert body["age_band"] != ""
    assert body["source"] == "api"
    member = Member.objects.get(pk=body["id"])
    assert member.mobile == "13900002222" and member.home_store_id == store_a.pk
    assert Event.objects.filter(type="member.created", member=member).exists()


def test_create_member_errors(as_clerk, member_a, store_b):
    assert_error(as_clerk.post("/members", {"mobile": "12345"}), 400, "invalid", "mobile")
    assert_error(as_clerk.post("/members", {"mobile": "13900003333"}), 400, "invalid", "home_store")
    assert_error(
        as_clerk.post("/members", {"mobile": "13900003333", "home_store": store_b.pk}), 403, "forbidden"
    )
    assert_error(
        as_clerk.post("/members", {"mobile": "13812341234", "home_store": "A001"}), 409, "conflict", "mobile"
    )
    assert_error(as_clerk.post("/members", {"name": "x"}), 400, "invalid", "mobile")
    assert_error(
        as_clerk.post("/members", {"mobile": "13900003333", "home_store": "A001", "vip": True}),
        400,
        "invalid",
        "vip",
    )
    assert_error(
        as_clerk.post("/members", {"mobile": "13900003333", "home_store": "A001", "birthday": "1990-13-01"}),
        400,
        "invalid",
        "birthday",
    )
    assert not Member.objects.filter(mobile="13900003333").exists()


def test_update_member(as_clerk, member_a):
    response = as_clerk.patch(f"/members/{member_a.pk}", {"name": "王大明", "occupation": "设计师"})
    assert response.status_code == 200
    member_a.refresh_from_db()
    assert member_a.name == "王大明" and member_a.occupation == "设计师"
    assert_error(
        as_clerk.patch(f"/members/{member_a.pk}", {"mobile": "13900004444"}), 400, "invalid", "mobile"
    )
    assert_error(as_clerk.patch(f"/members/{member_a.pk}", {"gender": "x"}), 400, "invalid", "gender")


# --- tags, consent, notes, events ------------------------------------------------------------------


def test_tag_and_untag(as_clerk, member_a, tag):
    response = as_clerk.post(f"/members/{member_a.pk}/tags", {"tag_id": tag.pk})
    assert response.json() == {"changed": True}
    assert as_clerk.post(f"/members/{member_a.pk}/tags", {"tag_id": tag.pk}).json() == {"changed": False}
    assert MemberTag.objects.filter(member=member_a, tag=tag).exists()
    assert_error(as_clerk.post(f"/members/{member_a.pk}/tags", {"tag_id": 999999}), 404, "not_found", "tag")
    assert as_clerk.delete(f"/members/{member_a.pk}/tags/{tag.pk}").json() == {"changed": True}
    assert as_clerk.delete(f"/members/{member_a.pk}/tags/{tag.pk}").json() == {"changed": False}
    assert not MemberTag.objects.filter(member=member_a, tag=tag).exists()


def test_consent(as_clerk, member_a):
    response = as_clerk.post(f"/members/{member_a.pk}/consent", {"granted": True, "source": "store"})
    body = response.json()
    assert body["changed"] is True and body["marketing_consent"] is True and body["consent_updated_at"]
    assert as_clerk.post(f"/members/{member_a.pk}/consent", {"granted": True}).json()["changed"] is False
    assert (
        as_clerk.post(f"/members/{member_a.pk}/consent", {"granted": False}).json()["marketing_consent"]
        is False
    )
    assert ConsentRecord.objects.filter(member=member_a).count() == 2
    assert_error(
        as_clerk.post(f"/members/{member_a.pk}/consent", {"granted": True, "source": "psychic"}),
        400,
        "invalid",
        "source",
    )
    assert_error(
        as_clerk.post(f"/members/{member_a.pk}/consent", {"source": "store"}), 400, "invalid", "granted"
    )


def test_notes_and_events(as_clerk, member_a):
    response = as_clerk.post(f"/members/{member_a.pk}/notes", {"text": "  到店试穿  "})
    assert response.status_code == 201
    assert response.json()["text"] == "到店试穿"
    assert_error(as_clerk.post(f"/members/{member_a.pk}/notes", {"text": " "}), 400, "invalid", "text")
    as_clerk.patch(f"/members/{member_a.pk}", {"name": "改名"})
    as_clerk.post(f"/members/{member_a.pk}/consent", {"granted": True})
    events = as_clerk.get(f"/members/{member_a.pk}/events").json()
    assert events["count"] == 2
    assert [e["type"] for e in events["items"]] == ["consent.granted", "member.updated"]
    page = as_clerk.get(f"/members/{member_a.pk}/events", {"limit": 1, "offset": 1}).json()
    assert page["count"] == 2 and [e["type"] for e in page["items"]] == ["member.updated"]


# --- export / erase ---------------------------------------------------------------------------------


def test_export_member(as_admin, member_a):
    response = as_admin.get(f"/members/{member_a.pk}/export")
    assert response.status_code == 200
    data = response.json()
    assert data["id"] == member_a.pk and data["name"] == "王小明"
    assert data["mobile"] == "13812341234"  # hq_admin may reveal numbers; the export is audited
    assert AuditEntry.objects.filter(action="member.export", target_id=str(member_a.pk)).exists()


def test_export_member_masks_mobile_without_reveal_permission(as_manager, member_a):
    data = as_manager.get(f"/members/{member_a.pk}/export").json()
    assert data["mobile"] == "138****1234"


def test_export_and_erase_need_capabilities(as_clerk, as_manager, member_a):
    assert_error(as_clerk.get(f"/members/{member_a.pk}/export"), 403, "forbidden")
    assert_error(as_manager.post(f"/members/{member_a.pk}/erase"), 403, "forbidden")
    member_a.refresh_from_db()
    assert member_a.erased_at is None


def test_erase_member(as_admin, member_a):
    as_admin.post(f"/members/{member_a.pk}/notes", {"text": "note"})
    response = as_admin.post(f"/members/{member_a.pk}/erase")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["erased_at"] and body["mobile"] == "" and body["name"] == "" and body["notes"] == []
    assert_error(as_admin.post(f"/members/{member_a.pk}/erase"), 409, "conflict")
    assert as_admin.get("/members").json()["count"] == 0
    assert_error(as_admin.patch(f"/members/{member_a.pk}", {"name": "x"}), 409)


# --- idempotency ------------------------------------------------------------------------------------


def test_idempotent_create(as_clerk, store_a):
    body = {"mobile": "13900005555", "name": "幂等", "home_store": store_a.pk}
    first = as_clerk.post("/members", body, headers={"Idempotency-Key": "abc-123"})
    assert first.status_code == 201, first.content
    again = as_clerk.post("/members", body, headers={"Idempotency-Key": "abc-123"})
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.content == first.content
    assert Member.objects.filter(mobile="13900005555").count() == 1
    assert AuditEntry.objects.filter(action="member.create").count() == 1
    # Without the key, a repeat is a conflict as usual.
    assert_error(as_clerk.post("/members", body), 409, "conflict", "mobile")


def test_idempotency_key_with_different_body_is_409(as_clerk, store_a):
    as_clerk.post(
        "/members", {"mobile": "13900006666", "home_store": store_a.pk}, headers={"Idempotency-Key": "k1"}
    )
    response = as_clerk.post(
        "/members", {"mobile": "13900007777", "home_store": store_a.pk}, headers={"Idempotency-Key": "k1"}
    )
    assert_error(response, 409, "idempotency_mismatch", "Idempotency-Key")
    assert not Member.objects.filter(mobile="13900007777").exists()


def test_idempotency_keys_are_per_staff(as_clerk, as_admin, store_a):
    as_clerk.post(
        "/members", {"mobile": "13900008888", "home_store": store_a.pk}, headers={"Idempotency-Key": "same"}
    )
    response = as_admin.post(
        "/members", {"mobile": "13900009999", "home_store": store_a.pk}, headers={"Idempotency-Key": "same"}
    )
    assert response.status_code == 201
    assert IdempotencyRecord.objects.filter(key="same").count() == 2


def test_failed_request_is_not_remembered(as_clerk, store_a):
    bad = {"mobile": "123", "home_store": store_a.pk}
    assert_error(as_clerk.post("/members", bad, headers={"Idempotency-Key": "retry"}), 400)
    assert not IdempotencyRecord.objects.exists()
    good = {"mobile": "13900001010", "home_store": store_a.pk}
    assert as_clerk.post("/members", good, headers={"Idempotency-Key": "retry"}).status_code == 201


def test_bad_idempotency_keys(as_clerk, store_a):
    body = {"mobile": "13900001212", "home_store": store_a.pk}
    for key in ("x" * 256, "   ", "键"):
        assert_error(as_clerk.post("/members", body, headers={"Idempotency-Key": key}), 400, "invalid")
    assert not Member.objects.filter(mobile="13900001212").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_create_one_member():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections (PostgreSQL)")
    import threading

    brand = BrandFactory()
    store = StoreFactory(brand=brand, code="A001")
    clerk = StaffFactory(brand=brand, role="clerk", stores=[store])
    client_token = ApiClient(clerk).token
    body = {"mobile": "13900004242", "home_store": store.pk}
    barrier = threading.Barrier(4)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def send() -> None:
        try:
            barrier.wait()
            response = ApiClient(token=client_token).post(
                "/members", body, headers={"Idempotency-Key": "race"}
            )
            result = (response.status_code, response.json())
        finally:
            connection.close()
        with lock:
            results.append(result)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(status for status, _body in results) == [200, 200, 200, 201]
    assert len({json_body["id"] for _status, json_body in results}) == 1
    assert Member.objects.filter(mobile="13900004242").count() == 1
