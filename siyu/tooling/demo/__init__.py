"""The demo chain (``siyu demo``, ``siyu seed-demo``): ``chain.seed_demo`` builds it from the pieces here —
``org`` (stores, staff), ``members``, ``communities``, ``catalog``, ``flash_sale`` and ``group_buy`` — each
writing through the owning app's services."""
