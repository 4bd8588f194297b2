"""Tasks that need a human, raised where Siyu cannot act, and pushed to the staff's WeCom as app messages.

Raising:
- ``raise_send_post_tasks``: a group with posts waiting for staff (``GroupDelivery`` ``waiting_staff``) gets
  one SEND_POST task for its staff — one per group while it is open, and at most one per group per hour (the
  next one is keyed to the one before, a unique ``dedup_key``). A SEND_POST task whose group has nothing
  waiting any more is closed.
- ``ask_owner_to_confirm_mass`` (for the mass-message batcher): one CONFIRM_MASS task per mass message and
  owner; ``mass_message_settled`` closes it.
- CREATE_GROUP (``matrix.open_group``) and REMOVE_MEMBER (``sanctions.remove_from_group``) as before.

Pushing (``push_due_tasks``, the ``staff-task-push`` periodic job): every open task not yet pushed (created in
the last day) of a store with a WeCom app goes to its people's WeCom — the assignee; else, for a group's task,
the group's staff; else the store's staff; for CONFIRM_MASS, the group owner — as a textcard linking to the
console. Guarantees:
- a task is pushed at most once ever: it is claimed by one conditional UPDATE (``pushed_at IS NULL`` →
  now, with a batch id), inside the transaction that queues its messages;
- per-member limits (``staff_messages.app_message_room``) are checked under a lock on the WeCom app before
  anything is queued; a task waits (unclaimed) while one of its people has no room left;
- a member with more than ``SIYU_STAFF_PUSH_DIGEST_OVER`` (3) new tasks in one run — or more than their room —
  gets ONE digest ("You have 40 new tasks") instead of a card per task;
- staff without a WeCom user id, and stores without a WeCom app (with its AgentId), get nothing pushed; the
  console still lists their tasks.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Min, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, override

from siyu.channels.models import Connector
from siyu.channels.services import staff_messages
from siyu.communities.models import Community, CommunityMembership, GroupDelivery, StaffTask
from siyu.org.models import Role, Staff, Store

logger = logging.getLogger("siyu.communities.staff_push")

PUSH_WINDOW = timedelta(hours=24)
SEND_POST_EVERY = timedelta(hours=1)
DIGEST_OVER = 3
DIGEST_TITLES = 3
STORE_ROLES = (Role.STORE_MANAGER, Role.CLERK)


def digest_over() -> int:
    return int(getattr(settings, "SIYU_STAFF_PUSH_DIGEST_OVER", DIGEST_OVER))


# --- raising tasks ---------------------------------------------------------------------------------------


def _local_hm(value: datetime) -> str:
    return timezone.localtime(value).strftime("%H:%M")


def raise_send_post_tasks(now: datetime | None = None) -> int:
    """Give each group with posts waiting for staff one SEND_POST task (coalesced); close those whose group
    has nothing waiting. Returns how many tasks were created."""
    now = now or timezone.now()
    waiting = (
        GroupDelivery.objects.filter(status=GroupDelivery.Status.WAITING_STAFF)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .values("community_id")
        .annotate(count=Count("id"), first=Min("created_at"))
    )
    by_group = {row["community_id"]: row for row in waiting}
    StaffTask.objects.filter(kind=StaffTask.Kind.SEND_POST, status=StaffTask.Status.OPEN).exclude(
        community_id__in=list(by_group)
    ).update(status=StaffTask.Status.DONE, done_at=now)
    if not by_group:
        return 0
    last: dict[int, StaffTask] = {}
    for task in StaffTask.objects.filter(
        kind=StaffTask.Kind.SEND_POST, community_id__in=list(by_group)
    ).order_by("id"):
        last[task.community_id] = task  # type: ignore[index]
    created = 0
    communities = Community.objects.select_related("store").in_bulk(list(by_group))
    for community_id, row in by_group.items():
        previous = last.get(community_id)
        if previous is not None and (
            previous.status == StaffTask.Status.OPEN or previous.created_at > now - SEND_POST_EVERY
        ):
            continue
        community = communities.get(community_id)
        if community is None:
            continue
        with override(settings.LANGUAGE_CODE):
            if row["count"] == 1:
                title = _("Send the %(time)s post into %(group)s") % {
                    "time": _local_hm(row["first"]),
                    "group": community.name,
                }
            else:
                title = _("Send %(count)s waiting posts into %(group)s (the first from %(time)s)") % {
                    "count": row["count"],
                    "group": community.name,
                    "time": _local_hm(row["first"]),
                }
        try:
            with transaction.atomic():
                StaffTask.objects.create(
                    store_id=community.store_id,
                    community=community,
                    kind=StaffTask.Kind.SEND_POST,
                    title=title[:200],
                    payload={
                        "community_id": community.pk,
                        "chat_id": community.external_id,
                        "posts": row["count"],
                    },
                    # One successor per task: two runs never both open the next one.
                    dedup_key=f"send_post:{community.pk}:after:{previous.pk if previous else 0}",
                )
        except IntegrityError:
            continue
        created += 1
    return created


def ask_owner_to_confirm_mass(
    *, store_id: int, owner_userid: str, msgid: str, group_count: int, community_id: int | None = None
) -> StaffTask:
    """A CONFIRM_MASS task for the WeCom user ``owner_userid`` who must confirm mass message ``msgid`` to
    ``group_count`` groups in 群发助手 (for the mass-message batcher, called in its transaction).

    Guarantees: one task per (msgid, owner) whatever the number of calls (unique ``dedup_key``); assigned to
    the staff member with that WeCom user id when Siyu knows them; pushed only to that owner."""
    key = f"confirm_mass:{msgid}:{owner_userid}"[:120]
    existing = StaffTask.objects.filter(dedup_key=key).first()
    if existing is not None:
        return existing
    store = Store.objects.get(pk=store_id)
    owner = Staff.objects.filter(brand_id=store.brand_id, wecom_userid=owner_userid, is_active=True).first()
    with override(settings.LANGUAGE_CODE):
        title = ngettext(
            "Confirm the mass message to %(count)s group in WeCom's mass message assistant",
            "Confirm the mass message to %(count)s groups in WeCom's mass message assistant",
            group_count,
        ) % {"count": group_count}
    try:
        with transaction.atomic():
            return StaffTask.objects.create(
                store_id=store_id,
                community_id=community_id,
                kind=StaffTask.Kind.CONFIRM_MASS,
                title=title[:200],
                payload={"owner_userid": owner_userid, "msgid": msgid, "groups": group_count},
                assignee=owner,
                dedup_key=key,
            )
    except IntegrityError:
        return StaffTask.objects.get(dedup_key=key)


def mass_message_settled(msgid: str) -> int:
    """Close the open CONFIRM_MASS tasks of ``msgid`` (confirmed by the owner, cancelled or expired)."""
    return StaffTask.objects.filter(
        kind=StaffTask.Kind.CONFIRM_MASS, status=StaffTask.Status.OPEN, payload__msgid=msgid
    ).update(status=StaffTask.Status.DONE, done_at=timezone.now())


# --- pushing ----------------------------------------------------------------------------------------------


def _absolute(path: str) -> str:
    base = (getattr(settings, "SIYU_PUBLIC_URL", "") or "").rstrip("/")
    return base + path


def task_url(task: StaffTask) -> str:
    """Where a task's card leads: posts waiting for staff open the sidebar on that group; anything else the
    console's task list."""
    if task.kind == StaffTask.Kind.SEND_POST and task.community_id:
        return _absolute(reverse("console:sidebar_group", args=[task.community_id]))
    return _absolute(reverse("console:staff_tasks"))


