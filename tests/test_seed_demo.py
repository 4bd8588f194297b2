"""The demo chain (`siyu seed-demo`) and the `siyu demo` command."""

from __future__ import annotations

import io
import os
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import translation

from siyu.analytics.models import DailyEventCount, Event
from siyu.analytics.services.events import count_events
from siyu.common.errors import Conflict, ValidationFailed
from siyu.common.mobile import normalize_mobile
from siyu.members.models import ConsentRecord, Member, MemberNote, MemberTag, Tag
from siyu.members.services.profiles import age_band_for
from siyu.members.services.tags import rule_queryset
from siyu.org.models import Brand, Role, Staff, Store
from siyu.tooling.demo.chain import DEMO_BRAND_CODE, seed_demo
from siyu.tooling.management.commands import demo as demo_command

PASSWORD = "demo-pass-2026"


@pytest.fixture(autouse=True)
def _english():
    # Command output and messages are checked in English, whatever translations are compiled.
    with translation.override("en"):
        yield


class _Rollback(Exception):
    pass


def _seed_small(**kwargs):
    params = {"stores": 3, "members": 300, "seed": 1, "password": PASSWORD} | kwargs
    return seed_demo(**params)


def _snapshot() -> dict[str, list]:
    return {
        "stores": list(Store.objects.order_by("code").values_list("code", "name", "address", "latitude")),
        "staff": list(Staff.objects.order_by("username").values_list("username", "display_name", "mobile")),
        "members": list(
            Member.objects.order_by("pk").values_list(
                "mobile", "name", "gender", "birthday", "home_store__code", "source", "marketing_consent"
            )
        ),
        "tags": sorted(MemberTag.objects.values_list("member__mobile", "tag__name")),
    }


def _seed_and_roll_back(seed: int) -> dict[str, list]:
    try:
        with transaction.atomic():
            _seed_small(seed=seed)
            snapshot = _snapshot()
            raise _Rollback
    except _Rollback:
        pass
    assert not Brand.objects.exists()
    return snapshot


@pytest.mark.django_db
def test_same_seed_gives_the_same_chain():
    first = _seed_and_roll_back(1)
    second = _seed_and_roll_back(1)
    assert len(first["members"]) == 300
    assert first == second
    other = _seed_and_roll_back(2)
    assert [m[0] for m in other["members"]] != [m[0] for m in first["members"]]


@pytest.mark.django_db
def test_rerun_keeps_the_chain():
    summary = _seed_small()
    assert summary.created
    assert (summary.stores, summary.members, summary.staff) == (3, 300, 2 + 3 * 2)
    counts = (Member.objects.count(), Staff.objects.count(), Event.objects.count(), MemberTag.objects.count())

    again = _seed_small(members=500, stores=5)
    assert not again.created
    assert (again.stores, again.members) == (3, 300)
    assert counts == (
        Member.objects.count(),
        Staff.objects.count(),
        Event.objects.count(),
        MemberTag.objects.count(),
    )


@pytest.mark.django_db
def test_members_are_plausible():
    _seed_small()
    brand = Brand.objects.get(code=DEMO_BRAND_CODE)
    members = list(Member.objects.filter(brand=brand))
    mobiles = [m.mobile for m in members]
    assert len(set(mobiles)) == 300
    for m in members:
        assert m.mobile is not None
        assert normalize_mobile(m.mobile) == m.mobile
        assert 2 <= len(m.name) <= 3
        assert m.home_store is not None and m.home_store.brand_id == brand.pk
        assert m.age_band == age_band_for(m.birthday)
        assert m.joined_at.tzinfo is not None
        assert m.district.endswith("区")
    female = sum(m.gender == "f" for m in members) / len(members)
    assert 0.55 < female < 0.85
    consenting = [m for m in members if m.marketing_consent]
    assert 0.4 < len(consenting) / len(members) < 0.8
    granted = set(
        ConsentRecord.objects.filter(action=ConsentRecord.Action.GRANTED).values_list("member_id", flat=True)
    )
    assert {m.pk for m in consenting} <= granted
    assert {m.source for m in members} <= {"import", "h5", "wecom", "staff"}
    assert MemberNote.objects.filter(member__brand=brand).exists()


@pytest.mark.django_db
def test_staff_sign_in_with_the_password_and_serve_their_store():
    _seed_small()
    admin = Staff.objects.get(username="admin")
    assert admin.role == Role.HQ_ADMIN and admin.can_reveal_mobile
    assert Staff.objects.get(username="operator").role == Role.HQ_OPERATOR
    assert not admin.stores.exists()
    for staff in Staff.objects.all():
        assert staff.check_password(PASSWORD), staff.username
        assert not staff.check_password("wrong-password")
    for n, store in enumerate(Store.objects.order_by("code"), start=1):
        assert store.code == f"BJ{n:03d}"
        manager = Staff.objects.get(username=f"m{n:03d}")
        clerk = Staff.objects.get(username=f"c{n:03d}")
        assert manager.role == Role.STORE_MANAGER and clerk.role == Role.CLERK
        assert list(manager.stores.all()) == [store]
        assert list(clerk.stores.all()) == [store]


@pytest.mark.django_db
def test_demo_staff_can_sign_in_to_the_console(client):
    _seed_small()
    assert client.login(username="m001", password=PASSWORD)
    assert not client.login(username="c001", password="wrong-password")


