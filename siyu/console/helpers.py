"""Glue between console views and services: who is asking, and what a refused request looks like.

Views stay thin: they call a service and let ``console_view`` turn its typed errors into
a 404/403 page, a sign-in redirect, or a message — never a 500 for bad input.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from siyu.common.errors import NotAuthenticated, NotFound, PermissionDenied, ServiceError
from siyu.org.models import Staff
from siyu.org.services.access import has_capability
from siyu.org.services.login import client_ip

View = Callable[..., HttpResponse]


def current_staff(request: HttpRequest) -> Staff:
    """The signed-in staff account (``console_view`` has already made sure there is one)."""
    user = request.user
    if not isinstance(user, Staff):
        raise NotAuthenticated(_("Sign in first."))
    return user


def request_ip(request: HttpRequest) -> str | None:
    return client_ip(request)


def is_htmx(request: HttpRequest) -> bool:
    """An htmx partial request (a history-restore request wants the whole page)."""
    return request.headers.get("HX-Request") == "true" and not request.headers.get(
        "HX-History-Restore-Request"
    )


def error_page(request: HttpRequest, status: int, message: str = "") -> HttpResponse:
    titles = {400: _("Cannot do that"), 403: _("Not allowed"), 404: _("Not found")}
    return render(
        request,
        "console/error.html",
        {"status": status, "title": titles.get(status, _("Error")), "message": message},
        status=status,
    )


def safe_back_url(request: HttpRequest, default: str | None = None) -> str:
    """Where to send the user after a refused form post: the page they came from, if it is ours."""
    candidate = request.POST.get("next") or request.META.get("HTTP_REFERER") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default or reverse("console:dashboard")


def messages_fragment(request: HttpRequest) -> HttpResponse:
    """The message area alone, aimed by htmx at ``#messages`` whatever the request's own target was."""
    response = render(request, "console/_messages.html")
    response["HX-Retarget"] = "#messages"
    response["HX-Reswap"] = "innerHTML"
    return response


def console_view(capability: str | None = None) -> Callable[[View], View]:
    """Decorate a console view: require a signed-in active staff account (and ``capability`` if given),
    and turn ``ServiceError``s the view lets through into the right response:

    NotFound → 404 page (out-of-scope members look absent), PermissionDenied → 403 page,
    NotAuthenticated → sign-in, anything else → an error message and back to the previous page
    after a POST, a 400 page after a GET (for htmx requests: the message area is swapped in place).
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not (isinstance(user, Staff) and user.is_active):
                return redirect_to_login(request.get_full_path())
            if capability and not has_capability(user, capability):
                return error_page(request, 403, _("Your role does not allow this."))
            try:
                return view(request, *args, **kwargs)
            except NotFound as exc:
                return error_page(request, 404, str(exc.message))
            except PermissionDenied as exc:
                if is_htmx(request):
                    messages.error(request, str(exc.message))
                    return messages_fragment(request)
                return error_page(request, 403, str(exc.message))
            except NotAuthenticated:
                return redirect_to_login(request.get_full_path())
            except ServiceError as exc:
                if request.method in ("GET", "HEAD") and not is_htmx(request):
                    # Going "back" could loop onto this same URL; say what was wrong right here.
                    return error_page(request, 400, str(exc.message))
                messages.error(request, str(exc.message))
                if is_htmx(request):
                    return messages_fragment(request)
                return HttpResponseRedirect(safe_back_url(request))

        return wrapper

    return decorator


def form_error(form: forms.Form, exc: ServiceError) -> None:
    """Show a service's refusal on the form: on the offending field when the form has it."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, str(exc.message))
