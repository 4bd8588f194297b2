"""Member list export (CSV or XLSX) and the spreadsheet writers the import template uses too.

Mobile numbers are masked unless the staff member may reveal them; cells that would start a spreadsheet
formula are prefixed with ' (CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from siyu.common.errors import ValidationFailed
from siyu.common.mobile import mask_mobile
from siyu.members.models import AgeBand, Gender, MemberTag, Source
from siyu.members.services.profiles import MemberFilter, filter_members
from siyu.org.models import Staff, Store
from siyu.org.services.access import can_reveal_mobile, check_capability
from siyu.org.services.audit import record_audit

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_labels() -> dict[str, str]:
    """Export columns and their headers in the current language (the import accepts them too)."""
    return {
        "id": _("Member ID"),
        "mobile": _("Mobile"),
        "name": pgettext("person", "Name"),
        "gender": _("Gender"),
        "birthday": _("Birthday"),
        "age_band": _("Age band"),
        "store_code": _("Store code"),
        "store_name": _("Store name"),
        "joined_at": _("Joined at"),
        "source": _("Source"),
        "marketing_consent": _("Marketing consent"),
        "tags": _("Tags"),
    }


def _safe_text(value: str) -> str:
    # Names come from members themselves; a leading "=" would run as a formula in Excel (CSV injection).
    return "'" + value if value.startswith(_FORMULA_START) else value


def _export_rows(staff: Staff, f: MemberFilter) -> Iterator[list[Any]]:
    """One list of cell values per member, in the order of ``_export_labels``; dates stay dates."""
    reveal = can_reveal_mobile(staff)
    tags = Prefetch(
        "member_tags",
        queryset=MemberTag.objects.select_related("tag__group").order_by("tag__group_id", "tag_id"),
    )
    genders = dict(Gender.choices)
    bands = dict(AgeBand.choices)
    sources = dict(Source.choices)
    yes, no = _("Yes"), _("No")
    shanghai = timezone.get_default_timezone()
    qs = filter_members(staff, f).prefetch_related(tags)
    for m in qs.iterator(chunk_size=2000):
        store = m.home_store
        yield [
            m.pk,
            (m.mobile or "") if reveal else mask_mobile(m.mobile),
            _safe_text(m.name),
            str(genders.get(m.gender, m.gender)),
            m.birthday,
            str(bands.get(m.age_band, m.age_band)) if m.age_band else "",
            _safe_text(store.code) if store else "",
            _safe_text(store.name) if store else "",
            timezone.localtime(m.joined_at, shanghai).replace(tzinfo=None, microsecond=0),
            str(sources.get(m.source, m.source)),
            yes if m.marketing_consent else no,
            _safe_text(";".join(f"{mt.tag.group.name}/{mt.tag.name}" for mt in m.member_tags.all())),
        ]


def csv_bytes(header: list[str], rows: Iterator[list[Any]] | list[list[Any]]) -> tuple[bytes, int]:
    """(UTF-8 CSV with BOM, row count); dates as ISO text."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(
            [
                v.strftime("%Y-%m-%d %H:%M:%S")
                if isinstance(v, datetime)
                else v.isoformat()
                if isinstance(v, date)
                else v
                for v in row
            ]
        )
        count += 1
    # The BOM makes Excel on Windows read UTF-8 (otherwise Chinese shows as mojibake).
    return ("\ufeff" + out.getvalue()).encode("utf-8"), count


def xlsx_bytes(
    header: list[str], rows: Iterator[list[Any]] | list[list[Any]], text_columns: tuple[int, ...] = ()
) -> tuple[bytes, int]:
    """(XLSX workbook, row count); ``text_columns`` are formatted as text, dates as dates."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(header)
    count = 0
    for row in rows:
        cells = []
        for index, value in enumerate(row):
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
            elif index in text_columns:
                cell.number_format = "@"  # keeps 11-digit mobiles from turning into 1.38E+10
            cells.append(cell)
        sheet.append(cells)
        count += 1
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue(), count


def _filter_detail(f: MemberFilter) -> dict[str, Any]:
    return {
        k: v.isoformat() if isinstance(v, date) else v for k, v in asdict(f).items() if v not in (None, "")
    }


def export_members(
    staff: Staff, f: MemberFilter, fmt: str, *, ip: str | None = None
) -> tuple[bytes, str, str]:
    """The members ``staff`` may see that match ``f``, as a CSV (UTF-8 with BOM) or XLSX file.

    Returns (content, content type, download file name). Requires ``members.export``; mobile numbers
    are masked unless the staff may reveal them; cells that would start a spreadsheet formula are
    prefixed with '. One ``member.export_list`` audit entry records the filter and row count.
    """
    check_capability(staff, "members.export")
    fmt = (fmt or "").strip().lower()
    if fmt not in ("csv", "xlsx"):
        raise ValidationFailed(_("Export format must be csv or xlsx."), field="format")
    header = list(export_labels().values())
    rows = _export_rows(staff, f)
    if fmt == "csv":
        content, count = csv_bytes(header, rows)
        content_type = CSV_CONTENT_TYPE
    else:
        content, count = xlsx_bytes(header, rows, text_columns=(1,))
        content_type = XLSX_CONTENT_TYPE
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    # Only a real store id goes into the audit row's foreign key; the filter itself is kept in detail.
    store_id = f.store_id if f.store_id and Store.objects.filter(pk=f.store_id).exists() else None
    with transaction.atomic():
        record_audit(
            staff,
            "member.export_list",
            target_type="member",
            store_id=store_id,
            detail={
                "filter": _filter_detail(f),
                "rows": count,
                "format": fmt,
                "mobile_revealed": can_reveal_mobile(staff),
            },
            ip=ip,
        )
    return content, content_type, f"members-{stamp}.{fmt}"
