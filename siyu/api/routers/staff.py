"""``/staff``: staff accounts. Listing is scoped by role; HQ admins create and change accounts."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Path, Query, Router
from ninja.responses import Status

from siyu.api.auth import current_staff
from siyu.api.presenters import staff_out
from siyu.api.schemas import Id, PageParams, StaffCreateIn, StaffOut, StaffPage, StaffUpdateIn, paginate
from siyu.org.services import staff_admin
from siyu.org.services.login import client_ip

router = Router()


@router.get("", response=StaffPage)
def list_staff(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """HQ roles: every account; store managers: accounts serving their stores; clerks: themselves."""
    count, items = paginate(staff_admin.list_staff(current_staff(request)), page)
    return {"count": count, "items": [staff_out(s) for s in items]}


@router.get("/me", response=StaffOut)
def get_me(request: HttpRequest) -> dict[str, Any]:
    """The caller's own account."""
    return staff_out(current_staff(request))


@router.get("/{int:staff_id}", response=StaffOut)
def get_staff(request: HttpRequest, staff_id: Path[Id]) -> dict[str, Any]:
    return staff_out(staff_admin.get_staff(current_staff(request), staff_id))


@router.post("", response={201: StaffOut})
def create_staff(request: HttpRequest, payload: StaffCreateIn) -> Status:
    """Create an account (HQ admin). The password must pass the password rules (8+ characters, not common)."""
    user = staff_admin.create_staff(
        current_staff(request), payload.model_dump(exclude_unset=True), ip=client_ip(request)
    )
    return Status(201, staff_out(user))


@router.patch("/{int:staff_id}", response=StaffOut)
def update_staff(request: HttpRequest, staff_id: Path[Id], payload: StaffUpdateIn) -> dict[str, Any]:
    """Change role, stores, active flag, display name, reveal permission or password (HQ admin)."""
    user = staff_admin.update_staff(
        current_staff(request), staff_id, payload.model_dump(exclude_unset=True), ip=client_ip(request)
    )
    return staff_out(user)
