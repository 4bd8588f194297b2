"""The event log and its daily counts never disagree."""

from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.analytics.models import DailyEventCount, Event
from siyu.analytics.services.events import bulk_record_events, count_events, member_timeline, record_event

event_spec = st.tuples(
    st.sampled_from(["member.created", "member.tagged", "community.message"]),
    st.integers(min_value=0, max_value=3),
    st.booleans(),
    st.booleans(),
)


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(event_spec, max_size=20))
def test_daily_counts_match_rows(store_a, specs):
    Event.objects.all().delete()
    DailyEventCount.objects.all().delete()
    now = timezone.now()
    bulk = []
    for type_, days_ago, with_store, use_bulk in specs:
        kwargs = {
            "store_id": store_a.pk if with_store else None,
            "occurred_at": now - timedelta(days=days_ago),
        }
        if use_bulk:
            bulk.append(Event(type=type_, **kwargs))
        else:
            record_event(type_, **kwargs)
    bulk_record_events(bulk)
    rows = Event.objects.values("type").annotate(n=Count("id"))
    for row in rows:
        assert count_events(row["type"]) == row["n"]
    assert count_events() == len(specs)
    with_store = sum(1 for s in specs if s[2])
    assert count_events(store_ids={store_a.pk}) == with_store


def test_timeline_newest_first(member_a):
    first = record_event(
        "member.created", member_id=member_a.pk, occurred_at=timezone.now() - timedelta(days=1)
    )
    second = record_event("member.tagged", member_id=member_a.pk)
    assert list(member_timeline(member_a.pk)) == [second, first]