@pytest.mark.django_db
def test_stores_are_in_beijing():
    _seed_small(stores=30, members=50)
    stores = list(Store.objects.order_by("code"))
    assert len(stores) == 30
    assert len({s.name for s in stores}) == 30
    for s in stores:
        assert s.city == "北京" and s.address.startswith("北京市" + s.district)
        assert s.latitude is not None and s.longitude is not None
        assert Decimal("39.6") < s.latitude < Decimal("40.25")
        assert Decimal("116.05") < s.longitude < Decimal("116.75")
        assert s.opening_hours == "10:00-22:00"
        assert s.region is not None
    # The newest store is still being fitted out and has no members yet.
    assert stores[-1].status == Store.Status.PREPARING
    assert not Member.objects.filter(home_store=stores[-1]).exists()


@pytest.mark.django_db
def test_tags_and_events():
    _seed_small()
    rule_tag = Tag.objects.get(name="25-34岁女性")
    assert rule_tag.rule == {"age_band": ["25-34"], "gender": "f"}
    tagged = set(MemberTag.objects.filter(tag=rule_tag).values_list("member_id", flat=True))
    assert tagged
    assert tagged == set(rule_queryset(rule_tag.rule).values_list("id", flat=True))
    for name in ("宝妈", "家居收纳", "中消费", "活跃"):
        assert MemberTag.objects.filter(tag__name=name).exists(), name
    # Every member has exactly one lifecycle tag.
    lifecycle = MemberTag.objects.filter(tag__group__name="生命周期")
    assert lifecycle.count() == 300 == lifecycle.values("member_id").distinct().count()

    assert Event.objects.filter(type="member.created").count() == 300
    assert count_events("member.created") == 300
    assert Event.objects.filter(type="member.signed_in").exists()
    for e in Event.objects.filter(type="member.created").select_related("member"):
        assert e.member is not None
        assert e.occurred_at == e.member.joined_at
        assert e.store_id == e.member.home_store_id
    assert sum(DailyEventCount.objects.values_list("count", flat=True)) == Event.objects.count()


@pytest.mark.django_db
def test_refusals_change_nothing(brand):
    with pytest.raises(Conflict):
        _seed_small()
    assert not Brand.objects.filter(code=DEMO_BRAND_CODE).exists()
    Brand.objects.all().delete()
    with pytest.raises(ValidationFailed):
        _seed_small(password="short")
    with pytest.raises(ValidationFailed):
        _seed_small(stores=0)
    assert not Brand.objects.exists()


@pytest.mark.django_db
def test_seed_demo_command_prints_logins():
    out = io.StringIO()
    call_command("seed_demo", stores=2, members=40, seed=3, password=PASSWORD, stdout=out)
    text = out.getvalue()
    assert "木棉家居" in text and "40 members" in text
    for username in ("admin", "operator", "m001", "c001"):
        assert username in text
    assert PASSWORD in text

    out = io.StringIO()
    call_command("seed_demo", stores=2, members=40, seed=3, password=PASSWORD, stdout=out)
    assert "already exists" in out.getvalue()
    assert Member.objects.count() == 40

    # Another brand in the database: the command refuses with a readable error.
    Brand.objects.filter(code=DEMO_BRAND_CODE).update(code="other")
    with pytest.raises(CommandError, match="Another brand"):
        call_command("seed_demo", stores=2, members=40, password=PASSWORD, stdout=io.StringIO())


@pytest.mark.django_db
def test_demo_no_serve_sets_up_and_prints(monkeypatch):
    def no_exec(*args):
        raise AssertionError("--no-serve must not start a server")

    monkeypatch.setattr(demo_command.os, "execvp", no_exec)
    out = io.StringIO()
    call_command("demo", no_serve=True, stores=3, members=120, password=PASSWORD, stdout=out)
    text = out.getvalue()
    assert Brand.objects.filter(code=DEMO_BRAND_CODE).exists()
    assert Member.objects.count() == 120
    assert "http://127.0.0.1:8000/" in text
    assert "http://127.0.0.1:8000/h5/login/" in text
    for username in ("admin", "operator", "m001", "c001"):
        assert username in text
    assert PASSWORD in text

    # A second run keeps the data.
    out = io.StringIO()
    call_command("demo", no_serve=True, stores=3, members=50, stdout=out)
    assert Member.objects.count() == 120
    assert "already present" in out.getvalue()


@pytest.mark.django_db
def test_demo_serves_with_gunicorn(monkeypatch):
    calls = []
    monkeypatch.setattr(demo_command.os, "execvp", lambda file, argv: calls.append((file, argv)))
    # The demo sets its environment (debug, the sandbox cashier) before exec'ing gunicorn: give the test
    # process its own environment back, or later tests' servers would inherit the demo's payment provider.
    saved = {name: os.environ.get(name) for name in ("SIYU_DEBUG", "SIYU_PAYMENT_PROVIDER")}
    try:
        call_command("demo", stores=1, members=10, addr="127.0.0.1:8123", stdout=io.StringIO())
        assert os.environ.get("SIYU_DEBUG") and os.environ.get("SIYU_PAYMENT_PROVIDER") == "sandbox"
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    assert len(calls) == 1
    file, argv = calls[0]
    assert file == argv[0] and file.endswith("gunicorn")
    assert argv == demo_command.gunicorn_argv(file, "127.0.0.1:8123")
    assert argv[argv.index("--bind") + 1] == "127.0.0.1:8123"
    assert "python:siyu.gunicorn_conf" in argv  # the master starts the periodic-job scheduler
