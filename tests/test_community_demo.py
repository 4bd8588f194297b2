"""The demo chain has groups with history in every store, keeping the services' invariants."""

from django.db.models import Count, Q

from siyu.analytics.models import Event
from siyu.communities.models import Community, CommunityMembership, Message
from siyu.org.models import Store
from siyu.tooling.demo.chain import seed_demo


def test_demo_groups_in_every_store(db):
    summary = seed_demo(stores=3, members=600, seed=1, password="siyu-demo-2026")
    assert summary.communities > 0 and summary.messages > 0
    for store in Store.objects.filter(members__isnull=False).distinct():
        groups = Community.objects.filter(store=store)
        assert groups.exists(), store
        assert Message.objects.filter(community__store=store).exists()
    counts = Community.objects.annotate(
        active=Count("memberships", filter=Q(memberships__status="active", memberships__member__isnull=False))
    )
    for community in counts:
        assert community.member_count == community.active <= community.recommended_size
    member_joins = CommunityMembership.objects.filter(member__isnull=False)
    # Members join through live codes, except those WeCom reports already in the sidebar demo's group.
    assert member_joins.filter(live_code_id__isnull=True).exclude(scene="channel").count() == 0
    assert Event.objects.filter(type="community.joined").count() == member_joins.count()
    # Seeding again changes nothing.
    before = (Community.objects.count(), Message.objects.count())
    seed_demo(stores=3, members=600, seed=1, password="siyu-demo-2026")
    assert (Community.objects.count(), Message.objects.count()) == before


def test_demo_catalog_is_published_to_every_store(db):
    from siyu.catalog.services.queries import available_listings

    seed_demo(stores=2, members=50, seed=1, password="siyu-demo-2026")
    for store in Store.objects.filter(status="open"):
        assert available_listings(store.pk).exists(), store
