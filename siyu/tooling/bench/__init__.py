"""Benchmarks behind ``siyu bench``: ``flash_sale`` (the database steps of the flash-sale run),
``http_load`` (its HTTP client, no database), ``flash_sale_run`` (orchestration: scratch database, server,
load, baseline, audit), ``seed_demo`` and ``member_import``, and ``scratch`` (a throw-away PostgreSQL
database)."""
