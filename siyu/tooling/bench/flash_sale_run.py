"""Orchestration of ``siyu bench flash-sale`` and ``siyu bench slots`` (the same sale selling ¥11
recharge-slot deposits): scratch database, server, load, baseline, audit.

Every step that touches the database runs as ``siyu bench flash-sale --inner --step …`` in the benchmark's
environment (scratch SQLite or PostgreSQL database, its own var dir and Redis key prefix; see
``flash_sale``); the load (``http_load``) runs in this process, which opens no database connection.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import redis
from django.core.management.base import CommandError

from siyu.tooling.bench import flash_sale, http_load
from siyu.tooling.serve import gunicorn_path

ScratchDatabase = Callable[[str], AbstractContextManager[str]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _step(env: dict[str, str], step: str, bench: str = "flash-sale", **extra: Any) -> dict[str, Any]:
    argv = [sys.executable, "-m", "siyu.cli", "bench", bench, "--inner", "--step", step]
    for key, value in extra.items():
        argv += [f"--{key}", str(value)]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise CommandError(f"{bench} step {step} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_inner(options: dict[str, Any]) -> dict[str, Any]:
    """One database step, inside the benchmark's environment."""
    step = options["step"]
    if step == "seed":
        return flash_sale.seed(
            buyers=options["buyers"],
            stock=options["stock"],
            tickets_path=options["file"],
            slots=options["bench"] == "slots",
        )
    if step == "baseline":
        return flash_sale.baseline()
    if step == "audit":
        keys = json.loads(Path(options["file"]).read_text())
        return flash_sale.audit(options["campaign"], keys, wait_seconds=options["audit_timeout"])
    raise CommandError(f"unknown step {step!r}")


def _wait_ready(url: str, proc: subprocess.Popen[bytes] | None, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise CommandError("the benchmark server exited at start")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 -- our own local server
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise CommandError("the benchmark server did not start")


def _server(env: dict[str, str], port: int, workers: int, threads: int, log: Path) -> subprocess.Popen[bytes]:
    argv = [
        gunicorn_path(),
        "siyu.wsgi:application",
        "--config",
        "python:siyu.gunicorn_conf",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "--backlog",
        "2048",
        "--log-level",
        "warning",
    ]
    with log.open("ab") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603 -- fixed argv


def run_flash_sale(options: dict[str, Any], scratch_database: ScratchDatabase) -> dict[str, Any]:
    if options["inner"]:
        return run_inner(options)
    if options["buyers"] < 1 or options["stock"] < 1 or options["concurrency"] < 1:
        raise CommandError("--buyers, --stock and --concurrency must be positive")
    if options["audit_timeout"] < 0:
        raise CommandError("--audit-timeout must not be negative")
    env = dict(os.environ)
    redis_url = "" if options["no_redis"] else (options["redis_url"] or env.get("REDIS_URL", ""))
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    with tempfile.TemporaryDirectory(prefix="siyu-bench-") as tmp:
        target = options["url"].rstrip("/")
        if target:
            # A running server: its database, secret key and Redis key prefix are this environment's
            # (SIYU_FLASH_REDIS_PREFIX as set here); each run seeds its own brand, store and buyers.
            return _measure(env, tmp, target, None, options)
        with scratch_database(options["database_url"]) as url:
            # A scratch server: its own database, var dir and Redis key prefix, all thrown away after the
            # run — so a Redis without AOF is acceptable here (SIYU_FLASH_ALLOW_VOLATILE_REDIS).
            env["SIYU_FLASH_REDIS_PREFIX"] = f"siyu:bench:{os.getpid()}:{int(time.time())}"
            env["SIYU_FLASH_ALLOW_VOLATILE_REDIS"] = "1"
            env["SIYU_VAR_DIR"] = tmp
            env.pop("DATABASE_URL", None)
            if url:
                env["DATABASE_URL"] = url
            env["SIYU_SCHEDULER"] = "1"  # the write-behind runs in the scheduler, as in `siyu demo`
            # Admission is measured, not payment: flash orders are paid at pickup on the scratch server.
            env["SIYU_PAYMENT_PROVIDER"] = "pay_at_pickup"
            cli = [sys.executable, "-m", "siyu.cli"]
            subprocess.run([*cli, "migrate", "-v0"], env=env, check=True)  # noqa: S603 -- our own CLI
            port = _free_port()
            server = _server(env, port, options["workers"], options["threads"], Path(tmp) / "server.log")
            try:
                return _measure(env, tmp, f"http://127.0.0.1:{port}", server, options)
            finally:
                server.terminate()
                try:
                    server.wait(20)
                except subprocess.TimeoutExpired:
                    server.kill()
                if redis_url:
                    _forget_redis_keys(redis_url, env["SIYU_FLASH_REDIS_PREFIX"])


def _forget_redis_keys(redis_url: str, prefix: str) -> None:
    """Remove the run's counters and streams: the scratch database they belong to is gone."""
    client = redis.Redis.from_url(redis_url)
    names = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for start in range(0, len(names), 500):
        client.delete(*names[start : start + 500])


def _measure(
    env: dict[str, str], tmp: str, url: str, server: subprocess.Popen[bytes] | None, options: dict[str, Any]
) -> dict[str, Any]:
    bench = options["bench"]
    tickets_path = str(Path(tmp) / "tickets.json")
    setup = _step(env, "seed", bench, buyers=options["buyers"], stock=options["stock"], file=tickets_path)
    tickets = json.loads(Path(tickets_path).read_text())
    _wait_ready(f"{url}/h5/flash/{setup['campaign']}/status/", server)
    if server is not None:
        # The server's master starts the scheduler (the write-behind) once it is ready; let that process
        # finish starting (imports, first round of jobs): the run measures a warm server, as members meet it.
        time.sleep(float(os.environ.get("SIYU_BENCH_SETTLE_SECONDS", "5")))
    result = http_load.load(url, setup, tickets, concurrency=options["concurrency"])
    keys_path = Path(tmp) / "reserved.json"
    keys_path.write_text(json.dumps(sorted(result.reserved_keys)))
    baseline = _step(env, "baseline", bench)
    audited = _step(
        env,
        "audit",
        bench,
        campaign=setup["campaign"],
        file=str(keys_path),
        **{"audit-timeout": options["audit_timeout"]},
    )
    figures = http_load.summarise(result)
    log = Path(tmp) / "server.log"
    if figures["errors"] and log.exists():
        # Say why: the end of the server's log (tracebacks of failed purchases).
        figures["server_log_tail"] = log.read_text(errors="replace")[-3000:]
    per_s = figures["attempts_per_s"]
    base = baseline.get("baseline_per_s")
    slots: dict[str, Any] = {}
    if bench == "slots":
        # Every slot sold exactly once: as many deposits as slots, never more (read from the database).
        slots = {
            "slots": audited["stock"],
            "slots_sold": audited["units_sold"],
            "sold_equals_slots": audited["units_sold"] == audited["stock"] and not audited["oversold"],
        }
    return {
        "bench": bench,
        "backend": baseline.get("backend"),
        "buyers": options["buyers"],
        "stock": options["stock"],
        "concurrency": options["concurrency"],
        "workers": options["workers"] if server is not None else None,
        "url": options["url"] or None,
        "run": setup.get("run"),
        **figures,
        **{k: v for k, v in audited.items() if k != "reconcile"},
        "baseline_per_s": base,
        "ratio": round(per_s / base, 3) if per_s and base else None,
        "baseline": baseline,
        **slots,
    }
