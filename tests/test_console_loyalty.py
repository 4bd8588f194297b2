"""Console loyalty pages: earn-rule forms (streak bonuses and make-up cost as fields), a member's points with
adjustments, red packets (WeCom groups explained), the liability report; store scope and junk never 500."""

from __future__ import annotations

from django.urls import reverse

from siyu.channels.models import ChannelKind
from siyu.loyalty.models import CouponSource, EarnRule, PointsEntry, RedPacket
from siyu.loyalty.services import coupons_counter, points, red_packets, reports
from tests.factories import (
    ConnectorFactory,
    MemberFactory,
    give_budget,
    give_coupon,
    give_points,
    make_coupon_template,
    make_group,
)


def _html(response, status: int = 200) -> str:
    assert response.status_code == status, (response.status_code, response.content[:400])
    return response.content.decode()


def test_rule_form_creates_and_edits_a_checkin_rule(client, hq_admin, store_a):
    client.force_login(hq_admin)
    _html(client.get(reverse("console:loyalty_rule_new")))
    response = client.post(
        reverse("console:loyalty_rule_new"),
        {
            "kind": "checkin",
            "name": "每日签到",
            "points": "5",
            "starts_at": "2026-12-01T09:00",
            "daily_cap": "1",
            "active": "on",
            "stores": [str(store_a.pk)],
            "streak_days_0": "7",
            "streak_points_0": "20",
            "streak_days_1": "30",
            "streak_points_1": "100",
            "makeup_cost": "20",
            "makeup_days": "5",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    rule = EarnRule.objects.get()
    assert rule.config == {"streak_bonus": {"7": 20, "30": 100}, "makeup_cost": 20, "makeup_days": 5}
    assert rule.starts_at.isoformat() == "2026-12-01T01:00:00+00:00"  # typed in Shanghai time
    assert list(rule.stores.all()) == [store_a]
    page = _html(client.get(reverse("console:loyalty")))
    assert "每日签到" in page
    edit = _html(client.get(reverse("console:loyalty_rule_edit", args=[rule.pk])))
    assert 'value="30"' in edit
    response = client.post(
        reverse("console:loyalty_rule_edit", args=[rule.pk]),
        {
            "name": "签到有礼",
            "points": "8",
            "makeup_cost": "0",
            "streak_days_0": "7",
            "streak_points_0": "25",
        },
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.name == "签到有礼" and rule.points == 8 and rule.config["streak_bonus"] == {"7": 25}
    assert not rule.active  # the box was not ticked


def test_rule_form_shows_errors_not_500(client, hq_admin):
    client.force_login(hq_admin)
    # a purchase rule ignores the check-in-only fields
    response = client.post(
        reverse("console:loyalty_rule_new"),
        {"kind": "purchase", "name": "消费", "points": "1", "streak_days_0": "7", "streak_points_0": "5"},
    )
    assert response.status_code == 302 and EarnRule.objects.get().config == {}
    EarnRule.objects.all().delete()
    page = _html(
        client.post(
            reverse("console:loyalty_rule_new"),
            {
                "kind": "checkin",
                "name": "x",
                "points": "1",
                "starts_at": "2026-12-02T00:00",
                "ends_at": "2026-12-01T00:00",
            },
        )
    )
    assert "end after" in page and not EarnRule.objects.exists()
    for junk in ({"kind": "nope"}, {"points": "-5"}, {"streak_days_0": "1"}, {"stores": ["abc"]}):
        _html(
            client.post(
                reverse("console:loyalty_rule_new"), {"kind": "checkin", "name": "x", "points": "1", **junk}
            )
        )


def test_store_staff_cannot_change_rules(client, manager_a):
    client.force_login(manager_a)
    _html(client.get(reverse("console:loyalty")))
    assert client.get(reverse("console:loyalty_rule_new")).status_code == 403


def test_member_points_page_and_adjust(client, manager_a, member_a, member_b):
    give_points(member_a, 40)
    client.force_login(manager_a)
    page = _html(client.get(reverse("console:member_points", args=[member_a.pk])))
    assert 'id="points-balance">40<' in page
    fragment = _html(client.get(reverse("console:member_points", args=[member_a.pk]), HTTP_HX_REQUEST="true"))
    assert "<html" not in fragment
    url = reverse("console:member_points_adjust", args=[member_a.pk])
    assert client.post(url, {"points": "-15", "reason": "补扣", "key": "k1"}).status_code == 302
    assert (
        client.post(url, {"points": "-15", "reason": "补扣", "key": "k1"}).status_code == 302
    )  # a double tap
    assert points.balance_of(member_a).balance == 25
    _html(client.post(url, {"points": "5", "reason": "", "key": "k2"}), 400)
    _html(client.post(url, {"points": "-500", "reason": "x", "key": "k3"}), 400)
    assert PointsEntry.objects.filter(kind="adjust").count() == 1
    assert client.get(reverse("console:member_points", args=[member_b.pk])).status_code == 404
    assert (
        client.post(
            reverse("console:member_points_adjust", args=[member_b.pk]),
            {"points": "5", "reason": "x", "key": "k"},
        ).status_code
        == 404
    )


def test_clerk_sees_points_but_cannot_adjust(client, clerk_a, member_a):
    client.force_login(clerk_a)
    page = _html(client.get(reverse("console:member_points", args=[member_a.pk])))
    assert "adjust-form" not in page
    response = client.post(
        reverse("console:member_points_adjust", args=[member_a.pk]),
        {"points": "5", "reason": "x", "key": "k"},
    )
    assert response.status_code == 403


def test_red_packet_form(client, manager_a, store_a):
    web = make_group(store_a, name="网页群")
    connector = ConnectorFactory(brand=store_a.brand, kind=ChannelKind.WECOM)
    make_group(store_a, channel=ChannelKind.WECOM, connector=connector, external_id="wr1", name="企微群")
    give_budget(store_a.brand, 100)
    client.force_login(manager_a)
    page = _html(client.get(reverse("console:red_packets")))
    assert "网页群" in page and "企微群" not in page and 'id="wecom-note"' in page
    response = client.post(
        reverse("console:red_packets"), {"community": str(web.pk), "total": "60", "shares": "6", "key": "x1"}
    )
    assert response.status_code == 302
    assert RedPacket.objects.get().total == 60
    page = _html(
        client.post(
            reverse("console:red_packets"),
            {"community": str(web.pk), "total": "60", "shares": "6", "key": "x2"},
        ),
        400,
    )
    assert "budget" in page.lower()
    _html(
        client.post(
            reverse("console:red_packets"), {"community": "abc", "total": "x", "shares": "", "key": "x3"}
        ),
        400,
    )


def test_liability_report(client, hq_admin, manager_a, clerk_a, brand, store_a, store_b):
    give_points(MemberFactory(brand=brand, home_store=store_a), 200)
    give_points(MemberFactory(brand=brand, home_store=store_b), 100)
    client.force_login(hq_admin)
    page = _html(client.get(reverse("console:loyalty_liability"), {"fen_per_point": "2"}))
    assert 'id="liability-points">300<' in page and "¥6.00" in page and "liability-chart" in page
    _html(client.get(reverse("console:loyalty_liability"), {"fen_per_point": "abc"}), 400)
    client.force_login(manager_a)
    page = _html(client.get(reverse("console:loyalty_liability")))
    assert 'id="liability-points">200<' in page and store_b.name not in page
    client.force_login(clerk_a)
    assert client.get(reverse("console:loyalty_liability")).status_code == 403


def test_settings_budget_and_point_value(client, hq_admin, manager_a):
    client.force_login(hq_admin)
    assert (
        client.post(
            reverse("console:loyalty_settings"), {"budget": "5000", "fen_per_point": "0.5"}
        ).status_code
        == 302
    )
    assert red_packets.budget_of(hq_admin.brand_id) == 5000
    assert str(reports.point_value(hq_admin.brand_id)) == "0.500"
    assert client.post(reverse("console:loyalty_settings"), {"budget": "-1"}).status_code == 302
    assert red_packets.budget_of(hq_admin.brand_id) == 5000
    client.force_login(manager_a)
    assert client.post(reverse("console:loyalty_settings"), {"budget": "1"}).status_code == 403


def test_coupon_report_per_store_and_campaign(
    client, hq_admin, manager_a, clerk_a, brand, store_a, store_b, member_a, member_b
):
    template = make_coupon_template(brand, amount_fen=500)
    used = give_coupon(template, member_a)
    give_coupon(template, member_b, source=CouponSource.CAMPAIGN, source_ref="77")
    coupons_counter.redeem(clerk_a, used.code, sale_fen=3000, key="r1")
    report = reports.coupon_report(hq_admin)
    rows = {r.key: r for r in report.stores}
    assert (rows[store_a.pk].issued, rows[store_a.pk].used, rows[store_a.pk].discount_fen) == (1, 1, 500)
    assert (rows[store_b.pk].issued, rows[store_b.pk].used) == (1, 0)
    assert [(r.key, r.issued, r.used) for r in report.campaigns] == [("77", 1, 0)]
    client.force_login(hq_admin)
    page = _html(client.get(reverse("console:loyalty_coupons_report")))
    assert "coupon-chart" in page and "¥5.00" in page and store_b.name in page
    _html(client.get(reverse("console:loyalty_coupons_report"), {"days": "abc"}))
    client.force_login(manager_a)
    page = _html(client.get(reverse("console:loyalty_coupons_report"), {"days": "7"}))
    assert store_b.name not in page
    client.force_login(clerk_a)
    assert client.get(reverse("console:loyalty_coupons_report")).status_code == 403
