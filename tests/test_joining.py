"""Live codes, routing joins into a store's groups, join thresholds, the group matrix, the H5 join page."""

from __future__ import annotations

import io
import threading
import time

import pytest
from django.db import connection
from django.urls import reverse
from PIL import Image

from siyu.analytics.models import Event
from siyu.channels.models import ChannelKind, Connector
from siyu.channels.sms.console import clear_codes, last_code
from siyu.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.communities.models import (
    Community,
    CommunityMembership,
    GroupTemplate,
    JoinRequest,
    LiveCode,
    StaffTask,
)
from siyu.communities.services import joining, livecodes, matrix, queries
from siyu.members.models import Member
from siyu.members.services.signin import SESSION_KEY
from tests.factories import MemberFactory, StaffFactory, StoreFactory


def make_template(brand, name="宝妈群", **kwargs) -> GroupTemplate:
    kwargs.setdefault("base_name", name)
    kwargs.setdefault("recommended_size", 200)
    return GroupTemplate.objects.create(brand=brand, name=name, **kwargs)


def make_members(brand, store, n: int, prefix: str = "150", **kwargs) -> list[Member]:
    Member.objects.bulk_create(
        [
            Member(brand=brand, home_store=store, mobile=f"{prefix}{i:08d}", name=f"会员{i}", **kwargs)
            for i in range(n)
        ]
    )
    return list(Member.objects.filter(mobile__startswith=prefix).order_by("id"))


@pytest.fixture
def template(brand):
    return make_template(brand, rules_text="不发广告\n友善交流")


@pytest.fixture
def code(hq_admin, store_a, template):
    return livecodes.create_live_code(hq_admin, store_id=store_a.pk, template_id=template.pk)


@pytest.fixture
def clerk_b(brand, store_b):
    return StaffFactory(brand=brand, username="clerkb", role="clerk", stores=[store_b])


@pytest.fixture
def wecom(brand):
    return Connector.objects.create(brand=brand, kind=ChannelKind.WECOM, name="企微")


# --- live codes -------------------------------------------------------------------------------


def test_create_live_code_is_idempotent_and_scoped(clerk_a, clerk_b, store_a, store_b, template):
    first = livecodes.create_live_code(clerk_a, store_id=store_a.pk, template_id=template.pk)
    again = livecodes.create_live_code(clerk_a, store_id=store_a.pk, template_id=template.pk)
    assert first.pk == again.pk and first.token == again.token
    assert len(first.token) >= 16
    per_staff = livecodes.create_live_code(
        clerk_a, store_id=store_a.pk, template_id=template.pk, staff_id=clerk_a.pk
    )
    assert per_staff.pk != first.pk and per_staff.staff == clerk_a
    assert LiveCode.objects.count() == 2
    with pytest.raises(NotFound):
        livecodes.create_live_code(clerk_a, store_id=store_b.pk, template_id=template.pk)
    # A per-staff code must belong to someone serving the store.
    with pytest.raises(ValidationFailed):
        livecodes.create_live_code(clerk_a, store_id=store_a.pk, template_id=template.pk, staff_id=clerk_b.pk)
    assert LiveCode.objects.count() == 2


def test_live_code_other_channel_conflicts(hq_admin, store_a, template, code, wecom):
    with pytest.raises(Conflict):
        livecodes.create_live_code(
            hq_admin, store_id=store_a.pk, template_id=template.pk, channel="wecom", connector_id=wecom.pk
        )
    with pytest.raises(ValidationFailed):
        livecodes.create_live_code(
            hq_admin, store_id=store_a.pk, template_id=template.pk, staff_id=hq_admin.pk, channel="wecom"
        )


# --- routing ----------------------------------------------------------------------------------


