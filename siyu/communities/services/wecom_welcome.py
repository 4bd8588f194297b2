"""The welcome on WeCom: one WeCom group welcome template per Siyu group template and WeCom app.

No robot can post into a WeCom customer group, so the welcome Siyu posts elsewhere becomes a WeCom group
welcome template (``group_welcome_template/add``), which WeCom sends to each joiner once staff applied it to
their groups in the WeCom client (no API binds a template to a group; ``notify`` asks them to). Siyu's
placeholders become WeCom's: ``{name}`` → ``%NICKNAME%``; ``{store}`` → the store of the app (or the brand);
``{group}`` → "this group" (one template serves many groups); ``{rules}`` → the template's rules.

Guarantees: creating or editing a group template's welcome, rules or active flag queues one sync per WeCom
app of the brand, in the same transaction (``request_syncs``); the sync asks ``welcome_spec`` for the text
when it runs, so it always writes the current one; an inactive template's WeCom template is deleted.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import override

from siyu.channels import hooks as channel_hooks
from siyu.channels.services import staff_messages
from siyu.communities.models import GroupTemplate
from siyu.communities.services.robot import default_welcome_template, render_welcome
from siyu.org.models import Brand, Store

NICKNAME = "%NICKNAME%"
SYNCED_FIELDS = frozenset({"welcome_template", "rules_text", "active"})


def wecom_welcome_text(template: GroupTemplate, *, store_name: str) -> str:
    """The WeCom welcome text of ``template``: Siyu's placeholders turned into WeCom's ``%NICKNAME%``."""
    rules = (template.rules_text or "").strip()
    with override(settings.LANGUAGE_CODE):
        text = (template.welcome_template or "").strip() or default_welcome_template(with_rules=bool(rules))
        group = _("this group")
    return render_welcome(text, name=NICKNAME, store=store_name, group=group, rules=rules)


def welcome_spec(query: channel_hooks.WelcomeTemplateQuery) -> channel_hooks.WelcomeTemplateSpec | None:
    """``hooks.welcome_template_spec`` handler: the welcome a WeCom app should hold for a group template
    (None for an unknown, other-brand or inactive template: no WeCom template)."""
    template = GroupTemplate.objects.filter(
        pk=query.group_template_id, brand_id=query.connector.brand_id
    ).first()
    if template is None or not template.active:
        return None
    store_code = str((query.connector.config or {}).get("store_code") or "")
    store = Store.objects.filter(code=store_code).only("name").first() if store_code else None
    name = store.name if store else Brand.objects.get(pk=template.brand_id).name
    return channel_hooks.WelcomeTemplateSpec(text=wecom_welcome_text(template, store_name=name), notify=True)


def request_syncs(template: GroupTemplate) -> int:
    """Queue a welcome-template sync on every WeCom app of the template's brand (in the caller's
    transaction); returns how many were queued."""
    connectors = staff_messages.wecom_connectors(template.brand_id)
    for connector in connectors:
        staff_messages.request_welcome_sync(connector, template.pk)
    return len(connectors)
