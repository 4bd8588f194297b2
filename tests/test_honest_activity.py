"""Honest activity where a channel cannot read messages (issue 10, point 7): the signals a group uses, the
hygiene report that never proposes removals on missing data, activity charts that count what Siyu does see,
link opens from cards posted in groups, and moderation pages that say what the ladder cannot do on WeCom."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone, translation

from siyu.analytics.models import Event
from siyu.analytics.services.events import record_event
from siyu.channels.models import ChannelKind, Connector
from siyu.communities.models import CommunityMembership, GroupDelivery
from siyu.communities.services import activity, dispatch, hygiene, queries
from siyu.communities.services.joining import join_community
from tests.api_support import ApiClient
from tests.factories import MemberFactory, make_group
from tests.h5_support import member_client


@pytest.fixture(autouse=True)
def _no_dispatch(settings):
    settings.SIYU_OUTBOX_DISPATCH = "off"


@pytest.fixture
def wecom_group(brand, store_a):
    connector = Connector.objects.create(brand=brand, kind=ChannelKind.WECOM, name="corp", config={})
    return make_group(store_a, channel=ChannelKind.WECOM, connector=connector, external_id="wrOgQhDgAAAA")


def joined_ago(group, member, days):
    membership = join_community(group, member, scene="channel")
    old = timezone.now() - timedelta(days=days)
    CommunityMembership.objects.filter(pk=membership.pk).update(joined_at=old)
    joins = Event.objects.filter(type="community.joined", member=member, community_id=group.pk)
    joins.update(occurred_at=old)
    return member


def ids(rows):
    return {r.member_id for r in rows}


# --- which signals a group uses -------------------------------------------------------------------------


def test_signals_follow_the_connector_declaration(store_a, wecom_group):
    web = make_group(store_a, name="网页群", sequence=2)
    assert activity.reads_messages(web) and not activity.reads_messages(wecom_group)
    with translation.override("zh-hans"):
        assert activity.signal_labels(web) == "消息、下单"
        assert activity.signal_labels(wecom_group) == "入群、下单、打开链接"
    with translation.override("en"):
        assert activity.signal_labels(wecom_group) == "joins, orders, link opens"


def test_check_ins_count_once_loyalty_writes_them(store_a, wecom_group, member_a):
    joined_ago(wecom_group, member_a, 60)
    with translation.override("zh-hans"):
        assert "签到" not in activity.signal_labels(wecom_group)  # nothing writes check-ins yet: not claimed
        record_event("loyalty.checked_in", member_id=member_a.pk, store_id=store_a.pk)
        assert activity.signal_labels(wecom_group) == "入群、下单、签到、打开链接"
    assert member_a.pk in hygiene.last_activity(wecom_group, [member_a.pk])


def test_a_registered_signal_counts_everywhere(store_a, wecom_group, member_a):
    """Any capability can add an event kind to the declared list from its AppConfig.ready()."""
    signal = activity.ActivitySignal("surveys", "surveys", ("survey.answered",), member_scope="store")
    activity.register_signal(signal)
    try:
        joined_ago(wecom_group, member_a, 60)
        record_event("survey.answered", member_id=member_a.pk, store_id=store_a.pk)
        assert "surveys" in activity.signal_labels(wecom_group)
        assert member_a.pk in hygiene.last_activity(wecom_group, [member_a.pk])
    finally:
        activity.unregister_signal("surveys")
    assert "surveys" not in activity.signal_labels(wecom_group)


# --- hygiene: the must-show ---------------------------------------------------------------------------------


def test_wecom_group_without_message_data_proposes_no_removal_and_says_why(
    brand, store_a, store_b, wecom_group, clerk_a
):
    now = timezone.now()
    m = {n: MemberFactory(brand=brand, home_store=store_a, name=n) for n in "ABCD"}
    for n in "ABCD":
        joined_ago(wecom_group, m[n], 60)
    # A: nothing seen at all (the old report proposed removing them). B: opened a card from the group 3 days
    # ago. C: bought at the store 10 days ago. D: bought only at another store.
    opened = now - timedelta(days=3)
    record_event(activity.LINK_OPEN, member_id=m["B"].pk, community_id=wecom_group.pk, occurred_at=opened)
    record_event("order.paid", member_id=m["C"].pk, store_id=store_a.pk, occurred_at=now - timedelta(days=10))
    record_event("order.paid", member_id=m["D"].pk, store_id=store_b.pk)
    with translation.override("zh-hans"):
        report = hygiene.hygiene_report(clerk_a, wecom_group.pk, inactive_days=30)
        assert report.signals == "入群、下单、打开链接"
        assert "看不到" in report.no_removal_reason and "缺少数据" in report.no_removal_reason
    assert not report.reads_messages
    assert report.suggested_removals == [] and report.inactive == []
    assert ids(report.unknown) == {m["A"].pk, m["D"].pk}
    # The one-click action refuses too, with the reason, and removes nobody.
    result = hygiene.remove_inactive(clerk_a, wecom_group.pk, [m["A"].pk], inactive_days=30)
    assert result.done == [] and m["A"].pk in result.skipped
    assert CommunityMembership.objects.filter(community=wecom_group, status="active").count() == 4


def test_hygiene_page_on_wecom_says_why_no_removal(client, clerk_a, brand, store_a, wecom_group, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    member = joined_ago(wecom_group, MemberFactory(brand=brand, home_store=store_a, name="小王"), 60)
    client.force_login(clerk_a)
    response = client.get(reverse("console:group_hygiene", args=[wecom_group.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "入群、下单、打开链接" in html
    assert 'id="no-removal-reason"' in html and "缺少数据" in html
    assert f'name="member" value="{member.pk}"' not in html  # nothing to tick for removal
    assert "活跃情况未知 (1)" in html and "小**" in html  # listed as activity unknown, by public name


def test_web_group_still_proposes_removals_and_names_its_signals(client, clerk_a, brand, store_a):
    group = make_group(store_a)
    member = joined_ago(group, MemberFactory(brand=brand, home_store=store_a), 60)
    with translation.override("zh-hans"):
        report = hygiene.hygiene_report(clerk_a, group.pk)
    assert report.signals == "消息、下单" and report.no_removal_reason == ""
    assert ids(report.suggested_removals) == {member.pk}
    # a join alone is no activity where messages are read
    assert report.unknown == []


# --- activity charts --------------------------------------------------------------------------------------


def test_chart_on_wecom_counts_what_siyu_sees_not_zero(brand, store_a, wecom_group, member_a, clerk_a):
    web = make_group(store_a, name="网页群", sequence=2)
    join_community(wecom_group, member_a, scene="channel")  # a join today
    record_event(activity.LINK_OPEN, member_id=member_a.pk, community_id=wecom_group.pk)
    record_event("order.created", member_id=member_a.pk, store_id=store_a.pk, community_id=wecom_group.pk)
    record_event("order.paid", member_id=member_a.pk, store_id=store_a.pk, community_id=wecom_group.pk)
    # A message event on WeCom would be a stand-in's double count: WeCom never reports messages anyway.
    join_community(web, member_a, scene="direct")
    record_event("community.message", member_id=member_a.pk, community_id=web.pk)
    series = queries.community_activity([wecom_group.pk, web.pk])
    assert series[wecom_group.pk][-1] == 3  # join, link open, order created (paid is the same order)
    assert series[web.pk][-1] == 1  # the message; the web join is not counted
    assert len(series[web.pk]) == queries.ACTIVITY_DAYS


def test_console_and_api_say_what_the_chart_counts(client, clerk_a, wecom_group, member_a, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    join_community(wecom_group, member_a, scene="channel")
    client.force_login(clerk_a)
    detail = client.get(reverse("console:group_detail", args=[wecom_group.pk])).content.decode()
    assert "统计：入群、下单、打开链接" in detail
    listing = client.get(reverse("console:groups")).content.decode()
    assert "入群、下单、打开链接" in listing
    body = ApiClient(clerk_a).get(f"/communities/{wecom_group.pk}").json()
    assert body["activity_signals"] == ["joins", "orders", "link_opens"]
    assert body["activity"][-1] == 1


# --- link opens -------------------------------------------------------------------------------------


@override_settings(SIYU_PUBLIC_URL="https://shop.example.com")
def test_cards_posted_in_a_group_carry_the_group(wecom_group):
    delivery = dispatch.dispatch(
        wecom_group,
        {"card": {"title": "草莓", "description": "", "url": "/h5/flash/7/", "image_url": ""}},
        kind=GroupDelivery.Kind.CAMPAIGN,
        key="t1",
    )
    assert delivery is not None and delivery.path == GroupDelivery.Path.STAFF  # no owner known: staff send it
    assert delivery.content["card"]["url"] == f"https://shop.example.com/h5/flash/7/?g={wecom_group.pk}"
    # A mass message the owner confirms carries one content for all its groups: no group in the link.
    owned = make_group(
        wecom_group.store,
        channel=ChannelKind.WECOM,
        connector=wecom_group.connector,
        external_id="wrB",
        name="有群主",
        sequence=2,
        channel_owner="zhangsan",
    )
    card = {"title": "草莓", "description": "", "url": "/h5/flash/7/", "image_url": ""}
    mass_row = dispatch.dispatch(owned, {"card": card}, kind=GroupDelivery.Kind.CAMPAIGN, key="t2")
    assert mass_row is not None and mass_row.path == GroupDelivery.Path.OWNER_CONFIRM
    assert mass_row.content["card"]["url"] == "https://shop.example.com/h5/flash/7/"
    assert activity.tag_link(f"/h5/mall/p/3/?g={wecom_group.pk}", wecom_group).count("g=") == 1
    assert activity.tag_link("https://example.org/h5/x", wecom_group) == "https://example.org/h5/x"
    assert activity.tag_link("/h5/x?a=1#top", wecom_group) == f"/h5/x?a=1&g={wecom_group.pk}#top"


def test_opening_a_group_link_is_recorded_once_a_day_for_members_only(brand, store_a, wecom_group, member_a):
    join_community(wecom_group, member_a, scene="channel")
    outsider = MemberFactory(brand=brand, home_store=store_a)
    url = f"{reverse('h5:home')}?g={wecom_group.pk}"
    for _ in range(2):
        assert member_client(member_a).get(url).status_code == 200
    member_client(outsider).get(url)
    member_client(member_a).get(f"{reverse('h5:home')}?g=junk")
    opens = Event.objects.filter(type=activity.LINK_OPEN)
    assert list(opens.values_list("member_id", "community_id", "store_id")) == [
        (member_a.pk, wecom_group.pk, store_a.pk)
    ]
    assert opens.get().payload == {"path": reverse("h5:home")}


# --- moderation on WeCom ------------------------------------------------------------------------------------


def test_wecom_group_rules_page_explains_and_disables_content_rules(client, clerk_a, wecom_group):
    client.force_login(clerk_a)
    url = reverse("console:group_policy", args=[wecom_group.pk])
    html = client.get(url).content.decode()
    assert 'id="wecom-moderation"' in html and "anti-harassment rules (防骚扰规则)" in html
    assert "<fieldset disabled" in html and 'value="save"' not in html
    assert reverse("console:staff_tasks") in html
    refused = client.post(url, {"action": "save", "flood_count": 6})
    assert refused.status_code == 400
    assert not wecom_group.moderation_policies.exists()
    detail = client.get(reverse("console:group_detail", args=[wecom_group.pk])).content.decode()
    assert 'id="wecom-moderation"' in detail


def test_default_rules_page_for_a_wecom_only_scope_and_a_mixed_one(client, hq_admin, store_a, wecom_group):
    client.force_login(hq_admin)
    html = client.get(reverse("console:moderation_policy")).content.decode()
    assert 'id="wecom-moderation"' in html and "<fieldset disabled" in html
    make_group(store_a, name="网页群", sequence=2)
    html = client.get(reverse("console:moderation_policy")).content.decode()
    assert 'id="wecom-moderation"' not in html and 'id="rules-scope-note"' in html
    assert "<fieldset disabled" not in html


def test_web_group_rules_page_is_unchanged(client, clerk_a, store_a):
    group = make_group(store_a)
    client.force_login(clerk_a)
    html = client.get(reverse("console:group_policy", args=[group.pk])).content.decode()
    assert 'id="wecom-moderation"' not in html and 'value="save"' in html