def test_thousand_joins_make_five_groups_of_200(brand, store_a, clerk_a, code):
    members = make_members(brand, store_a, 1000)
    started = time.monotonic()
    for m in members:
        result = livecodes.join_via_live_code(
            code.token, m, scene="store_qr", inviter_staff_id=clerk_a.pk, referrer_member_id=members[0].pk
        )
        assert result.status == "joined"
    elapsed = time.monotonic() - started
    groups = list(Community.objects.filter(store=store_a).order_by("sequence"))
    assert [g.sequence for g in groups] == [1, 2, 3, 4, 5]
    assert [g.member_count for g in groups] == [200] * 5
    assert [g.name for g in groups][:2] == ["朝阳大悦城店·宝妈群1", "朝阳大悦城店·宝妈群2"]
    for g in groups:
        assert g.memberships.filter(status="active").count() == 200
    rows = CommunityMembership.objects.all()
    assert rows.count() == 1000
    assert rows.filter(scene="store_qr", inviter=clerk_a, live_code_id=code.pk).count() == 1000
    # The first member cannot refer themselves; everyone else is attributed to them.
    assert rows.filter(referrer_id=members[0].pk).count() == 999
    events = Event.objects.filter(type="community.joined")
    assert events.count() == 1000
    assert (
        events.filter(store=store_a, payload__scene="store_qr", payload__inviter_id=clerk_a.pk).count()
        == 1000
    )
    assert elapsed < 60


@pytest.mark.django_db(transaction=True)
def test_concurrent_joins_on_postgres(brand, store_a, clerk_a):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    template = make_template(brand, recommended_size=20)
    code = livecodes.create_live_code(clerk_a, store_id=store_a.pk, template_id=template.pk)
    member_ids = [m.pk for m in make_members(brand, store_a, 50)]
    barrier = threading.Barrier(len(member_ids))
    errors: list[BaseException] = []

    def worker(member_id: int) -> None:
        try:
            member = Member.objects.get(pk=member_id)
            barrier.wait(timeout=30)
            livecodes.join_via_live_code(code.token, member, scene="staff_share", inviter_staff_id=clerk_a.pk)
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(mid,)) for mid in member_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    groups = list(Community.objects.filter(store=store_a, template=template).order_by("sequence"))
    assert [g.sequence for g in groups] == [1, 2, 3]
    assert sorted(g.member_count for g in groups) == [10, 20, 20]
    for g in groups:
        assert g.memberships.filter(status="active").count() == g.member_count
    assert CommunityMembership.objects.filter(scene="staff_share", inviter=clerk_a).count() == 50


def test_rejoin_is_idempotent(member_a, code):
    first = livecodes.join_via_live_code(code.token, member_a, scene="store_qr")
    again = livecodes.join_via_live_code(code.token, member_a, scene="poster")
    assert again.membership.pk == first.membership.pk
    assert CommunityMembership.objects.count() == 1
    assert Community.objects.get().member_count == 1
    assert Event.objects.filter(type="community.joined").count() == 1


def test_leave_then_rejoin_keeps_history(member_a, code, clerk_a):
    first = livecodes.join_via_live_code(code.token, member_a, scene="store_qr")
    community = first.community
    left = joining.leave_community(community, member_a)
    assert left.status == "left" and left.left_at is not None
    assert joining.leave_community(community, member_a) is None
    community.refresh_from_db()
    assert community.member_count == 0
    assert joining.active_membership(community, member_a) is None
    second = livecodes.join_via_live_code(code.token, member_a, scene="poster")
    assert second.membership.pk != first.membership.pk
    assert second.community.pk == community.pk
    assert CommunityMembership.objects.filter(member=member_a).count() == 2
    community.refresh_from_db()
    assert community.member_count == 1
    assert Event.objects.filter(type="community.left", member=member_a).count() == 1
    removed = joining.leave_community(community, member_a, removed=True, by=clerk_a, reason="广告")
    assert removed.status == "removed"
    assert (
        Event.objects.get(type="community.left", payload__removed=True).payload["by_staff_id"] == clerk_a.pk
    )


