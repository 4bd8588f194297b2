"""H5 member mall: browse the store's products, a session cart, checkout, payment and my orders.

Thin callers of ``siyu.catalog.services.queries`` and ``siyu.orders.services``: prices, stock, availability
and order rules are the services'; service errors are shown as messages, never as a server error. A member
sees only their own orders: any other order id answers 404.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from datetime import datetime, time, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.db.models import Prefetch, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.catalog.models import Category, Product, ProductImage, StoreListing
from siyu.catalog.services import images
from siyu.catalog.services.images import main_image
from siyu.catalog.services.queries import available_listings, member_unit_fen
from siyu.channels.payments import PaymentError, PaymentNotConfigured, get_payment_provider
from siyu.common.errors import NotFound, ServiceError
from siyu.common.idempotency import MISMATCH_CODE
from siyu.common.validators import fen_to_yuan, optional_id, yuan_to_fen
from siyu.communities.services.livecodes import _qr_image
from siyu.communities.services.queries import member_group_id
from siyu.loyalty.services import balance_orders, coupons_checkout
from siyu.loyalty.services.stored_value import balance_of
from siyu.members.models import Member
from siyu.members.services import signin
from siyu.orders.models import Order, OrderLine, OrderStatus, PaymentMethod
from siyu.orders.services import transitions
from siyu.orders.services.checkout import MAX_QUANTITY, create_order
from siyu.orders.services.create import payment_method
from siyu.orders.services.payments import apply_payment_notice, start_payment
from siyu.orders.services.pickup import PickupDisplay, pickup_display
from siyu.orders.services.queries import member_order, member_orders, pickup_store, pickup_stores
from siyu.org.models import Store
from siyu.org.services.brand import brand_name

CART_KEY = "siyu_mall_cart"
LAST_CHECKOUT_KEY = "siyu_mall_last_checkout"  # {"key", "items"} of the last order placed from the cart
GROUP_KEY = "siyu_mall_group"  # the group whose product card brought the member here (credited at checkout)
STORE_KEY = "siyu_mall_store"
# Pickup slots offered at checkout: (start hour, end hour), local time, today and tomorrow.
PICKUP_SLOTS = ((10, 12), (12, 14), (14, 16), (16, 18), (18, 21))

MAX_GRID_LISTINGS = 600  # a store's mall page shows at most this many SKUs (search narrows it)
_IMAGES = Prefetch("sku__product__images", queryset=ProductImage.objects.order_by("position", "id"))

MallView = Callable[..., HttpResponseBase]


def _render(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HttpResponse:
    return render(request, template, {"brand_name": brand_name(), **(context or {})}, status=status)


def _member_view(view: MallView) -> Callable[..., HttpResponseBase]:
    """Pass the signed-in member to ``view``; send anyone else to the sign-in page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        member = signin.member_from_session(request)
        if member is None:
            return redirect(f"{reverse('h5:login')}?{urlencode({'next': request.get_full_path()})}")
        return view(request, member, *args, **kwargs)

    return wrapper


def qr_png(data: str) -> bytes:
    """A PNG QR code of ``data`` (the live-code QR renderer, shared)."""
    out = io.BytesIO()
    _qr_image(data).save(out, format="PNG")
    return out.getvalue()


def _mall_store(request: HttpRequest, member: Member) -> Store | None:
    """The member's home store, else the open store they picked for this session."""
    if member.home_store_id is not None:
        return member.home_store
    picked = request.session.get(STORE_KEY)
    return pickup_store(member, picked) if isinstance(picked, int) else None


def _cart(request: HttpRequest) -> dict[int, int]:
    raw = request.session.get(CART_KEY)
    cart: dict[int, int] = {}
    if isinstance(raw, dict):
        for key, qty in raw.items():
            try:
                listing_id, n = int(key), int(qty)
            except (TypeError, ValueError):
                continue
            if n > 0:
                cart[listing_id] = min(n, MAX_QUANTITY)
    return cart


def _save_cart(request: HttpRequest, cart: dict[int, int]) -> None:
    # Session data is JSON: keys become strings either way, so store them as strings explicitly.
    request.session[CART_KEY] = {str(k): v for k, v in cart.items() if v > 0}


