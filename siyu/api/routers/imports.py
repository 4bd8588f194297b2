"""``/imports/members``: upload a CSV/XLSX member file (all or nothing) and list recent uploads."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import File, Query, Router
from ninja.files import UploadedFile
from ninja.responses import Status

from siyu.api.auth import current_staff
from siyu.api.errors import PayloadTooLarge
from siyu.api.presenters import import_out
from siyu.api.schemas import ImportOut, ImportPage, PageParams, paginate
from siyu.members.services import import_files
from siyu.members.services import imports as imports_service
from siyu.org.services.login import client_ip

router = Router()


@router.post("/members", response={201: ImportOut})
def import_members(request: HttpRequest, file: File[UploadedFile]) -> Status:
    """Upload a member file (multipart field ``file``; CSV or XLSX, at most 10 MB).

    Answers 201 with the import record either way: ``status`` is ``imported``, or ``rejected`` with
    ``errors`` listing every bad row (nothing was written then).
    """
    staff = current_staff(request)
    # Checked here first too, so an oversized upload is a clear 413 before it is read into memory.
    limit = int(import_files.MAX_FILE_BYTES)
    if file.size is not None and file.size > limit:
        raise PayloadTooLarge(
            _("The file is too large (%(mb)s MB at most).") % {"mb": limit // (1024 * 1024)}, field="file"
        )
    content = file.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge(
            _("The file is too large (%(mb)s MB at most).") % {"mb": limit // (1024 * 1024)}, field="file"
        )
    file_name = (file.name or "").replace("\x00", "") or "upload"  # PostgreSQL text cannot hold NUL
    record = imports_service.import_members(staff, file_name, content, ip=client_ip(request))
    return Status(201, import_out(record))


@router.get("/members", response=ImportPage)
def list_imports(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """Recent member imports, newest first: all of them for HQ roles, one's own for store roles."""
    count, items = paginate(imports_service.visible_imports(current_staff(request)), page)
    return {"count": count, "items": [import_out(r) for r in items]}
