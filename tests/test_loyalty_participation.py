"""Taking part earns points: joining a campaign (a group-buy team) credits the brand's participation rule once
per member and campaign; without a rule nothing is credited and joining is unaffected."""

from __future__ import annotations

import pytest

from siyu.campaigns.services import group_buys
from siyu.loyalty.models import EarnRule, PointsEntry
from siyu.loyalty.services import participation, points

pytestmark = pytest.mark.django_db


def test_joining_a_group_buy_earns_participation_points_once(brand, store_a, offer, people):
    EarnRule.objects.create(brand=brand, kind=EarnRule.Kind.PARTICIPATION, name="参与活动", points=10)
    leader, friend = people[0], people[1]
    place = group_buys.open_team(leader, offer.pk, store_id=store_a.pk)
    group_buys.join_team(friend, place.team_id)
    assert points.balance_of(leader).balance == 10 and points.balance_of(friend).balance == 10
    entry = PointsEntry.objects.get(account__member=friend)
    assert (entry.source_type, entry.source_id) == ("campaign", str(offer.pk))
    # The same campaign again (another attempt) earns nothing more.
    assert participation.take_part(friend, "campaign", str(offer.pk)).pk == entry.pk
    assert points.balance_of(friend).balance == 10


def test_without_a_participation_rule_joining_earns_nothing(store_a, offer, people):
    group_buys.open_team(people[0], offer.pk, store_id=store_a.pk)
    assert not PointsEntry.objects.exists()
