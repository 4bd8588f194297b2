"""Console: staff incentives — "my rewards" (every staff member, on the phone), live leaderboards of a store
and of the chain, HQ's review queue (per store, per staff member; approve one or a whole store), a statement
with its lines in sentences, and the reward rules. Thin callers of ``siyu.incentives.services``."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.common.errors import ServiceError
from siyu.common.validators import fen_to_yuan, optional_id
from siyu.incentives.models import LineKind, RuleKind, StatementLine
from siyu.incentives.services import leaderboards, rules, statements
from siyu.incentives.services.months import current_month, month_label, parse_month, previous_month
from siyu.incentives.services.statements import Line
from siyu.org.services.access import has_capability, is_chain_wide, visible_stores

from .helpers import console_view, current_staff, form_error, is_htmx

TIER_ROWS = 3


def _percent(basis_points: int) -> str:
    whole, rest = divmod(basis_points, 100)
    return f"{whole}.{rest:02d}".rstrip("0").rstrip(".")


def describe_line(line: Line | StatementLine, rule_name: str = "") -> str:
    """One statement line as a sentence (no codes, amounts in yuan)."""
    amount = fen_to_yuan(line.amount_fen)
    if line.kind == LineKind.INVITE:
        return _("Members brought in, tier %(tier)s: %(n)s × ¥%(rate)s = ¥%(amount)s") % {
            "tier": line.tier_position,
            "n": line.units,
            "rate": fen_to_yuan(line.rate),
            "amount": amount,
        }
    if line.kind == LineKind.GMV_SHARE:
        return _("Attributed sales, tier %(tier)s: %(pct)s%% of ¥%(base)s = ¥%(amount)s") % {
            "tier": line.tier_position,
            "pct": _percent(line.rate),
            "base": fen_to_yuan(line.units),
            "amount": amount,
        }
    month = month_label(line.for_month) if line.for_month else ""
    if line.rule_kind == RuleKind.INVITE:
        return _("Correction for %(month)s (%(rule)s): %(n)s members arrived late, ¥%(amount)s") % {
            "month": month,
            "rule": rule_name,
            "n": line.units,
            "amount": amount,
        }
    return _("Correction for %(month)s (%(rule)s): sales changed by ¥%(base)s, ¥%(amount)s") % {
        "month": month,
        "rule": rule_name,
        "base": fen_to_yuan(line.units),
        "amount": amount,
    }


def _month_param(request: HttpRequest, default: date) -> date:
    raw = (request.GET.get("month") or request.POST.get("month") or "").strip()
    return parse_month(raw) if raw else default


def _months(around: date, count: int = 6) -> list[str]:
    out, month = [], current_month()
    for _i in range(count):
        out.append(month_label(month))
        month = previous_month(month)
    if month_label(around) not in out:
        out.append(month_label(around))
    return out


# --- my rewards ------------------------------------------------------------------------------------------


@require_GET
@console_view()
def my_rewards(request: HttpRequest) -> HttpResponse:
    """ "我的奖励": this month so far (lines in sentences, place in the chain) and my statements."""
    staff = current_staff(request)
    mine = leaderboards.my_month(staff)
    context = {
        "mine": mine,
        "sentences": [describe_line(line) for line in mine.lines],
        "month_label": month_label(mine.month),
    }
    if is_htmx(request):
        return render(request, "console/incentives/_my_month.html", context)
    own = statements.visible_statements(staff).filter(staff_id=staff.pk).order_by("-month", "store_id")[:12]
    stores = list(visible_stores(staff)[:50])
    return render(request, "console/incentives/mine.html", {**context, "own": own, "stores": stores})


# --- leaderboards ------------------------------------------------------------------------------------------


@require_GET
@console_view()
def leaderboard(request: HttpRequest) -> HttpResponse:
    """A store's or the chain's live ranking this month (htmx refresh every 30 s)."""
    staff = current_staff(request)
    stores = list(visible_stores(staff)[:200])
    chain = is_chain_wide(staff)
    store_id = optional_id(request.GET.get("store"))
    if store_id is None and not chain and stores:
        store_id = stores[0].pk
    metric = request.GET.get("metric") or "reward"
    if metric not in leaderboards.METRICS:
        metric = "reward"
    board = leaderboards.leaderboard(staff, store_id=store_id, metric=metric)
    context = {
        "board": board,
        "stores": stores,
        "chain": chain,
        "store_id": store_id,
        "metric": metric,
        "metrics": [
            ("reward", _("Reward")),
            ("invites", _("Members brought in")),
            ("gmv", _("Attributed sales")),
        ],
        "month_label": month_label(board.month),
    }
    if is_htmx(request):
        return render(request, "console/incentives/_board.html", context)
    return render(request, "console/incentives/board.html", context)


# --- HQ review -------------------------------------------------------------------------------------------


@require_GET
@console_view("incentives.team")
def review(request: HttpRequest) -> HttpResponse:
    """The review queue: per store, the sums of its staff statements for a month, drafts first."""
    staff = current_staff(request)
    month = _month_param(request, previous_month(current_month()))
    summaries = sorted(statements.store_summaries(staff, month), key=lambda s: (s.drafts == 0, s.store_name))
    return render(
        request,
        "console/incentives/review.html",
        {
            "summaries": summaries,
            "month": month_label(month),
            "months": _months(month),
            "may_approve": has_capability(staff, "incentives.manage"),
            "open_month": month >= current_month(),
        },
    )


@require_GET
@console_view("incentives.team")
def review_store(request: HttpRequest, store_id: int) -> HttpResponse:
    """One store's staff statements for a month (store managers: their own stores only, 404 otherwise)."""
    staff = current_staff(request)
    month = _month_param(request, previous_month(current_month()))
    rows = statements.store_statements(staff, store_id, month)
    store = visible_stores(staff).filter(pk=store_id).first()
    return render(
        request,
        "console/incentives/review_store.html",
        {
            "rows": rows,
            "store": store,
            "month": month_label(month),
            "may_approve": has_capability(staff, "incentives.manage"),
            "drafts": sum(1 for r in rows if not r.frozen),
            "open_month": month >= current_month(),
        },
    )


