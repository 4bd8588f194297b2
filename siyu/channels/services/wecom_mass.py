"""Reading back WeCom mass messages (群发) to groups: what each group really got, reminders, cancellation.

``read_back_mass_tasks`` (a periodic job) looks at every open ``WeComMassTask``:

- ``get_groupmsg_task`` says whether the sender (the groups' owner) has sent it (status 2); once sent,
  ``get_groupmsg_send_result`` gives each group's outcome (1 sent with ``send_time``, 2 not a friend, 3
  already received another mass message), following ``next_cursor`` to the end. Final outcomes go up through
  ``hooks.mass_results`` (communities records them per group); a task whose groups all have one is done.
- Unsent, the owner is reminded with ``remind_groupmsg_send`` after ``REMIND_AFTER`` (1 h, 4 h, 12 h: at most
  3 per message, within WeCom's 3 per 24 h); each reminder is claimed by one conditional UPDATE of
  ``reminders`` (and a check constraint ≤ 3), then sent through the outbox (action ``mass_remind``).
- Past ``cancel_at`` (the connector's ``mass_cancel_hours``, default 24 h, or earlier when a post in it
  expires) the task is closed by one conditional UPDATE, ``cancel_groupmsg_send`` is queued (action
  ``mass_cancel``), and the groups that did not get it are reported ``expired``.

Reads are plain API calls outside any transaction (not outbox actions: they change nothing at WeCom).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from siyu.channels import hooks
from siyu.channels.connectors.base import ChannelError
from siyu.channels.connectors.wecom import WeComConnector
from siyu.channels.models import WeComMassTask
from siyu.channels.services import outbox

logger = logging.getLogger("siyu.channels.wecom_mass")

REMIND_AFTER = (timedelta(hours=1), timedelta(hours=4), timedelta(hours=12))
READ_BATCH = 200
SENT_BY_SENDER = 2  # get_groupmsg_task: 0 not sent, 2 sent
FINAL = frozenset({1, 2, 3})  # get_groupmsg_send_result: 1 sent, 2 not a friend, 3 already received one


def read_back_mass_tasks(now: datetime | None = None) -> int:
    """Periodic job: read back, remind or cancel every open mass task (oldest read first); returns how many
    were looked at. A task WeCom will not answer for now is skipped and tried on the next run."""
    now = now or timezone.now()
    tasks = list(
        WeComMassTask.objects.filter(status=WeComMassTask.Status.OPEN)
        .select_related("connector")
        .order_by(F("last_read_at").asc(nulls_first=True), "id")[:READ_BATCH]
    )
    for task in tasks:
        try:
            read_back(task, now=now)
        except ChannelError as exc:
            logger.warning("mass task %s not read back: %s", task.msgid, exc)
    return len(tasks)


def _when(value: Any) -> datetime | None:
    try:
        seconds = int(value or 0)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds > 0 else None


def read_results(task: WeComMassTask) -> dict[str, hooks.MassChatResult]:
    """The groups of ``task`` with a final outcome, as WeCom reports them now (calls WeCom)."""
    impl = WeComConnector(task.connector)
    senders = impl.get_groupmsg_task(task.msgid)
    if not any(
        str(s.get("userid") or "") == task.sender and int(s.get("status") or 0) == SENT_BY_SENDER
        for s in senders
    ):
        return {}
    ours = set(task.chat_ids)
    out: dict[str, hooks.MassChatResult] = {}
    for item in impl.get_groupmsg_send_result(task.msgid, task.sender):
        chat_id = str(item.get("chat_id") or "")
        status = int(item.get("status") or 0)
        if chat_id in ours and status in FINAL:
            out[chat_id] = hooks.MassChatResult(
                chat_id=chat_id,
                status=status,
                send_time=_when(item.get("send_time")) if status == 1 else None,
            )
    return out


def read_back(task: WeComMassTask, *, now: datetime | None = None) -> WeComMassTask:
    """One task: read its outcome, report it, then close, cancel or remind as due (see the module)."""
    now = now or timezone.now()
    results = read_results(task)
    pending = [c for c in task.chat_ids if c not in results]
    with transaction.atomic():
        WeComMassTask.objects.filter(pk=task.pk).update(last_read_at=now)
        if results:
            _report(task, list(results.values()))
        if not pending:
            WeComMassTask.objects.filter(pk=task.pk, status=WeComMassTask.Status.OPEN).update(
                status=WeComMassTask.Status.DONE, closed_at=now
            )
        elif now >= task.cancel_at:
            _cancel(task, pending, now)
        else:
            _maybe_remind(task, now)
    task.refresh_from_db()
    return task


def _report(task: WeComMassTask, chats: list[hooks.MassChatResult]) -> None:
    hooks.mass_results.send(
        hooks.MassResults(connector=task.connector, msgid=task.msgid, sender=task.sender, chats=tuple(chats))
    )


def _cancel(task: WeComMassTask, pending: list[str], now: datetime) -> None:
    closed = WeComMassTask.objects.filter(pk=task.pk, status=WeComMassTask.Status.OPEN).update(
        status=WeComMassTask.Status.CANCELLED, closed_at=now
    )
    if not closed:
        return  # another reader closed it
    outbox.enqueue(
        task.connector,
        "mass_cancel",
        {"msgid": task.msgid},
        bucket=f"api:{task.connector_id}",
        idempotency_key=f"mass-cancel:{task.pk}",
    )
    _report(task, [hooks.MassChatResult(chat_id=c, status=0, expired=True) for c in pending])


def _maybe_remind(task: WeComMassTask, now: datetime) -> None:
    n = task.reminders
    if n >= min(WeComMassTask.MAX_REMINDERS, len(REMIND_AFTER)) or now < task.created_at + REMIND_AFTER[n]:
        return
    claimed = WeComMassTask.objects.filter(pk=task.pk, status=WeComMassTask.Status.OPEN, reminders=n).update(
        reminders=n + 1, last_reminded_at=now
    )
    if not claimed:
        return
    outbox.enqueue(
        task.connector,
        "mass_remind",
        {"msgid": task.msgid},
        bucket=f"api:{task.connector_id}",
        idempotency_key=f"mass-remind:{task.pk}:{n + 1}",
    )