def test_join_community_never_exceeds_hard_cap(brand, store_a):
    community = Community.objects.create(
        brand=brand, store=store_a, name="小群", recommended_size=2, hard_cap=3
    )
    members = make_members(brand, store_a, 4)
    for m in members[:3]:
        joining.join_community(community, m, scene="direct")
    with pytest.raises(Conflict):
        joining.join_community(community, members[3], scene="direct")
    community.refresh_from_db()
    assert community.member_count == 3
    assert joining.active_membership(community, members[3]) is None
    # Already-in members are not refused by a full group.
    assert joining.join_community(community, members[0], scene="direct").member_id == members[0].pk


def test_wecom_opens_pending_group_with_task(brand, store_a, manager_a, hq_admin, wecom):
    template = make_template(brand, recommended_size=2)
    code = livecodes.create_live_code(
        hq_admin, store_id=store_a.pk, template_id=template.pk, channel="wecom", connector_id=wecom.pk
    )
    members = make_members(brand, store_a, 6)
    # No group yet: staff are asked to create one; the member waits.
    result = livecodes.join_via_live_code(code.token, members[0], scene="store_qr")
    assert result.status == "waiting_for_group" and result.membership is None
    first = Community.objects.get()
    assert first.status == Community.Status.PENDING and first.hard_cap == 500 and first.connector == wecom
    task = StaffTask.objects.get()
    assert task.kind == StaffTask.Kind.CREATE_GROUP and task.community == first
    assert task.assignee == manager_a and task.store == store_a
    # Asking again does not pile up groups or tasks.
    livecodes.join_via_live_code(code.token, members[0], scene="store_qr")
    assert Community.objects.count() == 1 and StaffTask.objects.count() == 1

    Community.objects.filter(pk=first.pk).update(status=Community.Status.OPEN, hard_cap=3)
    for m in members[:2]:
        assert livecodes.join_via_live_code(code.token, m, scene="store_qr").community.pk == first.pk
    # Group 1 is at its recommended size: group 2 is requested, and meanwhile group 1 takes the overflow.
    overflow = livecodes.join_via_live_code(code.token, members[2], scene="store_qr")
    assert overflow.community.pk == first.pk and overflow.opened_group is not None
    second = overflow.opened_group
    assert second.status == Community.Status.PENDING and second.sequence == 2
    assert StaffTask.objects.filter(community=second, kind="create_group").count() == 1
    # Never above the hard cap: the next member waits for group 2.
    waiting = livecodes.join_via_live_code(code.token, members[3], scene="store_qr")
    assert waiting.status == "waiting_for_group" and waiting.community.pk == second.pk
    first.refresh_from_db()
    assert first.member_count == 3
    assert StaffTask.objects.count() == 2


def test_per_staff_code_attributes_inviter_and_sets_home_store(brand, store_a, clerk_a, template):
    code = livecodes.create_live_code(
        clerk_a, store_id=store_a.pk, template_id=template.pk, staff_id=clerk_a.pk
    )
    newcomer = MemberFactory(brand=brand, home_store=None)
    # A staff id from the URL that does not serve the store is dropped in favour of the code's owner.
    stranger = StaffFactory(brand=brand, role="clerk", stores=[StoreFactory(brand=brand)])
    result = livecodes.join_via_live_code(
        code.token, newcomer, scene="staff_share", inviter_staff_id=stranger.pk, referrer_member_id=999999
    )
    assert result.membership.inviter == clerk_a and result.membership.referrer is None
    newcomer.refresh_from_db()
    assert newcomer.home_store == store_a


def test_blocklist_and_moderation_removal(brand, store_a, member_a, member_b, code):
    from siyu.communities.models.moderation import BlocklistEntry, ModerationAction

    BlocklistEntry.objects.create(brand=brand, member=member_b, reason="spam")
    with pytest.raises(PermissionDenied):
        livecodes.join_via_live_code(code.token, member_b, scene="store_qr")
    assert CommunityMembership.objects.count() == 0
    # A member removed from group 1 by moderation is routed to another group of the set.
    first = livecodes.join_via_live_code(code.token, member_a, scene="store_qr").community
    joining.leave_community(first, member_a, removed=True)
    ModerationAction.objects.create(community=first, member=member_a, rule="link", action="remove")
    with pytest.raises(PermissionDenied):
        joining.join_community(first, member_a, scene="direct")
    again = livecodes.join_via_live_code(code.token, member_a, scene="store_qr")
    assert again.community.pk != first.pk and again.community.sequence == 2