@require_GET
@console_view()
def statement_detail(request: HttpRequest, statement_id: int) -> HttpResponse:
    """A statement with its lines as sentences; HQ approves it here (approved: frozen)."""
    staff = current_staff(request)
    statement = statements.get_statement(staff, statement_id)
    lines = statements.statement_lines(statement)
    return render(
        request,
        "console/incentives/statement.html",
        {
            "statement": statement,
            "lines": [(line, describe_line(line, line.rule.name if line.rule else "")) for line in lines],
            "month": month_label(statement.month),
            "may_approve": has_capability(staff, "incentives.manage") and not statement.frozen,
            "open_month": statement.month >= current_month(),
        },
    )


@require_POST
@console_view("incentives.manage")
def statement_approve(request: HttpRequest, statement_id: int) -> HttpResponse:
    statement = statements.approve_statement(current_staff(request), statement_id)
    messages.success(request, _("Statement approved; it is frozen now."))
    return redirect("console:incentive_statement", statement_id=statement.pk)


@require_POST
@console_view("incentives.manage")
def store_approve(request: HttpRequest, store_id: int) -> HttpResponse:
    month = _month_param(request, previous_month(current_month()))
    count = statements.approve_store(current_staff(request), store_id, month)
    messages.success(request, _("%(n)s statements approved; they are frozen now.") % {"n": count})
    return redirect(
        f"{reverse('console:incentive_review_store', args=[store_id])}?month={month_label(month)}"
    )


@require_POST
@console_view("incentives.manage")
def generate(request: HttpRequest) -> HttpResponse:
    month = _month_param(request, previous_month(current_month()))
    result = statements.generate_for_staff(current_staff(request), month)
    messages.success(
        request,
        _("Statements of %(month)s brought up to date: %(n)s drafts.")
        % {"month": month_label(month), "n": result.statements},
    )
    return redirect(f"{reverse('console:incentive_review')}?month={month_label(month)}")