def _listing_row(listing: StoreListing, qty: int = 0) -> dict[str, Any]:
    sku = listing.sku
    unit = member_unit_fen(sku)
    return {
        "listing": listing,
        "product": sku.product,
        "sku": sku,
        "price": fen_to_yuan(sku.price_fen),
        "member_price": fen_to_yuan(sku.member_price_fen) if sku.member_price_fen else "",
        "unit_fen": unit,
        "unit": fen_to_yuan(unit),
        "qty": qty,
        "subtotal": fen_to_yuan(unit * qty),
        "thumb": _picture(sku.product, "thumb"),
    }


def _pickup_options(now: datetime) -> list[tuple[str, str]]:
    local = timezone.localtime(now)
    options = []
    for offset, day_label in ((0, _("Today")), (1, _("Tomorrow"))):
        for start, end in PICKUP_SLOTS:
            window = _window(local, offset, start)
            if window is None or window[1] <= now:
                continue
            options.append((f"{offset}:{start}", f"{day_label} {start:02d}:00–{end:02d}:00"))
    return options


def _window(local_now: datetime, offset: int, start_hour: int) -> tuple[datetime, datetime] | None:
    slot = dict(PICKUP_SLOTS).get(start_hour)
    if slot is None or offset not in (0, 1):
        return None
    day = local_now.date() + timedelta(days=offset)
    tz = timezone.get_current_timezone()
    return (
        timezone.make_aware(datetime.combine(day, time(start_hour)), tz),
        timezone.make_aware(datetime.combine(day, time(slot)), tz),
    )


def _parse_window(value: str) -> tuple[datetime, datetime] | None:
    offset, _sep, hour = value.partition(":")
    if not (offset.isdigit() and hour.isdigit()):
        return None
    return _window(timezone.localtime(), int(offset), int(hour))


def _error(request: HttpRequest, exc: ServiceError | PaymentError) -> None:
    if isinstance(exc, ServiceError):
        messages.error(request, str(exc.message))
    else:
        messages.error(request, _("The payment service is unavailable; please try again later."))


# --- browsing ------------------------------------------------------------------------------------------


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _picture(product: Product, size: str) -> str:
    image = main_image(product)
    if image is not None:
        return image.url(size)
    return product.image_url


def _product_cards(listings: list[StoreListing]) -> list[dict[str, Any]]:
    """One card per product (in the listings' order): its cheapest member price ("from" when its SKUs
    differ), the SKU to open or add directly, whether any is in stock."""
    by_product: dict[int, list[StoreListing]] = {}
    for listing in listings:
        by_product.setdefault(listing.sku.product_id, []).append(listing)
    cards = []
    for group in by_product.values():
        cheapest = min(group, key=lambda lst: (member_unit_fen(lst.sku), lst.sku_id))
        in_stock = [lst for lst in group if lst.stock > 0]
        product = group[0].sku.product
        cards.append(
            {
                "product": product,
                "listing": (min(in_stock, key=lambda lst: lst.sku_id) if in_stock else group[0]),
                "thumb": _picture(product, "thumb"),
                "unit": fen_to_yuan(member_unit_fen(cheapest.sku)),
                "price": fen_to_yuan(cheapest.sku.price_fen),
                "is_member_price": cheapest.sku.member_price_fen is not None,
                "several_prices": len({member_unit_fen(lst.sku) for lst in group}) > 1,
                "in_stock": bool(in_stock),
                # "+" adds straight from the grid only when there is nothing to choose.
                "quick_add": len(group) == 1 and bool(in_stock),
            }
        )
    return cards


@never_cache
@require_GET
@_member_view
def mall(request: HttpRequest, member: Member) -> HttpResponseBase:
    """The store's available products as a grid of cards with pictures, hot items first; category chips
    (``?cat=``) and a name search (``?q=``). A store picker when the member has no store."""
    store = _mall_store(request, member)
    if store is None or (member.home_store_id is None and request.GET.get("pick")):
        return _render(request, "h5/mall/pick_store.html", {"stores": list(pickup_stores(member))})
    available = available_listings(store.pk)
    categories = list(
        Category.objects.filter(pk__in=available.values("sku__product__category_id")).order_by(
            "position", "name", "id"
        )
    )
    q = " ".join((request.GET.get("q") or "").split())[:50]
    category_id = optional_id(request.GET.get("cat"))
    shown = available
    if category_id is not None:
        shown = shown.filter(
            Q(sku__product__category_id=category_id) | Q(sku__product__category__parent_id=category_id)
        )
    if q:
        shown = shown.filter(sku__product__name__icontains=q)
    listings = list(shown.prefetch_related(_IMAGES)[:MAX_GRID_LISTINGS])
    return _render(
        request,
        "h5/mall/index.html",
        {
            "store": store,
            "cards": _product_cards(listings),
            "categories": categories,
            "category_id": category_id,
            "q": q,
            "can_pick": member.home_store_id is None,
            "cart_count": _count(request),
        },
    )