def staff_home_url() -> str:
    return _absolute(reverse("console:dashboard"))


def _recipients(tasks: list[StaffTask], brand_ids: set[int]) -> dict[int, list[str]]:
    """WeCom user ids each task goes to (empty: nobody can get it)."""
    store_ids = {t.store_id for t in tasks}
    community_ids = {t.community_id for t in tasks if t.community_id}
    store_staff: dict[int, list[str]] = defaultdict(list)
    for store_id, userid in (
        Staff.stores.through.objects.filter(
            store_id__in=store_ids, staff__is_active=True, staff__role__in=STORE_ROLES
        )
        .exclude(staff__wecom_userid="")
        .values_list("store_id", "staff__wecom_userid")
        .order_by("staff_id")
    ):
        store_staff[store_id].append(userid)
    group_staff: dict[int, list[str]] = defaultdict(list)
    for community_id, userid in (
        CommunityMembership.objects.filter(
            community_id__in=community_ids,
            status=CommunityMembership.Status.ACTIVE,
            staff__isnull=False,
            staff__is_active=True,
        )
        .exclude(staff__wecom_userid="")
        .values_list("community_id", "staff__wecom_userid")
        .order_by("staff_id")
    ):
        group_staff[community_id].append(userid)
    out: dict[int, list[str]] = {}
    for task in tasks:
        if task.kind == StaffTask.Kind.CONFIRM_MASS:
            owner = str((task.payload or {}).get("owner_userid") or "")
            people = (
                [owner]
                if owner
                and Staff.objects.filter(brand_id__in=brand_ids, wecom_userid=owner, is_active=True).exists()
                else []
            )
        elif task.assignee is not None:
            people = (
                [task.assignee.wecom_userid] if task.assignee.wecom_userid and task.assignee.is_active else []
            )
        elif task.community_id and group_staff.get(task.community_id):
            people = group_staff[task.community_id]
        else:
            people = store_staff.get(task.store_id, [])
        out[task.pk] = sorted(set(people))
    return out


