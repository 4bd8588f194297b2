"""Group buys (拼团): head office setup, opening and joining teams (idempotent, one live team per member,
team_full), forming at min size (pay at pickup, SANDBOX, WeChat Pay fake), failing at the deadline with every
order cancelled or refunded exactly once, lapsed places, pickup only once formed, robot progress posts once
each, the demo seed, and PostgreSQL races (concurrent joins, concurrent deadline runs)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.campaigns.models import Campaign, GroupBuyMember, GroupBuyTeam
from siyu.campaigns.services import group_buys
from siyu.catalog.models import StoreListing
from siyu.channels.payments.sandbox import confirm_sandbox_payment
from siyu.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.communities.models import Message
from siyu.orders.models import Order, OrderTransition
from siyu.orders.services import expiry, payments, pickup
from siyu.org.models import AuditEntry
from siyu.tooling.demo.group_buy import seed_demo_group_buy
from tests.factories import GROUP_BUY_PRICE, BrandFactory, MemberFactory, StoreFactory, in_group, offer_data
from tests.race_support import is_postgres, run_threads

NOTIFY = "https://shop.example.com/hooks/pay/wechat/"
PRICE = GROUP_BUY_PRICE  # what offer_data sets


def stock_at(store, sku) -> int:
    return StoreListing.objects.get(store=store, sku=sku).stock


def robot_texts(group) -> list[str]:
    return list(
        Message.objects.filter(community=group, sender_kind="robot")
        .order_by("id")
        .values_list("text", flat=True)
    )


def open_team(member, offer, store):
    return group_buys.open_team(member, offer.pk, store_id=store.pk)


def deadline_passed(team) -> timezone.datetime:
    team.refresh_from_db()
    return team.deadline + timedelta(minutes=5)


# --- setup by head office -----------------------------------------------------------------------------


def test_create_is_hq_only_validated_and_audited(hq_admin, manager_a, candle, store_a, group_a, group_b):
    with pytest.raises(PermissionDenied):
        group_buys.create_group_buy(manager_a, offer_data(candle))
    bad = [
        ({"sku": "x"}, ValidationFailed),
        ({"sku": 10**30}, ValidationFailed),
        ({"price_fen": 6901}, ValidationFailed),  # above the SKU's price
        ({"price_fen": 0}, ValidationFailed),
        ({"min_size": 1}, ValidationFailed),
        ({"min_size": 4, "max_size": 3}, ValidationFailed),
        ({"team_hours": 0}, ValidationFailed),
        ({"ends_at": timezone.now() - timedelta(hours=2)}, ValidationFailed),
        ({"pickup_until": timezone.now() + timedelta(days=1)}, ValidationFailed),
        ({"starts_at": "not a date"}, ValidationFailed),
        ({"title": ""}, ValidationFailed),
        ({"title": ["x"]}, ValidationFailed),
        ({"stores": "1"}, ValidationFailed),
        ({"stores": [999999]}, NotFound),
        ({"communities": [group_b.pk], "stores": [store_a.pk]}, ValidationFailed),
    ]
    for overrides, error in bad:
        with pytest.raises(error):
            group_buys.create_group_buy(hq_admin, offer_data(candle, **overrides))
    other_brand_store = StoreFactory(brand=BrandFactory(code="other-brand"))
    with pytest.raises(NotFound):
        group_buys.create_group_buy(hq_admin, offer_data(candle, stores=[other_brand_store.pk]))
    assert not Campaign.objects.exists()
    campaign = group_buys.create_group_buy(hq_admin, offer_data(candle, stores=[store_a.pk]))
    assert campaign.status == "draft" and campaign.kind == "group_buy"
    assert campaign.group_buy.price_fen == PRICE and campaign.group_buy.min_size == 3
    assert AuditEntry.objects.filter(action="campaign.create", target_id=str(campaign.pk)).count() == 1


def test_publish_and_cancel_once(hq_admin, clerk_a, candle):
    campaign = group_buys.create_group_buy(hq_admin, offer_data(candle))
    with pytest.raises(PermissionDenied):
        group_buys.publish_group_buy(clerk_a, campaign.pk)
    assert group_buys.publish_group_buy(hq_admin, campaign.pk).status == "published"
    with pytest.raises(Conflict):
        group_buys.publish_group_buy(hq_admin, campaign.pk)
    assert group_buys.cancel_group_buy(hq_admin, campaign.pk).status == "cancelled"
    with pytest.raises(Conflict):
        group_buys.cancel_group_buy(hq_admin, campaign.pk)
    with pytest.raises(NotFound):
        group_buys.publish_group_buy(hq_admin, "junk")
    actions = list(
        AuditEntry.objects.filter(target_type="campaign", target_id=str(campaign.pk)).values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == ["campaign.cancel", "campaign.create", "campaign.publish"]


# --- pay at pickup (the default): places count when joining ------------------------------------------


def test_pay_at_pickup_team_forms_at_min_size(offer, people, store_a, candle, group_a, clerk_a):
    leader, second, third = people[:3]
    place = open_team(leader, offer, store_a)
    team = place.team
    order = place.order
    assert place.status == "paid" and order.status == "pending_payment"
    assert order.source == "group_buy" and order.campaign_id == offer.pk and order.community_id == group_a.pk
    assert order.total_fen == PRICE and order.lines.get().unit_price_fen == PRICE
    assert order.payment_method == "pay_at_pickup"
    assert team.community_id == group_a.pk and team.leader_id == leader.pk
    assert timezone.now() + timedelta(hours=23) < team.deadline <= offer.ends_at
    assert stock_at(store_a, candle) == 9
    # Not formed yet: the counter refuses to hand it over.
    code = pickup.pickup_code_for(order)
    with pytest.raises(Conflict) as refused:
        pickup.verify_pickup(clerk_a, code)
    assert refused.value.code == "group_buy_not_formed"

    group_buys.join_team(second, team.pk)
    team.refresh_from_db()
    assert (team.joined_count, team.paid_count, team.status) == (2, 2, "open")
    group_buys.join_team(third, team.pk)
    team.refresh_from_db()
    assert (team.joined_count, team.paid_count, team.status) == (3, 3, "formed") and team.formed_at
    assert stock_at(store_a, candle) == 7

    texts = robot_texts(group_a)
    assert len(texts) == 3
    assert texts[0].startswith("王** opened a group buy: 三人成团 · 香薰蜡烛 at ¥49.00. 2 more needed")
    assert "1 more needed" in texts[1]
    assert texts[2].startswith("Group buy formed")
    # Formed: the pickup goes through (and records the counter payment).
    result = pickup.verify_pickup(clerk_a, code)
    assert result.completed and result.order.status == "picked_up"


def test_open_and_join_are_idempotent(offer, people, store_a, candle):
    leader, member = people[:2]
    first = open_team(leader, offer, store_a)
    again = open_team(leader, offer, store_a)
    assert again.pk == first.pk and again.order_id == first.order_id
    joined = group_buys.join_team(member, first.team_id)
    assert group_buys.join_team(member, first.team_id).order_id == joined.order_id
    team = GroupBuyTeam.objects.get()
    assert (team.joined_count, team.paid_count) == (2, 2)
    assert Order.objects.count() == 2 and stock_at(store_a, candle) == 8
    # The leader joining their own team is the same place too.
    assert group_buys.join_team(leader, team.pk).pk == first.pk


def test_team_full_and_one_live_team_per_member(offer, people, store_a, brand, group_a):
    leader, *rest = people
    team = open_team(leader, offer, store_a).team
    for member in rest[:4]:
        group_buys.join_team(member, team.pk)
    team.refresh_from_db()
    assert team.joined_count == 5 and team.status == "formed"
    late = in_group(MemberFactory(brand=brand, home_store=store_a), group_a)
    with pytest.raises(Conflict) as full:
        group_buys.join_team(late, team.pk)
    assert full.value.code == "team_full"
    # ``late`` opens its own team; a member of the first team can neither join it nor open another.
    other = open_team(late, offer, store_a).team
    with pytest.raises(Conflict) as busy:
        group_buys.join_team(rest[0], other.pk)
    assert busy.value.code == "already_in_team"
    with pytest.raises(Conflict) as busy:
        open_team(rest[0], offer, store_a)
    assert busy.value.code == "already_in_team"
    assert GroupBuyTeam.objects.count() == 2


def test_refusals_change_nothing(hq_admin, offer, people, store_a, store_b, candle):
    leader = people[0]
    with pytest.raises(NotFound):
        group_buys.open_team(leader, offer.pk, store_id="junk")
    with pytest.raises(NotFound):
        group_buys.open_team(leader, 10**30, store_id=store_a.pk)
    with pytest.raises(NotFound):
        group_buys.join_team(leader, -1)
    draft = group_buys.create_group_buy(hq_admin, offer_data(candle))
    with pytest.raises(NotFound):
        group_buys.open_team(leader, draft.pk, store_id=store_a.pk)
    StoreListing.objects.filter(store=store_b).update(stock=0)
    with pytest.raises(Conflict) as sold_out:
        group_buys.open_team(leader, offer.pk, store_id=store_b.pk)
    assert sold_out.value.code == "insufficient_stock"
    assert not GroupBuyTeam.objects.exists() and not Order.objects.exists()
    group_buys.cancel_group_buy(hq_admin, offer.pk)
    with pytest.raises(Conflict) as stopped:
        group_buys.open_team(leader, offer.pk, store_id=store_a.pk)
    assert stopped.value.code == "not_running"


def test_deadline_never_after_campaign_end(hq_admin, candle, people, store_a):
    now = timezone.now()
    campaign = group_buys.create_group_buy(
        hq_admin, offer_data(candle, ends_at=now + timedelta(hours=2), pickup_until=now + timedelta(days=1))
    )
    group_buys.publish_group_buy(hq_admin, campaign.pk)
    team = open_team(people[0], campaign, store_a).team
    assert team.deadline == campaign.ends_at


def test_pay_at_pickup_failure_cancels_orders(offer, people, store_a, candle, group_a):
    leader, member = people[:2]
    team = open_team(leader, offer, store_a).team
    group_buys.join_team(member, team.pk)
    later = deadline_passed(team)
    assert group_buys.close_due_teams(now=later) == 3  # the team, and two places settled
    assert group_buys.close_due_teams(now=later) == 0
    team.refresh_from_db()
    assert team.status == "failed" and team.closed_at == later
    assert set(Order.objects.values_list("status", flat=True)) == {"cancelled"}
    assert set(GroupBuyMember.objects.values_list("status", flat=True)) == {"left"}
    assert stock_at(store_a, candle) == 10
    assert robot_texts(group_a)[-1].endswith("did not form in time. The orders are cancelled.")
    # Places freed: they may open a new team.
    assert open_team(leader, offer, store_a).team_id != team.pk


def test_no_failure_before_the_grace_and_formed_teams_stay(offer, people, store_a):
    team = open_team(people[0], offer, store_a).team
    assert group_buys.close_due_teams(now=team.deadline + timedelta(seconds=1)) == 0
    team.refresh_from_db()
    assert team.status == "open"
    formed = open_team(people[1], offer, store_a).team
    for member in people[2:4]:
        group_buys.join_team(member, formed.pk)
    group_buys.close_due_teams(now=deadline_passed(formed))
    formed.refresh_from_db()
    assert formed.status == "formed"


def test_campaign_cancel_fails_open_teams(hq_admin, offer, people, store_a, candle):
    team = open_team(people[0], offer, store_a).team
    group_buys.cancel_group_buy(hq_admin, offer.pk)
    team.refresh_from_db()
    assert team.status == "failed"
    assert group_buys.close_due_teams() == 1  # the leader's order is cancelled by the job
    assert Order.objects.get().status == "cancelled" and stock_at(store_a, candle) == 10


# --- online payment: SANDBOX ----------------------------------------------------------------------------


def pay_sandbox(order):
    payments.start_payment(order, notify_url=NOTIFY)
    return payments.apply_payment_notice(confirm_sandbox_payment(order.out_trade_no))


def test_sandbox_team_forms_when_min_size_paid(sandbox, offer, people, store_a, group_a):
    leader, second, third = people[:3]
    place = open_team(leader, offer, store_a)
    team = place.team
    assert place.status == "pending_payment" and place.order.payment_method == "sandbox"
    others = [group_buys.join_team(m, team.pk) for m in (second, third)]
    team.refresh_from_db()
    assert (team.joined_count, team.paid_count) == (3, 0)
    assert robot_texts(group_a) == []  # nothing counted yet
    pay_sandbox(place.order)
    assert robot_texts(group_a)[0].startswith("王** opened a group buy")
    pay_sandbox(others[0].order)
    pay_sandbox(others[0].order)  # a second delivery of the same notice changes nothing
    team.refresh_from_db()
    assert (team.paid_count, team.status) == (2, "open")
    pay_sandbox(others[1].order)
    team.refresh_from_db()
    assert (team.paid_count, team.status) == (3, "formed")
    texts = robot_texts(group_a)
    assert len(texts) == 3 and "1 more needed" in texts[1] and texts[2].startswith("Group buy formed")
    assert set(GroupBuyMember.objects.values_list("status", flat=True)) == {"paid"}


def test_lapsed_unpaid_place_frees_the_slot(sandbox, offer, people, store_a, candle):
    leader, member = people[:2]
    team = open_team(leader, offer, store_a).team
    place = group_buys.join_team(member, team.pk)
    later = place.order.expires_at + timedelta(seconds=1)
    assert expiry.expire_due(now=later) == 2
    assert group_buys.close_due_teams(now=later) == 2  # both places freed
    team.refresh_from_db()
    assert (team.joined_count, team.paid_count, team.status) == (0, 0, "open")
    assert stock_at(store_a, candle) == 10
    # Joining again places a new order on the same place row.
    again = group_buys.join_team(member, team.pk)
    assert again.pk == place.pk and again.order_id != place.order_id and again.status == "pending_payment"
    team.refresh_from_db()
    assert team.joined_count == 1


# --- online payment: WeChat Pay (fake server), failure and automatic refunds -------------------------


def start(order):
    payments.start_payment(order, notify_url=NOTIFY, payer_openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")


def pay_wechat(fake, order):
    headers, body = fake.build_notification(fake.pay(order.out_trade_no))
    return payments.handle_payment_notification(headers, body)


def refund_requests(fake) -> list[dict]:
    return [r.json() for r in fake.requests if r.path == "/v3/refund/domestic/refunds"]


def test_failed_team_refunds_every_payment_once(wechatpay, offer, people, store_a, candle, group_a):
    leader, payer, idle, never = people[:4]
    lead = open_team(leader, offer, store_a)
    team = lead.team
    paying = group_buys.join_team(payer, team.pk)
    waiting = group_buys.join_team(idle, team.pk)
    unopened = group_buys.join_team(never, team.pk)  # never opened the cashier
    for place in (lead, paying, waiting):
        start(place.order)
    pay_wechat(wechatpay, lead.order)
    pay_wechat(wechatpay, paying.order)
    team.refresh_from_db()
    assert (team.joined_count, team.paid_count, team.status) == (4, 2, "open")
    assert stock_at(store_a, candle) == 6

    later = deadline_passed(team)
    assert group_buys.close_due_teams(now=later) == 5
    refunds = refund_requests(wechatpay)
    assert sorted(r["out_trade_no"] for r in refunds) == sorted(
        [lead.order.out_trade_no, paying.order.out_trade_no]
    )
    assert all(
        len(r["out_refund_no"]) <= 32 and r["amount"] == {"refund": PRICE, "total": PRICE, "currency": "CNY"}
        for r in refunds
    )
    statuses = dict(Order.objects.values_list("pk", "status"))
    assert statuses[lead.order_id] == statuses[paying.order_id] == "refunded"
    assert statuses[waiting.order_id] == statuses[unopened.order_id] == "cancelled"
    assert wechatpay.orders[waiting.order.out_trade_no]["trade_state"] == "CLOSED"
    places = dict(GroupBuyMember.objects.values_list("pk", "status"))
    assert places[lead.pk] == places[paying.pk] == "refunded"
    assert places[waiting.pk] == places[unopened.pk] == "left"
    assert stock_at(store_a, candle) == 10
    transition = OrderTransition.objects.get(order_id=lead.order_id, to_status="refunded")
    assert transition.actor is None and transition.reason == "group buy did not form"
    assert AuditEntry.objects.filter(action="order.auto_refund").count() == 2
    assert robot_texts(group_a)[-1].endswith("did not form in time. Payments are refunded automatically.")

    # Re-running changes nothing and calls nobody.
    calls = len(wechatpay.requests)
    assert group_buys.close_due_teams(now=later) == 0
    assert group_buys.close_due_teams(now=later + timedelta(hours=1)) == 0
    assert len(wechatpay.requests) == calls
    texts = robot_texts(group_a)  # opened (the leader paid), the payer counted, failed: once each
    assert len(texts) == 3 and texts[0].startswith("王** opened") and "did not form" in texts[2]


def test_refund_waits_for_an_unreachable_provider(wechatpay, offer, people, store_a):
    leader = people[0]
    lead = open_team(leader, offer, store_a)
    start(lead.order)
    pay_wechat(wechatpay, lead.order)
    later = deadline_passed(lead.team)
    wechatpay.fail_next = (500, "SYSTEM_ERROR", "try later")
    assert group_buys.close_due_teams(now=later) == 1  # the team failed; the refund did not go through
    lead.refresh_from_db()
    assert lead.status == "paid" and Order.objects.get().status == "paid"
    assert group_buys.close_due_teams(now=later) == 1  # retried: refunded now
    assert Order.objects.get().status == "refunded"
    # The retry asked for the same refund (same out_refund_no): WeChat Pay refunds it once.
    assert len({r["out_refund_no"] for r in refund_requests(wechatpay)}) == 1 and len(wechatpay.refunds) == 1
    assert group_buys.close_due_teams(now=later) == 0


def test_payment_arriving_after_the_team_failed_is_refunded(wechatpay, offer, people, store_a):
    lead = open_team(people[0], offer, store_a)
    start(lead.order)
    later = deadline_passed(lead.team)
    # WeChat Pay is down when the job wants to close the unpaid trade: the place stays to settle.
    wechatpay.fail_next = (500, "SYSTEM_ERROR", "try later")
    assert group_buys.close_due_teams(now=later) == 1
    assert Order.objects.get().status == "pending_payment"
    # Meanwhile the member pays: the payment counts for nothing (the team failed) and is refunded next run.
    pay_wechat(wechatpay, lead.order)
    lead.refresh_from_db()
    assert lead.status == "paid" and GroupBuyTeam.objects.get().paid_count == 0
    assert group_buys.close_due_teams(now=later) == 1
    assert Order.objects.get().status == "refunded" and len(refund_requests(wechatpay)) == 1


# --- reads, share, demo ----------------------------------------------------------------------------------


def test_share_posts_a_card_once(offer, people, store_a, group_a, brand):
    leader = people[0]
    team = open_team(leader, offer, store_a).team
    first = group_buys.share_team(leader, team.pk)
    assert group_buys.share_team(leader, team.pk).pk == first.pk
    assert first.kind == "card" and first.card["url"] == f"/h5/tuan/team/{team.pk}/"
    assert "¥49.00" in first.card["description"] and "¥65.00" in first.card["description"]
    loner = MemberFactory(brand=brand, home_store=store_a)
    with pytest.raises(Conflict) as no_group:
        group_buys.share_team(loner, team.pk)
    assert no_group.value.code == "no_group"


def test_masked_name():
    member = MemberFactory.build(name="王小明", mobile="13812341234")
    assert group_buys.masked_name(member) == "王**"
    member.name = ""
    assert group_buys.masked_name(member) == "138****1234"


def test_team_scope_for_staff(offer, people, store_a, store_b, clerk_a, hq_admin, brand, group_b):
    team_a = open_team(people[0], offer, store_a).team
    member_b = in_group(MemberFactory(brand=brand, home_store=store_b), group_b)
    team_b = open_team(member_b, offer, store_b).team
    assert team_b.community_id == group_b.pk
    assert list(group_buys.list_teams(clerk_a)) == [team_a]
    assert set(group_buys.list_teams(hq_admin)) == {team_a, team_b}
    with pytest.raises(NotFound):
        group_buys.get_team(clerk_a, team_b.pk)
    with pytest.raises(ValidationFailed):
        group_buys.list_teams(clerk_a, status="ancient")
    assert group_buys.get_group_buy(clerk_a, offer.pk) == offer


def test_demo_seed_is_idempotent(brand, candle, store_a):
    now = timezone.now()
    campaign = seed_demo_group_buy(brand, now)
    assert seed_demo_group_buy(brand, now).pk == campaign.pk
    assert Campaign.objects.filter(kind="group_buy").count() == 1
    offer = campaign.group_buy
    assert group_buys.is_running(campaign, now) and not campaign.stores.exists()
    assert (offer.min_size, offer.team_hours) == (3, 24) and offer.sku_id == candle.pk
    assert 0 < offer.price_fen <= candle.price_fen
    # Much later it still runs (its window moves), still one campaign.
    later = now + timedelta(days=30)
    assert group_buys.is_running(seed_demo_group_buy(brand, later), later)
    assert Campaign.objects.filter(kind="group_buy").count() == 1


# --- PostgreSQL races ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_race_joins_never_exceed_max_size(offer, people, store_a, brand, group_a, candle):
    if not is_postgres():
        pytest.skip("needs PostgreSQL")
    team = open_team(people[0], offer, store_a).team
    max_size = offer.group_buy.max_size
    joiners = [in_group(MemberFactory(brand=brand, home_store=store_a), group_a) for _ in range(max_size + 5)]
    results = run_threads(len(joiners), lambda i: group_buys.join_team(joiners[i], team.pk))
    joined = [r for r in results if isinstance(r, GroupBuyMember)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(joined) == max_size - 1 and len(refused) == 6, results
    assert all(r.code == "team_full" for r in refused)
    team.refresh_from_db()
    assert team.joined_count == max_size == GroupBuyMember.objects.filter(team=team).count()
    assert team.paid_count == max_size and team.status == "formed"
    assert Order.objects.count() == max_size and stock_at(store_a, candle) == 10 - max_size
    assert Message.objects.filter(community=group_a, text__startswith="Group buy formed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_race_same_member_double_join_one_place(offer, people, store_a):
    if not is_postgres():
        pytest.skip("needs PostgreSQL")
    team = open_team(people[0], offer, store_a).team
    results = run_threads(4, lambda i: group_buys.join_team(people[1], team.pk))
    assert all(isinstance(r, GroupBuyMember) for r in results), results
    assert len({r.pk for r in results}) == 1 and len({r.order_id for r in results}) == 1
    team.refresh_from_db()
    assert team.joined_count == 2 and Order.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_race_concurrent_deadline_runs_refund_once(wechatpay, offer, people, store_a, candle, group_a):
    if not is_postgres():
        pytest.skip("needs PostgreSQL")
    lead = open_team(people[0], offer, store_a)
    team = lead.team
    places = [lead] + [group_buys.join_team(m, team.pk) for m in people[1:3]]
    for place in places[:2]:
        start(place.order)
        pay_wechat(wechatpay, place.order)
    team.refresh_from_db()
    assert team.paid_count == 2
    later = deadline_passed(team)
    run_threads(4, lambda i: group_buys.close_due_teams(now=later))
    refunds = refund_requests(wechatpay)
    assert len(refunds) == 2 and len({r["out_trade_no"] for r in refunds}) == 2
    for place in places[:2]:
        assert OrderTransition.objects.filter(order_id=place.order_id, to_status="refunded").count() == 1
    assert Order.objects.get(pk=places[2].order_id).status == "cancelled"
    assert stock_at(store_a, candle) == 10
    assert Message.objects.filter(community=group_a, text__contains="did not form").count() == 1


def test_refunded_place_never_counts_towards_forming(sandbox, offer, people, store_a, clerk_a, group_a):
    """A counted place refunded by staff while the team is open is freed before the next payment counts:
    the team does not form with fewer payers than ``min_size``."""
    from siyu.orders.services import transitions

    leader, second, third = people[:3]
    lead = open_team(leader, offer, store_a)
    team = lead.team
    paying, last = (group_buys.join_team(m, team.pk) for m in (second, third))
    pay_sandbox(lead.order)
    pay_sandbox(paying.order)
    transitions.refund(clerk_a, paying.order_id, "changed my mind")
    pay_sandbox(last.order)  # no deadline job ran in between
    team.refresh_from_db()
    assert (team.joined_count, team.paid_count, team.status) == (2, 2, "open")
    assert GroupBuyMember.objects.get(pk=paying.pk).status == "refunded"
    assert not Message.objects.filter(community=group_a, text__startswith="Group buy formed").exists()
