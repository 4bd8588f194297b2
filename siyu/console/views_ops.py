"""The console's background-work page (HQ): each periodic job's last run and whether it is overdue, the
flash-sale write-behind backlog and failed channel calls — in sentences, in Asia/Shanghai time."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET

from siyu.campaigns.services.flash_backlog import SaleBacklog, write_behind_backlog
from siyu.channels.services import outbox
from siyu.common.periodic import JobStatus, job_statuses

from .helpers import console_view, current_staff

# What each periodic job does, for people (``siyu/common/periodic.py`` JOBS).
JOB_LABELS = {
    "event-posts": (
        gettext_lazy("Event posts"),
        gettext_lazy("Posts in-store event cards and sign-up progress into the stores' groups."),
    ),
    "outbox": (
        gettext_lazy("Channel calls"),
        gettext_lazy("Sends WeCom and Telegram calls that wait for their rate limit or a retry."),
    ),
    "scheduled-posts": (
        gettext_lazy("Scheduled announcements"),
        gettext_lazy("Posts the announcements staff scheduled for later."),
    ),
    "wecom-events": (
        gettext_lazy("WeCom callbacks"),
        gettext_lazy("Retries WeCom callbacks whose handling failed, for a day."),
    ),
    "order-expiry": (
        gettext_lazy("Unpaid order expiry"),
        gettext_lazy("Closes unpaid orders past their deadline and gives their stock back."),
    ),
    "order-late-refunds": (
        gettext_lazy("Late payment refunds"),
        gettext_lazy("Refunds payments that arrived after their order had closed."),
    ),
    "flash-writer": (
        gettext_lazy("Flash-sale order writer"),
        gettext_lazy("Turns purchases admitted in Redis into orders in the database."),
    ),
    "flash-relay": (
        gettext_lazy("Flash-sale 接龙 relay"),
        gettext_lazy("Posts new buyers' lines into the sale's groups."),
    ),
    "campaign-posts": (
        gettext_lazy("Campaign posts"),
        gettext_lazy("Posts flash-sale warm-ups and starts into groups when they are due."),
    ),
    "group-buy-deadlines": (
        gettext_lazy("Group-buy deadlines"),
        gettext_lazy("Fails teams that did not form in time, cancelling and refunding their orders."),
    ),
    "recharge-slot-deadlines": (
        gettext_lazy("Recharge-slot deadlines"),
        gettext_lazy("Refunds or keeps the deposits of recharge slots not used by their deadline."),
    ),
    "points-expiry": (
        gettext_lazy("Points expiry"),
        gettext_lazy("Writes off members' points that have passed their expiry date."),
    ),
    "staff-task-push": (
        gettext_lazy("Tasks pushed to staff"),
        gettext_lazy("Sends new staff tasks to the staff's WeCom, with a digest instead of a flood."),
    ),
    "store-robot-summary": (
        gettext_lazy("Store daily summaries"),
        gettext_lazy("Posts each store's daily figures into its staff group through the store's robot."),
    ),
    "store-robot-alerts": (
        gettext_lazy("Store alerts"),
        gettext_lazy("Tells a store's staff group about failed channel calls and full live codes."),
    ),
    "wecom-mass-batch": (
        gettext_lazy("WeCom mass messages"),
        gettext_lazy("Gathers posts that can wait into each group owner's next mass message, within quota."),
    ),
    "wecom-mass-readback": (
        gettext_lazy("WeCom mass-message results"),
        gettext_lazy("Reads back which groups got each mass message, reminds owners and cancels stale ones."),
    ),
    "loyalty-tiers": (
        gettext_lazy("Member tiers"),
        gettext_lazy("Promotes and downgrades members by the points they earned in the last 12 months."),
    ),
    "loyalty-birthdays": (
        gettext_lazy("Birthday coupons"),
        gettext_lazy("Gives members whose tier includes it their birthday coupon, once a year."),
    ),
    "stored-value-bonus-expiry": (
        gettext_lazy("Stored-value bonus expiry"),
        gettext_lazy("Writes off recharge bonus that has passed its expiry date (principal never expires)."),
    ),
    "referral-rewards": (
        gettext_lazy("Referral rewards"),
        gettext_lazy(
            "Rewards inviters once their invites count, and takes rewards back when invitees leave early."
        ),
    ),
    "red-packet-expiry": (
        gettext_lazy("Red packets"),
        gettext_lazy("Returns the points of red packets nobody grabbed within 24 hours."),
    ),
    "coupons-expiry": (
        gettext_lazy("Coupon expiry"),
        gettext_lazy("Marks coupons that have passed their validity as expired."),
    ),
    "incentive-statements": (
        gettext_lazy("Staff reward statements"),
        gettext_lazy("Recomputes last month's and this month's draft staff reward statements."),
    ),
}


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 120:
        return ngettext("%(n)d second", "%(n)d seconds", whole) % {"n": whole}
    minutes = whole // 60
    if minutes < 120:
        return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}
    hours = minutes // 60
    if hours < 48:
        return ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
    days = hours // 24
    return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}


def _when(value: Any) -> str:
    return date_format(timezone.localtime(value), "Y-m-d H:i:s")


def _job_row(status: JobStatus, now: Any) -> dict[str, Any]:
    label, description = JOB_LABELS.get(status.job.name, (status.job.name, ""))
    run = status.run
    every = _("Runs every %(period)s.") % {"period": _duration(status.job.every_seconds)}
    if run is None:
        last = _("Has not run yet.")
        result = _("No run has been recorded: is the scheduler running?")
    else:
        last = _("Last run %(when)s (%(ago)s ago).") % {
            "when": _when(run.last_finished_at),
            "ago": _duration((now - run.last_finished_at).total_seconds()),
        }
        if status.failing:
            result = ngettext(
                "Failed: %(error)s",
                "Failed %(count)d times in a row; last error: %(error)s",
                run.consecutive_failures or 1,
            ) % {"error": run.last_error[:300], "count": run.consecutive_failures}
        else:
            result = _("Finished without error in %(ms)d ms.") % {"ms": run.last_duration_ms}
            if run.last_error_at:
                result += " " + _("Last failure %(when)s.") % {"when": _when(run.last_error_at)}
    if status.stale and run is not None:
        flag = _("Overdue: it should have run again by now. Check that the scheduler is running.")
    elif status.stale:
        flag = _("Never ran.")
    elif status.failing:
        flag = _("Failing.")
    else:
        flag = _("On time.")
    return {
        "name": status.job.name,
        "label": label,
        "description": description,
        "every": every,
        "last": last,
        "result": result,
        "flag": flag,
        "healthy": status.healthy,
    }


def _backlog_sentence(sale: SaleBacklog) -> str:
    if sale.backend == "database":
        return ngettext(
            "Admitted in the database: %(n)d purchase written as it happened; nothing waits.",
            "Admitted in the database: %(n)d purchases written as they happened; nothing waits.",
            sale.written,
        ) % {"n": sale.written}
    if sale.unreadable:
        return _("Redis could not be read: the backlog of this sale is unknown.")
    if not sale.waiting:
        return ngettext(
            "All caught up: %(n)d purchase written to the database, none waiting in Redis.",
            "All caught up: %(n)d purchases written to the database, none waiting in Redis.",
            sale.written,
        ) % {"n": sale.written}
    text = ngettext(
        "%(n)d purchase admitted in Redis waits to become an order",
        "%(n)d purchases admitted in Redis wait to become orders",
        sale.waiting,
    ) % {"n": sale.waiting}
    if sale.oldest_seconds is not None:
        text += _("; the oldest has waited %(age)s") % {"age": _duration(sale.oldest_seconds)}
    text += "."
    if sale.in_progress:
        text += " " + ngettext(
            "%(n)d is being written now.", "%(n)d are being written now.", sale.in_progress
        ) % {"n": sale.in_progress}
    return text


def _backlog_late(sale: SaleBacklog) -> bool:
    return sale.unreadable or (bool(sale.waiting) and (sale.oldest_seconds or 0) > 30)


@require_GET
@console_view("operations.read")
def background_work(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    now = timezone.now()
    jobs = [_job_row(s, now) for s in job_statuses(now)]
    unhealthy = [j for j in jobs if not j["healthy"]]
    if unhealthy:
        summary = ngettext(
            "%(n)d background job needs attention: %(names)s.",
            "%(n)d background jobs need attention: %(names)s.",
            len(unhealthy),
        ) % {"n": len(unhealthy), "names": "、".join(str(j["label"]) for j in unhealthy)}
    else:
        summary = _("Every background job ran on time.")
    sales = [
        {"sale": s, "sentence": _backlog_sentence(s), "late": _backlog_late(s)}
        for s in write_behind_backlog(now)
    ]
    failed = outbox.failed_messages(staff).count()
    failed_sentence = (
        ngettext(
            "%(n)d channel call failed after all its retries.",
            "%(n)d channel calls failed after all their retries.",
            failed,
        )
        % {"n": failed}
        if failed
        else _("No channel call has failed.")
    )
    return render(
        request,
        "console/background_work.html",
        {
            "jobs": jobs,
            "summary": summary,
            "all_healthy": not unhealthy,
            "sales": sales,
            "failed_outbox": failed,
            "failed_sentence": failed_sentence,
            "now": now,
        },
    )
