"""``siyu demo``: migrate, compile translations, seed the demo chain if empty, print logins, serve.

Serving replaces this process with gunicorn (the venv's own), so Ctrl-C stops the server directly. The demo
server runs in debug mode with the SANDBOX payment provider (the labelled demo cashier, no money moves) unless
``SIYU_PAYMENT_PROVIDER`` is set: a newcomer can follow a paid order to pickup. Production settings never
default to it (``SIYU_PAYMENT_PROVIDER`` defaults to ``pay_at_pickup``; the sandbox refuses to load without
debug).
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from typing import Any

from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from siyu.common.errors import ServiceError
from siyu.org.models import Brand
from siyu.tooling.demo.chain import DEFAULT_PASSWORD, DEMO_BRAND_CODE, demo_logins, seed_demo
from siyu.tooling.management.commands.seed_demo import write_summary
from siyu.tooling.serve import gunicorn_argv, gunicorn_path

__all__ = ["Command", "gunicorn_argv", "gunicorn_path"]

DEFAULT_ADDR = "127.0.0.1:8000"
DEMO_PAYMENT_PROVIDER = "sandbox"


def demo_environment(environ: MutableMapping[str, str]) -> None:
    """What the demo server runs with, unless already set: debug mode (the console SMS delivery the member
    sign-in relies on) and the SANDBOX payment provider (the demo cashier)."""
    environ.setdefault("SIYU_DEBUG", "1")
    environ.setdefault("SIYU_PAYMENT_PROVIDER", DEMO_PAYMENT_PROVIDER)
    environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")


class Command(BaseCommand):
    help = "Set up the demo (migrate, translations, demo chain) and serve it with gunicorn."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--addr", default=DEFAULT_ADDR, help=f"host:port to serve on (default {DEFAULT_ADDR})."
        )
        parser.add_argument(
            "--password",
            default=DEFAULT_PASSWORD,
            help=f"Password of the demo staff accounts when they are created (default {DEFAULT_PASSWORD}).",
        )
        parser.add_argument("--stores", type=int, default=20, help="Stores in a new demo chain (default 20).")
        parser.add_argument(
            "--members", type=int, default=16_000, help="Members in a new demo chain (default 16000)."
        )
        parser.add_argument(
            "--seed", type=int, default=1, help="Random seed of a new demo chain (default 1)."
        )
        parser.add_argument("--no-serve", action="store_true", help="Only set up and print the logins.")

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        call_command("migrate", interactive=False, verbosity=max(0, verbosity - 1), stdout=self.stdout)
        if "compilemessages_po" in get_commands():
            call_command("compilemessages_po", verbosity=verbosity, stdout=self.stdout)

        password = options["password"]
        if not Brand.objects.exists():
            try:
                summary = seed_demo(
                    stores=options["stores"],
                    members=options["members"],
                    seed=options["seed"],
                    password=password,
                )
            except ServiceError as exc:
                raise CommandError(str(exc.message)) from exc
            write_summary(self, summary, password, logins=False)
        elif not Brand.objects.filter(code=DEMO_BRAND_CODE).exists():
            self.stdout.write(
                self.style.WARNING(
                    _(
                        "A brand other than the demo chain is set up in this database: no demo data added, "
                        "and the demo logins below do not apply. Point SIYU_VAR_DIR or DATABASE_URL "
                        "elsewhere for a fresh demo."
                    )
                )
            )
        else:
            self.stdout.write(_("Demo chain already present; keeping it."))

        addr = options["addr"]
        host, _sep, port = addr.rpartition(":")
        url = f"http://{host or '127.0.0.1'}:{port or '8000'}/"
        if host in ("0.0.0.0", "", "[::]"):  # noqa: S104 -- only for printing a URL one can open
            url = f"http://127.0.0.1:{port or '8000'}/"
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(_("Siyu demo — staff console: %(url)s") % {"url": url}))
        for username, role in demo_logins():
            self.stdout.write(
                f"  {username:<10} {role:<16} " + _("password: %(password)s") % {"password": password}
            )
        self.stdout.write(
            _("Member H5 pages: %(url)s (sign-in codes are printed in this console)")
            % {"url": f"{url}h5/login/"}
        )
        provider = os.environ.get("SIYU_PAYMENT_PROVIDER", DEMO_PAYMENT_PROVIDER)
        if provider == DEMO_PAYMENT_PROVIDER:
            self.stdout.write(
                _(
                    "Online payment: the demo cashier (SANDBOX, no real money). Pay a mall order, then type "
                    "its pickup code on %(url)s as a clerk."
                )
                % {"url": f"{url}pickup/"}
            )
        else:
            self.stdout.write(_("Payment provider: %(name)s") % {"name": provider})
        self.stdout.write("")

        if options["no_serve"]:
            return
        executable = gunicorn_path()
        argv = gunicorn_argv(executable, addr)
        demo_environment(os.environ)
        self.stdout.write(_("Serving with: %(command)s") % {"command": " ".join(argv)})
        self.stdout.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os.execvp(executable, argv)  # noqa: S606 -- a fixed argv, no shell; replaces this process
