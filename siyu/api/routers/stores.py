"""``/stores``: the stores the caller may see; HQ admins create and change them."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Path, Query, Router
from ninja.responses import Status

from siyu.api.auth import current_staff
from siyu.api.presenters import store_out
from siyu.api.schemas import Id, PageParams, StoreCreateIn, StoreOut, StorePage, StoreUpdateIn, paginate
from siyu.org.services import stores as store_services
from siyu.org.services.login import client_ip

router = Router()


@router.get("", response=StorePage)
def list_stores(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """Stores the caller may see: the whole chain for HQ roles, their own stores for store roles."""
    count, items = paginate(store_services.list_stores(current_staff(request)), page)
    return {"count": count, "items": [store_out(s) for s in items]}


@router.get("/{int:store_id}", response=StoreOut)
def get_store(request: HttpRequest, store_id: Path[Id]) -> dict[str, Any]:
    return store_out(store_services.get_store(current_staff(request), store_id))


@router.post("", response={201: StoreOut})
def create_store(request: HttpRequest, payload: StoreCreateIn) -> Status:
    """Create a store (HQ admin)."""
    store = store_services.create_store(
        current_staff(request), payload.model_dump(exclude_unset=True), ip=client_ip(request)
    )
    return Status(201, store_out(store))


@router.patch("/{int:store_id}", response=StoreOut)
def update_store(request: HttpRequest, store_id: Path[Id], payload: StoreUpdateIn) -> dict[str, Any]:
    """Change a store's fields (HQ admin). Only the fields sent are changed."""
    store = store_services.update_store(
        current_staff(request), store_id, payload.model_dump(exclude_unset=True), ip=client_ip(request)
    )
    return store_out(store)
