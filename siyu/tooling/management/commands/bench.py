"""``siyu bench <name>``: benchmarks that print one JSON object.

Each benchmark runs against a throw-away SQLite database (or the PostgreSQL database given by
``--database-url``) in a child process, so the data you work with is never touched.

- ``siyu bench seed-demo [--stores 20 --members 16000 --seed 1]``: time to build the demo chain.
- ``siyu bench import [--rows 10000]``: time to import a POS member file, and to re-import it.
- ``siyu bench flash-sale [--buyers 5000 --stock 500 --concurrency 200] [--url URL] [--no-redis]``: members
  racing to buy in a flash sale over real HTTP (see ``siyu.tooling.bench``). Without ``--url`` it starts
  its own server (gunicorn, as ``siyu demo`` does) on a scratch database; with ``--url`` it targets a
  running server that uses the same database and secret key as this environment. Redis is used when
  ``REDIS_URL`` (or ``--redis-url``) is set, unless ``--no-redis``.
- ``siyu bench slots`` (same options and defaults as ``flash-sale``): the same load on a recharge-slot
  campaign selling ¥11 deposits through the flash admission; the audit reads the database (sold == slots,
  no oversell).
- ``siyu bench loyalty [--members 10000 --concurrency 200 --batches 1000000]
  [--part all|checkin|expiry|pricing]``: members checking in over real HTTP (audited from the database,
  ``GET /healthz`` of the same server as the ceiling), the points expiry job over many batches, and checkout
  pricing with ``--templates`` active coupon templates and ``--wallet`` coupons in the member's wallet (see
  ``siyu.tooling.bench.loyalty_run``).
- ``siyu bench posters [--posters 200]``: referral share posters per second, drawn and from the disk cache,
  against the live-code poster as a baseline (no database; see ``siyu.tooling.bench.posters``).
- ``siyu bench statements [--stores 2000 --staff 20 --members 3]``: a month's staff reward statements for the
  whole chain (``--members`` brought in per staff member), generated set-based and audited from the database
  (see ``siyu.tooling.bench.statements``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from siyu.tooling.bench import member_import, posters, seed_demo
from siyu.tooling.bench import statements as statements_bench
from siyu.tooling.bench.flash_sale_run import run_flash_sale
from siyu.tooling.bench.loyalty_run import run_loyalty
from siyu.tooling.bench.scratch import scratch_database

BENCHES = ("seed-demo", "import", "flash-sale", "slots", "loyalty", "posters", "statements")


class Command(BaseCommand):
    help = "Run a benchmark and print its figures as JSON: " + ", ".join(BENCHES)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("bench", choices=BENCHES)
        parser.add_argument("--stores", type=int, default=20)
        parser.add_argument(
            "--members",
            type=int,
            default=None,
            help="seed-demo: 16,000 members; loyalty: 10,000 checking in.",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--rows", type=int, default=10_000)
        parser.add_argument(
            "--database-url",
            default="",
            help="A PostgreSQL server URL: a scratch database is made there for the run and dropped after.",
        )
        parser.add_argument("--buyers", type=int, default=5000)
        parser.add_argument("--stock", type=int, default=500)
        parser.add_argument("--concurrency", type=int, default=200)
        parser.add_argument("--url", default="", help="flash-sale: target this running server.")
        parser.add_argument(
            "--redis-url", default="", help="flash-sale: use this Redis (default: REDIS_URL)."
        )
        parser.add_argument("--no-redis", action="store_true", help="flash-sale: admit in the database.")
        parser.add_argument("--workers", type=int, default=2, help="flash-sale: server processes.")
        parser.add_argument("--threads", type=int, default=16, help="flash-sale: threads per server process.")
        parser.add_argument(
            "--audit-timeout",
            type=float,
            default=60.0,
            help="flash-sale: how long the audit waits for the server's write-behind (seconds).",
        )
        parser.add_argument(
            "--batches", type=int, default=1_000_000, help="loyalty: points batches to expire."
        )
        parser.add_argument(
            "--part",
            choices=("all", "checkin", "expiry", "pricing"),
            default="all",
            help="loyalty: which part.",
        )
        parser.add_argument("--templates", type=int, default=2_000, help="loyalty: active coupon templates.")
        parser.add_argument("--wallet", type=int, default=50, help="loyalty: coupons in the member's wallet.")
        parser.add_argument("--brand", type=int, default=0, help="(internal) loyalty brand")
        parser.add_argument("--posters", type=int, default=200, help="posters: how many to draw.")
        parser.add_argument("--staff", type=int, default=20, help="statements: staff members per store.")
        parser.add_argument("--inner", action="store_true", help="(internal) run inside the scratch database")
        parser.add_argument("--step", default="", help="(internal) flash-sale step")
        parser.add_argument("--file", default="", help="(internal) flash-sale data file")
        parser.add_argument("--campaign", type=int, default=0, help="(internal) flash-sale campaign")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["members"] is None:
            defaults = {"loyalty": 10_000, "statements": 3}
            options["members"] = defaults.get(options["bench"], 16_000)
        if options["bench"] == "loyalty":
            result = run_loyalty(options, scratch_database)
            self.stdout.write(json.dumps(result, ensure_ascii=False))
            return
        if options["bench"] == "posters":
            result = posters.run(posters_count=max(1, min(options["posters"], 100_000)))
            self.stdout.write(json.dumps(result, ensure_ascii=False))
            return
        if options["bench"] in ("flash-sale", "slots"):
            result = run_flash_sale(options, scratch_database)
            self.stdout.write(json.dumps(result, ensure_ascii=False))
            return
        if options["inner"]:
            result = _run_inner(options)
            self.stdout.write(json.dumps(result))
            return
        with (
            tempfile.TemporaryDirectory(prefix="siyu-bench-") as tmp,
            scratch_database(options["database_url"]) as url,
        ):
            env = {**os.environ, "SIYU_VAR_DIR": tmp}
            env.pop("DATABASE_URL", None)
            if url:
                env["DATABASE_URL"] = url
            cli = [sys.executable, "-m", "siyu.cli"]
            subprocess.run([*cli, "migrate", "-v0"], env=env, check=True)  # noqa: S603 -- our own CLI
            inner = [*cli, "bench", options["bench"], "--inner"]
            for key in ("stores", "members", "seed", "rows", "staff"):
                inner += [f"--{key}", str(options[key])]
            proc = subprocess.run(inner, env=env, capture_output=True, text=True, check=False)  # noqa: S603
            if proc.returncode != 0:
                raise CommandError(proc.stderr[-2000:])
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            self.stdout.write(json.dumps(result, ensure_ascii=False))


def _run_inner(options: dict[str, Any]) -> dict[str, Any]:
    if options["bench"] == "statements":
        return statements_bench.run(
            stores=options["stores"], staff=options["staff"], members=options["members"]
        )
    if options["bench"] == "seed-demo":
        return seed_demo.run(stores=options["stores"], members=options["members"], seed=options["seed"])
    return member_import.run(rows=options["rows"])
