from django.core.management import call_command

from siyu.common import periodic


def test_every_job_resolves_to_a_function():
    for job in periodic.JOBS:
        assert callable(job.resolve()), job.name


def test_scheduler_once_runs_each_job(db, capsys, monkeypatch):
    calls = []
    for job in periodic.JOBS:
        module, _, func = job.target.rpartition(".")
        monkeypatch.setattr(f"{module}.{func}", lambda name=job.name: calls.append(name) or 0)
    call_command("scheduler", "--once")
    assert sorted(calls) == sorted(j.name for j in periodic.JOBS)


def test_scheduler_once_keeps_the_callers_priority(db, monkeypatch):
    # The loop runs niced (background work yields to members' requests); --once runs in its caller's process.
    import os

    niced = []
    monkeypatch.setattr(os, "nice", lambda n: niced.append(n) or 0)
    for job in periodic.JOBS:
        module, _, func = job.target.rpartition(".")
        monkeypatch.setattr(f"{module}.{func}", lambda: 0)
    call_command("scheduler", "--once")
    assert niced == []
