"""Celery app: the periodic jobs of ``siyu.common.periodic`` on Celery workers.

The broker is ``settings.CELERY_BROKER_URL``: ``SIYU_CELERY_BROKER_URL`` (or ``CELERY_BROKER_URL``), e.g.
RabbitMQ ``amqp://user:password@host:5672/vhost``; else ``REDIS_URL`` when that is a single Redis (Celery's
Redis transport does not speak Redis Cluster). Run one ``celery -A siyu beat`` per deployment (it sends each
job every ``every_seconds``) and as many ``celery -A siyu worker`` as needed; every job is safe to run twice
and concurrently. Without a broker, tasks run in-process (eager) and ``siyu scheduler`` runs the periodic
jobs (``siyu demo`` starts it). See docs/scaling.md.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")

app = Celery("siyu")
app.config_from_object("django.conf:settings", namespace="CELERY")

# A job's message older than its own period is dropped by the worker that gets it (beat has sent a newer
# one): a backlog built while no worker ran does not replay the same job hundreds of times.
MIN_EXPIRES_SECONDS = 5.0


@app.on_after_configure.connect
def _schedule_periodic_jobs(sender: Any, **kwargs: Any) -> None:
    from siyu.common.periodic import JOBS

    for job in JOBS:
        sender.add_periodic_task(
            job.every_seconds,
            run_periodic.s(job.name),
            name=job.name,
            expires=max(job.every_seconds, MIN_EXPIRES_SECONDS),
        )


@app.task(name="siyu.run_periodic", ignore_result=True)
def run_periodic(name: str) -> None:
    from siyu.common.periodic import run_job

    run_job(name)
