"""Flash-sale write-behind on Redis: a writer dying before it acknowledges, failures mid-drain, replays,
Redis losing its keys (rebuilt from the database), counters drifting (the database still never oversells),
and the reconcile audit."""

from __future__ import annotations

import pytest

from siyu.campaigns.models import FlashReservation, FlashSaleItem
from siyu.campaigns.services import flash_admission, flash_config, flash_release, flash_writer
from siyu.campaigns.services.flash_admission import LimitReached, SoldOut
from siyu.orders.models import Order
from siyu.orders.services import transitions
from tests.factories import MemberFactory, admit, make_sale
from tests.redis_support import flush_prefix

pytestmark = pytest.mark.usefixtures("flash_caches")


@pytest.fixture
def sale(redis_backend, sku):
    return make_sale(sku, stock=10, limit=2)


@pytest.fixture
def buyers(brand, store_a):
    return MemberFactory.create_batch(4, brand=brand, home_store=store_a)


def client():
    return flash_config.redis_client()


def stream(campaign) -> str:
    return flash_config.Keys(campaign.pk).stream


def pending_count(campaign) -> int:
    return int(client().xpending(stream(campaign), flash_config.GROUP)["pending"])


def units_pending(report) -> int:
    return sum(row["pending_in_stream"] for row in report["items"])


def test_writer_dies_after_reading_then_recover_writes(sale, buyers, store_a):
    campaign, item = sale
    for member in buyers:
        admit(campaign, item, member, store_a)
    # A writer reads the entries and dies before writing or acknowledging them.
    read = client().xreadgroup(flash_config.GROUP, "dead-writer", {stream(campaign): ">"}, count=100)
    assert len(read[0][1]) == 4
    assert flash_writer.drain() == 0  # nothing new for the others
    report = flash_writer.reconcile(campaign.pk)
    assert report["ok"] and units_pending(report) == 4  # reserved units are accounted for while pending
    assert flash_writer.recover(idle_ms=60_000) == 0  # not idle long enough: the writer may be alive
    assert flash_writer.recover(idle_ms=0) == 4
    assert Order.objects.filter(campaign_id=campaign.pk).count() == 4
    report = flash_writer.reconcile(campaign.pk)
    assert report["ok"] and units_pending(report) == 0
    assert client().xlen(stream(campaign)) == 0 and pending_count(campaign) == 0
    item.refresh_from_db()
    assert item.sold == 4 and flash_admission.remaining_units(campaign.pk) == {item.pk: 6}


def test_failure_injected_mid_drain_then_recover(sale, buyers, store_a, monkeypatch):
    campaign, item = sale
    admissions = [admit(campaign, item, member, store_a) for member in buyers[:3]]

    def broken(entries):
        raise RuntimeError("database went away")

    monkeypatch.setattr(flash_writer, "write_entries", broken)
    assert flash_writer.drain() == 0
    assert not FlashReservation.objects.exists()
    assert pending_count(campaign) == 3  # read, not acknowledged
    assert flash_writer.reconcile(campaign.pk)["ok"]
    monkeypatch.undo()
    assert flash_writer.drain() == 0  # already delivered once: only recovery picks them up
    assert flash_writer.drain_all() == 0  # idle for less than 30 s
    assert flash_writer.recover(idle_ms=0) == 3
    for a, member in zip(admissions, buyers, strict=False):
        assert flash_admission.written_order_id(campaign.pk, member.pk, a.key) is not None
    report = flash_writer.reconcile(campaign.pk)
    assert report["ok"] and units_pending(report) == 0


def test_replay_after_commit_writes_nothing_twice(sale, buyers, store_a):
    campaign, item = sale
    for member in buyers[:2]:
        admit(campaign, item, member, store_a, quantity=2)
    # A writer writes the batch, then dies before XACK: the entries are written but still pending.
    read = client().xreadgroup(flash_config.GROUP, "dead-writer", {stream(campaign): ">"}, count=100)
    entries = [flash_writer.parse_entry(campaign.pk, eid, fields) for eid, fields in read[0][1]]
    written = flash_writer.write_entries([e for e in entries if e is not None])
    assert [w.created for w in written] == [True, True]
    assert flash_writer.recover(idle_ms=0) == 0  # recognised as written, acknowledged only
    assert flash_writer.write_entries([e for e in entries if e is not None])[0].created is False
    assert FlashReservation.objects.count() == 2 and Order.objects.count() == 2
    item.refresh_from_db()
    assert item.sold == 4
    assert pending_count(campaign) == 0 and flash_writer.reconcile(campaign.pk)["ok"]


def test_redis_lost_its_keys_open_sale_rebuilds(
    sale, buyers, store_a, redis_backend, settings, django_capture_on_commit_callbacks
):
    campaign, item = sale
    kept = admit(campaign, item, buyers[0], store_a, quantity=2)
    gone = admit(campaign, item, buyers[1], store_a, quantity=1)
    flash_writer.drain_all()
    gone_order = FlashReservation.objects.get(client_key=gone.key).order
    with django_capture_on_commit_callbacks(execute=True):
        transitions.cancel(gone_order.pk, member=buyers[1])
    assert flash_admission.remaining_units(campaign.pk) == {item.pk: 8}
    flush_prefix(settings.SIYU_FLASH_REDIS_PREFIX)  # Redis restarted without persistence
    flash_admission.open_sale(campaign)
    assert flash_admission.remaining_units(campaign.pk) == {item.pk: 8}
    # Retries of admitted keys answer the same (the keys came back from the database), taking nothing.
    again = admit(campaign, item, buyers[0], store_a, quantity=2, key=kept.key)
    assert again.store_id == store_a.pk  # the rebuilt key remembers the pickup store
    assert (again.quantity, again.order_id) == (2, FlashReservation.objects.get(client_key=kept.key).order_id)
    # What members hold counts against their limit again.
    with pytest.raises(LimitReached):
        admit(campaign, item, buyers[0], store_a)
    # The released reservation is known as released: replaying its give-back adds nothing.
    released = FlashReservation.objects.get(client_key=gone.key)
    flash_release._give_back_in_redis(campaign.pk, item.pk, buyers[1].pk, released.pk, 1)
    assert flash_admission.remaining_units(campaign.pk) == {item.pk: 8}
    assert flash_writer.reconcile(campaign.pk)["ok"]