def _count(request: HttpRequest) -> int:
    return sum(_cart(request).values())


@require_POST
@_member_view
def pick_store(request: HttpRequest, member: Member) -> HttpResponseBase:
    """Choose the store to shop at (members without a home store); the cart starts afresh."""
    store = pickup_store(member, optional_id(request.POST.get("store")))
    if store is None:
        messages.error(request, _("Choose an open store."))
    else:
        request.session[STORE_KEY] = store.pk
        _save_cart(request, {})
    return redirect("h5:mall")


@never_cache
@require_GET
@_member_view
def product(request: HttpRequest, member: Member, listing_id: int) -> HttpResponseBase:
    """A product's pictures and its SKUs available at the member's store, as spec buttons. A card posted in a
    group may point at another store's listing of the product: the member still sees their own store's
    listings of it."""
    store = _mall_store(request, member)
    if store is None:
        return redirect("h5:mall")
    listing = StoreListing.objects.select_related("sku").filter(pk=listing_id).first()
    if listing is None:
        raise Http404
    rows = [
        _listing_row(lst)
        for lst in available_listings(store.pk)
        .filter(sku__product_id=listing.sku.product_id)
        .prefetch_related(_IMAGES)
        .order_by("sku_id")
    ]
    if not rows:
        raise Http404
    group_id = member_group_id(member, request.GET.get("g"))
    if group_id is not None:
        request.session[GROUP_KEY] = group_id
    in_stock = [r["listing"].pk for r in rows if r["listing"].stock > 0]
    asked = listing.pk if any(r["listing"].pk == listing.pk for r in rows) else None
    if asked is None or (asked not in in_stock and in_stock):
        asked = in_stock[0] if in_stock else rows[0]["listing"].pk
    selected = next(r for r in rows if r["listing"].pk == asked)
    the_product = rows[0]["product"]
    pictures = [
        {"large": image.url("large"), "thumb": image.url("thumb")}
        for image in the_product.images.order_by("position", "id")
    ]
    if not pictures and the_product.image_url:
        pictures = [{"large": the_product.image_url, "thumb": the_product.image_url}]
    return _render(
        request,
        "h5/mall/product.html",
        {
            "store": store,
            "product": the_product,
            "pictures": pictures,
            "rows": rows,
            "selected": selected,
            "any_in_stock": bool(in_stock),
            "max_quantity": MAX_QUANTITY,
            "cart_count": _count(request),
        },
    )


@require_GET
def product_image(request: HttpRequest, image_id: int, name: str) -> HttpResponseBase:
    """A product picture's variant (public: cards in channel groups show it; the URL's random key changes
    when the picture does, so it is cached for good)."""
    try:
        handle = images.open_variant(image_id, name)
    except NotFound:
        raise Http404 from None
    response = FileResponse(handle, content_type=images.CONTENT_TYPE)
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- cart and checkout ---------------------------------------------------------------------------------


def _added(request: HttpRequest, message: str, *, ok: bool, status: int = 200) -> HttpResponse:
    """The htmx answer to "add to cart": a toast for the page and the cart badges (out of band); the member
    stays on the page."""
    return _render(
        request,
        "h5/mall/_added.html",
        {"message": message, "ok": ok, "cart_count": _count(request)},
        status=status,
    )


