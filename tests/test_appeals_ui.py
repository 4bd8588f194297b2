"""User-facing surfaces of group moderation: the member's notices and appeal (H5), appeals, group rules and
the blocklist in the console, and the same through the API — with store scope (another store's appeal or
group answers 404) and head-office-only brand defaults."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from siyu.communities.models import (
    Appeal,
    BlocklistEntry,
    CommunityMembership,
    ModerationAction,
    ModerationPolicy,
)
from siyu.communities.services import appeals, blocklist, join_checks, moderation_policy
from siyu.communities.services.joining import active_membership, join_community
from siyu.communities.services.posting import post_member_message
from siyu.org.models import AuditEntry
from tests.api_support import ApiClient, assert_error
from tests.factories import StaffFactory, make_group
from tests.h5_support import member_client as signed_in_client


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.SIYU_OUTBOX_DISPATCH = "off"
    settings.REDIS_URL = ""


@pytest.fixture
def group(store_a):
    return make_group(store_a)


def remove_by_robot(group, member, hq_admin) -> ModerationAction:
    """The member joins ``group`` and is removed at their first offence (a one-step ladder)."""
    moderation_policy.set_policy(hq_admin, group.pk, {"ladder": ["remove"]})
    join_community(group, member, scene="direct")
    post_member_message(group, member, text="快来看 abc.com 超值")
    return ModerationAction.objects.get(community=group, member=member, action="remove")


@pytest.fixture
def removal(group, member_a, hq_admin):
    return remove_by_robot(group, member_a, hq_admin)


@pytest.fixture
def member_client(member_a):
    return signed_in_client(member_a)


def staff_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


# --- H5 ----------------------------------------------------------------------------------------


def test_notices_need_sign_in(client, db):
    response = client.get("/h5/notices/")
    assert response.status_code == 302
    assert response["Location"].startswith("/h5/login/?next=")
    assert "notices" in response["Location"]


def test_member_sees_removal_and_appeals_once(member_client, removal, group, clerk_a, member_a):
    page = member_client.get("/h5/notices/")
    html = page.content.decode()
    assert page.status_code == 200
    assert group.name in html and "External link" in html and "abc.com" in html
    assert f'name="action" value="{removal.pk}"' in html  # the appeal form

    too_long = member_client.post("/h5/notices/", {"action": removal.pk, "text": "长" * 501})
    assert too_long.status_code == 400
    assert "at most 500 characters" in too_long.content.decode()
    empty = member_client.post("/h5/notices/", {"action": removal.pk, "text": "  "})
    assert empty.status_code == 400
    assert "Tell us why the removal was wrong." in empty.content.decode()
    assert not Appeal.objects.exists()

    sent = member_client.post(
        "/h5/notices/", {"action": removal.pk, "text": "那是我们门店的官网"}, follow=True
    )
    html = sent.content.decode()
    assert "Your appeal was sent." in html
    assert "Waiting for review" in html
    assert f'name="action" value="{removal.pk}"' not in html  # no second form
    appeal = Appeal.objects.get()
    assert (appeal.member_id, appeal.action_id, appeal.text) == (
        member_a.pk,
        removal.pk,
        "那是我们门店的官网",
    )

    again = member_client.post("/h5/notices/", {"action": removal.pk, "text": "再申诉一次"})
    assert again.status_code == 409
    assert "You have already appealed against this removal." in again.content.decode()
    assert Appeal.objects.count() == 1

    # Staff accept it in the console; the member sees the outcome and may join the group again.
    assert not join_checks.may_join(group, member_a)
    console = staff_client(clerk_a)
    listing = console.get(reverse("console:moderation_appeals"))
    assert listing.status_code == 200
    assert "那是我们门店的官网" in listing.content.decode()
    assert "abc.com" in listing.content.decode()  # the message text
    response = console.post(
        reverse("console:moderation_appeal_review", args=[appeal.pk]), {"decision": "accept"}
    )
    assert response.status_code == 302
    appeal.refresh_from_db()
    assert appeal.status == Appeal.Status.ACCEPTED and appeal.reviewed_by == clerk_a
    assert AuditEntry.objects.filter(action="moderation.appeal_reviewed").exists()
    assert "Accepted: you may join the group again" in member_client.get("/h5/notices/").content.decode()
    assert join_checks.may_join(group, member_a)
    join_community(group, member_a, scene="direct")
    assert active_membership(group, member_a) is not None


def test_appeal_for_someone_elses_or_junk_action(member_client, group, member_b, hq_admin, member_a):
    other = remove_by_robot(make_group(group.store, name="其他群"), member_b, hq_admin)
    response = member_client.post("/h5/notices/", {"action": other.pk, "text": "not mine"})
    assert response.status_code == 404
    assert "No such moderation action." in response.content.decode()
    junk = member_client.post("/h5/notices/", {"action": "x' or 1=1", "text": "hi"})
    assert junk.status_code in (400, 404)
    assert not Appeal.objects.exists()
    # Warnings show without an appeal form: only removals can be appealed.
    moderation_policy.set_policy(hq_admin, group.pk, {"ladder": ["warn"]})
    join_community(group, member_a, scene="direct")
    post_member_message(group, member_a, text="abc.com")
    warn = ModerationAction.objects.get(member=member_a)
    html = member_client.get("/h5/notices/").content.decode()
    assert "Warning" in html and f'value="{warn.pk}"' not in html


def test_home_and_groups_link_to_notices(member_client):
    assert "/h5/notices/" in member_client.get("/h5/").content.decode()
    assert "/h5/notices/" in member_client.get("/h5/groups/").content.decode()


# --- console: appeals scope ----------------------------------------------------------------------


def test_clerk_cannot_review_another_stores_appeal(removal, member_a, store_b, brand):
    appeal = appeals.submit_appeal(member_a, removal.pk, "对不起")
    clerk_b = StaffFactory(brand=brand, role="clerk", stores=[store_b])
    console = staff_client(clerk_b)
    listing = console.get(reverse("console:moderation_appeals"))
    assert listing.status_code == 200 and "对不起" not in listing.content.decode()
    response = console.post(
        reverse("console:moderation_appeal_review", args=[appeal.pk]), {"decision": "accept"}
    )
    assert response.status_code == 404
    appeal.refresh_from_db()
    assert appeal.status == Appeal.Status.PENDING

    api = ApiClient(clerk_b)
    assert api.get("/appeals").json()["count"] == 0
    assert_error(api.post(f"/appeals/{appeal.pk}/review", {"accept": True}), 404, "not_found")


def test_console_reject_and_bad_decision(removal, member_a, manager_a):
    appeal = appeals.submit_appeal(member_a, removal.pk, "对不起")
    console = staff_client(manager_a)
    url = reverse("console:moderation_appeal_review", args=[appeal.pk])
    bad = console.post(url, {"decision": "maybe"}, follow=True)
    assert "Accept or reject the appeal." in bad.content.decode()
    console.post(url, {"decision": "reject"})
    appeal.refresh_from_db()
    assert appeal.status == Appeal.Status.REJECTED
    assert not join_checks.may_join(removal.community, member_a)
    listing = console.get(reverse("console:moderation_appeals") + "?status=all").content.decode()
    assert "Rejected" in listing
    assert console.get(reverse("console:moderation_appeals") + "?status=junk").status_code == 400


# --- console: rules -----------------------------------------------------------------------------


def _policy_post(**over):
    data = {
        "forbidden_keywords": "代购\n刷单\n",
        "block_links": "on",
        "block_contact": "on",
        "flood_count": "8",
        "flood_seconds": "20",
        "repeat_count": "3",
        "mute_minutes": "30",
        "window_days": "14",
        "step_1": "warn",
        "step_2": "remove",
        "action": "save",
    }
    data.update(over)
    return data


def test_store_manager_edits_own_group_policy_not_another_stores(group, manager_a, store_b):
    console = staff_client(manager_a)
    url = reverse("console:group_policy", args=[group.pk])
    page = console.get(url)
    assert page.status_code == 200
    assert "follows the built-in rules" in page.content.decode()

    response = console.post(url, _policy_post())
    assert response.status_code == 302
    row = ModerationPolicy.objects.get(community=group)
    assert row.forbidden_keywords == ["代购", "刷单"]
    assert (row.block_links, row.block_qr_images, row.block_contact) == (True, False, True)
    assert (row.flood_count, row.flood_seconds, row.mute_minutes, row.window_days) == (8, 20, 30, 14)
    assert row.ladder == ["warn", "remove"]
    assert "This group has its own rules." in console.get(url).content.decode()

    bad = console.post(url, _policy_post(flood_count="1", step_1="", step_2=""))
    assert bad.status_code == 400
    assert "Must be a whole number from 2 to 100." in bad.content.decode()
    bad_ladder = console.post(url, _policy_post(step_1="", step_2=""))
    assert bad_ladder.status_code == 400
    assert "The ladder is a list of steps" in bad_ladder.content.decode()
    row.refresh_from_db()
    assert row.flood_count == 8

    cleared = console.post(url, {"action": "clear"})
    assert cleared.status_code == 302
    assert not ModerationPolicy.objects.filter(community=group).exists()

    other = make_group(store_b, name="西单群")
    other_url = reverse("console:group_policy", args=[other.pk])
    assert console.get(other_url).status_code == 404
    assert console.post(other_url, _policy_post()).status_code == 404
    assert console.post(other_url, {"action": "clear"}).status_code == 404
    assert not ModerationPolicy.objects.exists()


def test_brand_default_is_hq_only(group, hq_admin, clerk_a):
    url = reverse("console:moderation_policy")
    clerk = staff_client(clerk_a)
    page = clerk.get(url)
    assert page.status_code == 200  # read-only, with the clerk's groups to choose from
    assert "disabled" in page.content.decode() and group.name in page.content.decode()
    assert clerk.post(url, _policy_post()).status_code == 403
    assert not ModerationPolicy.objects.exists()
    assert clerk.get(url + f"?group={group.pk}")["Location"].endswith(f"/groups/{group.pk}/policy/")

    hq = staff_client(hq_admin)
    assert hq.post(url, _policy_post(window_days="60")).status_code == 302
    row = ModerationPolicy.objects.get(community__isnull=True)
    assert row.window_days == 60
    assert moderation_policy.effective_policy(group).source == "brand"
    group_page = hq.get(reverse("console:group_policy", args=[group.pk])).content.decode()
    assert "This group follows the brand" in group_page


def test_subnav_links(hq_admin):
    html = staff_client(hq_admin).get(reverse("console:groups")).content.decode()
    for name in ("moderation_appeals", "moderation_policy", "moderation_blocklist"):
        assert reverse(f"console:{name}") in html


# --- console: blocklist -------------------------------------------------------------------------


def test_blocklist_add_and_remove(hq_admin, member_a, manager_a, clerk_a, member_b):
    hq = staff_client(hq_admin)
    url = reverse("console:moderation_blocklist")
    assert hq.get(url).status_code == 200
    response = hq.post(url, {"member": str(member_a.pk), "reason": "spam"})
    assert response.status_code == 302
    entry = BlocklistEntry.objects.get()
    assert (entry.member_id, entry.reason, entry.added_by) == (member_a.pk, "spam", hq_admin)
    assert blocklist.is_blocked(member_a)
    duplicate = hq.post(url, {"member": str(member_a.pk)})
    assert duplicate.status_code == 400 and "Already on the blocklist." in duplicate.content.decode()
    nobody = hq.post(url, {"reason": "?"})
    assert nobody.status_code == 400 and "Say whom to block" in nobody.content.decode()
    assert hq.post(url, {"mobile": "139 0000 1111"}).status_code == 302
    assert hq.post(url, {"channel": "telegram", "external_id": "777"}).status_code == 302
    assert BlocklistEntry.objects.count() == 3
    html = hq.get(url).content.decode()
    assert "spam" in html and "13900001111" not in html  # mobiles masked

    # A store manager sees entries naming their members, may block their members only; clerks may not.
    manager = staff_client(manager_a)
    assert member_a.name in manager.get(url).content.decode()
    out_of_scope = manager.post(url, {"member": str(member_b.pk)})
    assert out_of_scope.status_code == 400 and "No such member." in out_of_scope.content.decode()
    assert staff_client(clerk_a).get(url).status_code == 403
    assert staff_client(clerk_a).post(url, {"member": str(member_a.pk)}).status_code == 403

    removed = manager.post(reverse("console:moderation_blocklist_remove", args=[entry.pk]))
    assert removed.status_code == 302
    assert not BlocklistEntry.objects.filter(pk=entry.pk).exists()
    assert not blocklist.is_blocked(member_a)
    other = BlocklistEntry.objects.filter(mobile="13900001111").get()
    assert manager.post(reverse("console:moderation_blocklist_remove", args=[other.pk])).status_code == 404
    assert AuditEntry.objects.filter(action="blocklist.remove").count() == 1


# --- API ----------------------------------------------------------------------------------------


def test_api_appeals(as_clerk, as_admin, removal, member_a):
    appeal = appeals.submit_appeal(member_a, removal.pk, "对不起")
    body = as_clerk.get("/appeals").json()
    assert body["count"] == 1
    item = body["items"][0]
    assert item["id"] == appeal.pk and item["text"] == "对不起" and item["status"] == "pending"
    assert item["action"]["rule"] == "link" and "abc.com" in item["action"]["message_text"]
    assert item["member"]["id"] == member_a.pk

    assert_error(as_clerk.get("/appeals", {"status": "maybe"}), 400, "invalid", "status")
    assert_error(as_clerk.post(f"/appeals/{appeal.pk}/review", {"accept": "perhaps"}), 400, "invalid")
    assert_error(as_clerk.post(f"/appeals/{appeal.pk}/review", {}), 400, "invalid", "accept")
    assert_error(as_clerk.post(f"/appeals/{appeal.pk}/review", {"accept": True, "x": 1}), 400, "invalid", "x")
    assert_error(as_clerk.post("/appeals/999999/review", {"accept": True}), 404, "not_found")
    assert_error(as_clerk.post("/appeals/0/review", {"accept": True}), 400)
    assert_error(as_clerk.post(f"/appeals/{appeal.pk}/review", raw=b"{nope"), 400)

    reviewed = as_clerk.post(f"/appeals/{appeal.pk}/review", {"accept": True})
    assert reviewed.status_code == 200, reviewed.content
    assert reviewed.json()["status"] == "accepted" and reviewed.json()["action"]["overridden"] is True
    assert_error(as_clerk.post(f"/appeals/{appeal.pk}/review", {"accept": False}), 409, "conflict")
    assert as_admin.get("/appeals").json()["count"] == 0
    assert as_admin.get("/appeals", {"status": "all"}).json()["count"] == 1


def test_api_policies(as_admin, as_clerk, as_manager, group, store_b):
    default = as_admin.get("/moderation/policy")
    assert default.status_code == 200
    assert default.json()["source"] == "builtin" and default.json()["ladder"] == ["warn", "mute", "remove"]

    put = as_admin.send("PUT", "/moderation/policy", {"forbidden_keywords": ["代购"], "mute_minutes": 15})
    assert put.status_code == 200, put.content
    assert put.json()["source"] == "brand" and put.json()["forbidden_keywords"] == ["代购"]
    assert_error(as_clerk.send("PUT", "/moderation/policy", {"mute_minutes": 10}), 403, "forbidden")
    assert as_clerk.get("/moderation/policy").json()["mute_minutes"] == 15

    url = f"/communities/{group.pk}/policy"
    assert as_manager.get(url).json()["source"] == "brand"
    changed = as_manager.send("PUT", url, {"block_links": False, "ladder": ["warn", "remove"]})
    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert (body["source"], body["community_id"], body["block_links"]) == ("community", group.pk, False)
    assert body["forbidden_keywords"] == ["代购"]  # started from the brand default
    assert ModerationPolicy.objects.filter(community=group).exists()

    for junk, field in (
        ({"ladder": ["warn", "ban"]}, "ladder.1"),
        ({"ladder": []}, "ladder"),
        ({"flood_count": 0}, "flood_count"),
        ({"mute_minutes": "lots"}, "mute_minutes"),
        ({"colour": "red"}, "colour"),
        ({"forbidden_keywords": "代购"}, "forbidden_keywords"),
    ):
        assert_error(as_manager.send("PUT", url, junk), 400, "invalid", field)
    assert_error(as_manager.send("PUT", url, ["not", "an", "object"]), 400)

    other = make_group(store_b, name="西单群")
    other_url = f"/communities/{other.pk}/policy"
    assert_error(as_manager.get(other_url), 404, "not_found")
    assert_error(as_manager.send("PUT", other_url, {"block_links": False}), 404, "not_found")
    assert_error(as_manager.delete(other_url), 404, "not_found")

    cleared = as_manager.delete(url)
    assert cleared.status_code == 200 and cleared.json()["source"] == "brand"
    assert not ModerationPolicy.objects.filter(community=group).exists()
    assert as_manager.delete(url).status_code == 200  # harmless to repeat


def test_api_blocklist(as_admin, as_manager, as_clerk, member_a, member_b):
    created = as_admin.post("/blocklist", {"member_id": member_a.pk, "reason": "spam"})
    assert created.status_code == 201, created.content
    entry = created.json()
    assert entry["member"]["id"] == member_a.pk and "*" in entry["member"]["mobile"]
    assert_error(as_admin.post("/blocklist", {"member_id": member_a.pk}), 409, "conflict")
    by_mobile = as_admin.post("/blocklist", {"mobile": "13900001111"})
    assert by_mobile.status_code == 201 and by_mobile.json()["mobile"] != "13900001111"
    assert_error(as_admin.post("/blocklist", {}), 400, "invalid", "member")
    assert_error(
        as_admin.post("/blocklist", {"channel": "fax", "external_id": "1"}), 400, "invalid", "channel"
    )
    assert_error(as_admin.post("/blocklist", {"member_id": "abc"}), 400, "invalid", "member_id")
    assert_error(as_admin.post("/blocklist", {"mobile": "12345"}), 400, "invalid")
    assert_error(as_manager.post("/blocklist", {"mobile": "13700001111"}), 403, "forbidden")
    assert_error(as_manager.post("/blocklist", {"member_id": member_b.pk}), 404, "not_found")
    assert_error(as_clerk.get("/blocklist"), 403, "forbidden")

    assert as_admin.get("/blocklist").json()["count"] == 2
    listed = as_manager.get("/blocklist").json()
    assert [i["id"] for i in listed["items"]] == [entry["id"]]

    assert_error(as_manager.delete(f"/blocklist/{by_mobile.json()['id']}"), 404, "not_found")
    gone = as_manager.delete(f"/blocklist/{entry['id']}")
    assert gone.status_code == 204 and gone.content == b""
    assert_error(as_manager.delete(f"/blocklist/{entry['id']}"), 404, "not_found")
    assert BlocklistEntry.objects.count() == 1


def test_api_needs_auth(anonymous):
    assert_error(anonymous.get("/appeals"), 401)
    assert_error(anonymous.get("/blocklist"), 401)


def test_removed_membership_status(removal, member_a, group):
    # The fixture really removed the member (guards the other tests' premise).
    membership = CommunityMembership.objects.filter(community=group, member=member_a).get()
    assert membership.status == CommunityMembership.Status.REMOVED