def test_bad_token_and_scene(member_a, code):
    with pytest.raises(NotFound):
        livecodes.join_via_live_code("nope", member_a, scene="store_qr")
    with pytest.raises(ValidationFailed):
        livecodes.join_via_live_code(code.token, member_a, scene="teleport")
    LiveCode.objects.filter(pk=code.pk).update(active=False)
    with pytest.raises(NotFound):
        livecodes.join_via_live_code(code.token, member_a, scene="store_qr")


# --- thresholds -------------------------------------------------------------------------------


@pytest.fixture
def vip_code(brand, hq_admin, store_a):
    template = make_template(
        brand,
        name="VIP群",
        threshold=GroupTemplate.Threshold.QUESTIONNAIRE,
        questionnaire=[
            "您的宝宝几个月了？",
            {"key": "city", "question": "所在城市", "choices": ["北京", "上海"]},
        ],
    )
    return livecodes.create_live_code(hq_admin, store_id=store_a.pk, template_id=template.pk)


def test_threshold_pending_then_approve(member_a, vip_code, clerk_a):
    with pytest.raises(ValidationFailed) as exc:
        livecodes.join_via_live_code(vip_code.token, member_a, scene="store_qr", answers={"q1": "6个月"})
    assert exc.value.field == "city"
    assert JoinRequest.objects.count() == 0
    result = livecodes.join_via_live_code(
        vip_code.token, member_a, scene="poster", answers={"q1": "6个月", "city": "北京"}
    )
    assert result.status == "pending_approval" and result.membership is None
    request = result.join_request
    assert request.answers == {"q1": "6个月", "city": "北京"} and request.scene == "poster"
    assert (
        livecodes.join_via_live_code(vip_code.token, member_a, scene="poster").join_request.pk == request.pk
    )
    assert CommunityMembership.objects.count() == 0
    assert list(queries.pending_join_requests(clerk_a)) == [request]

    reviewed = livecodes.review_join_request(clerk_a, request.pk, True)
    assert reviewed.status == JoinRequest.Status.APPROVED and reviewed.reviewed_by == clerk_a
    membership = CommunityMembership.objects.get(member=member_a)
    assert membership.community == reviewed.community and membership.scene == "poster"
    assert list(queries.pending_join_requests(clerk_a)) == []
    with pytest.raises(Conflict):
        livecodes.review_join_request(clerk_a, request.pk, False)


def test_threshold_reject_and_purchase(brand, hq_admin, store_a, member_a, vip_code, clerk_a):
    request = livecodes.join_via_live_code(
        vip_code.token, member_a, scene="store_qr", answers={"q1": "1岁", "city": "上海"}
    ).join_request
    rejected = livecodes.review_join_request(clerk_a, request.pk, False, reason="不符合条件")
    assert rejected.status == "rejected" and rejected.reason == "不符合条件"
    assert CommunityMembership.objects.count() == 0
    assert Community.objects.count() == 0

    purchase = make_template(brand, name="老客群", threshold=GroupTemplate.Threshold.PURCHASE)
    code = livecodes.create_live_code(hq_admin, store_id=store_a.pk, template_id=purchase.pk)
    with pytest.raises(ValidationFailed) as exc:
        livecodes.join_via_live_code(code.token, member_a, scene="store_qr", order_number="")
    assert exc.value.field == "order_number"
    result = livecodes.join_via_live_code(
        code.token, member_a, scene="store_qr", order_number=" SO-2024 0001 "
    )
    assert result.join_request.order_number == "SO-20240001"


