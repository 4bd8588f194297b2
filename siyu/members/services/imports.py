"""Member import jobs: importing a POS export (CSV or XLSX), the import template, and the import records
staff may read.

Import is all-or-nothing per file: every row is checked first; if one is wrong nothing is written
and the ``MemberImport`` row lists each problem by spreadsheet row number (header = row 1) and
column. A good file is applied in one transaction with bulk statements, and re-importing the same
file changes nothing (upsert by mobile number).

The steps live beside this module: ``import_files`` (reading a file with bounded memory),
``import_columns`` (which column is which), ``import_rows`` (checking a row), ``import_apply`` (writing).
The member list export is ``member_export``.
"""

from __future__ import annotations

import hashlib
import re

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict, ValidationFailed
from siyu.members.models import MemberImport
from siyu.members.services.import_apply import Rejected, apply_rows
from siyu.members.services.import_columns import TEMPLATE_EXAMPLE, TEMPLATE_HEADERS, parse_file
from siyu.members.services.import_rows import ImportRow, RowErrors, check_cells
from siyu.members.services.member_export import CSV_CONTENT_TYPE, XLSX_CONTENT_TYPE, csv_bytes, xlsx_bytes
from siyu.org.models import Staff
from siyu.org.services.access import check_capability, store_scope
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id


def _brand_id(staff: Staff) -> int:
    try:
        return current_brand_id(staff)
    except Conflict:
        raise ValidationFailed(_("Set up the brand before importing members."), field="file") from None


def import_members(staff: Staff, file_name: str, content: bytes, *, ip: str | None = None) -> MemberImport:
    """Import members from a CSV (UTF-8, UTF-8 with BOM, GBK/GB18030) or XLSX file.

    Guarantees:
    - Requires ``members.import``; a store role imports only into, and updates only members of, its stores.
    - A file that cannot be read, is empty, has no mobile column, more than 20,000 rows or more than 10 MB
      raises ValidationFailed(field="file") and records nothing.
    - All or nothing: if any row is wrong, no member, tag or event is written and the returned
      ``MemberImport`` has status ``rejected`` and ``errors`` = [{"row", "column", "reason"}…] with the
      spreadsheet row number (header = 1). At most 1,000 problems are listed; if there are more, a last entry
      with ``row`` None says how many were left out.
    - Otherwise members are upserted by mobile number in one transaction: new ones are created (source
      import); existing ones get only the non-empty cells of the row ("未知" gender never overwrites a known
      one); tags are added with origin import. Re-importing the same file changes nothing
      (``created_count`` and ``updated_count`` 0). Every call returns a new ``MemberImport`` row and writes
      one ``member.import`` audit entry.
    """
    check_capability(staff, "members.import")
    file_name = re.split(r"[/\\]", file_name or "")[-1].strip()[:255] or "upload"
    content = content or b""
    sha256 = hashlib.sha256(content).hexdigest()
    columns, data = parse_file(file_name, content)
    brand_id = _brand_id(staff)

    errors = RowErrors()
    rows: list[ImportRow] = []
    first_row: dict[str, int] = {}
    for number, cells in data:
        row = check_cells(number, cells, columns, errors)
        if row.mobile:
            if row.mobile in first_row:
                errors.add(
                    number,
                    "mobile",
                    _("This mobile number is also on row %(row)d.") % {"row": first_row[row.mobile]},
                )
            else:
                first_row[row.mobile] = number
        rows.append(row)

    try:
        with transaction.atomic():
            outcome = apply_rows(staff, brand_id, rows, errors)
            record = MemberImport.objects.create(
                brand_id=brand_id,
                file_name=file_name,
                sha256=sha256,
                status=MemberImport.Status.IMPORTED,
                row_count=len(rows),
                created_count=outcome.created,
                updated_count=outcome.updated,
                created_by=staff,
            )
            record_audit(
                staff,
                "member.import",
                target_type="member_import",
                target_id=record.pk,
                store_id=next(iter(outcome.store_ids)) if len(outcome.store_ids) == 1 else None,
                detail={
                    "file_name": file_name,
                    "sha256": sha256,
                    "status": record.status,
                    "rows": len(rows),
                    "created": outcome.created,
                    "updated": outcome.updated,
                    "tags_added": outcome.tags_added,
                    "tags_created": outcome.tags_created,
                    "new_tags": outcome.new_tags,
                },
                ip=ip,
            )
            return record
    except Rejected as rejected:
        with transaction.atomic():
            record = MemberImport.objects.create(
                brand_id=brand_id,
                file_name=file_name,
                sha256=sha256,
                status=MemberImport.Status.REJECTED,
                row_count=rejected.row_count,
                errors=rejected.errors,
                created_by=staff,
            )
            record_audit(
                staff,
                "member.import",
                target_type="member_import",
                target_id=record.pk,
                detail={
                    "file_name": file_name,
                    "sha256": sha256,
                    "status": record.status,
                    "rows": rejected.row_count,
                    "errors": len(errors.items),
                },
                ip=ip,
            )
            return record
    except IntegrityError:
        # Another import or sign-up created one of these numbers meanwhile; everything was rolled back.
        raise Conflict(
            _("Some of these members were changed at the same time. Import the file again."), field="file"
        ) from None


def import_template(fmt: str) -> tuple[bytes, str, str]:
    """An import template (Chinese headers and one example row) as (content, content type, file name)."""
    fmt = (fmt or "").strip().lower()
    if fmt == "csv":
        content, _count = csv_bytes(list(TEMPLATE_HEADERS), [list(TEMPLATE_EXAMPLE)])
        return content, CSV_CONTENT_TYPE, "member-import-template.csv"
    if fmt == "xlsx":
        content, _count = xlsx_bytes(list(TEMPLATE_HEADERS), [list(TEMPLATE_EXAMPLE)], text_columns=(0, 3))
        return content, XLSX_CONTENT_TYPE, "member-import-template.xlsx"
    raise ValidationFailed(_("Template format must be csv or xlsx."), field="format")


def visible_imports(staff: Staff) -> QuerySet[MemberImport]:
    """Member imports ``staff`` may read, newest first: all for HQ, one's own uploads for store roles.

    Import error reports quote spreadsheet rows (names, numbers), so store roles see only their own.
    Raises PermissionDenied without the ``members.import`` capability.
    """
    check_capability(staff, "members.import")
    qs = MemberImport.objects.select_related("created_by").order_by("-created_at", "-id")
    if store_scope(staff) is not None:
        qs = qs.filter(created_by=staff)
    return qs