@require_POST
@_member_view
def cart_add(request: HttpRequest, member: Member) -> HttpResponseBase:
    """Add a quantity of a listing available at the member's store to the session cart. From htmx (the
    mall's pages) the answer is a toast fragment and the page stays; otherwise a redirect to the cart."""
    store = _mall_store(request, member)
    listing_id = optional_id(request.POST.get("listing"))
    qty = optional_id(request.POST.get("quantity") or "1")
    htmx = _is_htmx(request)
    if store is None:
        return redirect("h5:mall")
    listing = available_listings(store.pk).filter(pk=listing_id).first() if listing_id else None
    if listing is None:
        message = _("This item is not available at your store.")
        if htmx:
            return _added(request, message, ok=False, status=409)
        messages.error(request, message)
        return redirect("h5:mall")
    if qty is None or qty > MAX_QUANTITY:
        message = _("Quantities are between 1 and %(n)s.") % {"n": MAX_QUANTITY}
        if htmx:
            return _added(request, message, ok=False, status=400)
        messages.error(request, message)
        return redirect("h5:mall_product", listing_id=listing.pk)
    if listing.stock <= 0:
        message = _("Sold out")
        if htmx:
            return _added(request, message, ok=False, status=409)
        messages.error(request, message)
        return redirect("h5:mall_product", listing_id=listing.pk)
    cart = _cart(request)
    cart[listing.pk] = min(cart.get(listing.pk, 0) + qty, MAX_QUANTITY)
    _save_cart(request, cart)
    if htmx:
        return _added(request, _("Added to your cart."), ok=True)
    messages.success(request, _("Added to your cart."))
    return redirect("h5:mall_cart")


@never_cache
@require_GET
@_member_view
def cart(request: HttpRequest, member: Member) -> HttpResponseBase:
    """The cart with quantities and total, and the checkout form. Its idempotency key is new on every
    render, so submitting this form twice places one order."""
    store = _mall_store(request, member)
    if store is None:
        return redirect("h5:mall")
    return _cart_page(request, store, member)


def _coupon_choices(member: Member, store: Store, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The coupons usable on this cart and the suggested (best) choice, preselected at checkout."""
    found = coupons_checkout.suggest(
        member.pk, store.pk, [(r["listing"].sku, r["qty"], r["unit_fen"]) for r in rows]
    )
    offers = [
        {
            "value": str(o.coupon.pk),
            "name": o.coupon.template.name,
            "text": o.text,
            "off": fen_to_yuan(o.discount_fen),
        }
        for o in found.offers
    ]
    best_is_single = len(found.best) <= 1
    return {
        "coupon_offers": offers,
        "coupon_best": found.best_value,
        "coupon_best_off": fen_to_yuan(found.best_fen),
        "coupon_best_combined": not best_is_single,
        "coupon_none": coupons_checkout.NONE,
    }


def _cart_page(request: HttpRequest, store: Store, member: Member, status: int = 200) -> HttpResponse:
    wanted = _cart(request)
    listings = available_listings(store.pk).filter(pk__in=list(wanted)).prefetch_related(_IMAGES)
    rows = [_listing_row(lst, wanted[lst.pk]) for lst in listings]
    if len(rows) != len(wanted):
        # Items no longer available here (or from a store left behind) drop out of the cart.
        _save_cart(request, {r["listing"].pk: r["qty"] for r in rows})
        messages.warning(request, _("Some items are no longer available and were removed."))
    total = sum(r["unit_fen"] * r["qty"] for r in rows)
    return _render(
        request,
        "h5/mall/cart.html",
        {
            "store": store,
            "rows": rows,
            "total": fen_to_yuan(total),
            "pickup_options": _pickup_options(timezone.now()),
            "idempotency_key": secrets.token_urlsafe(24),
            "max_quantity": MAX_QUANTITY,
            "cart_count": sum(r["qty"] for r in rows),
            **(coupons := _coupon_choices(member, store, rows)),
            "balance_offer": _balance_offer(member, total - _best_off_fen(coupons)),
        },
        status=status,
    )


def _best_off_fen(coupons: dict[str, Any]) -> int:
    off = coupons.get("coupon_best_off") or "0"
    return yuan_to_fen(off, "coupons") if coupons.get("coupon_offers") else 0


def _balance_offer(member: Member, due_fen: int) -> dict[str, str] | None:
    """余额支付 at checkout: offered when the member's balance covers what the cart will cost (after the
    suggested coupon); principal and bonus shown apart."""
    balance = balance_of(member)
    if due_fen <= 0 or balance.total_fen < due_fen:
        return None
    return {
        "total": fen_to_yuan(balance.total_fen),
        "principal": fen_to_yuan(balance.principal_fen),
        "bonus": fen_to_yuan(balance.bonus_fen),
        "other_label": _other_method_label(),
    }


def _other_method_label() -> str:
    try:
        return str(PaymentMethod(payment_method()).label)
    except (PaymentNotConfigured, ValueError):
        return _("Pay another way")


@require_POST
@_member_view
def cart_update(request: HttpRequest, member: Member) -> HttpResponseBase:
    """Change quantities (``qty_<listing id>``); 0 removes the line."""
    cart = _cart(request)
    for listing_id in list(cart):
        raw = request.POST.get(f"qty_{listing_id}")
        if raw is None:
            continue
        try:
            n = int(raw)
        except ValueError:
            continue
        cart[listing_id] = max(0, min(n, MAX_QUANTITY))
    _save_cart(request, cart)
    return redirect("h5:mall_cart")


def _checkout_options(request: HttpRequest) -> dict[str, str] | None:
    """The member's coupon choice at checkout (``none`` or coupon ids), passed to the price adjusters."""
    choice = (request.POST.get("coupons") or "").strip()[:100]
    if not choice or choice == coupons_checkout.NONE:
        return None
    return {coupons_checkout.OPTION: choice}


