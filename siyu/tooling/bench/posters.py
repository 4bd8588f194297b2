"""``siyu bench posters``: share posters per second, drawn (uncached) and served from the disk cache.

Needs no database: the campaign, store and members are unsaved model instances, and the cache is a
temporary directory (``MEDIA_ROOT`` is pointed at it for the run). The baseline is the store's printable
live-code poster (``communities.services.livecodes.live_code_poster_png``), drawn the same number of times:
``uncached_vs_baseline`` is how a share poster compares with a poster Siyu already draws.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

from django.test import override_settings

from siyu.communities.models import GroupTemplate, LiveCode
from siyu.communities.services.livecodes import live_code_poster_png
from siyu.members.models import Member
from siyu.org.models import Store
from siyu.referrals.models import ReferralCampaign
from siyu.referrals.services import posters

BASE_URL = "https://shop.example.com/"


def _per_second(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else 0.0


def run(*, posters_count: int = 200) -> dict[str, Any]:
    store = Store(pk=1, name="朝阳大悦城店", code="BJ001")
    template = GroupTemplate(pk=1, name="宝妈群", rules_text="每周二上新")
    code = LiveCode(pk=1, store=store, template=template, name="朝阳大悦城店·宝妈群")
    code.token = "benchtoken"  # noqa: S105 -- a live code's public token, not a secret
    campaign = ReferralCampaign(
        pk=1, store=store, live_code=code, name="邀好友进群", headline="邀好友 得积分", art_version=1
    )
    members = [Member(pk=i + 1, nickname=f"会员{i:04d}") for i in range(posters_count)]
    with tempfile.TemporaryDirectory(prefix="siyu-posters-") as media, override_settings(MEDIA_ROOT=media):
        start = time.perf_counter()
        sizes = [len(posters.poster_png(campaign, m, BASE_URL)) for m in members]
        uncached = time.perf_counter() - start
        start = time.perf_counter()
        for m in members:
            posters.poster_png(campaign, m, BASE_URL)
        cached = time.perf_counter() - start
    start = time.perf_counter()
    for _i in range(posters_count):
        live_code_poster_png(code, BASE_URL)
    baseline = time.perf_counter() - start
    uncached_rate = _per_second(posters_count, uncached)
    cached_rate = _per_second(posters_count, cached)
    baseline_rate = _per_second(posters_count, baseline)
    return {
        "bench": "posters",
        "posters": posters_count,
        "font": posters.poster_font_path() or "",
        "uncached_per_s": uncached_rate,
        "cached_per_s": cached_rate,
        "cached_speedup": round(cached_rate / uncached_rate, 1) if uncached_rate else 0.0,
        "baseline_live_code_poster_per_s": baseline_rate,
        "uncached_vs_baseline": round(uncached_rate / baseline_rate, 2) if baseline_rate else 0.0,
        "mean_png_kb": round(sum(sizes) / len(sizes) / 1024, 1) if sizes else 0.0,
    }
