"""Console pages for the catalog: head office's products, SKUs and publication; each store's listings
and stock.

Thin callers, like ``views.py``: the catalog services decide who may do what (store roles get 403 on
product changes, 404 for another store's listing). The stock page is made for a phone: per SKU a
list/delist toggle and a stock field with −/+ buttons, each form carrying its own idempotency key so a
double tap changes stock once.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.catalog.models import Product, Publication, StoreListing
from siyu.catalog.services import cards as card_services
from siyu.catalog.services import images as image_services
from siyu.catalog.services import products as product_services
from siyu.catalog.services import publication as publication_services
from siyu.catalog.services import queries, stock
from siyu.common.errors import ServiceError, ValidationFailed
from siyu.common.validators import fen_to_yuan
from siyu.communities.models import Community
from siyu.communities.services.queries import scoped_communities
from siyu.org.models import Region, Staff
from siyu.org.services.access import has_capability, visible_stores
from siyu.org.services.brand import current_brand_id
from siyu.org.services.stores import get_store

from .forms import YuanField
from .helpers import console_view, current_staff, form_error, is_htmx

PAGE_SIZE = 50


def _new_key() -> str:
    return uuid.uuid4().hex


# --- forms (parse what the browser sent; services decide) ---------------------------------------


class ProductForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    subtitle = forms.CharField(label=gettext_lazy("Subtitle"), max_length=200, required=False)
    category = forms.TypedChoiceField(
        label=gettext_lazy("Category"), required=False, coerce=int, empty_value=None
    )
    tags = forms.CharField(label=gettext_lazy("Tags (comma-separated)"), max_length=250, required=False)
    description = forms.CharField(
        label=gettext_lazy("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    image_url = forms.URLField(
        label=gettext_lazy("External image URL (only used while no picture is uploaded)"),
        max_length=500,
        required=False,
        assume_scheme="https",
    )
    is_hot = forms.BooleanField(label=gettext_lazy("Hot item"), required=False)
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def __init__(self, *args: Any, staff: Staff, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["category"].choices = [("", "—")] + [
            (str(c.pk), f"{c.parent.name} / {c.name}" if c.parent else c.name)
            for c in product_services.categories(staff)
        ]

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["tags"] = [
            t.strip() for t in (data.get("tags") or "").replace("，", ",").split(",") if t.strip()
        ]
        return data


class SkuForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("SKU code"), max_length=40)
    spec = forms.CharField(
        label=gettext_lazy("Specification"),
        max_length=60,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "白色 / 350ml"}),
    )
    price = YuanField(label=gettext_lazy("Price (yuan)"), minimum=1)
    member_price = YuanField(label=gettext_lazy("Member price (yuan)"), minimum=1, required=False)
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "code": data["code"],
            "spec": data.get("spec") or "",
            "price_fen": data["price"],
            "member_price_fen": data.get("member_price"),
            "active": bool(data.get("active")),
        }


class PublishForm(forms.Form):
    scope = forms.ChoiceField(
        label=gettext_lazy("Publish to"),
        choices=Publication.Scope.choices,
        initial=Publication.Scope.ALL,
        widget=forms.RadioSelect,
    )
    region = forms.TypedChoiceField(
        label=gettext_lazy("Region"), required=False, coerce=int, empty_value=None
    )
    stores = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Stores"), required=False, coerce=int, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, staff: Staff, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        regions = Region.objects.filter(brand_id=current_brand_id(staff)).order_by("code")
        fields["region"].choices = [("", "—")] + [(str(r.pk), r.name) for r in regions]
        fields["stores"].choices = [(str(s.pk), f"{s.code} {s.name}") for s in visible_stores(staff)]


_SKU_FIELD = {"price_fen": "price", "member_price_fen": "member_price", "code": "code", "spec": "spec"}


def _sku_error(form: SkuForm, exc: ServiceError) -> None:
    exc.field = _SKU_FIELD.get(exc.field or "", exc.field)
    form_error(form, exc)


# --- products (head office) -----------------------------------------------------------------------


@require_GET
@console_view()
def products(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    q = (request.GET.get("q") or "").strip()[:100]
    page = Paginator(queries.products(staff, q=q or None), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = []
    for product in page.object_list:
        prices = [s.price_fen for s in product.skus.all()]
        rows.append(
            {
                "product": product,
                "price_from": fen_to_yuan(min(prices)) if prices else "",
                "price_to": fen_to_yuan(max(prices)) if prices else "",
            }
        )
    context = {"page": page, "rows": rows, "q": q, "can_manage": has_capability(staff, "catalog.manage")}
    return render(request, "console/catalog/products.html", context)


@require_http_methods(["GET", "POST"])
@console_view()
def product_new(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    product_services.check_can_manage(staff)
    form = ProductForm(request.POST or None, request.FILES or None, staff=staff, prefix="product")
    sku_form = SkuForm(request.POST or None, prefix="sku")
    if request.method == "POST" and form.is_valid() and sku_form.is_valid():
        try:
            product = product_services.create_product(
                staff, form.service_data(), skus=[sku_form.service_data()]
            )
        except ServiceError as exc:
            if exc.field in _SKU_FIELD:
                _sku_error(sku_form, exc)
            else:
                form_error(form, exc)
        else:
            messages.success(request, _("Product “%(name)s” created.") % {"name": product.name})
            return redirect("console:product_detail", product_id=product.pk)
    return render(request, "console/catalog/product_new.html", {"form": form, "sku_form": sku_form})


def _detail_context(staff: Staff, product: Product, **forms_: Any) -> dict[str, Any]:
    skus = list(product.skus.order_by("id"))
    return {
        "product": product,
        "can_manage": has_capability(staff, "catalog.manage"),
        "form": forms_.get("form")
        or ProductForm(
            staff=staff,
            prefix="product",
            initial={
                "name": product.name,
                "subtitle": product.subtitle,
                "category": product.category_id,
                "tags": ", ".join(product.tags or []),
                "description": product.description,
                "image_url": product.image_url,
                "is_hot": product.is_hot,
                "active": product.active,
            },
        ),
        "sku_rows": [
            {"sku": s, "price": fen_to_yuan(s.price_fen), "member_price": fen_to_yuan(s.member_price_fen)}
            for s in skus
        ],
        "sku_form": forms_.get("sku_form") or SkuForm(prefix="sku"),
        "publish_form": forms_.get("publish_form") or PublishForm(staff=staff, prefix="pub"),
        "publications": list(queries.publications(staff, product.pk)),
        "images": [{"image": i, "thumb": i.url("thumb")} for i in product.images.order_by("position", "id")],
        "max_images": image_services.MAX_IMAGES,
        "max_image_mb": image_services.MAX_IMAGE_BYTES // (1024 * 1024),
        "card_stores": _card_stores(staff, product),
        "card_key": _new_key(),
    }


_SKIP_LABELS = {
    card_services.SKIP_NOT_OFFERED: gettext_lazy("not offered at its store"),
    card_services.SKIP_SOLD_OUT: gettext_lazy("sold out at its store"),
    card_services.SKIP_CLOSED: gettext_lazy("group closed"),
    card_services.SKIP_NO_PUBLIC_URL: gettext_lazy("no public site address for channel links"),
}


def _card_stores(staff: Staff, product: Product) -> list[dict[str, Any]]:
    """The groups ``staff`` may post a card to, by store, each store saying whether it can sell the product
    now (groups of stores that cannot are shown but not selectable)."""
    groups = scoped_communities(staff).filter(
        brand_id=product.brand_id, status__in=[Community.Status.OPEN, Community.Status.PENDING]
    )
    by_store: dict[int, dict[str, Any]] = {}
    for group in groups:
        entry = by_store.get(group.store_id)
        if entry is None:
            listing, reason, _several = card_services.pick_listing(product, group.store_id)
            entry = by_store[group.store_id] = {
                "store": group.store,
                "groups": [],
                "available": listing is not None,
                "reason": _SKIP_LABELS.get(reason, ""),
            }
        entry["groups"].append(group)
    return list(by_store.values())


@require_http_methods(["GET", "POST"])
@console_view()
def product_detail(request: HttpRequest, product_id: int) -> HttpResponse:
    """The product with its SKUs and publications; head office edits it here (POST)."""
    staff = current_staff(request)
    product = product_services.get_product(staff, product_id)
    form = None
    if request.method == "POST" and request.POST.get("action") == "post_cards":
        return _post_cards(request, staff, product)
    if request.method == "POST":
        product_services.check_can_manage(staff)
        form = ProductForm(request.POST, request.FILES or None, staff=staff, prefix="product")
        if form.is_valid():
            try:
                product_services.update_product(staff, product.pk, form.service_data())
            except ServiceError as exc:
                form_error(form, exc)
            else:
                messages.success(request, _("Product saved."))
                return redirect("console:product_detail", product_id=product.pk)
    context = _detail_context(staff, product, form=form)
    return render(request, "console/catalog/product_detail.html", context, status=400 if form else 200)


def _post_cards(request: HttpRequest, staff: Staff, product: Product) -> HttpResponse:
    """ "Post to groups": the robot posts the product's card into the chosen groups (any staff, their
    stores' groups); the form's key makes a double submit post once."""
    chosen = request.POST.getlist("communities")
    if not chosen:
        raise ValidationFailed(_("Choose the groups to post to."), field="community_ids")
    posts = card_services.post_product_card(
        staff,
        product_id=product.pk,
        community_ids=chosen,
        idempotency_key=request.POST.get("key") or "",
        base_url=request.build_absolute_uri("/"),
    )
    messages.success(
        request,
        ngettext(
            "Posted to %(posted)s group, skipped %(skipped)s.",
            "Posted to %(posted)s groups, skipped %(skipped)s.",
            len(posts),
        )
        % {"posted": len(posts), "skipped": len(posts.skipped)},
    )
    if posts.skipped:
        names = dict(
            Community.objects.filter(pk__in=[s.community_id for s in posts.skipped]).values_list("pk", "name")
        )
        detail = ", ".join(
            f"{names.get(s.community_id, s.community_id)} ({_SKIP_LABELS.get(s.reason, s.reason)})"
            for s in posts.skipped
        )
        messages.warning(request, _("Skipped: %(groups)s") % {"groups": detail})
    return redirect(reverse("console:product_detail", args=[product.pk]) + "#post-cards")


@require_POST
@console_view()
def product_images(request: HttpRequest, product_id: int) -> HttpResponse:
    """Head office's pictures of a product: upload several at once (each checked on its own: a refused
    file is named and the others are kept), make one the main picture, move one left/right, delete."""
    staff = current_staff(request)
    product = product_services.get_product(staff, product_id)
    product_services.check_can_manage(staff)
    action = request.POST.get("action") or "upload"
    back = redirect(reverse("console:product_detail", args=[product.pk]) + "#pictures")
    if action == "upload":
        uploads = request.FILES.getlist("pictures")
        if not uploads:
            raise ValidationFailed(_("Choose one or more pictures."), field="pictures")
        added = 0
        for upload in uploads:
            try:
                image_services.add_image(staff, product.pk, upload, size=upload.size)
            except ServiceError as exc:
                messages.error(request, f"{upload.name}: {exc.message}")
            else:
                added += 1
        if added:
            messages.success(
                request,
                ngettext("%(n)s picture added.", "%(n)s pictures added.", added) % {"n": added},
            )
        return back
    image_id = request.POST.get("image")
    if action == "delete":
        image_services.delete_image(staff, image_id)
        messages.success(request, _("Picture deleted."))
    elif action == "main":
        image_services.make_main(staff, image_id)
        messages.success(request, _("Main picture set."))
    elif action in ("left", "right"):
        ids = [i.pk for i in image_services.product_images(staff, product.pk)]
        pk = next((i for i in ids if str(i) == str(image_id)), None)
        if pk is None:
            raise ValidationFailed(_("No such picture."), field="image")
        at = ids.index(pk)
        to = at - 1 if action == "left" else at + 1
        if 0 <= to < len(ids):
            ids[at], ids[to] = ids[to], ids[at]
            image_services.order_images(staff, product.pk, ids)
    else:
        raise ValidationFailed(_("Unknown action."), field="action")
    return back


@require_POST
@console_view()
def sku_add(request: HttpRequest, product_id: int) -> HttpResponse:
    staff = current_staff(request)
    product = product_services.get_product(staff, product_id)
    product_services.check_can_manage(staff)
    sku_form = SkuForm(request.POST, prefix="sku")
    if sku_form.is_valid():
        try:
            sku = product_services.create_sku(staff, product.pk, sku_form.service_data())
        except ServiceError as exc:
            _sku_error(sku_form, exc)
        else:
            messages.success(request, _("SKU %(code)s added.") % {"code": sku.code})
            return redirect("console:product_detail", product_id=product.pk)
    context = _detail_context(staff, product, sku_form=sku_form)
    return render(request, "console/catalog/product_detail.html", context, status=400)


@require_POST
@console_view()
def sku_edit(request: HttpRequest, sku_id: int) -> HttpResponse:
    staff = current_staff(request)
    sku = product_services.get_sku(staff, sku_id)
    form = SkuForm(request.POST, prefix=f"sku{sku.pk}")
    if not form.is_valid():
        first = next(iter(form.errors), "price")
        raise ValidationFailed(_("Check the SKU's code and prices."), field=first)
    product_services.update_sku(staff, sku.pk, form.service_data())
    messages.success(request, _("SKU %(code)s saved.") % {"code": sku.code})
    return redirect("console:product_detail", product_id=sku.product_id)


@require_POST
@console_view()
def product_publish(request: HttpRequest, product_id: int) -> HttpResponse:
    staff = current_staff(request)
    product = product_services.get_product(staff, product_id)
    product_services.check_can_manage(staff)
    form = PublishForm(request.POST, staff=staff, prefix="pub")
    if form.is_valid():
        data = form.cleaned_data
        try:
            publication_services.publish(
                staff,
                product.pk,
                scope=data["scope"],
                region_id=data.get("region"),
                store_ids=data.get("stores") or None,
            )
        except ServiceError as exc:
            field = {"region_id": "region", "store_ids": "stores"}.get(exc.field or "", exc.field)
            exc.field = field
            form_error(form, exc)
        else:
            messages.success(request, _("Published."))
            return redirect("console:product_detail", product_id=product.pk)
    context = _detail_context(staff, product, publish_form=form)
    return render(request, "console/catalog/product_detail.html", context, status=400)


@require_POST
@console_view()
def publication_withdraw(request: HttpRequest, publication_id: int) -> HttpResponse:
    pub = publication_services.withdraw(current_staff(request), publication_id)
    messages.success(request, _("Publication withdrawn."))
    return redirect("console:product_detail", product_id=pub.product_id)


# --- store listings and stock (store staff, on a phone) -------------------------------------------


def _listing_row(listing: StoreListing) -> dict[str, Any]:
    return {
        "listing": listing,
        "price": fen_to_yuan(listing.sku.price_fen),
        "member_price": fen_to_yuan(listing.sku.member_price_fen),
        "key": _new_key(),
    }


@require_GET
@console_view()
def listings(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    stores = list(visible_stores(staff))
    store_param = request.GET.get("store") or (str(stores[0].pk) if stores else "")
    store = get_store(staff, store_param) if store_param else None
    rows: list[dict[str, Any]] = []
    page = None
    if store is not None:
        qs = queries.store_listings(staff, store.pk)
        q = (request.GET.get("q") or "").strip()[:100]
        if q:
            qs = qs.filter(sku__product__name__icontains=q)
        page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
        rows = [_listing_row(li) for li in page.object_list]
    context = {"stores": stores, "store": store, "rows": rows, "page": page, "q": request.GET.get("q", "")}
    return render(request, "console/catalog/listings.html", context)


def _after_change(request: HttpRequest, staff: Staff, listing_id: int) -> HttpResponse:
    listing = queries.store_listings(staff, queries.get_listing(staff, listing_id).store_id).get(
        pk=listing_id
    )
    if is_htmx(request):
        return render(request, "console/catalog/_listing_row.html", {"row": _listing_row(listing)})
    return redirect(reverse("console:listings") + f"?store={listing.store_id}#listing-{listing.pk}")


@require_POST
@console_view()
def listing_listed(request: HttpRequest, listing_id: int) -> HttpResponse:
    staff = current_staff(request)
    listed = request.POST.get("listed")
    if listed not in ("1", "0"):
        raise ValidationFailed(_("List or delist the item."), field="listed")
    stock.set_listed(staff, listing_id, listed == "1")
    return _after_change(request, staff, listing_id)


def _int_field(raw: str | None, field: str) -> int:
    try:
        return int((raw or "").strip())
    except ValueError:
        raise ValidationFailed(_("Give a whole number."), field=field) from None


@require_POST
@console_view()
def listing_stock(request: HttpRequest, listing_id: int) -> HttpResponse:
    """Set the counted stock, or add/take the ``delta`` of a −/+ button; the form's hidden key makes a
    repeated submission (double tap, retry) change stock only once."""
    staff = current_staff(request)
    key = request.POST.get("key") or ""
    if request.POST.get("delta"):
        stock.adjust_stock(
            staff,
            listing_id,
            _int_field(request.POST.get("delta"), "delta"),
            reason="adjust",
            idempotency_key=key,
        )
    else:
        stock.set_stock(
            staff, listing_id, _int_field(request.POST.get("stock"), "stock"), idempotency_key=key
        )
    return _after_change(request, staff, listing_id)
