"""Periodic jobs record their runs; one scheduler at a time; the background-work page; flash sales refuse a
Redis without persistence."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from siyu.campaigns.services import flash_admission
from siyu.campaigns.services import flash_config as fc
from siyu.common import periodic
from siyu.common.errors import Conflict
from siyu.common.models import JobRun
from siyu.console.views_ops import JOB_LABELS
from tests.factories import StaffFactory


@pytest.fixture(autouse=True)
def _fresh_records():
    periodic.forget_recorded()
    yield
    periodic.forget_recorded()


def _stub_jobs(monkeypatch, fail=()):
    for job in periodic.JOBS:
        module, _, func = job.target.rpartition(".")

        def run(name=job.name):
            if name in fail:
                raise RuntimeError(f"{name} broke")
            return 3

        monkeypatch.setattr(f"{module}.{func}", run)


def test_runs_are_recorded_with_outcome_and_error(db, monkeypatch):
    _stub_jobs(monkeypatch, fail={"outbox"})
    call_command("scheduler", "--once")
    runs = {r.name: r for r in JobRun.objects.all()}
    assert set(runs) == {j.name for j in periodic.JOBS}
    assert runs["order-expiry"].last_outcome == "ok" and runs["order-expiry"].last_result == "3"
    assert runs["outbox"].last_outcome == "failed" and "outbox broke" in runs["outbox"].last_error
    assert runs["outbox"].consecutive_failures == 1
    with pytest.raises(RuntimeError):
        periodic.run_job("outbox")
    assert JobRun.objects.get(name="outbox").consecutive_failures == 2
    _stub_jobs(monkeypatch)
    periodic.run_job("outbox")
    fixed = JobRun.objects.get(name="outbox")
    assert (fixed.last_outcome, fixed.consecutive_failures) == ("ok", 0) and fixed.last_error_at is not None


def test_statuses_flag_stale_and_failing_jobs(db, monkeypatch):
    _stub_jobs(monkeypatch, fail={"outbox"})
    now = timezone.now()
    for status in periodic.job_statuses(now):
        assert status.stale and status.run is None  # nothing ran yet
    call_command("scheduler", "--once")
    statuses = {s.job.name: s for s in periodic.job_statuses(now + timedelta(seconds=10))}
    assert statuses["order-expiry"].healthy
    assert statuses["outbox"].failing and not statuses["outbox"].healthy
    later = {s.job.name: s for s in periodic.job_statuses(now + timedelta(minutes=10))}
    assert later["flash-writer"].stale and later["order-expiry"].stale  # 10 min > 3 × 60 s


def test_a_second_scheduler_refuses_while_one_runs(db, monkeypatch):
    _stub_jobs(monkeypatch)
    holder = periodic.scheduler_lock()
    assert holder.acquire()
    try:
        with pytest.raises(CommandError, match="already running"):
            call_command("scheduler", "--once")
    finally:
        holder.release()
    call_command("scheduler", "--once")  # free again: runs


def test_background_work_page(client, hq_admin, monkeypatch, db):
    _stub_jobs(monkeypatch, fail={"flash-relay"})
    call_command("scheduler", "--once")
    client.force_login(hq_admin)
    page = client.get(reverse("console:background_work"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Background work" in html and "1 background job needs attention" in html
    assert "flash-relay broke" in html and "Finished without error" in html
    assert "No channel call has failed." in html and reverse("console:failed_outbox") in html
    assert reverse("console:background_work") in client.get(reverse("console:dashboard")).content.decode()


def test_background_work_page_is_for_head_office(client, brand, store_a, db):
    clerk = StaffFactory(brand=brand, username="c1", role="clerk", stores=[store_a])
    client.force_login(clerk)
    assert client.get(reverse("console:background_work")).status_code == 403


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")
def test_flash_sales_refuse_a_redis_without_aof(settings, monkeypatch):
    settings.REDIS_URL = os.environ["REDIS_URL"]
    settings.SIYU_FLASH_ALLOW_VOLATILE_REDIS = False
    monkeypatch.setattr(fc, "redis_is_durable", lambda: False)
    with pytest.raises(Conflict) as refused:
        flash_admission.check_redis_durable()
    assert refused.value.code == "redis_not_persistent" and "AOF" in refused.value.message
    monkeypatch.setattr(fc, "redis_is_durable", lambda: True)
    flash_admission.check_redis_durable()
    monkeypatch.setattr(fc, "redis_is_durable", lambda: False)
    settings.SIYU_FLASH_ALLOW_VOLATILE_REDIS = True
    flash_admission.check_redis_durable()


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")
def test_redis_persistence_is_read_from_the_server(settings):
    settings.REDIS_URL = os.environ["REDIS_URL"]
    aof = fc.redis_client().config_get("appendonly").get("appendonly") == "yes"
    assert fc.redis_is_durable() is aof


def test_every_periodic_job_is_named_for_people():
    """The background-work page names each job in words (never its code), in both languages."""
    assert set(JOB_LABELS) == {job.name for job in periodic.JOBS}
