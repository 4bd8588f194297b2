"""Audit log actions as sentences a person reads, in the request's language.

One table maps each action code (``record_audit``'s ``action``) to a sentence about the target; values from
the entry (target id, detail fields) fill it. An unknown action gets a generic sentence built from the
code's words, never raw JSON. The audit page shows the sentence; the stored detail stays for export.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from siyu.org.models import AuditEntry

# (full sentence, short sentence): the full one is filled from the entry; the short one when a value lacks.
AUDIT_SENTENCES: dict[str, tuple[Promise, Promise | None]] = {
    "member.create": (gettext_lazy("Created member #%(target)s"), None),
    "member.update": (gettext_lazy("Edited the profile of member #%(target)s"), None),
    "member.tag": (gettext_lazy("Tagged member #%(target)s"), None),
    "member.untag": (gettext_lazy("Removed a tag from member #%(target)s"), None),
    "member.note": (gettext_lazy("Added a note to member #%(target)s"), None),
    "member.reveal_mobile": (gettext_lazy("Revealed the mobile number of member #%(target)s"), None),
    "member.export": (gettext_lazy("Exported the data of member #%(target)s"), None),
    "member.export_list": (gettext_lazy("Exported a member list"), None),
    "member.erase": (gettext_lazy("Erased the personal data of member #%(target)s"), None),
    "member.import": (gettext_lazy("Imported a member file"), None),
    "member.consent_granted": (gettext_lazy("Recorded consent for member #%(target)s"), None),
    "member.consent_withdrawn": (gettext_lazy("Recorded withdrawn consent for member #%(target)s"), None),
    "tag.create": (gettext_lazy("Created a tag"), None),
    "tag.recompute": (gettext_lazy("Recomputed a rule tag"), None),
    "store.create": (gettext_lazy("Created store %(code)s %(name)s"), gettext_lazy("Created a store")),
    "store.update": (gettext_lazy("Changed store #%(target)s: %(changes)s"), gettext_lazy("Changed a store")),
    "staff.create": (
        gettext_lazy("Created staff account %(username)s"),
        gettext_lazy("Created a staff account"),
    ),
    "staff.update": (
        gettext_lazy("Changed staff account #%(target)s: %(changes)s"),
        gettext_lazy("Changed a staff account"),
    ),
    "staff.password_reset": (gettext_lazy("Reset the password of staff account #%(target)s"), None),
    "token.create": (gettext_lazy("Created an API token"), None),
    "token.revoke": (gettext_lazy("Revoked an API token"), None),
    "group_template.create": (
        gettext_lazy("Created group template %(name)s"),
        gettext_lazy("Created a group template"),
    ),
    "group_template.update": (
        gettext_lazy("Changed group template #%(target)s: %(changes)s"),
        gettext_lazy("Changed a group template"),
    ),
    "community.open": (gettext_lazy("Opened group #%(target)s"), None),
    "community.announce": (gettext_lazy("Posted an announcement in group #%(target)s"), None),
    "community.staff_post": (gettext_lazy("Posted in group #%(target)s"), None),
    "community.schedule_post": (gettext_lazy("Scheduled a post in group #%(target)s"), None),
    "community.remove_member": (gettext_lazy("Removed a member from group #%(target)s"), None),
    "community.leave_member": (gettext_lazy("A member left group #%(target)s"), None),
    "live_code.create": (gettext_lazy("Created a live code"), None),
    "join_request.approve": (gettext_lazy("Approved a join request"), None),
    "join_request.reject": (gettext_lazy("Rejected a join request"), None),
    "hygiene.promote_vip": (gettext_lazy("Moved active members to a VIP group"), None),
    "hygiene.remove_inactive": (gettext_lazy("Removed inactive members from a group"), None),
    "task.done": (gettext_lazy("Marked a staff task done"), None),
    "store_robot.set": (gettext_lazy("Set the staff group robot of a store"), None),
    "store_robot.remove": (gettext_lazy("Removed the staff group robot of a store"), None),
    "moderation.override": (gettext_lazy("Overrode a moderation action"), None),
    "moderation.appeal_reviewed": (gettext_lazy("Reviewed a moderation appeal"), None),
    "moderation.policy_set": (gettext_lazy("Changed the group rules"), None),
    "moderation.policy_cleared": (gettext_lazy("Reset a group's rules to the brand default"), None),
    "blocklist.add": (gettext_lazy("Blocked a member"), None),
    "blocklist.remove": (gettext_lazy("Unblocked a member"), None),
    "category.create": (gettext_lazy("Created a product category"), None),
    "product.create": (gettext_lazy("Created product #%(target)s"), None),
    "product.update": (gettext_lazy("Changed product #%(target)s"), None),
    "product.publish": (gettext_lazy("Published product #%(target)s to stores"), None),
    "product.withdraw": (gettext_lazy("Withdrew product #%(target)s from a store"), None),
    "product.card_posted": (gettext_lazy("Posted product #%(target)s to groups"), None),
    "sku.create": (gettext_lazy("Added a SKU"), None),
    "sku.update": (gettext_lazy("Changed a SKU"), None),
    "listing.list": (gettext_lazy("Put a product on sale at a store"), None),
    "listing.delist": (gettext_lazy("Took a product off sale at a store"), None),
    "order.ready": (gettext_lazy("Marked order #%(target)s ready for pickup"), None),
    "order.pickup": (gettext_lazy("Handed over order #%(target)s"), None),
    "order.pickup_refused": (gettext_lazy("Refused a pickup code"), None),
    "order.cancel": (gettext_lazy("Cancelled order #%(target)s"), None),
    "order.refund": (gettext_lazy("Refunded order #%(target)s"), None),
    "order.auto_refund": (gettext_lazy("Order #%(target)s was refunded automatically"), None),
    "campaign.create": (gettext_lazy("Created campaign #%(target)s"), None),
    "campaign.update": (gettext_lazy("Changed campaign #%(target)s"), None),
    "campaign.publish": (gettext_lazy("Published campaign #%(target)s"), None),
    "campaign.cancel": (gettext_lazy("Cancelled campaign #%(target)s"), None),
    "incentives.rule_created": (
        gettext_lazy("Created staff reward rule %(name)s"),
        gettext_lazy("Created a staff reward rule"),
    ),
    "incentives.rule_switched": (gettext_lazy("Switched staff reward rule #%(target)s on or off"), None),
    "incentives.statements_generated": (
        gettext_lazy("Brought the staff reward statements of %(target)s up to date"),
        None,
    ),
    "incentives.statement_approved": (
        gettext_lazy("Approved staff reward statement #%(target)s (%(month)s)"),
        gettext_lazy("Approved a staff reward statement"),
    ),
    "incentives.store_approved": (
        gettext_lazy("Approved %(statements)s staff reward statements of store #%(target)s (%(month)s)"),
        gettext_lazy("Approved a store's staff reward statements"),
    ),
}


def readable_code(code: str) -> str:
    """``staff.password_reset`` → ``staff · password reset``."""
    return " · ".join(part.replace("_", " ") for part in str(code).split(".") if part) or "?"


def _context(target_id: str, detail: Mapping[str, Any]) -> dict[str, str]:
    context = {"target": str(target_id or "?")}
    for key, value in detail.items():
        if isinstance(value, str | int) and not isinstance(value, bool):
            context[key] = str(value)
    changes = detail.get("changes")
    if isinstance(changes, Mapping) and changes:
        context["changes"] = ", ".join(str(k) for k in sorted(changes))
    elif detail.get("password_changed") is True:
        context["changes"] = _("password")
    return context


def describe_action(action: str, target_id: str = "", detail: Mapping[str, Any] | None = None) -> str:
    """The sentence for an audit action (never raises, never shows JSON)."""
    entry = AUDIT_SENTENCES.get(action)
    if entry is None:
        return _("Action: %(what)s") % {"what": readable_code(action)}
    full, short = entry
    context = _context(target_id, detail if isinstance(detail, Mapping) else {})
    try:
        return str(full) % context if "%(" in str(full) else str(full)
    except (KeyError, ValueError, TypeError):
        return str(short) if short is not None else readable_code(action)


def describe_entry(entry: AuditEntry) -> str:
    return describe_action(entry.action, entry.target_id, entry.detail)