def test_admission_rebuilds_lost_keys_by_itself(sale, buyers, store_a, settings):
    campaign, item = sale
    admit(campaign, item, buyers[0], store_a, quantity=2)
    flash_writer.drain_all()
    flush_prefix(settings.SIYU_FLASH_REDIS_PREFIX)
    admission = admit(campaign, item, buyers[1], store_a, quantity=2)
    assert admission.remaining == 6
    assert flash_writer.drain_all() == 1  # the stream and its group came back too
    report = flash_writer.reconcile(campaign.pk)
    assert report["ok"], report


def test_rebuild_counts_entries_not_written_yet(sale, buyers, store_a):
    campaign, item = sale
    for member in buyers[:3]:
        admit(campaign, item, member, store_a, quantity=2)
    client().delete(flash_config.Keys(campaign.pk).ready)  # partial loss: the stream is still there
    assert flash_admission.remaining_units(campaign.pk) == {item.pk: 4}  # rebuilt, pending counted
    admit(campaign, item, buyers[3], store_a, quantity=2)
    assert flash_writer.drain_all() == 4
    item.refresh_from_db()
    assert item.sold == 8 and flash_admission.remaining_units(campaign.pk) == {item.pk: 2}
    assert flash_writer.reconcile(campaign.pk)["ok"]


def test_unwritten_entries_are_lost_when_redis_loses_everything(sale, buyers, store_a, settings):
    """The documented limit: without AOF, admissions not yet written disappear with Redis."""
    campaign, item = sale
    lost = admit(campaign, item, buyers[0], store_a, quantity=2)
    flush_prefix(settings.SIYU_FLASH_REDIS_PREFIX)
    flash_admission.open_sale(campaign)
    assert flash_admission.remaining_units(campaign.pk) == {item.pk: 10}  # the units are back on sale
    assert flash_admission.written_order_id(campaign.pk, buyers[0].pk, lost.key) is None
    assert flash_writer.reconcile(campaign.pk)["ok"]


def test_drift_is_caught_by_the_database_and_reconcile(sale, buyers, store_a):
    campaign, item = sale
    FlashSaleItem.objects.filter(pk=item.pk).update(stock=3)  # edited behind admission's back
    flash_config.invalidate(campaign.pk)
    for member in buyers[:2]:
        admit(campaign, item, member, store_a, quantity=2)  # Redis still believes in 10 units
    flash_writer.drain_all()
    item.refresh_from_db()
    assert item.sold <= item.stock == 3  # the database guard refused what does not fit
    assert FlashReservation.objects.count() == 1
    assert not flash_writer.reconcile(campaign.pk)["ok"]
    flash_admission.open_sale(campaign)  # rebuild from the database
    report = flash_writer.reconcile(campaign.pk)
    assert report["ok"] and report["items"][0]["redis_left"] == 1
    with pytest.raises(flash_admission.NotEnoughLeft):
        admit(campaign, item, buyers[2], store_a, quantity=2)


def test_unreadable_stream_entry_is_dropped(sale, buyers, store_a):
    campaign, item = sale
    client().xadd(stream(campaign), {"campaign": str(campaign.pk), "item": "nope"})
    admit(campaign, item, buyers[0], store_a)
    assert flash_writer.drain_all() == 1
    assert client().xlen(stream(campaign)) == 0 and pending_count(campaign) == 0
    assert flash_writer.reconcile(campaign.pk)["ok"]


def test_sold_out_on_redis_refuses_before_the_database(sale, buyers, store_a):
    campaign, item = sale
    FlashSaleItem.objects.filter(pk=item.pk).update(stock=1)
    flash_admission.open_sale(campaign)
    admit(campaign, item, buyers[0], store_a)
    with pytest.raises(SoldOut):
        admit(campaign, item, buyers[1], store_a)
    assert client().xlen(stream(campaign)) == 1


def test_writer_finds_sales_when_its_list_is_lost(sale, buyers, store_a):
    campaign, item = sale
    admit(campaign, item, buyers[0], store_a)
    client().delete(flash_config.sales_key())
    assert flash_writer.drain_all() == 1
    assert flash_writer.reconcile(campaign.pk)["ok"]


def test_every_key_of_a_sale_expires(sale, buyers, store_a, settings, django_capture_on_commit_callbacks):
    campaign, item = sale
    admission = admit(campaign, item, buyers[0], store_a)
    flash_writer.drain_all()
    order = FlashReservation.objects.get(client_key=admission.key).order
    with django_capture_on_commit_callbacks(execute=True):
        transitions.cancel(order.pk, member=buyers[0])
    names = list(client().scan_iter(match=f"{settings.SIYU_FLASH_REDIS_PREFIX}:{{{campaign.pk}}}:*"))
    assert len(names) >= 6
    assert all(client().ttl(name) > 0 for name in names), {n: client().ttl(n) for n in names}
