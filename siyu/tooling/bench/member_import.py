"""``siyu bench import``: time to import a POS member file, and to re-import it (inside the scratch
database). The brand, stores and importing staff member are set up through ``siyu.org.services.bulk``."""

from __future__ import annotations

import csv
import io
import secrets
import time
from typing import Any

from django.db import connection

from siyu.members.services.imports import import_members
from siyu.org.models import Role, Staff, Store
from siyu.org.services import bulk as org_bulk


def run(*, rows: int) -> dict[str, Any]:
    brand = org_bulk.create_brand("bench", "Bench")
    stores = org_bulk.bulk_create_stores(
        brand, [Store(code=f"B{i:03d}", name=f"Bench {i}") for i in range(5)]
    )
    [staff] = org_bulk.bulk_create_staff(
        brand, [(Staff(username="bench", role=Role.HQ_ADMIN), [])], password=secrets.token_urlsafe(24)
    )
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["手机号", "姓名", "性别", "生日", "门店编码", "标签"])
    for i in range(rows):
        writer.writerow(
            [
                f"135{i:08d}",
                f"会员{i}",
                "女" if i % 3 else "男",
                f"19{70 + i % 30}-0{1 + i % 9}-1{i % 9}",
                stores[i % 5].code,
                "兴趣/宝妈" if i % 2 else "兴趣/健康养生",
            ]
        )
    content = buf.getvalue().encode("utf-8")
    started = time.perf_counter()
    first = import_members(staff, "bench.csv", content)
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    again = import_members(staff, "bench.csv", content)
    again_s = time.perf_counter() - started
    return {
        "bench": "import",
        "backend": connection.vendor,
        "rows": rows,
        "status": first.status,
        "created": first.created_count,
        "seconds": round(first_s, 2),
        "rows_per_s": round(rows / first_s, 1) if first_s else None,
        "reimport_created": again.created_count,
        "reimport_updated": again.updated_count,
        "reimport_seconds": round(again_s, 2),
    }