def _task_card(task: StaffTask) -> dict[str, Any]:
    with override(settings.LANGUAGE_CODE):
        store = task.store.name
        group = task.community.name if task.community else ""
        description = " · ".join(str(x) for x in (store, group, StaffTask.Kind(task.kind).label) if x)
        return {
            "title": task.title,
            "description": str(description),
            "url": task_url(task),
            "btntxt": _("Open"),
        }


def _digest_card(count: int, titles: list[str]) -> dict[str, Any]:
    with override(settings.LANGUAGE_CODE):
        title = ngettext("You have %(count)s new task", "You have %(count)s new tasks", count) % {
            "count": count
        }
        shown = "\n".join(titles[:DIGEST_TITLES])
        if count > DIGEST_TITLES:
            shown += "\n" + _("…and %(more)s more") % {"more": count - DIGEST_TITLES}
        return {"title": title, "description": shown, "url": staff_home_url(), "btntxt": _("Open")}


def _due(now: datetime, store_ids: list[int]) -> list[StaffTask]:
    return list(
        StaffTask.objects.filter(
            status=StaffTask.Status.OPEN,
            pushed_at__isnull=True,
            created_at__gte=now - PUSH_WINDOW,
            store_id__in=store_ids,
        )
        .select_related("store", "community", "assignee")
        .order_by("created_at", "id")
    )


def push_due_tasks(now: datetime | None = None) -> int:
    """Raise SEND_POST tasks, then push every due task once (see the module docstring). Returns how many
    app messages were queued."""
    now = now or timezone.now()
    raise_send_post_tasks(now)
    store_ids = list(
        StaffTask.objects.filter(
            status=StaffTask.Status.OPEN, pushed_at__isnull=True, created_at__gte=now - PUSH_WINDOW
        )
        .values_list("store_id", flat=True)
        .distinct()
    )
    if not store_ids:
        return 0
    by_connector: dict[int, tuple[Connector, list[int]]] = {}
    for store in Store.objects.filter(pk__in=store_ids):
        connector = staff_messages.wecom_connector_for_store(store)
        if not staff_messages.can_message_staff(connector):
            continue
        assert connector is not None
        by_connector.setdefault(connector.pk, (connector, []))[1].append(store.pk)
    queued = 0
    for connector, stores in by_connector.values():
        queued += _push_for_connector(connector, stores, now)
    return queued


@transaction.atomic
def _push_for_connector(connector: Connector, store_ids: list[int], now: datetime) -> int:
    staff_messages.lock_app_messages(connector)
    tasks = _due(now, store_ids)
    people = _recipients(tasks, {connector.brand_id})
    tasks = [t for t in tasks if people.get(t.pk)]
    if not tasks:
        return 0
    room = staff_messages.app_message_room(
        connector, sorted({u for t in tasks for u in people[t.pk]}), now=now
    )
    # A task whose people include someone with no room left waits for the next run.
    ready = [t for t in tasks if all(room[u] > 0 for u in people[t.pk])]
    if not ready:
        return 0
    batch = uuid.uuid4()
    StaffTask.objects.filter(pk__in=[t.pk for t in ready], pushed_at__isnull=True).update(
        pushed_at=now, push_batch=batch
    )
    claimed_ids = set(StaffTask.objects.filter(push_batch=batch).values_list("pk", flat=True))
    claimed = [t for t in ready if t.pk in claimed_ids]
    per_user: dict[str, list[StaffTask]] = defaultdict(list)
    for task in claimed:
        for userid in people[task.pk]:
            per_user[userid].append(task)
    digest_users = {u for u, ts in per_user.items() if len(ts) > digest_over() or len(ts) > room[u]}
    queued = 0
    for userid in sorted(digest_users):
        ts = per_user[userid]
        staff_messages.queue_app_message(
            connector,
            [userid],
            _digest_card(len(ts), [t.title for t in ts]),
            key=f"task-digest:{batch}:{userid}"[:128],
            digest=True,
            now=now,
        )
        queued += 1
    for task in claimed:
        users = [u for u in people[task.pk] if u not in digest_users]
        if users:
            staff_messages.queue_app_message(
                connector, users, _task_card(task), key=f"task-push:{task.pk}", now=now
            )
            queued += 1
    logger.info("pushed %s tasks in %s app messages (connector %s)", len(claimed), queued, connector.pk)
    return queued
