"""``/stores`` and ``/staff`` endpoints, and the services behind their writes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from siyu.common.errors import Conflict, PermissionDenied, ValidationFailed
from siyu.org.models import AuditEntry, Role, Staff, Store
from siyu.org.services import staff_admin, stores
from tests.api_support import ApiClient, assert_error
from tests.factories import TEST_PASSWORD, StaffFactory, StoreFactory

# --- stores ------------------------------------------------------------------------------------


def test_store_lists_are_scoped(as_admin, as_clerk, store_a, store_b):
    assert as_admin.get("/stores").json()["count"] == 2
    body = as_clerk.get("/stores").json()
    assert body["count"] == 1 and body["items"][0]["code"] == "A001"
    assert as_clerk.get(f"/stores/{store_a.pk}").json()["name"] == store_a.name
    assert_error(as_clerk.get(f"/stores/{store_b.pk}"), 404, "not_found")


def test_store_pagination(as_admin, brand):
    for i in range(5):
        StoreFactory(brand=brand, code=f"P{i}")
    page = as_admin.get("/stores", {"limit": 2, "offset": 1}).json()
    assert page["count"] == 5
    assert [s["code"] for s in page["items"]] == ["P1", "P2"]


def test_admin_creates_and_updates_store(as_admin, brand):
    response = as_admin.post(
        "/stores",
        {"code": "C001", "name": "新店", "city": "上海", "latitude": 31.2304, "longitude": 121.4737},
    )
    assert response.status_code == 201, response.content
    store = response.json()
    assert store["code"] == "C001" and store["status"] == "open"
    assert store["latitude"] == pytest.approx(31.2304)
    response = as_admin.patch(f"/stores/{store['id']}", {"status": "suspended", "phone": "010-1234"})
    assert response.status_code == 200
    assert response.json()["status"] == "suspended"
    assert Store.objects.get(pk=store["id"]).phone == "010-1234"
    actions = list(AuditEntry.objects.filter(target_type="store").values_list("action", flat=True))
    assert sorted(actions) == ["store.create", "store.update"]


def test_store_validation(as_admin, store_a):
    assert_error(as_admin.post("/stores", {"code": "A001", "name": "dup"}), 409, "conflict", "code")
    assert_error(as_admin.post("/stores", {"code": "a001", "name": "dup"}), 409, "conflict", "code")
    assert_error(as_admin.post("/stores", {"code": "X 1", "name": "x"}), 400, "invalid", "code")
    assert_error(as_admin.post("/stores", {"code": "X1", "name": ""}), 400, "invalid", "name")
    assert_error(
        as_admin.post("/stores", {"code": "X1", "name": "x", "latitude": 91}), 400, "invalid", "latitude"
    )
    assert_error(
        as_admin.post("/stores", {"code": "X1", "name": "x", "longitude": -180.5}),
        400,
        "invalid",
        "longitude",
    )
    assert_error(
        as_admin.post("/stores", {"code": "X1", "name": "x", "status": "gone"}), 400, "invalid", "status"
    )
    assert_error(
        as_admin.post("/stores", {"code": "X1", "name": "x", "region": "nope"}), 400, "invalid", "region"
    )
    assert_error(as_admin.post("/stores", {"code": "X1"}), 400, "invalid", "name")
    assert_error(as_admin.patch(f"/stores/{store_a.pk}", {"name": "x" * 101}), 400, "invalid", "name")
    assert not Store.objects.filter(code="X1").exists()


def test_store_update_to_taken_code_changes_nothing(as_admin, store_a, store_b):
    assert_error(as_admin.patch(f"/stores/{store_b.pk}", {"code": "A001", "name": "new"}), 409)
    store_b.refresh_from_db()
    assert store_b.code == "B001" and store_b.name != "new"


def test_only_hq_admin_writes_stores(as_operator, as_manager, store_a):
    for client in (as_operator, as_manager):
        assert_error(client.post("/stores", {"code": "Z1", "name": "z"}), 403, "forbidden")
        assert_error(client.patch(f"/stores/{store_a.pk}", {"name": "z"}), 403, "forbidden")


def test_store_service_rounds_coordinates(hq_admin, brand):
    store = stores.create_store(hq_admin, {"code": "R1", "name": "r", "latitude": "39.9042123456"})
    assert store.latitude == Decimal("39.904212")
    with pytest.raises(ValidationFailed):
        stores.create_store(hq_admin, {"code": "R2", "name": "r", "latitude": "NaN"})
    with pytest.raises(ValidationFailed):
        stores.create_store(hq_admin, {"code": "R2", "name": "r", "bogus": 1})
    unchanged = stores.update_store(hq_admin, store.pk, {"name": "r"})
    assert unchanged.pk == store.pk
    assert AuditEntry.objects.filter(action="store.update").count() == 0


# --- staff -------------------------------------------------------------------------------------


def test_staff_lists_by_role(as_admin, as_manager, as_clerk, hq_admin, manager_a, clerk_a, store_b, brand):
    other = StaffFactory(brand=brand, role="clerk", stores=[store_b])
    all_ids = {s["id"] for s in as_admin.get("/staff", {"limit": 200}).json()["items"]}
    assert {hq_admin.pk, manager_a.pk, clerk_a.pk, other.pk} <= all_ids
    manager_ids = {s["id"] for s in as_manager.get("/staff").json()["items"]}
    assert manager_ids == {manager_a.pk, clerk_a.pk}
    clerk_ids = {s["id"] for s in as_clerk.get("/staff").json()["items"]}
    assert clerk_ids == {clerk_a.pk}
    assert_error(as_clerk.get(f"/staff/{manager_a.pk}"), 404)
    assert_error(as_manager.get(f"/staff/{other.pk}"), 404)
    assert as_manager.get(f"/staff/{clerk_a.pk}").json()["username"] == clerk_a.username


def test_staff_me(as_manager, manager_a, store_a):
    me = as_manager.get("/staff/me").json()
    assert me["role"] == "store_manager"
    assert me["stores"] == [{"id": store_a.pk, "code": "A001", "name": store_a.name}]
    assert "password" not in me


def test_admin_creates_staff(as_admin, store_a):
    response = as_admin.post(
        "/staff",
        {
            "username": "newclerk",
            "display_name": "小张",
            "role": "clerk",
            "store_ids": [store_a.pk],
            "password": "a-long-pass-phrase",
            "can_reveal_mobile": True,
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["role"] == "clerk" and body["can_reveal_mobile"] is True
    assert [s["id"] for s in body["stores"]] == [store_a.pk]
    user = Staff.objects.get(username="newclerk")
    assert user.check_password("a-long-pass-phrase")
    entry = AuditEntry.objects.get(action="staff.create")
    assert "a-long-pass-phrase" not in str(entry.detail)
    # The new account can use the API.
    client = ApiClient(user)
    assert client.get("/staff/me").json()["username"] == "newclerk"


def test_staff_create_validation(as_admin, store_a, clerk_a):
    base = {"username": "u2", "role": "clerk", "store_ids": [store_a.pk], "password": "a-long-pass-phrase"}
    assert_error(as_admin.post("/staff", {**base, "password": "short"}), 400, "invalid", "password")
    assert_error(as_admin.post("/staff", {**base, "password": "password123"}), 400, "invalid", "password")
    assert_error(as_admin.post("/staff", {**base, "username": "CLERKA"}), 409, "conflict", "username")
    assert_error(as_admin.post("/staff", {**base, "username": "bad name!"}), 400, "invalid", "username")
    assert_error(as_admin.post("/staff", {**base, "role": "king"}), 400, "invalid", "role")
    assert_error(as_admin.post("/staff", {**base, "store_ids": []}), 400, "invalid", "store_ids")
    assert_error(as_admin.post("/staff", {**base, "store_ids": [999999]}), 400, "invalid", "store_ids")
    assert_error(as_admin.post("/staff", {**base, "store_ids": ["x"]}), 400, "invalid", "store_ids.0")
    assert not Staff.objects.filter(username="u2").exists()


def test_hq_roles_get_no_stores(hq_admin, store_a):
    user = staff_admin.create_staff(
        hq_admin,
        {
            "username": "op2",
            "role": "hq_operator",
            "store_ids": [store_a.pk],
            "password": "a-long-pass-phrase",
        },
    )
    assert list(user.stores.all()) == []


def test_admin_updates_staff(as_admin, clerk_a, store_a, store_b):
    response = as_admin.patch(
        f"/staff/{clerk_a.pk}", {"role": "store_manager", "store_ids": [store_a.pk, store_b.pk]}
    )
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "store_manager"
    assert {s["code"] for s in response.json()["stores"]} == {"A001", "B001"}
    response = as_admin.patch(f"/staff/{clerk_a.pk}", {"is_active": False})
    assert response.json()["is_active"] is False
    clerk_a.refresh_from_db()
    assert not clerk_a.is_active
    entries = AuditEntry.objects.filter(action="staff.update", target_id=str(clerk_a.pk))
    assert entries.count() == 2


def test_deactivated_staff_token_stops_working(as_admin, clerk_a):
    client = ApiClient(clerk_a)
    assert client.get("/staff/me").status_code == 200
    as_admin.patch(f"/staff/{clerk_a.pk}", {"is_active": False})
    assert_error(client.get("/staff/me"), 401)


def test_admin_cannot_lock_self_out(as_admin, hq_admin):
    assert_error(as_admin.patch(f"/staff/{hq_admin.pk}", {"is_active": False}), 400, "invalid")
    assert_error(as_admin.patch(f"/staff/{hq_admin.pk}", {"role": "clerk"}), 400, "invalid")
    hq_admin.refresh_from_db()
    assert hq_admin.is_active and hq_admin.role == Role.HQ_ADMIN


def test_staff_update_rules(as_admin, clerk_a, brand):
    assert_error(as_admin.patch(f"/staff/{clerk_a.pk}", {"store_ids": []}), 400, "invalid", "store_ids")
    assert_error(as_admin.patch(f"/staff/{clerk_a.pk}", {"is_active": None}), 400, "invalid", "is_active")
    assert_error(as_admin.patch(f"/staff/{clerk_a.pk}", {"password": "short"}), 400, "invalid", "password")
    response = as_admin.patch(f"/staff/{clerk_a.pk}", {"password": "another-long-phrase"})
    assert response.status_code == 200
    clerk_a.refresh_from_db()
    assert clerk_a.check_password("another-long-phrase")
    root = StaffFactory(brand=brand, username="root", is_superuser=True, role="hq_admin")
    assert_error(as_admin.patch(f"/staff/{root.pk}", {"display_name": "x"}), 403, "forbidden")


def test_only_admin_manages_staff(as_operator, as_manager, clerk_a, store_a):
    for client in (as_operator, as_manager):
        assert_error(client.patch(f"/staff/{clerk_a.pk}", {"is_active": False}), 403)
        body = {"username": "u3", "store_ids": [store_a.pk], "password": "a-long-pass-phrase"}
        assert_error(client.post("/staff", body), 403)


def test_staff_service_errors_are_typed(hq_admin, clerk_a, store_a):
    with pytest.raises(PermissionDenied):
        staff_admin.create_staff(
            clerk_a, {"username": "x", "password": TEST_PASSWORD, "store_ids": [store_a.pk]}
        )
    with pytest.raises(Conflict):
        staff_admin.create_staff(
            hq_admin, {"username": "clerka", "password": TEST_PASSWORD, "store_ids": [store_a.pk]}
        )