def test_store_scope_of_reviews(brand, store_b, member_a, vip_code, clerk_b, hq_admin):
    request = livecodes.join_via_live_code(
        vip_code.token, member_a, scene="store_qr", answers={"q1": "1岁", "city": "上海"}
    ).join_request
    with pytest.raises(NotFound):
        livecodes.review_join_request(clerk_b, request.pk, True)
    assert list(queries.pending_join_requests(clerk_b)) == []
    with pytest.raises(NotFound):
        queries.pending_join_requests(clerk_b, store_id=vip_code.store_id)
    request.refresh_from_db()
    assert request.status == "pending"
    assert livecodes.review_join_request(hq_admin, request.pk, True).status == "approved"


# --- the matrix -------------------------------------------------------------------------------


def test_create_group_template_hq_only(hq_operator, clerk_a):
    data = {"name": "宝妈群", "base_name": "宝妈群", "audience": {"gender": "f"}, "recommended_size": 150}
    with pytest.raises(PermissionDenied):
        matrix.create_group_template(clerk_a, data)
    with pytest.raises(ValidationFailed) as exc:
        matrix.create_group_template(hq_operator, {**data, "audience": {"shoe_size": 40}})
    assert exc.value.field == "audience"
    with pytest.raises(ValidationFailed):
        matrix.create_group_template(hq_operator, {**data, "threshold": "questionnaire"})
    template = matrix.create_group_template(hq_operator, data)
    assert template.audience == {"gender": "f"} and template.recommended_size == 150
    with pytest.raises(Conflict):
        matrix.create_group_template(hq_operator, data)
    assert GroupTemplate.objects.count() == 1


def test_instantiate_template(clerk_a, store_a, store_b, template, wecom):
    groups = matrix.instantiate_template(clerk_a, store_id=store_a.pk, template_id=template.pk, count=2)
    assert [g.name for g in groups] == ["朝阳大悦城店·宝妈群1", "朝阳大悦城店·宝妈群2"]
    assert all(g.status == "open" and g.audience == template.audience for g in groups)
    pending = matrix.instantiate_template(
        clerk_a, store_id=store_a.pk, template_id=template.pk, channel="wecom", connector_id=wecom.pk
    )
    assert pending[0].status == "pending" and pending[0].sequence == 1
    assert StaffTask.objects.filter(community=pending[0]).exists()
    with pytest.raises(NotFound):
        matrix.instantiate_template(clerk_a, store_id=store_b.pk, template_id=template.pk)
    with pytest.raises(ValidationFailed):
        matrix.instantiate_template(clerk_a, store_id=store_a.pk, template_id=template.pk, count=0)


def test_planner_counts_and_accept(brand, store_a, store_b, manager_a):
    mums = make_template(brand, name="宝妈群", audience={"gender": "f"}, recommended_size=3)
    everyone = make_template(brand, name="福利群", recommended_size=100)
    women = make_members(brand, store_a, 7, prefix="151", gender="f")
    make_members(brand, store_a, 2, prefix="152", gender="m")
    make_members(brand, store_b, 5, prefix="153", gender="f")  # another store: not counted
    code = livecodes.create_live_code(manager_a, store_id=store_a.pk, template_id=mums.pk)
    livecodes.join_via_live_code(code.token, women[0], scene="store_qr")

    plan = {item.template_id: item for item in matrix.plan_store_groups(manager_a, store_a.pk)}
    item = plan[mums.pk]
    assert (item.audience_count, item.in_groups, item.fit_count) == (7, 1, 6)
    assert (item.existing_groups, item.groups_with_room, item.proposed) == (1, 1, 1)
    assert (plan[everyone.pk].fit_count, plan[everyone.pk].proposed) == (9, 1)

    opened = matrix.accept_plan(manager_a, store_a.pk, mums.pk)
    assert [g.sequence for g in opened] == [2]
    assert matrix.accept_plan(manager_a, store_a.pk, mums.pk) == []
    with pytest.raises(NotFound):
        matrix.plan_store_groups(manager_a, store_b.pk)


