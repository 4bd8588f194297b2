"""``siyu channels add-wecom | add-telegram | list``: configure channel connectors from the command line.

Prints the connector's id and the callback URL to enter in the WeCom admin console (or that is registered
with Telegram through setWebhook when ``--set-webhook`` is given).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from siyu.channels.connectors.base import ChannelError
from siyu.channels.connectors.telegram import TelegramConnector
from siyu.channels.models import Connector
from siyu.channels.services.connectors import add_telegram_connector, add_wecom_connector, callback_url
from siyu.common.errors import ServiceError

DEFAULT_BASE_URL = "http://127.0.0.1:8000"


class Command(BaseCommand):
    help = "Configure channel connectors (WeCom, Telegram)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)

        wecom = sub.add_parser("add-wecom", help="Add a WeCom self-built app.")
        wecom.add_argument("--corp-id", required=True)
        wecom.add_argument("--corp-secret", required=True)
        wecom.add_argument("--token", required=True, help="Callback Token (3-32 letters/digits).")
        wecom.add_argument("--aes-key", required=True, help="Callback EncodingAESKey (43 characters).")
        wecom.add_argument("--agent-id", default="")
        wecom.add_argument("--api-base", default="", help="Default https://qyapi.weixin.qq.com")
        wecom.add_argument("--store", default="", help="Store code that new WeCom groups belong to.")
        wecom.add_argument(
            "--mass-quota",
            default="",
            help="Mass messages per group: days_in_month (default), 7_per_week, 1_per_day or N a month.",
        )
        wecom.add_argument("--name", default="")
        wecom.add_argument("--base-url", default=DEFAULT_BASE_URL, help="Public base URL of this Siyu.")

        tg = sub.add_parser("add-telegram", help="Add a Telegram bot.")
        tg.add_argument("--bot-token", required=True)
        tg.add_argument("--webhook-secret", default="", help="Generated when omitted.")
        tg.add_argument("--api-base", default="", help="Default https://api.telegram.org")
        tg.add_argument("--store", default="")
        tg.add_argument("--name", default="")
        tg.add_argument("--base-url", default=DEFAULT_BASE_URL)
        tg.add_argument("--set-webhook", action="store_true", help="Call setWebhook with the callback URL.")

        listing = sub.add_parser("list", help="List connectors.")
        listing.add_argument("--base-url", default=DEFAULT_BASE_URL)

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            if opts["subcommand"] == "add-wecom":
                self._add_wecom(opts)
            elif opts["subcommand"] == "add-telegram":
                self._add_telegram(opts)
            else:
                self._list(opts)
        except ServiceError as exc:
            where = f" ({exc.field})" if exc.field else ""
            raise CommandError(f"{exc.message}{where}") from exc

    def _add_wecom(self, opts: dict[str, Any]) -> None:
        connector = add_wecom_connector(
            corp_id=opts["corp_id"],
            corp_secret=opts["corp_secret"],
            token=opts["token"],
            aes_key=opts["aes_key"],
            agent_id=opts["agent_id"],
            api_base=opts["api_base"],
            store_code=opts["store"],
            mass_quota=opts["mass_quota"],
            name=opts["name"],
        )
        self.stdout.write(f"connector id: {connector.pk}")
        self.stdout.write(f"callback URL: {callback_url(connector, opts['base_url'])}")

    def _add_telegram(self, opts: dict[str, Any]) -> None:
        connector = add_telegram_connector(
            bot_token=opts["bot_token"],
            webhook_secret=opts["webhook_secret"],
            api_base=opts["api_base"],
            store_code=opts["store"],
            name=opts["name"],
        )
        url = callback_url(connector, opts["base_url"])
        self.stdout.write(f"connector id: {connector.pk}")
        self.stdout.write(f"webhook URL: {url}")
        if opts["set_webhook"]:
            try:
                TelegramConnector(connector).set_webhook(url, secret_token=connector.config["webhook_secret"])
            except ChannelError as exc:
                raise CommandError(f"setWebhook failed: {exc}") from exc
            self.stdout.write("webhook set")

    def _list(self, opts: dict[str, Any]) -> None:
        for connector in Connector.objects.order_by("id"):
            state = "active" if connector.active else "off"
            line = f"{connector.pk}\t{connector.kind}\t{connector.name}\t{state}"
            if connector.kind in ("wecom", "telegram"):
                line += f"\t{callback_url(connector, opts['base_url'])}"
            self.stdout.write(line)
