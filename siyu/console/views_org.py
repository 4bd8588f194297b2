"""Stores and staff accounts in the console: head office creates and edits them (``staff.manage``);
store managers see the staff of their stores. Thin callers of ``siyu.org.services.stores`` and
``siyu.org.services.staff_admin``, which validate, check the capability and write the audit entry."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.channels.services import staff_messages
from siyu.common.errors import NotFound, PermissionDenied, ServiceError
from siyu.org.models import Region, Role, Staff, Store
from siyu.org.services import staff_admin
from siyu.org.services import stores as store_services
from siyu.org.services.access import has_capability, visible_stores
from siyu.org.services.brand import current_brand_id

from . import queries
from .helpers import console_view, current_staff, form_error, request_ip

# --- forms (parse what the browser sent; the services decide) -----------------------------------


class StoreForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("Store code"), max_length=32)
    name = forms.CharField(label=gettext_lazy("Store name"), max_length=100)
    status = forms.ChoiceField(label=gettext_lazy("Status"), choices=Store.Status.choices)
    region = forms.ChoiceField(label=gettext_lazy("Region"), required=False)
    city = forms.CharField(label=gettext_lazy("City"), max_length=50, required=False)
    district = forms.CharField(label=gettext_lazy("District"), max_length=50, required=False)
    address = forms.CharField(label=gettext_lazy("Address"), max_length=255, required=False)
    opening_hours = forms.CharField(
        label=gettext_lazy("Opening hours"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "10:00-22:00"}),
    )
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=32, required=False)
    latitude = forms.CharField(label=gettext_lazy("Latitude"), required=False)
    longitude = forms.CharField(label=gettext_lazy("Longitude"), required=False)

    def __init__(self, *args: Any, brand_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        regions = Region.objects.filter(brand_id=brand_id).order_by("code")
        field: Any = self.fields["region"]
        field.choices = [("", "—"), *((r.code, f"{r.code} {r.name}") for r in regions)]

    def service_data(self) -> dict[str, Any]:
        return {name: self.cleaned_data.get(name) for name in store_services.STORE_FIELDS}

    @staticmethod
    def initial_for(store: Store) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(store, name) for name in store_services.STORE_FIELDS}
        data["region"] = store.region.code if store.region else ""
        for name in ("latitude", "longitude"):
            data[name] = "" if data[name] is None else str(data[name])
        return data


class StaffForm(forms.Form):
    username = forms.CharField(label=gettext_lazy("Username"), max_length=150)
    display_name = forms.CharField(label=gettext_lazy("Display name"), max_length=50, required=False)
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices, initial=Role.CLERK)
    store_ids = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Stores (store roles)"),
        required=False,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
    )
    can_reveal_mobile = forms.BooleanField(label=gettext_lazy("May reveal mobile numbers"), required=False)
    wecom_userid = forms.CharField(
        label=gettext_lazy("WeCom user ID"),
        max_length=64,
        required=False,
        help_text=gettext_lazy("Their member UserID in WeCom admin; signs them in to the WeCom sidebar."),
    )
    password = forms.CharField(
        label=gettext_lazy("Password"),
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy("Leave empty to generate one; it is shown once."),
        required=False,
    )

    def __init__(self, *args: Any, staff: Staff, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["store_ids"]
        field.choices = [(s.pk, f"{s.code} {s.name}") for s in visible_stores(staff)]
        if editing:
            del self.fields["username"]
            del self.fields["password"]

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["store_ids"] = list(data.get("store_ids") or [])
        data.pop("password", None)
        return data


class PasswordForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("New password"),
        max_length=128,
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy("Leave empty to generate one; it is shown once."),
    )


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"  # a password shown once must not linger in caches
    return response


# --- stores -------------------------------------------------------------------------------------


@require_GET
@console_view()
def stores(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    context = {
        "stores": queries.stores_with_member_counts(staff),
        "can_manage": has_capability(staff, "staff.manage"),
        "can_robot": can_configure_robots(staff),
    }
    return render(request, "console/stores.html", context)


@require_http_methods(["GET", "POST"])
@console_view("staff.manage")
def store_new(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    form = StoreForm(request.POST or None, brand_id=current_brand_id(staff), initial={"status": "open"})
    if request.method == "POST" and form.is_valid():
        try:
            store = store_services.create_store(staff, form.service_data(), ip=request_ip(request))
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Store “%(name)s” created.") % {"name": store.name})
            return redirect("console:stores")
    return render(request, "console/org/store_form.html", {"form": form, "store": None})


@require_http_methods(["GET", "POST"])
@console_view("staff.manage")
def store_edit(request: HttpRequest, store_id: int) -> HttpResponse:
    staff = current_staff(request)
    store = store_services.get_store(staff, store_id)
    form = StoreForm(request.POST or None, brand_id=store.brand_id, initial=StoreForm.initial_for(store))
    if request.method == "POST" and form.is_valid():
        try:
            store_services.update_store(staff, store.pk, form.service_data(), ip=request_ip(request))
        except ServiceError as exc:
            if isinstance(exc, NotFound) and exc.field == "store":
                raise
            form_error(form, exc)
        else:
            messages.success(request, _("Store saved."))
            return redirect("console:stores")
    return render(request, "console/org/store_form.html", {"form": form, "store": store})


class StoreRobotForm(forms.Form):
    webhook_key = forms.CharField(
        label=gettext_lazy("Robot webhook address or key"),
        max_length=300,
        required=False,
        help_text=gettext_lazy(
            "In WeCom, add a robot (消息推送) to the store's internal staff group and paste its webhook "
            "address here."
        ),
    )
    summary_at = forms.TimeField(
        label=gettext_lazy("Daily summary at (Beijing time)"),
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    alerts = forms.BooleanField(label=gettext_lazy("Also post alerts"), required=False)


def can_configure_robots(staff: Staff) -> bool:
    """Whether the stores page offers the staff-group robot link (managers and head office)."""
    return has_capability(staff, "staff.manage") or staff.role == Role.STORE_MANAGER or staff.is_superuser


@require_http_methods(["GET", "POST"])
@console_view()
def store_robot(request: HttpRequest, store_id: int) -> HttpResponse:
    """The robot of a store's internal staff group (daily summary, alerts): managers of the store and HQ."""
    staff = current_staff(request)
    store, robot = staff_messages.get_store_robot(staff, store_id)
    initial = {
        "webhook_key": "",
        "summary_at": robot.summary_at if robot else staff_messages.DEFAULT_SUMMARY_AT,
        "alerts": robot.alerts if robot else True,
    }
    form = StoreRobotForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        key = form.cleaned_data["webhook_key"] or ""
        if not key.strip() and robot is not None and not request.POST.get("remove"):
            key = robot.webhook_key  # the key is never shown again: an empty field keeps it
        try:
            staff_messages.set_store_robot(
                staff,
                store.pk,
                webhook_key=key,
                summary_at=form.cleaned_data["summary_at"],
                alerts=form.cleaned_data["alerts"],
                ip=request_ip(request),
            )
        except (NotFound, PermissionDenied):
            raise
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Staff group robot saved."))
            return redirect("console:store_robot", store_id=store.pk)
    context = {
        "form": form,
        "store": store,
        "robot": robot,
        "masked_key": staff_messages.mask_key(robot.webhook_key) if robot else "",
        "has_wecom": staff_messages.wecom_connector_for_store(store) is not None,
    }
    return render(request, "console/org/store_robot.html", context)


