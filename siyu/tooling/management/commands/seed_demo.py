"""``siyu seed-demo``: create the demo chain (木棉家居) with stores, staff and members."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from siyu.common.errors import ServiceError
from siyu.tooling.demo.chain import DEFAULT_PASSWORD, DemoSummary, seed_demo


class Command(BaseCommand):
    help = "Create the demo chain (deterministic for a given seed). Does nothing if it already exists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--stores", type=int, default=20, help="Number of stores (1–2000; default 20).")
        parser.add_argument("--members", type=int, default=16_000, help="Number of members (default 16000).")
        parser.add_argument("--seed", type=int, default=1, help="Random seed: same seed, same data.")
        parser.add_argument(
            "--password",
            default=DEFAULT_PASSWORD,
            help=f"Password of every demo staff account (default {DEFAULT_PASSWORD}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = seed_demo(
                stores=options["stores"],
                members=options["members"],
                seed=options["seed"],
                password=options["password"],
            )
        except ServiceError as exc:
            raise CommandError(str(exc.message)) from exc
        write_summary(self, summary, options["password"])


def write_summary(command: BaseCommand, summary: DemoSummary, password: str, *, logins: bool = True) -> None:
    """Print what was seeded (or found) and, unless ``logins`` is false, the demo logins."""
    out = command.stdout
    names = {"name": summary.brand_name, "code": summary.brand_code}
    if summary.created:
        out.write(
            command.style.SUCCESS(
                _("Created demo chain %(name)s (%(code)s) in %(seconds).1f s:")
                % {**names, "seconds": summary.seconds}
            )
        )
        out.write(
            "  "
            + _(
                "%(stores)d stores, %(staff)d staff, %(members)d members, %(tags)d member tags "
                "(%(rule)d by rule), %(consents)d consent records, %(notes)d notes, %(events)d events"
            )
            % {
                "stores": summary.stores,
                "staff": summary.staff,
                "members": summary.members,
                "tags": summary.member_tags,
                "rule": summary.rule_tag_members,
                "consents": summary.consents,
                "notes": summary.notes,
                "events": summary.events,
            }
        )
        out.write(
            "  "
            + _(
                "%(groups)d groups with %(memberships)d memberships and %(messages)d messages; "
                "%(products)d products in the catalog"
            )
            % {
                "groups": summary.communities,
                "memberships": summary.memberships,
                "messages": summary.messages,
                "products": summary.products,
            }
        )
        shown_password = password
    else:
        out.write(
            command.style.WARNING(
                _(
                    "Demo chain %(name)s (%(code)s) already exists (%(stores)d stores, %(staff)d staff, "
                    "%(members)d members); nothing changed — re-running keeps it."
                )
                % {**names, "stores": summary.stores, "staff": summary.staff, "members": summary.members}
            )
        )
        shown_password = _("%(password)s (or the one it was first created with)") % {"password": password}
    if not logins:
        return
    out.write(_("Demo logins:"))
    for username, role in summary.logins:
        out.write(f"  {username:<10} {role}")
    out.write("  " + _("password: %(password)s") % {"password": shown_password})
