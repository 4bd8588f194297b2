"""WeCom calls that address staff, not customer groups: app messages, store robots, group welcome templates.

Protocol facts: /work/shared/specs/wecom.md ("Messages to staff", "Group robot webhook", "Group welcome
template"). Every function takes the ``WeComConnector`` performing an outbox action (typed structurally by
``WeComClient``, so this module does not import the connector module that dispatches to it) and uses its
``call`` (access token, refresh on expiry) or, for the robot, its ``robot_send`` with an explicit webhook key:

- ``app_message``: ``POST /cgi-bin/message/send`` textcard to staff userids joined by "|", with the app's
  ``agent_id`` and WeCom's duplicate check on.
- ``staff_robot_post``: ``POST /cgi-bin/webhook/send?key=…`` into a store's INTERNAL staff group. The key must
  be in the payload: there is no fallback to a connector-wide robot (robots cannot join customer groups).
- ``welcome_template_sync``: make the WeCom group welcome template of one Siyu group template match what
  communities says it should be (asked through ``hooks.welcome_template_spec`` when performed, so a retried or
  reordered sync always writes the current text); idempotent, nothing called when WeCom already holds it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

from django.db import IntegrityError, transaction

from siyu.channels import hooks
from siyu.channels.connectors.base import ChannelError, Unsupported
from siyu.channels.connectors.text import truncate_utf8
from siyu.channels.models import Connector, WeComWelcomeTemplate

ACTIONS = ("app_message", "staff_robot_post", "welcome_template_sync")

APP_MESSAGE_TOUSER_MAX = 1000
TEXTCARD_TITLE_MAX = 128  # bytes
TEXTCARD_DESCRIPTION_MAX = 512  # bytes
TEXTCARD_BTNTXT_MAX = 4  # characters
DUPLICATE_CHECK_INTERVAL = 1800  # seconds (WeCom's default)
WELCOME_TEXT_MAX = 3000  # bytes
NICKNAME = "%NICKNAME%"


class WeComClient(Protocol):
    """What these calls need of ``siyu.channels.connectors.wecom.WeComConnector``."""

    connector: Connector
    config: dict[str, Any]

    def call(
        self, path: str, body: dict[str, Any] | None = None, *, method: str = "POST"
    ) -> dict[str, Any]: ...

    def robot_send(self, key: str, payload: dict[str, Any]) -> dict[str, Any]: ...


def perform(client: WeComClient, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The outbox entry point for the actions in ``ACTIONS``."""
    if action == "app_message":
        return send_app_message(client, payload)
    if action == "staff_robot_post":
        return staff_robot_post(client, payload)
    if action == "welcome_template_sync":
        return sync_welcome_template(client, int(payload["group_template_id"]))
    raise Unsupported(f"unknown WeCom staff action {action!r}")


# --- app messages (message/send) -------------------------------------------------------------------


def app_message_body(agent_id: Any, touser: list[str], card: dict[str, Any]) -> dict[str, Any]:
    """The ``message/send`` JSON of one textcard to ``touser`` (1..1,000 userids)."""
    if not str(agent_id or "").isdigit():
        raise ChannelError("the WeCom connector has no agent_id (the app's AgentId)", retryable=False)
    users = [u for u in dict.fromkeys(touser) if u]
    if not 1 <= len(users) <= APP_MESSAGE_TOUSER_MAX:
        raise ChannelError("an app message goes to 1 to 1,000 staff", retryable=False)
    title, url = str(card.get("title") or ""), str(card.get("url") or "")
    if not title or not url:
        raise ChannelError("a textcard needs a title and a url", retryable=False)
    textcard = {
        "title": truncate_utf8(title, TEXTCARD_TITLE_MAX),
        "description": truncate_utf8(str(card.get("description") or title), TEXTCARD_DESCRIPTION_MAX),
        "url": url,
    }
    if card.get("btntxt"):
        textcard["btntxt"] = str(card["btntxt"])[:TEXTCARD_BTNTXT_MAX]
    return {
        "touser": "|".join(users),
        "msgtype": "textcard",
        "agentid": int(agent_id),
        "textcard": textcard,
        "enable_duplicate_check": 1,
        "duplicate_check_interval": DUPLICATE_CHECK_INTERVAL,
    }


