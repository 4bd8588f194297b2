"""Member services: scope, masking, consent, erasure, tags, events."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from siyu.analytics.models import Event
from siyu.analytics.services.events import count_events, record_event
from siyu.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.members.models import ChannelIdentity, ConsentRecord, Member, MemberTag
from siyu.members.services import consent, notes, privacy, profiles, tags
from siyu.org.models import AuditEntry
from tests.factories import MemberFactory, TagFactory


def test_age_band():
    today = date(2026, 11, 25)
    assert profiles.age_band_for(None) == ""
    assert profiles.age_band_for(date(2010, 1, 1), today) == "u18"
    assert profiles.age_band_for(date(2001, 11, 26), today) == "18-24"  # 25th birthday is tomorrow
    assert profiles.age_band_for(date(2001, 11, 25), today) == "25-34"
    assert profiles.age_band_for(date(1950, 1, 1), today) == "65+"


def test_clerk_cannot_see_or_change_other_store_member(clerk_a, member_a, member_b, tag_manual):
    assert profiles.get_member(clerk_a, member_a.pk) == member_a
    with pytest.raises(NotFound):
        profiles.get_member(clerk_a, member_b.pk)
    with pytest.raises(NotFound):
        profiles.update_member(clerk_a, member_b.pk, {"name": "改名"})
    with pytest.raises(NotFound):
        tags.tag_member(clerk_a, member_b.pk, tag_manual.pk)
    with pytest.raises(NotFound):
        consent.staff_set_consent(clerk_a, member_b.pk, True)
    with pytest.raises(NotFound):
        notes.add_note(clerk_a, member_b.pk, "hi")
    assert list(profiles.filter_members(clerk_a, profiles.MemberFilter())) == [member_a]
    member_b.refresh_from_db()
    assert member_b.name == "李小红"
    assert not MemberTag.objects.filter(member=member_b).exists()


def test_clerk_cannot_move_member_to_other_store_or_create_there(clerk_a, member_a, store_b):
    with pytest.raises(PermissionDenied):
        profiles.update_member(clerk_a, member_a.pk, {"home_store": store_b.pk})
    with pytest.raises(PermissionDenied):
        profiles.create_member(clerk_a, {"mobile": "13700000001", "home_store": store_b.pk})
    assert not Member.objects.filter(mobile="13700000001").exists()


def test_hq_sees_everything(hq_operator, member_a, member_b):
    assert set(profiles.filter_members(hq_operator, profiles.MemberFilter())) == {member_a, member_b}


def test_create_member_validates_and_rejects_duplicates(clerk_a, store_a, member_a):
    m = profiles.create_member(
        clerk_a,
        {"mobile": "+86 137-0000-0002", "name": "新会员", "birthday": "1990-05-01", "home_store": store_a.pk},
    )
    assert m.mobile == "13700000002" and m.age_band in ("35-44", "25-34")
    assert Event.objects.filter(member=m, type="member.created").exists()
    with pytest.raises(Conflict):
        profiles.create_member(clerk_a, {"mobile": member_a.mobile, "home_store": store_a.pk})
    with pytest.raises(ValidationFailed) as exc:
        profiles.create_member(
            clerk_a, {"mobile": "13700000003", "birthday": "1990-13-01", "home_store": store_a.pk}
        )
    assert exc.value.field == "birthday"
    assert not Member.objects.filter(mobile="13700000003").exists()


def test_reveal_mobile_requires_permission_and_is_audited(clerk_a, hq_admin, member_a):
    assert profiles.display_mobile(clerk_a, member_a) == "138****1234"
    with pytest.raises(PermissionDenied):
        profiles.reveal_mobile(clerk_a, member_a.pk)
    assert profiles.reveal_mobile(hq_admin, member_a.pk) == "13812341234"
    assert (
        AuditEntry.objects.filter(
            action="member.reveal_mobile", actor=hq_admin, target_id=str(member_a.pk)
        ).count()
        == 1
    )


def test_consent_withdrawal_is_recorded_and_honoured(clerk_a, member_a):
    assert consent.can_market(member_a) is False
    consent.staff_set_consent(clerk_a, member_a.pk, True, source="store")
    member_a.refresh_from_db()
    assert consent.can_market(member_a) is True
    consent.set_consent(member_a, False, source="h5")
    member_a.refresh_from_db()
    assert consent.can_market(member_a) is False
    history = list(ConsentRecord.objects.filter(member=member_a).order_by("occurred_at", "id"))
    assert [(r.action, r.source) for r in history] == [("granted", "store"), ("withdrawn", "h5")]
    assert all(r.occurred_at for r in history)
    # Setting the same state again records nothing.
    assert consent.set_consent(member_a, False, source="h5") is None
    assert count_events("consent.withdrawn") == 1


def test_erasure_removes_personal_data_and_keeps_counts(hq_admin, member_a, tag_manual):
    tags.tag_member(hq_admin, member_a.pk, tag_manual.pk)
    consent.set_consent(member_a, True, source="h5")
    notes.add_note(hq_admin, member_a.pk, "喜欢北欧风")
    ChannelIdentity.objects.create(
        member=member_a, channel="wechat", external_id="openid-1", unionid="union-1"
    )
    record_event(
        "order.paid",
        member_id=member_a.pk,
        store_id=member_a.home_store_id,
        payload={"amount": 12900, "name": "王小明"},
    )
    events_before = Event.objects.filter(member=member_a).count()

    erased = privacy.erase_member(hq_admin, member_a.pk)

    assert erased.erased_at is not None
    data = privacy.member_data(erased)
    personal = [data[k] for k in ("mobile", "name", "birthday", "occupation", "district")]
    assert all(not v for v in personal)
    assert data["tags"] == [] and data["identities"] == [] and data["notes"] == []
    assert "王小明" not in str(data) and "13812341234" not in str(data)
    # Counts stay: the member row, its store and every event (payloads emptied) remain.
    assert Member.objects.filter(pk=member_a.pk, home_store=member_a.home_store).exists()
    assert Event.objects.filter(member=member_a).count() == events_before + 1  # + member.erased
    assert count_events("order.paid") == 1
    assert consent.can_market(erased) is False
    assert AuditEntry.objects.filter(action="member.erase").count() == 1
    with pytest.raises(Conflict):
        privacy.erase_member(hq_admin, member_a.pk)
    # The freed mobile number may join again as a new member.
    again = profiles.create_member(hq_admin, {"mobile": "13812341234", "home_store": member_a.home_store_id})
    assert again.pk != member_a.pk


def test_only_hq_admin_may_erase(manager_a, member_a):
    with pytest.raises(PermissionDenied):
        privacy.erase_member(manager_a, member_a.pk)
    member_a.refresh_from_db()
    assert member_a.erased_at is None


def test_export_member_is_audited(hq_admin, member_a):
    data = privacy.export_member(hq_admin, member_a.pk)
    assert data["mobile"] == "13812341234"
    assert AuditEntry.objects.filter(action="member.export").count() == 1


def test_manual_tagging_is_idempotent_and_audited(clerk_a, member_a, tag_manual):
    assert tags.tag_member(clerk_a, member_a.pk, tag_manual.pk) is True
    assert tags.tag_member(clerk_a, member_a.pk, tag_manual.pk) is False
    assert MemberTag.objects.filter(member=member_a).count() == 1
    assert tags.untag_member(clerk_a, member_a.pk, tag_manual.pk) is True
    assert tags.untag_member(clerk_a, member_a.pk, tag_manual.pk) is False
    assert AuditEntry.objects.filter(action__in=["member.tag", "member.untag"]).count() == 2


def test_rule_tag_recompute(hq_operator, brand, store_a):
    young = [MemberFactory(brand=brand, home_store=store_a, gender="f", age_band="25-34") for _ in range(3)]
    MemberFactory(brand=brand, home_store=store_a, gender="m", age_band="25-34")
    tag = tags.create_tag(
        hq_operator, group="人群", name="25-34岁女性", rule={"age_band": ["25-34"], "gender": "f"}
    )
    assert tags.recompute_rule_tag(hq_operator, tag.pk) == {"added": 3, "removed": 0, "total": 3}
    young[0].gender = "m"
    young[0].save()
    assert tags.recompute_rule_tag(hq_operator, tag.pk) == {"added": 0, "removed": 1, "total": 2}
    with pytest.raises(ValidationFailed):
        tags.tag_member(hq_operator, young[1].pk, tag.pk)


@pytest.mark.parametrize(
    "rule",
    [
        [1],
        {"age_band": "25-34"},
        {"bogus": 1},
        {"joined_within_days": -1},
        {"gender": "x"},
        {"has_tag": [999999]},
    ],
)
def test_bad_rules_are_refused(hq_operator, rule):
    with pytest.raises(ValidationFailed):
        tags.create_tag(hq_operator, group="人群", name="坏规则", rule=rule)


def test_clerk_cannot_create_tags(clerk_a):
    with pytest.raises(PermissionDenied):
        tags.create_tag(clerk_a, group="兴趣", name="宝妈")


def test_filters(hq_operator, brand, store_a, store_b, tag_manual):
    old = MemberFactory(
        brand=brand, home_store=store_a, joined_at=timezone.now() - timedelta(days=40), gender="m"
    )
    new = MemberFactory(brand=brand, home_store=store_b, age_band="25-34", name="张三丰")
    tags.tag_member(hq_operator, new.pk, tag_manual.pk)
    f = profiles.MemberFilter
    assert list(profiles.filter_members(hq_operator, f(tag_id=tag_manual.pk))) == [new]
    assert list(profiles.filter_members(hq_operator, f(gender="m"))) == [old]
    assert list(profiles.filter_members(hq_operator, f(store_id=store_b.pk))) == [new]
    assert list(profiles.filter_members(hq_operator, f(age_band="25-34"))) == [new]
    assert list(profiles.filter_members(hq_operator, f(q="三丰"))) == [new]
    assert list(profiles.filter_members(hq_operator, f(q=old.mobile[-4:]))) == [old]
    since = timezone.localdate() - timedelta(days=7)
    assert list(profiles.filter_members(hq_operator, f(joined_from=since))) == [new]
    with pytest.raises(ValidationFailed):
        list(profiles.filter_members(hq_operator, f(age_band="bogus")))


def test_event_counts(store_a, member_a):
    for _ in range(3):
        record_event("community.message", member_id=member_a.pk, store_id=store_a.pk)
    record_event("community.message", member_id=member_a.pk)
    assert count_events("community.message") == 4
    assert count_events("community.message", store_ids={store_a.pk}) == 3
    assert count_events("community.message", since=timezone.localdate() + timedelta(days=1)) == 0


@pytest.fixture
def tag_manual(brand):
    return TagFactory(group__brand=brand, name="宝妈")
