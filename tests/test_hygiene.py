"""Group hygiene: inactive members, suggested removals, VIP candidates and the one-click actions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.analytics.services.events import record_event
from siyu.common.errors import NotFound, ValidationFailed
from siyu.communities.models import CommunityMembership, Theme
from siyu.communities.services import blocklist, hygiene
from siyu.communities.services.joining import active_membership, join_community
from siyu.members.models import MemberTag
from siyu.org.models import AuditEntry
from tests.factories import MemberFactory, StaffFactory, TagFactory, TagGroupFactory, make_group


@pytest.fixture(autouse=True)
def _no_dispatch(settings):
    settings.SIYU_OUTBOX_DISPATCH = "off"


def joined_ago(group, member, days):
    membership = join_community(group, member, scene="direct")
    CommunityMembership.objects.filter(pk=membership.pk).update(
        joined_at=timezone.now() - timedelta(days=days)
    )
    return member


@pytest.fixture
def setup(brand, store_a, store_b):
    group = make_group(store_a)
    now = timezone.now()
    m = {name: MemberFactory(brand=brand, home_store=store_a, name=name) for name in "ABCDEFG"}
    for name in "ABDEFG":
        joined_ago(group, m[name], 60)
    joined_ago(group, m["C"], 5)
    # B spoke in the group 5 days ago; D bought at this store 10 days ago; E only at another store.
    record_event(
        "community.message", member_id=m["B"].pk, community_id=group.pk, occurred_at=now - timedelta(days=5)
    )
    record_event("order.paid", member_id=m["D"].pk, store_id=store_a.pk, occurred_at=now - timedelta(days=10))
    record_event("order.paid", member_id=m["E"].pk, store_id=store_b.pk, payload={"amount_fen": 150_000})
    # F spent enough at the store but refunded part of it; G is tagged 高消费.
    record_event("order.paid", member_id=m["F"].pk, store_id=store_a.pk, payload={"amount_fen": 120_000})
    record_event("order.refunded", member_id=m["F"].pk, store_id=store_a.pk, payload={"amount_fen": 30_000})
    tag = TagFactory(group=TagGroupFactory(brand=brand, name="消费"), name="高消费")
    MemberTag.objects.create(member=m["G"], tag=tag)
    # A message in another group does not count here.
    other = make_group(store_a, name="其他群", sequence=2)
    record_event("community.message", member_id=m["A"].pk, community_id=other.pk)
    return group, m


def ids(rows):
    return {r.member_id for r in rows}


def test_report(setup, clerk_a):
    group, m = setup
    report = hygiene.hygiene_report(clerk_a, group.pk, inactive_days=30)
    assert report.member_count == 7
    assert ids(report.inactive) == {m["A"].pk, m["C"].pk, m["E"].pk, m["G"].pk}
    assert ids(report.suggested_removals) == {m["A"].pk, m["E"].pk, m["G"].pk}  # C is new
    assert ids(report.vip_candidates) == {m["E"].pk, m["G"].pk}  # F's net spend is ¥900
    e_row = next(r for r in report.vip_candidates if r.member_id == m["E"].pk)
    assert e_row.spend_fen == 150_000
    assert report.vip_candidates[0].member_id == m["E"].pk  # biggest spender first


def test_report_threshold_setting_and_scope(setup, settings, clerk_a, brand, store_b):
    group, m = setup
    settings.SIYU_VIP_SPEND_THRESHOLD_FEN = 90_000
    report = hygiene.hygiene_report(clerk_a, group.pk)
    assert m["F"].pk in ids(report.vip_candidates)
    with pytest.raises(ValidationFailed):
        hygiene.hygiene_report(clerk_a, group.pk, inactive_days=0)
    clerk_b = StaffFactory(brand=brand, role="clerk", stores=[store_b])
    with pytest.raises(NotFound):
        hygiene.hygiene_report(clerk_b, group.pk)
    with pytest.raises(NotFound):
        hygiene.remove_inactive(clerk_b, group.pk, [m["A"].pk])


def test_remove_inactive(setup, clerk_a, member_b):
    group, m = setup
    result = hygiene.remove_inactive(clerk_a, group.pk, [m["A"].pk, m["B"].pk, member_b.pk])
    assert result.done == [m["A"].pk]
    assert set(result.skipped) == {m["B"].pk, member_b.pk}
    assert active_membership(group, m["A"]) is None
    assert active_membership(group, m["B"]) is not None
    assert AuditEntry.objects.filter(action="hygiene.remove_inactive", actor=clerk_a).count() == 1
    assert AuditEntry.objects.filter(action="community.remove_member", actor=clerk_a).count() == 1
    with pytest.raises(ValidationFailed):
        hygiene.remove_inactive(clerk_a, group.pk, [])


def test_promote_to_vip(setup, clerk_a, hq_admin, store_a):
    group, m = setup
    vip = make_group(store_a, name="VIP群", theme=Theme.VIP, sequence=3)
    assert [g.pk for g in hygiene.hygiene_report(clerk_a, group.pk).vip_groups] == [vip.pk]
    blocklist.add_to_blocklist(hq_admin, member_id=m["G"].pk)
    result = hygiene.promote_to_vip(clerk_a, group.pk, [m["E"].pk, m["G"].pk], vip.pk)
    assert result.done == [m["E"].pk] and set(result.skipped) == {m["G"].pk}
    membership = active_membership(vip, m["E"])
    assert membership.scene == "direct" and membership.inviter == clerk_a
    assert active_membership(group, m["E"]) is not None  # stays in the original group
    assert AuditEntry.objects.filter(action="hygiene.promote_vip").count() == 1
    # Already in the VIP group: no longer a candidate; promoting again is harmless.
    assert m["E"].pk not in ids(hygiene.hygiene_report(clerk_a, group.pk).vip_candidates)
    assert hygiene.promote_to_vip(clerk_a, group.pk, [m["E"].pk], vip.pk).done == [m["E"].pk]
    with pytest.raises(ValidationFailed):
        hygiene.promote_to_vip(clerk_a, group.pk, [m["E"].pk], group.pk)
