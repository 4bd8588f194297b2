"""``/tags`` and ``/tokens`` endpoints."""

from __future__ import annotations

from siyu.members.models import MemberTag, Tag
from siyu.org.models import ApiToken
from tests.api_support import ApiClient, assert_error
from tests.factories import MemberFactory, TagFactory

# --- tags --------------------------------------------------------------------------------------


def test_list_tags(as_clerk, brand):
    TagFactory(group__brand=brand, name="咖啡")
    TagFactory(group__brand=brand, name="茶")
    body = as_clerk.get("/tags").json()
    assert body["count"] == 2
    assert {t["name"] for t in body["items"]} == {"咖啡", "茶"}
    assert body["items"][0]["is_rule_based"] is False


def test_create_manual_and_rule_tags(as_operator, brand):
    response = as_operator.post("/tags", {"group": "兴趣", "name": "烘焙"})
    assert response.status_code == 201, response.content
    assert response.json()["rule"] is None
    response = as_operator.post("/tags", {"group": "画像", "name": "女性", "rule": {"gender": "f"}})
    assert response.status_code == 201
    assert response.json()["is_rule_based"] is True and response.json()["rule"] == {"gender": "f"}
    assert_error(as_operator.post("/tags", {"group": "兴趣", "name": "烘焙"}), 409, "conflict", "name")
    assert_error(
        as_operator.post("/tags", {"group": "画像", "name": "x", "rule": {"iq": 1}}), 400, "invalid", "rule"
    )
    assert_error(
        as_operator.post("/tags", {"group": "画像", "name": "x", "rule": [1]}), 400, "invalid", "rule"
    )
    assert_error(as_operator.post("/tags", {"group": "", "name": "x"}), 400, "invalid", "group")


def test_clerk_cannot_create_or_recompute_tags(as_clerk, brand):
    tag = TagFactory(group__brand=brand, rule={"gender": "f"})
    assert_error(as_clerk.post("/tags", {"group": "g", "name": "n"}), 403, "forbidden")
    assert_error(as_clerk.post(f"/tags/{tag.pk}/recompute"), 403, "forbidden")
    assert not Tag.objects.filter(name="n").exists()


def test_recompute_rule_tag(as_admin, brand, store_a):
    women = [MemberFactory(brand=brand, home_store=store_a, gender="f") for _ in range(3)]
    MemberFactory(brand=brand, home_store=store_a, gender="m")
    tag_id = as_admin.post("/tags", {"group": "画像", "name": "女性", "rule": {"gender": "f"}}).json()["id"]
    response = as_admin.post(f"/tags/{tag_id}/recompute")
    assert response.status_code == 200
    assert response.json() == {"added": 3, "removed": 0, "total": 3}
    assert set(MemberTag.objects.filter(tag_id=tag_id).values_list("member_id", flat=True)) == {
        m.pk for m in women
    }
    manual = TagFactory(group__brand=brand)
    assert_error(as_admin.post(f"/tags/{manual.pk}/recompute"), 400, "invalid", "tag")


# --- tokens ------------------------------------------------------------------------------------


def test_token_lifecycle(as_clerk, clerk_a):
    response = as_clerk.post("/tokens", {"name": "收银机"})
    assert response.status_code == 201
    created = response.json()
    secret = created["token"]
    assert secret.startswith("sy_") and created["prefix"] == secret[:10]
    listed = as_clerk.get("/tokens").json()
    assert listed["count"] == 2  # the test client's own token and the new one
    assert all("token" not in t for t in listed["items"])
    assert secret not in as_clerk.get("/tokens").content.decode()
    new_client = ApiClient(token=secret)
    assert new_client.get("/staff/me").json()["username"] == clerk_a.username
    response = as_clerk.delete(f"/tokens/{created['id']}")
    assert response.status_code == 200 and response.json()["revoked_at"]
    assert as_clerk.delete(f"/tokens/{created['id']}").status_code == 200  # idempotent
    assert_error(new_client.get("/staff/me"), 401)


def test_tokens_are_private(as_clerk, as_operator, clerk_a, hq_operator):
    other_id = as_operator.post("/tokens", {"name": "mine"}).json()["id"]
    assert other_id not in {t["id"] for t in as_clerk.get("/tokens").json()["items"]}
    assert_error(as_clerk.delete(f"/tokens/{other_id}"), 404, "not_found")
    assert ApiToken.objects.get(pk=other_id).revoked_at is None


def test_token_name_validation(as_clerk):
    assert_error(as_clerk.post("/tokens", {"name": ""}), 400, "invalid", "name")
    assert_error(as_clerk.post("/tokens", {"name": "x" * 101}), 400, "invalid", "name")
    assert_error(as_clerk.post("/tokens", {}), 400, "invalid", "name")