def send_app_message(client: WeComClient, payload: dict[str, Any]) -> dict[str, Any]:
    """Send one textcard app message (payload ``{"touser": [userid…], "textcard": {…}}``); returns the msgid
    and the userids WeCom did not deliver to (``invaliduser``: unknown or outside the app's visibility)."""
    body = app_message_body(
        client.config.get("agent_id"), list(payload.get("touser") or []), payload["textcard"]
    )
    data = client.call("/cgi-bin/message/send", body)
    invalid = [u for u in str(data.get("invaliduser") or "").split("|") if u]
    return {"msgid": str(data.get("msgid") or ""), "invaliduser": invalid}


# --- store robots (internal staff groups only) ------------------------------------------------------


def staff_robot_post(client: WeComClient, payload: dict[str, Any]) -> dict[str, Any]:
    """Post into a store's internal staff group through its own robot (``payload["robot_key"]``)."""
    key = str(payload.get("robot_key") or "")
    if not key:
        raise ChannelError("a staff robot post needs the store's robot key", retryable=False)
    return client.robot_send(key, payload)


# --- group welcome templates -------------------------------------------------------------------------


def welcome_body(spec: hooks.WelcomeTemplateSpec) -> dict[str, Any]:
    """The ``group_welcome_template`` content (without template_id / notify) for ``spec``."""
    body: dict[str, Any] = {"text": {"content": truncate_utf8(spec.text, WELCOME_TEXT_MAX)}}
    if spec.link and spec.link.get("title") and spec.link.get("url"):
        link = {"title": truncate_utf8(spec.link["title"], 128), "url": spec.link["url"]}
        if spec.link.get("desc"):
            link["desc"] = truncate_utf8(spec.link["desc"], 512)
        if spec.link.get("picurl"):
            link["picurl"] = spec.link["picurl"]
        body["link"] = link
    return body


def _hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def sync_welcome_template(client: WeComClient, group_template_id: int) -> dict[str, Any]:
    """Make WeCom hold the welcome communities wants for ``group_template_id`` on this corp.

    Guarantees: adds the template the first time (``/add`` with ``notify``), edits it when the wanted
    content changed (``/edit``), deletes it when no welcome is wanted any more (``/del``), and calls nothing
    when WeCom already holds the wanted content; two concurrent first syncs keep one template (the loser
    deletes its own). Provider calls run outside any transaction; ChannelError when WeCom refuses (the
    outbox retries).
    """
    connector = client.connector
    spec = hooks.welcome_template_spec.ask(
        hooks.WelcomeTemplateQuery(connector=connector, group_template_id=group_template_id)
    )
    row = WeComWelcomeTemplate.objects.filter(
        connector=connector, group_template_id=group_template_id
    ).first()
    base = "/cgi-bin/externalcontact/group_welcome_template"
    if spec is None or not spec.text.strip():
        if row is not None:
            client.call(f"{base}/del", {"template_id": row.template_id})
            row.delete()
            return {"deleted": row.template_id}
        return {"template_id": ""}
    body = welcome_body(spec)
    digest = _hash(body)
    if row is not None:
        if row.content_hash != digest:
            client.call(f"{base}/edit", {"template_id": row.template_id, **body})
            WeComWelcomeTemplate.objects.filter(pk=row.pk).update(content_hash=digest)
            return {"template_id": row.template_id, "edited": True}
        return {"template_id": row.template_id, "unchanged": True}
    data = client.call(f"{base}/add", {**body, "notify": 1 if spec.notify else 0})
    template_id = str(data.get("template_id") or "")
    if not template_id:
        raise ChannelError("WeCom returned no template_id", retryable=True)
    try:
        with transaction.atomic():
            WeComWelcomeTemplate.objects.create(
                connector=connector,
                group_template_id=group_template_id,
                template_id=template_id,
                content_hash=digest,
            )
    except IntegrityError:
        # A concurrent sync stored its template first: drop ours on WeCom; theirs is the one.
        client.call(f"{base}/del", {"template_id": template_id})
        theirs = WeComWelcomeTemplate.objects.get(connector=connector, group_template_id=group_template_id)
        return {"template_id": theirs.template_id, "duplicate_removed": template_id}
    return {"template_id": template_id, "added": True}