# --- rules -----------------------------------------------------------------------------------------------


class IncentiveRuleForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=60)
    kind = forms.ChoiceField(label=gettext_lazy("Pays for"), choices=RuleKind.choices)
    valid_from = forms.CharField(label=gettext_lazy("First month (YYYY-MM)"), max_length=7)
    valid_until = forms.CharField(
        label=gettext_lazy("Last month (YYYY-MM, empty: no end)"), max_length=7, required=False
    )
    key = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for i in range(TIER_ROWS):
            self.fields[f"upto_{i}"] = forms.IntegerField(
                label=_("Up to (members, or yuan of sales; empty: no end)"), required=False, min_value=1
            )
            self.fields[f"rate_{i}"] = forms.DecimalField(
                label=_("Pays (yuan per member, or percent of sales)"),
                required=False,
                min_value=0,
                max_digits=8,
                decimal_places=2,
            )

    def tier_rows(self) -> list[tuple[Any, Any]]:
        return [(self[f"upto_{i}"], self[f"rate_{i}"]) for i in range(TIER_ROWS)]

    def service_tiers(self) -> list[dict[str, Any]]:
        d = self.cleaned_data
        kind = d["kind"]
        tiers: list[dict[str, Any]] = []
        start = 0
        for i in range(TIER_ROWS):
            rate = d.get(f"rate_{i}")
            if rate is None:
                continue
            upto = d.get(f"upto_{i}")
            end = None if upto is None else (upto if kind == RuleKind.INVITE else upto * 100)
            cents = int(rate * 100)
            tier = {"from_units": start, "to_units": end}
            tier.update({"fen_per_unit": cents} if kind == RuleKind.INVITE else {"basis_points": cents})
            tiers.append(tier)
            if end is None:
                break
            start = end
        return tiers


@require_http_methods(["GET", "POST"])
@console_view("incentives.manage")
def rule_list(request: HttpRequest) -> HttpResponse:
    """The brand's reward rules, and a form for a new one (tiers: up to three rows)."""
    staff = current_staff(request)
    if request.method == "POST":
        form = IncentiveRuleForm(request.POST)
        if form.is_valid():
            d = form.cleaned_data
            try:
                rules.create_rule(
                    staff,
                    name=d["name"],
                    kind=d["kind"],
                    valid_from=d["valid_from"],
                    valid_until=d["valid_until"] or None,
                    tiers=form.service_tiers(),
                    idempotency_key=d["key"] or None,
                )
            except ServiceError as exc:
                form_error(form, exc)
            else:
                messages.success(request, _("Rule saved."))
                return redirect("console:incentive_rules")
    else:
        form = IncentiveRuleForm(
            initial={
                "key": uuid.uuid4().hex,
                "valid_from": month_label(current_month()),
                "kind": RuleKind.INVITE,
            }
        )
    listed = [
        (rule, [_tier_text(rule.kind, t) for t in sorted(rule.tiers.all(), key=lambda t: t.position)])
        for rule in rules.list_rules(staff)
    ]
    return render(request, "console/incentives/rules.html", {"form": form, "listed": listed})


def _tier_text(kind: str, tier: Any) -> str:
    if kind == RuleKind.INVITE:
        if tier.to_units is None:
            return _("from member %(start)s on: ¥%(rate)s each") % {
                "start": tier.from_units + 1,
                "rate": fen_to_yuan(tier.fen_per_unit),
            }
        return _("members %(start)s to %(end)s: ¥%(rate)s each") % {
            "start": tier.from_units + 1,
            "end": tier.to_units,
            "rate": fen_to_yuan(tier.fen_per_unit),
        }
    if tier.to_units is None:
        return _("sales above ¥%(start)s: %(pct)s%%") % {
            "start": fen_to_yuan(tier.from_units),
            "pct": _percent(tier.basis_points),
        }
    return _("sales from ¥%(start)s to ¥%(end)s: %(pct)s%%") % {
        "start": fen_to_yuan(tier.from_units),
        "end": fen_to_yuan(tier.to_units),
        "pct": _percent(tier.basis_points),
    }
