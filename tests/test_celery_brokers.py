"""Periodic jobs on real Celery workers, with RabbitMQ and with Redis as the broker.

Each broker test starts ``celery -A siyu worker --pool=solo`` as a separate process on a queue of its own
(so no other worker takes the message), pointed at the test database, sends it the ``order-expiry`` job's
task and waits for the job's effect in the database: a due unpaid order expires and its stock comes back.
The worker must reach the test database, so these run in the PostgreSQL run of ``make test`` (``.ci/run``
starts RabbitMQ and Redis); they skip when the broker is unreachable here. Brokers:
``SIYU_TEST_AMQP_URL`` (default amqp://guest:guest@127.0.0.1:5672//) and ``SIYU_TEST_CELERY_REDIS_URL``
(default redis://127.0.0.1:6379/13).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from celery import Celery
from django.db import connection
from django.utils import timezone

from siyu.celery import MIN_EXPIRES_SECONDS
from siyu.celery import app as siyu_app
from siyu.common.periodic import JOBS
from siyu.orders.models import Order
from tests.factories import place_order, stock_of, two_cups_at
from tests.race_support import needs_postgres


@pytest.fixture
def listings(hq_admin, store_a, store_b):
    """CUP-W (39.00, member 35.00) and CUP-B (20.00) at store A, 10 in stock each (store B lists them too)."""
    return two_cups_at(hq_admin, store_a)


REPO = Path(__file__).resolve().parent.parent
BROKERS = {
    "rabbitmq": os.environ.get("SIYU_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"),
    "redis": os.environ.get("SIYU_TEST_CELERY_REDIS_URL", "redis://127.0.0.1:6379/13"),
}
WAIT_SECONDS = 90


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    default_port = 5672 if parts.scheme.startswith("amqp") else 6379
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def test_beat_schedules_every_periodic_job_with_an_expiry():
    schedule = siyu_app.conf.beat_schedule
    assert set(schedule) == {job.name for job in JOBS}
    for job in JOBS:
        entry = schedule[job.name]
        assert entry["task"] == "siyu.run_periodic" and list(entry["args"]) == [job.name]
        assert entry["schedule"] == job.every_seconds
        assert entry["options"]["expires"] == max(job.every_seconds, MIN_EXPIRES_SECONDS)


def test_broker_setting_names_rabbitmq_or_falls_back(monkeypatch):
    """What settings.py makes of the environment (evaluated in a fresh interpreter)."""

    def broker(**env: str) -> tuple[str, str]:
        clean = {k: v for k, v in os.environ.items() if "BROKER" not in k and k not in {"REDIS_URL"}}
        clean.update(env, PYTHONPATH=str(REPO))
        code = "from siyu import settings as s;print(s.CELERY_BROKER_URL);print(s.CELERY_TASK_ALWAYS_EAGER)"
        out = subprocess.run(
            [sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=True, timeout=60
        ).stdout.split()
        return out[0], out[1]

    amqp = "amqp://guest:guest@127.0.0.1:5672//"
    assert broker(SIYU_CELERY_BROKER_URL=amqp, REDIS_URL="redis://x:6379/0") == (amqp, "False")
    assert broker(CELERY_BROKER_URL=amqp) == (amqp, "False")
    assert broker(REDIS_URL="redis://x:6379/0") == ("redis://x:6379/0", "False")
    # Celery's Redis transport cannot use a Redis Cluster: without a named broker, tasks run in-process.
    assert broker(REDIS_URL="redis://x:7000/0", SIYU_REDIS_CLUSTER="1") == ("memory://", "True")
    assert broker() == ("memory://", "True")


# --- real workers -----------------------------------------------------------------------------------


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    sender: Celery
    queue: str
    log: Path

    def send(self, job: str) -> None:
        self.sender.send_task("siyu.run_periodic", args=[job], queue=self.queue)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def worker_database_url() -> str:
    s = connection.settings_dict
    auth = quote(s["USER"] or "")
    if s["PASSWORD"]:
        auth += ":" + quote(s["PASSWORD"])
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture(params=sorted(BROKERS))
def worker(request, transactional_db, tmp_path):
    needs_postgres()
    url = BROKERS[request.param]
    if not reachable(url):
        pytest.skip(f"{request.param} broker not reachable at {url}")
    queue = f"siyu-test-{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIYU_TEST", "PYTEST"))}
    env.pop("REDIS_URL", None)
    env.update(
        DATABASE_URL=worker_database_url(),
        SIYU_CELERY_BROKER_URL=url,
        DJANGO_SETTINGS_MODULE="siyu.settings",
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "siyu", "worker", "--pool=solo", "-Q", queue,
                "-n", f"{queue}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--loglevel=INFO",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    sender = Celery("siyu-test-sender", broker=url)
    try:
        yield Worker(process, sender, queue, log)
    finally:
        process.send_signal(signal.SIGQUIT)  # cold shutdown: the job is done, nothing to finish
        try:
            process.wait(3)
        except subprocess.TimeoutExpired:
            process.kill()  # a worker closing its AMQP connection can take ~10 s; nothing of it is needed
            process.wait(10)
        with contextlib.suppress(Exception), sender.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)  # the queue is only litter if this fails
        sender.close()


def test_periodic_job_runs_on_a_celery_worker(worker, member_a, store_a, listings):
    order = place_order(member_a, store_a, [(listings[0].pk, 3)])
    assert stock_of(listings[0]) == 7
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    worker.send("order-expiry")
    deadline = time.monotonic() + WAIT_SECONDS
    while Order.objects.get(pk=order.pk).status != "expired":
        assert worker.process.poll() is None, f"the worker exited:\n{worker.output()}"
        assert time.monotonic() < deadline, f"the job did not run within {WAIT_SECONDS} s:\n{worker.output()}"
        time.sleep(0.3)
    assert stock_of(listings[0]) == 10
    assert "siyu.run_periodic" in worker.output()