# --- QR codes ---------------------------------------------------------------------------------


def test_qr_png_and_poster(code, clerk_a, store_a, template):
    png = livecodes.live_code_png(code, "https://siyu.example.com/")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size[0] == image.size[1]
    assert (
        livecodes.join_url(code, "https://siyu.example.com/")
        == f"https://siyu.example.com/h5/j/{code.token}/"
    )
    poster = Image.open(io.BytesIO(livecodes.live_code_poster_png(code, "https://siyu.example.com")))
    assert poster.format == "PNG" and poster.size == (1240, 1748)
    staff_code = livecodes.create_live_code(
        clerk_a, store_id=store_a.pk, template_id=template.pk, staff_id=clerk_a.pk
    )
    assert Image.open(io.BytesIO(livecodes.live_code_poster_png(staff_code, "http://x"))).size == (1240, 1748)


def test_poster_without_cjk_font(code, monkeypatch):
    monkeypatch.setattr(livecodes, "cjk_font_path", lambda: None)
    poster = Image.open(io.BytesIO(livecodes.live_code_poster_png(code, "http://x")))
    assert poster.size == (1240, 1748)


# --- the H5 join page -------------------------------------------------------------------------


def _sign_in(client, member):
    session = client.session
    session[SESSION_KEY] = member.pk
    session.save()


def test_h5_join_requires_sign_in_then_joins(client, brand, code, settings):
    settings.SIYU_SMS_PROVIDER = "console"
    clear_codes()
    url = reverse("h5:join", kwargs={"token": code.token}) + "?scene=poster"
    response = client.get(url)
    assert response.status_code == 302
    login_url = response["Location"]
    assert login_url.startswith(reverse("h5:login")) and "next=" in login_url
    # The sign-in page brings the member back here.
    client.get(login_url)
    client.post(reverse("h5:login"), {"action": "send", "mobile": "13700009999"})
    response = client.post(
        reverse("h5:login"), {"action": "verify", "mobile": "13700009999", "code": last_code("13700009999")}
    )
    assert response.status_code == 302 and response["Location"] == url

    page = client.get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert "宝妈群" in html and "朝阳大悦城店" in html and "不发广告" in html
    response = client.post(url)
    membership = CommunityMembership.objects.get(member__mobile="13700009999")
    assert response.status_code == 302 and response["Location"] == f"/h5/c/{membership.community_id}/"
    assert membership.scene == "poster"
    # Coming back goes straight to the group.
    assert client.get(url)["Location"] == f"/h5/c/{membership.community_id}/"


def test_h5_join_attribution_from_url(client, code, member_a, member_b, clerk_a):
    _sign_in(client, member_a)
    url = reverse("h5:join", kwargs={"token": code.token})
    response = client.post(f"{url}?staff={clerk_a.pk}&ref={member_b.pk}")
    assert response.status_code == 302
    membership = CommunityMembership.objects.get(member=member_a)
    assert membership.inviter == clerk_a and membership.referrer == member_b
    assert membership.scene == "member_share"


def test_h5_join_with_threshold_waits(client, member_a, vip_code):
    _sign_in(client, member_a)
    url = reverse("h5:join", kwargs={"token": vip_code.token})
    html = client.get(url).content.decode()
    assert "所在城市" in html and 'name="q_city"' in html
    response = client.post(url, {"q_q1": "3个月", "q_city": "火星"})
    assert response.status_code == 400
    assert "Choose one of the options." in response.content.decode()
    response = client.post(url, {"q_q1": "3个月", "q_city": "上海"})
    assert response.status_code == 200
    assert "waiting for approval" in response.content.decode()
    assert JoinRequest.objects.get().answers == {"q1": "3个月", "city": "上海"}
    assert "waiting for approval" in client.get(url).content.decode()


def test_h5_join_invalid_code(client, member_a):
    _sign_in(client, member_a)
    response = client.get(reverse("h5:join", kwargs={"token": "no-such-code"}))
    assert response.status_code == 404
