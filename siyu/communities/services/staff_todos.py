"""Staff tasks: work a channel cannot do by API (create a WeCom group, remove a member), done by hand.

Store roles see and complete only their stores' tasks; another store's task looks like it does not exist.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict, NotFound
from siyu.communities.models import StaffTask
from siyu.communities.services.queries import parse_id, scoped_tasks
from siyu.org.models import Staff
from siyu.org.services.access import store_scope
from siyu.org.services.audit import record_audit


def open_tasks(staff: Staff, store_id: Any = None) -> QuerySet[StaffTask]:
    """Open tasks of the stores ``staff`` may see (optionally one store: NotFound when outside the
    scope), oldest first, so the longest-waiting work is at the top."""
    qs = scoped_tasks(staff).filter(status=StaffTask.Status.OPEN)
    if store_id not in (None, ""):
        pk = parse_id(store_id, "store", _("No such store."))
        scope = store_scope(staff)
        if scope is not None and pk not in scope:
            raise NotFound(_("No such store."), field="store")
        qs = qs.filter(store_id=pk)
    return qs.order_by("created_at", "id")


def get_task(staff: Staff, task_id: Any) -> StaffTask:
    """One task of a store ``staff`` may see; NotFound otherwise."""
    pk = parse_id(task_id, "task", _("No such task."))
    task = scoped_tasks(staff).filter(pk=pk).first()
    if task is None:
        raise NotFound(_("No such task."), field="task")
    return task


@transaction.atomic
def complete_task(staff: Staff, task_id: Any, *, ip: str | None = None) -> StaffTask:
    """Mark a task of one of ``staff``'s stores done, audited in the same transaction.

    Completing a task that is already done changes nothing and returns it (a double tap is harmless);
    a cancelled task cannot be completed (Conflict).
    """
    task = get_task(staff, task_id)
    task = StaffTask.objects.select_for_update().get(pk=task.pk)
    if task.status == StaffTask.Status.DONE:
        return task
    if task.status != StaffTask.Status.OPEN:
        raise Conflict(_("This task was cancelled."), field="task")
    task.status = StaffTask.Status.DONE
    task.done_at = timezone.now()
    task.done_by = staff
    task.save(update_fields=["status", "done_at", "done_by"])
    record_audit(
        staff,
        "task.done",
        target_type="staff_task",
        target_id=task.pk,
        store_id=task.store_id,
        detail={"kind": task.kind, "community": task.community_id},
        ip=ip,
    )
    return task