@require_POST
@_member_view
def checkout(request: HttpRequest, member: Member) -> HttpResponseBase:
    """Place the order of the cart; pay online when the provider needs it, else go to the order."""
    store = _mall_store(request, member)
    if store is None:
        return redirect("h5:mall")
    window = _parse_window(request.POST.get("pickup_window", ""))
    if window is None:
        messages.error(request, _("Choose a pickup time."))
        return redirect("h5:mall_cart")
    key = request.POST.get("idempotency_key", "")
    items = sorted(_cart(request).items())
    last = request.session.get(LAST_CHECKOUT_KEY)
    if not items and isinstance(last, dict) and last.get("key") == key:
        # The form sent twice: the first placed the order and emptied the cart; ask for the same again.
        items = [tuple(pair) for pair in last.get("items", [])]
    try:
        order = create_order(
            member,
            store_id=store.pk,
            items=items,
            pickup_window=window,
            idempotency_key=key,
            community_id=member_group_id(member, request.session.get(GROUP_KEY)),
            options=_checkout_options(request),
            tender=balance_orders.METHOD if request.POST.get("pay_with") == "balance" else None,
        )
    except ServiceError as exc:
        _error(request, exc)
        if exc.code == MISMATCH_CODE:
            # The same form key with another cart or store: refused, and said so (409), nothing placed.
            return _cart_page(request, store, member, status=409)
        return redirect("h5:mall_cart")
    request.session[LAST_CHECKOUT_KEY] = {"key": key, "items": [list(pair) for pair in items]}
    _save_cart(request, {})
    request.session.pop(GROUP_KEY, None)
    return _pay_or_show(request, order)


def _pay_or_show(request: HttpRequest, order: Order) -> HttpResponseBase:
    if order.status != OrderStatus.PENDING_PAYMENT or order.payment_method == PaymentMethod.PAY_AT_PICKUP:
        return redirect("h5:order", order_id=order.pk)
    notify_url = getattr(settings, "SIYU_PAYMENT_NOTIFY_URL", "") or request.build_absolute_uri(
        reverse("pay_hooks:wechat")
    )
    try:
        pay = start_payment(
            order, notify_url=notify_url, client_ip=request.META.get("REMOTE_ADDR"), kind="h5"
        )
    except (ServiceError, PaymentError) as exc:
        _error(request, exc)
        return redirect("h5:order", order_id=order.pk)
    if pay.requires_online_payment and pay.h5_url:
        return redirect(pay.h5_url)
    messages.info(request, _("Open this page in WeChat to pay."))
    return redirect("h5:order", order_id=order.pk)


# --- payment (SANDBOX) ---------------------------------------------------------------------------------


def _sandbox_active() -> bool:
    try:
        return get_payment_provider().name == "sandbox"
    except PaymentNotConfigured:
        return False


