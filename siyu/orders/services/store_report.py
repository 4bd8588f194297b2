"""A store's daily summary and alerts, posted by the robot of the store's INTERNAL staff group.

Robots cannot join customer groups (``/work/shared/specs/wecom.md``); a store may give Siyu the webhook key of
the robot in its own staff group (console → Stores → Staff group robot, ``channels.StoreRobot``). Two jobs
use it:

- ``post_daily_summaries`` (``store-robot-summary``): at the store's configured local time (default 21:00,
  Asia/Shanghai) one markdown message with today's new members, paid orders, pickups, takings (GMV, in
  yuan) and open tasks. Exactly once per store and day (``claim_daily_summary``: a conditional UPDATE).
- ``post_alerts`` (``store-robot-alerts``): channel calls for the store's groups that failed for good since
  the last alert (a mark advanced by a conditional UPDATE, so each failure is told once), and live codes
  whose groups are all full (once per day and set of codes).

Posts go through the outbox (``staff_robot_post``, the robot's own key, 20 messages a minute per robot) and
only to that key. Lives in orders because it is the lowest app that sees orders, members and communities.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from siyu.channels.services import staff_messages
from siyu.common.validators import fen_to_yuan
from siyu.communities.services import store_status
from siyu.members.models import Member
from siyu.orders.models import Order, OrderStatus, OrderTransition
from siyu.org.models import Store

logger = logging.getLogger("siyu.orders.store_report")

PAID_STATUSES = (OrderStatus.PAID, OrderStatus.READY, OrderStatus.PICKED_UP)


def _day_bounds(now: datetime) -> tuple[datetime, datetime]:
    local = timezone.localtime(now)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def summary_markdown(store: Store, now: datetime) -> str:
    """Today's figures of ``store`` (local day up to ``now``) as robot markdown, in the brand's language."""
    start, _end = _day_bounds(now)
    new_members = Member.objects.filter(home_store=store, joined_at__gte=start, joined_at__lte=now).count()
    paid = Order.objects.filter(store=store, paid_at__gte=start, paid_at__lte=now, status__in=PAID_STATUSES)
    orders = paid.count()
    gmv = paid.aggregate(total=Sum("total_fen"))["total"] or 0
    pickups = (
        OrderTransition.objects.filter(
            order__store=store, to_status=OrderStatus.PICKED_UP, created_at__gte=start, created_at__lte=now
        )
        .values("order_id")
        .distinct()
        .count()
    )
    tasks = store_status.open_task_count(store.pk)
    with override(settings.LANGUAGE_CODE):
        lines = [
            "**"
            + _("%(store)s · daily summary for %(date)s")
            % {"store": store.name, "date": timezone.localtime(now).strftime("%Y-%m-%d")}
            + "**",
            "> " + _("New members: %(count)s") % {"count": new_members},
            "> "
            + _("Paid orders: %(count)s, takings ¥%(yuan)s") % {"count": orders, "yuan": fen_to_yuan(gmv)},
            "> " + _("Picked up: %(count)s") % {"count": pickups},
            "> " + _("Open tasks: %(count)s") % {"count": tasks},
        ]
    return "\n".join(lines)


def post_daily_summaries(now: datetime | None = None) -> int:
    """Post today's summary for every store robot whose local summary time has come; returns how many."""
    now = now or timezone.now()
    local = timezone.localtime(now)
    posted = 0
    for target in staff_messages.robot_targets():
        robot = target.robot
        if local.time() < robot.summary_at:
            continue
        with transaction.atomic():
            if not staff_messages.claim_daily_summary(robot, local.date()):
                continue
            staff_messages.post_to_store_robot(
                target,
                {"markdown": summary_markdown(robot.store, now)},
                key=f"robot-summary:{robot.store_id}:{local.date().isoformat()}",
            )
        posted += 1
    return posted


def _alert_lines(target: staff_messages.RobotTarget, now: datetime) -> tuple[list[str], int, str]:
    """(lines, highest failed outbox id told, key part for live codes) of the alerts due for one robot."""
    robot = target.robot
    lines: list[str] = []
    failed = staff_messages.failed_calls_since(
        target.connector, robot.alerted_outbox_id, store_status.community_ids(robot.store_id)
    )
    upto = max([row.pk for row in failed], default=robot.alerted_outbox_id)
    with override(settings.LANGUAGE_CODE):
        if failed:
            lines.append(
                _(
                    "%(count)s message(s) to your groups could not be delivered; "
                    "see Background work in the console."
                )
                % {"count": len(failed)}
            )
        codes = store_status.live_codes_without_room(robot.store_id)
        if codes:
            names = "、".join(code.name for code in codes[:5])
            lines.append(
                _("These live codes have no group with room; open a new group: %(names)s") % {"names": names}
            )
    code_key = hashlib.sha256(",".join(str(c.pk) for c in codes).encode()).hexdigest()[:12] if codes else ""
    return lines, upto, code_key


def post_alerts(now: datetime | None = None) -> int:
    """Post what went wrong in each store with a robot that wants alerts; each failure told once, each set
    of full live codes once a day. Returns how many alerts were queued."""
    now = now or timezone.now()
    day = timezone.localtime(now).date().isoformat()
    posted = 0
    for target in staff_messages.robot_targets():
        robot = target.robot
        if not robot.alerts:
            continue
        lines, upto, code_key = _alert_lines(target, now)
        key = f"robot-alert:{robot.store_id}:{day}:{upto}:{code_key}"
        if not lines or staff_messages.already_queued(key):
            continue
        with transaction.atomic():
            if upto > robot.alerted_outbox_id and not staff_messages.claim_alerts(
                robot, upto_outbox_id=upto, now=now
            ):
                continue  # another run told these failures
            with override(settings.LANGUAGE_CODE):
                text = _("Alert for %(store)s:") % {"store": robot.store.name} + "\n" + "\n".join(lines)
            staff_messages.post_to_store_robot(target, {"text": text}, key=key)
        posted += 1
    return posted