# --- staff --------------------------------------------------------------------------------------


@require_GET
@console_view()
def staff_list(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    context = {
        "people": staff_admin.list_staff(staff),
        "can_manage": has_capability(staff, "staff.manage"),
    }
    return render(request, "console/org/staff.html", context)


@require_http_methods(["GET", "POST"])
@console_view("staff.manage")
def staff_new(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    form = StaffForm(request.POST or None, staff=staff)
    if request.method == "POST" and form.is_valid():
        data = form.service_data()
        generated = None
        password = form.cleaned_data.get("password") or ""
        if not password:
            generated = password = staff_admin.generated_password()
        try:
            user = staff_admin.create_staff(staff, {**data, "password": password}, ip=request_ip(request))
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Staff account “%(name)s” created.") % {"name": user.username})
            if generated is None:
                return redirect("console:staff_edit", staff_id=user.pk)
            context = {"person": user, "generated": generated}
            return _no_store(render(request, "console/org/staff_password_shown.html", context))
    return render(request, "console/org/staff_form.html", {"form": form, "person": None})


@require_http_methods(["GET", "POST"])
@console_view()
def staff_edit(request: HttpRequest, staff_id: int) -> HttpResponse:
    """An account's page: everyone who may see it reads it; head office changes it."""
    staff = current_staff(request)
    person = staff_admin.get_staff(staff, staff_id)
    can_manage = has_capability(staff, "staff.manage")
    initial = {
        "display_name": person.display_name,
        "role": person.role,
        "store_ids": list(person.stores.values_list("pk", flat=True)),
        "can_reveal_mobile": person.can_reveal_mobile,
        "wecom_userid": person.wecom_userid,
    }
    form = StaffForm(request.POST or None, staff=staff, editing=True, initial=initial) if can_manage else None
    if request.method == "POST":
        if form is None:
            staff_admin.update_staff(staff, person.pk, {})  # raises PermissionDenied for the 403 page
        elif form.is_valid():
            try:
                staff_admin.update_staff(staff, person.pk, form.service_data(), ip=request_ip(request))
            except ServiceError as exc:
                if isinstance(exc, NotFound) and exc.field == "staff":
                    raise
                form_error(form, exc)
            else:
                messages.success(request, _("Staff account saved."))
                return redirect("console:staff_edit", staff_id=person.pk)
    context = {
        "person": person,
        "form": form,
        "password_form": PasswordForm() if can_manage else None,
        "can_manage": can_manage,
    }
    return render(request, "console/org/staff_form.html", context)


@require_POST
@console_view("staff.manage")
def staff_password(request: HttpRequest, staff_id: int) -> HttpResponse:
    staff = current_staff(request)
    form = PasswordForm(request.POST)
    form.is_valid()
    person, generated = staff_admin.reset_password(
        staff, staff_id, form.cleaned_data.get("password") or None, ip=request_ip(request)
    )
    if generated is None:
        messages.success(request, _("Password changed."))
        return redirect("console:staff_edit", staff_id=person.pk)
    context = {"person": person, "generated": generated}
    return _no_store(render(request, "console/org/staff_password_shown.html", context))


@require_POST
@console_view("staff.manage")
def staff_active(request: HttpRequest, staff_id: int) -> HttpResponse:
    staff = current_staff(request)
    active = request.POST.get("active") == "1"
    person = staff_admin.set_active(staff, staff_id, active, ip=request_ip(request))
    if active:
        messages.success(request, _("“%(name)s” can sign in again.") % {"name": person.username})
    else:
        messages.success(request, _("“%(name)s” is deactivated.") % {"name": person.username})
    return redirect("console:staff_edit", staff_id=person.pk)