@never_cache
@require_http_methods(["GET", "POST"])
@_member_view
def sandbox_pay(request: HttpRequest, member: Member, out_trade_no: str) -> HttpResponseBase:
    """The SANDBOX cashier (demo only; 404 unless the sandbox provider is configured): "confirm payment"
    yields the provider's notice, applied as a real one would be."""
    if not _sandbox_active():
        raise Http404
    order = Order.objects.filter(out_trade_no=out_trade_no, member=member).first()
    if order is None:
        raise Http404
    if request.method == "POST":
        from siyu.channels.payments.sandbox import confirm_sandbox_payment

        try:
            apply_payment_notice(confirm_sandbox_payment(out_trade_no))
        except (ServiceError, PaymentError) as exc:
            _error(request, exc)
            return redirect("h5:sandbox_pay", out_trade_no=out_trade_no)
        messages.success(request, _("Payment received."))
        return redirect("h5:order", order_id=order.pk)
    return _render(
        request, "h5/mall/sandbox_pay.html", {"order": order, "total": fen_to_yuan(order.total_fen)}
    )


# --- my orders -----------------------------------------------------------------------------------------


def _my_order(member: Member, order_id: int) -> Order:
    try:
        return member_order(member, order_id)
    except NotFound:
        raise Http404 from None


def _pickup(order: Order) -> PickupDisplay:
    """The QR, short code, or why none is shown yet (a pickup guard's reason, e.g. a forming group buy)."""
    return pickup_display(order)


@never_cache
@require_GET
@_member_view
def orders(request: HttpRequest, member: Member) -> HttpResponseBase:
    """The member's orders, newest first."""
    rows = [{"order": o, "total": fen_to_yuan(o.total_fen)} for o in member_orders(member)]
    return _render(request, "h5/mall/orders.html", {"rows": rows})


@never_cache
@require_GET
@_member_view
def order(request: HttpRequest, member: Member, order_id: int) -> HttpResponseBase:
    """One of the member's orders: lines, status, pickup store and window, the pickup code when usable."""
    found = _my_order(member, order_id)
    lines: list[OrderLine] = list(found.lines.all())
    pending = found.status == OrderStatus.PENDING_PAYMENT
    return _render(
        request,
        "h5/mall/order.html",
        {
            "order": found,
            "lines": [
                {
                    "line": line,
                    "unit": fen_to_yuan(line.unit_price_fen),
                    "subtotal": fen_to_yuan(line.unit_price_fen * line.quantity),
                }
                for line in lines
            ],
            "total": fen_to_yuan(found.total_fen),
            # Order-level adjustments (a coupon, a gift): why the total differs from the lines.
            "order_adjustments": [
                {
                    "label": a.label,
                    "amount": (
                        f"−¥{fen_to_yuan(-a.amount_fen)}"
                        if a.amount_fen < 0
                        else f"¥{fen_to_yuan(a.amount_fen)}"
                    )
                    if a.amount_fen
                    else "",
                }
                for a in found.adjustments.filter(line__isnull=True).order_by("position")
            ],
            "pickup": _pickup(found),
            "can_cancel": pending,
            "can_pay": pending and found.payment_method != PaymentMethod.PAY_AT_PICKUP,
        },
    )


@never_cache
@require_GET
@_member_view
def order_qr(request: HttpRequest, member: Member, order_id: int) -> HttpResponseBase:
    """The pickup code as a PNG QR (the member's own order, while it has a usable code; else 404)."""
    code = _pickup(_my_order(member, order_id)).code
    if not code:
        raise Http404
    response = HttpResponse(qr_png(code), content_type="image/png")
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@_member_view
def order_pay(request: HttpRequest, member: Member, order_id: int) -> HttpResponseBase:
    """Pay (again) an order awaiting online payment."""
    return _pay_or_show(request, _my_order(member, order_id))


@require_POST
@_member_view
def order_cancel(request: HttpRequest, member: Member, order_id: int) -> HttpResponseBase:
    """Cancel the member's unpaid order."""
    found = _my_order(member, order_id)
    try:
        transitions.cancel(found.pk, member=member)
    except ServiceError as exc:
        _error(request, exc)
    else:
        messages.success(request, _("The order was cancelled."))
    return redirect("h5:order", order_id=found.pk)
