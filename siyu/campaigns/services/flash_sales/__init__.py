"""Setting up flash sales (秒杀): create, edit, publish and cancel them; which sales a staff member sees; and
the live numbers of a running sale.

Who may do what:

- HQ admins and HQ operators create, edit, publish and cancel flash sales (store roles: PermissionDenied).
- Store staff (managers, clerks) see the *published or cancelled* sales that run in one of their stores
  (a sale with no stores chosen runs in every open store), read-only; drafts and other stores' sales look
  absent (NotFound). Their live numbers (units sold, orders written, orders per second, relay log) count
  only their own stores. The units *left* are the sale's one shared pool, the same number members see on
  the sale page, so everyone sees it.

Lifecycle: a sale is created as a **draft**, editable in full. **Publishing** fixes it: from then on its
items, prices, stock, limits, stores, groups and start are fixed — only the description, the end (later
only) and the pickup deadline (later only) can change — and ``flash_admission.open_sale`` opens admission.
**Cancelling** (draft or published, before the end) stops admission; orders already written stay as they
are, and staff cancel or refund them one by one like any order.

Every refused request raises ``ValidationFailed``/``Conflict`` (with ``field``) or ``PermissionDenied``/
``NotFound`` and changes nothing; every change is audited (``campaign.create|update|publish|cancel``).
Times are aware datetimes; money is integer fen.

Modules: ``phases`` (phase, limits), ``visibility`` (who may do what, which sales one sees),
``sale_input`` (cleaning a sale's setup), ``lifecycle`` (create, update, publish, cancel), ``live_stats``.
This package re-exports their public names so callers write ``flash_sales.publish_flash_sale(...)``.
"""

from siyu.campaigns.services.flash_sales.lifecycle import (
    cancel_flash_sale,
    create_as_system,
    create_flash_sale,
    publish_as_system,
    publish_flash_sale,
    update_flash_sale,
)
from siyu.campaigns.services.flash_sales.live_stats import (
    ItemStats,
    LiveStats,
    RelayLine,
    live_stats,
    units_left,
)
from siyu.campaigns.services.flash_sales.phases import (
    BUCKET,
    BUCKETS,
    DEFAULT_PICKUP,
    FLASH_FIELDS,
    ITEM_FIELDS,
    MAX_COMMUNITIES,
    MAX_DURATION,
    MAX_ITEMS,
    MAX_PER_MEMBER,
    MAX_PICKUP_AFTER_END,
    MAX_START_AHEAD,
    MAX_STOCK,
    MAX_STORES,
    MAX_WARMUP_BEFORE,
    PUBLISHED_EDITABLE,
    RATE_WINDOW,
    RELAY_LOG_SIZE,
    Phase,
    is_running,
    phase,
)
from siyu.campaigns.services.flash_sales.sale_input import (
    id_list,
)
from siyu.campaigns.services.flash_sales.visibility import (
    annotate_totals,
    can_manage,
    get_campaign,
    require_manager,
    running_flash_sales,
    sale_stores,
    visible_campaigns,
)

__all__ = [
    "BUCKET",
    "BUCKETS",
    "DEFAULT_PICKUP",
    "FLASH_FIELDS",
    "ITEM_FIELDS",
    "MAX_COMMUNITIES",
    "MAX_DURATION",
    "MAX_ITEMS",
    "MAX_PER_MEMBER",
    "MAX_PICKUP_AFTER_END",
    "MAX_START_AHEAD",
    "MAX_STOCK",
    "MAX_STORES",
    "MAX_WARMUP_BEFORE",
    "PUBLISHED_EDITABLE",
    "RATE_WINDOW",
    "RELAY_LOG_SIZE",
    "ItemStats",
    "LiveStats",
    "Phase",
    "RelayLine",
    "annotate_totals",
    "can_manage",
    "cancel_flash_sale",
    "create_as_system",
    "create_flash_sale",
    "get_campaign",
    "id_list",
    "is_running",
    "live_stats",
    "phase",
    "publish_as_system",
    "publish_flash_sale",
    "require_manager",
    "running_flash_sales",
    "sale_stores",
    "units_left",
    "update_flash_sale",
    "visible_campaigns",
]
