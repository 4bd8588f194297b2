"""Orchestration of ``siyu bench loyalty``: scratch database, server, the check-in load, audit, expiry.

(a) **Check-in over HTTP.** A real server (gunicorn, as ``siyu demo`` runs it) on a scratch database; every
seeded member, signed in on their own session, sends ``POST /h5/points/checkin/`` once (every tenth twice: a
retry that must not check in again) over ``concurrency`` keep-alive connections. Then, in the same run and
over the same connections, as many ``GET /healthz`` (the full middleware stack, no database): the ceiling.
Check-ins, duplicates and points are counted from the database afterwards.

(b) **Expiry.** ``batches`` batches seeded by bulk SQL, then the expiry job timed over them.

(c) **Checkout pricing with coupons.** ``templates`` active coupon templates, ``wallet`` coupons in one
member's wallet; the checkout's best-coupon suggestion and the pricing adjusters timed in-process.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from siyu.tooling.bench import http_load, loyalty
from siyu.tooling.bench.flash_sale_run import _free_port, _server, _wait_ready

ScratchDatabase = Callable[[str], AbstractContextManager[str]]
RETRY_EVERY = 10
CSRF = "benchcsrf0123456789abcdefghijklm"  # 32 letters and digits: a valid CSRF secret


def _step(env: dict[str, str], step: str, **extra: Any) -> dict[str, Any]:
    argv = [sys.executable, "-m", "siyu.cli", "bench", "loyalty", "--inner", "--step", step]
    for key, value in extra.items():
        argv += [f"--{key}", str(value)]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise CommandError(f"loyalty step {step} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_inner(options: dict[str, Any]) -> dict[str, Any]:
    step = options["step"]
    if step == "seed":
        return loyalty.seed(members=options["members"], sessions_path=options["file"])
    if step == "audit":
        return loyalty.audit(options["brand"])
    if step == "expiry":
        return loyalty.expiry(batches=options["batches"])
    if step == "pricing":
        return loyalty.pricing(templates=options["templates"], wallet=options["wallet"])
    raise CommandError(f"unknown step {step!r}")


def _checkin_request(session_key: str) -> bytes:
    return (
        b"POST /h5/points/checkin/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
        b"Cookie: sessionid=%s; csrftoken=%s\r\nX-CSRFToken: %s\r\nContent-Length: 0\r\n\r\n"
        % (session_key.encode(), CSRF.encode(), CSRF.encode())
    )


HEALTH = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _checkin_figures(answers: http_load.Answers) -> dict[str, Any]:
    created = repeated = errors = 0
    codes: dict[str, int] = {}
    for answer in answers.answers:
        if answer is None:
            errors += 1
            codes["transport_error"] = codes.get("transport_error", 0) + 1
            continue
        status, body = answer
        if status == 200:
            if json.loads(body).get("created"):
                created += 1
            else:
                repeated += 1
        else:
            errors += 1
            codes[str(status)] = codes.get(str(status), 0) + 1
    answered = created + repeated
    return {
        "requests": len(answers.answers),
        "answered": answered,
        "client_checked_in": created,
        "client_already_today": repeated,
        "errors": errors,
        "error_codes": codes,
        "seconds": round(answers.seconds, 2),
        "answered_per_s": round(answered / answers.seconds, 1) if answers.seconds else None,
        **http_load.percentiles(answers.latencies),
    }


def _checkin(env: dict[str, str], tmp: str, url: str, server: Any, options: dict[str, Any]) -> dict[str, Any]:
    sessions_path = str(Path(tmp) / "sessions.json")
    setup = _step(env, "seed", members=options["members"], file=sessions_path)
    sessions = json.loads(Path(sessions_path).read_text())
    _wait_ready(f"{url}/healthz", server)
    time.sleep(float(os.environ.get("SIYU_BENCH_SETTLE_SECONDS", "3")))
    requests = []
    for i, (_pk, key) in enumerate(sessions):
        requests.append(_checkin_request(key))
        if i % RETRY_EVERY == 0:
            requests.append(_checkin_request(key))  # the same member again: a retry
    random.Random(1).shuffle(requests)
    concurrency = options["concurrency"]
    answers = http_load.send_all(url, requests, concurrency=concurrency, warmup=HEALTH)
    ceiling = http_load.send_all(url, [HEALTH] * len(requests), concurrency=concurrency, warmup=HEALTH)
    figures = _checkin_figures(answers)
    ceiling_ok = sum(1 for a in ceiling.answers if a is not None and a[0] == 200)
    ceiling_per_s = round(ceiling_ok / ceiling.seconds, 1) if ceiling.seconds else None
    audited = _step(env, "audit", brand=setup["brand"])
    log = Path(tmp) / "server.log"
    if figures["errors"] and log.exists():
        figures["server_log_tail"] = log.read_text(errors="replace")[-3000:]
    per_s = figures["answered_per_s"]
    return {
        "members": setup["members"],
        "concurrency": concurrency,
        **figures,
        **audited,
        "ceiling_endpoint": "GET /healthz",
        "ceiling_per_s": ceiling_per_s,
        "ceiling": http_load.percentiles(ceiling.latencies),
        "ratio": round(per_s / ceiling_per_s, 3) if per_s and ceiling_per_s else None,
    }


def run_loyalty(options: dict[str, Any], scratch_database: ScratchDatabase) -> dict[str, Any]:
    if options["inner"]:
        return run_inner(options)
    if options["members"] < 1 or options["concurrency"] < 1 or options["batches"] < 0:
        raise CommandError("--members and --concurrency must be positive, --batches not negative")
    env = dict(os.environ)
    result: dict[str, Any] = {"bench": "loyalty"}
    with (
        tempfile.TemporaryDirectory(prefix="siyu-bench-") as tmp,
        scratch_database(options["database_url"]) as db,
    ):
        env["SIYU_VAR_DIR"] = tmp
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        if db:
            env["DATABASE_URL"] = db
        env["SIYU_SCHEDULER"] = "0"
        cli = [sys.executable, "-m", "siyu.cli"]
        subprocess.run([*cli, "migrate", "-v0"], env=env, check=True)  # noqa: S603 -- our own CLI
        result["backend"] = "postgresql" if db else "sqlite"
        if options["part"] in ("all", "checkin"):
            port = _free_port()
            server = _server(env, port, options["workers"], options["threads"], Path(tmp) / "server.log")
            try:
                result["checkin"] = _checkin(env, tmp, f"http://127.0.0.1:{port}", server, options)
                result["checkin"]["workers"] = options["workers"]
                result["checkin"]["threads"] = options["threads"]
            finally:
                server.terminate()
                try:
                    server.wait(20)
                except subprocess.TimeoutExpired:
                    server.kill()
        if options["part"] in ("all", "expiry") and options["batches"]:
            result["expiry"] = _step(env, "expiry", batches=options["batches"])
        if options["part"] in ("all", "pricing"):
            result["pricing"] = _step(
                env, "pricing", templates=options["templates"], wallet=options["wallet"]
            )
    return result
