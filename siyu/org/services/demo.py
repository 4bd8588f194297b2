"""The demo chain: a deterministic, realistic Beijing home-goods chain for trying Siyu out.

``seed_demo`` builds the brand 木棉家居 with regions, stores in real Beijing malls, HQ and store
staff, and members with profiles, tags, consent history, notes and events. The same seed gives
the same stores, staff, names and mobile numbers (dates are laid out relative to today so the
data always looks current). Everything is written with bulk inserts inside one transaction:
a failed run leaves nothing behind.
"""

from __future__ import annotations

import random
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.models import Event
from siyu.analytics.services.events import bulk_record_events
from siyu.catalog.services.demo import seed_catalog_demo
from siyu.common.errors import Conflict, ValidationFailed
from siyu.communities.services.demo import seed_community_demo
from siyu.members.models import (
    ConsentRecord,
    Gender,
    Member,
    MemberNote,
    MemberTag,
    Source,
    Tag,
    TagGroup,
)
from siyu.members.services.profiles import age_band_for
from siyu.members.services.tags import recompute_rule_tag, validate_rule
from siyu.org.models import Brand, Region, Role, Staff, Store

DEMO_BRAND_CODE = "mumian"
DEMO_BRAND_NAME = "木棉家居"
DEFAULT_PASSWORD = "siyu-demo-2026"  # noqa: S105 -- the published demo password, printed on every run
MAX_STORES = 2000
MAX_MEMBERS = 1_000_000
BATCH = 2000
OPENING_HOURS = "10:00-22:00"

REGIONS: list[tuple[str, str]] = [
    ("east", "城东"),
    ("west", "城西"),
    ("north", "城北"),
    ("south", "城南"),
    ("suburb", "近郊"),
]

# Flagship stores in real Beijing malls: name, district, address, latitude, longitude, region.
CURATED_STORES: list[tuple[str, str, str, float, float, str]] = [
    ("朝阳大悦城店", "朝阳区", "朝阳北路101号朝阳大悦城5层", 39.924203, 116.518712, "east"),
    ("西单大悦城店", "西城区", "西单北大街131号西单大悦城6层", 39.910896, 116.373103, "west"),
    ("五道口购物中心店", "海淀区", "成府路28号五道口购物中心3层", 39.992651, 116.337622, "north"),
    ("首地大峡谷店", "丰台区", "南三环西路16号首地大峡谷购物中心3层", 39.857327, 116.354025, "south"),
    ("通州万达广场店", "通州区", "新华西街58号万达广场3层", 39.906822, 116.647013, "east"),
    ("三里屯太古里店", "朝阳区", "三里屯路19号太古里北区B1层", 39.936801, 116.454705, "east"),
    ("金融街购物中心店", "西城区", "金城坊街2号金融街购物中心3层", 39.917231, 116.359614, "west"),
    ("天通苑龙德广场店", "昌平区", "立汤路186号龙德广场3层", 40.068012, 116.418033, "north"),
    ("西红门荟聚店", "大兴区", "欣宁街15号荟聚购物中心2层", 39.787315, 116.331027, "south"),
    ("良乡店", "房山区", "拱辰北大街35号华冠购物中心2层", 39.737041, 116.144106, "suburb"),
    ("国贸商城店", "朝阳区", "建国门外大街1号国贸商城北区3层", 39.909842, 116.460131, "east"),
    ("新中关购物中心店", "海淀区", "中关村大街19号新中关购物中心4层", 39.978622, 116.316704, "west"),
    ("望京凯德MALL店", "朝阳区", "广顺北大街33号凯德MALL3层", 40.001014, 116.471226, "north"),
    ("丽泽天街店", "丰台区", "丽泽路16号院丽泽天街3层", 39.866032, 116.311048, "south"),
    ("祥云小镇店", "顺义区", "安泰大街9号院祥云小镇", 40.094810, 116.535302, "suburb"),
    ("合生汇店", "朝阳区", "西大望路21号合生汇4层", 39.893915, 116.478108, "east"),
    ("石景山万达广场店", "石景山区", "石景山路乙18号万达广场3层", 39.906018, 116.221507, "west"),
    ("清河五彩城店", "海淀区", "清河中街68号华润五彩城3层", 40.033019, 116.336713, "north"),
    ("亦庄店", "大兴区", "北京经济技术开发区荣华中路10号3层", 39.795214, 116.505033, "south"),
    ("门头沟店", "门头沟区", "新桥大街15号购物中心2层", 39.940117, 116.104018, "suburb"),
    ("王府井apm店", "东城区", "王府井大街138号apm4层", 39.914506, 116.410812, "east"),
    ("翠微百货公主坟店", "海淀区", "复兴路33号翠微大厦5层", 39.907013, 116.310510, "west"),
    ("回龙观龙旗广场店", "昌平区", "黄平路19号院龙旗广场3层", 40.079822, 116.342015, "north"),
    ("蓝色港湾店", "朝阳区", "朝阳公园路6号蓝色港湾", 39.950318, 116.470624, "east"),
    ("长楹天街店", "朝阳区", "常营长楹天街西区3层", 39.925514, 116.599517, "east"),
    ("东方新天地店", "东城区", "东长安街1号东方广场B1层", 39.909224, 116.414531, "east"),
]

# Neighbourhoods for stores beyond the curated list: district, area, latitude, longitude, region.
AREAS: list[tuple[str, str, float, float, str]] = [
    ("朝阳区", "双井", 39.8935, 116.4618, "east"),
    ("朝阳区", "劲松", 39.8850, 116.4620, "east"),
    ("朝阳区", "亚运村", 39.9960, 116.4070, "north"),
    ("朝阳区", "酒仙桥", 39.9710, 116.4960, "east"),
    ("朝阳区", "大屯", 40.0030, 116.4140, "north"),
    ("朝阳区", "十里堡", 39.9200, 116.5010, "east"),
    ("朝阳区", "定福庄", 39.9160, 116.5500, "east"),
    ("朝阳区", "潘家园", 39.8750, 116.4560, "east"),
    ("海淀区", "万柳", 39.9690, 116.2950, "west"),
    ("海淀区", "学院路", 39.9930, 116.3520, "north"),
    ("海淀区", "西二旗", 40.0530, 116.3060, "north"),
    ("海淀区", "魏公村", 39.9570, 116.3230, "west"),
    ("海淀区", "上地", 40.0330, 116.3050, "north"),
    ("海淀区", "苏州街", 39.9750, 116.3060, "west"),
    ("西城区", "德胜门", 39.9490, 116.3800, "west"),
    ("西城区", "广安门", 39.8900, 116.3580, "west"),
    ("西城区", "新街口", 39.9420, 116.3730, "west"),
    ("东城区", "东直门", 39.9410, 116.4340, "east"),
    ("东城区", "崇文门", 39.9010, 116.4170, "east"),
    ("东城区", "和平里", 39.9580, 116.4180, "north"),
    ("丰台区", "方庄", 39.8650, 116.4300, "south"),
    ("丰台区", "六里桥", 39.8820, 116.3120, "south"),
    ("丰台区", "马家堡", 39.8490, 116.3720, "south"),
    ("丰台区", "青塔", 39.8830, 116.2720, "south"),
    ("丰台区", "宋家庄", 39.8450, 116.4290, "south"),
    ("石景山区", "鲁谷", 39.8990, 116.2430, "west"),
    ("石景山区", "八角", 39.9090, 116.2020, "west"),
    ("大兴区", "旧宫", 39.8090, 116.4520, "south"),
    ("大兴区", "黄村", 39.7270, 116.3380, "south"),
    ("通州区", "梨园", 39.8860, 116.6500, "east"),
    ("通州区", "果园", 39.8990, 116.6500, "east"),
    ("通州区", "九棵树", 39.8910, 116.6640, "east"),
    ("昌平区", "霍营", 40.0700, 116.3600, "north"),
    ("昌平区", "沙河", 40.1300, 116.2800, "north"),
    ("顺义区", "后沙峪", 40.0950, 116.5350, "suburb"),
    ("顺义区", "顺义城区", 40.1300, 116.6560, "suburb"),
    ("房山区", "长阳", 39.7700, 116.2100, "suburb"),
    ("门头沟区", "城子", 39.9300, 116.1050, "suburb"),
]
ROAD_SUFFIXES = ["路", "北路", "南路", "东路", "西路", "大街", "中街"]
VENUES = ["生活广场", "购物中心", "家居广场", "荟萃中心", "邻里中心"]
NUMERALS = "二三四五六七八九十"

NEIGHBOUR_DISTRICTS: dict[str, list[str]] = {
    "朝阳区": ["东城区", "海淀区", "通州区", "顺义区", "丰台区", "昌平区"],
    "东城区": ["西城区", "朝阳区", "丰台区"],
    "西城区": ["东城区", "海淀区", "丰台区"],
    "海淀区": ["西城区", "昌平区", "石景山区", "朝阳区", "丰台区"],
    "石景山区": ["海淀区", "门头沟区", "丰台区"],
    "丰台区": ["西城区", "东城区", "大兴区", "石景山区", "房山区", "朝阳区"],
    "大兴区": ["丰台区", "朝阳区", "通州区", "房山区"],
    "通州区": ["朝阳区", "大兴区", "顺义区"],
    "昌平区": ["海淀区", "朝阳区", "顺义区"],
    "顺义区": ["朝阳区", "昌平区", "通州区"],
    "房山区": ["丰台区", "大兴区", "门头沟区"],
    "门头沟区": ["石景山区", "房山区", "海淀区"],
}


def _words(text: str) -> list[str]:
    """Split a space-separated word list (long lists of names read better as text)."""
    return text.split()


# Common surnames, most frequent first, with rough relative frequencies.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔汤"
)
SURNAME_WEIGHTS = [max(1.0, 12.0 - i * 0.6) for i in range(len(SURNAMES))]
FEMALE_GIVEN = _words(
    "静 丽 敏 婷 雪 琳 芳 娜 颖 慧 倩 璐 燕 丹 悦 蕾 楠 洁 静怡 雨涵 欣怡 梓涵 诗涵 思雨 佳怡 "
    "子涵 婷婷 晓雪 丽娜 雅琪 梦瑶 可欣 心怡 晓燕 海燕 文静 佳琪 雅婷 思彤 一诺 若曦 欣妍 "
    "晓琳 春燕 雪梅 丽君 慧敏 晶晶 璐璐 明月 语嫣 书瑶 佳慧 美玲 丹丹 莉莉"
)
MALE_GIVEN = _words(
    "伟 强 磊 军 洋 勇 杰 涛 明 超 浩 鹏 宇 辉 斌 峰 刚 凯 子轩 浩然 宇航 俊杰 志强 文博 晨阳 "
    "天宇 明轩 一鸣 思远 嘉豪 振宇 建伟 海涛 晓东 立伟 永刚 文杰 博文 家豪 亦凡 皓轩 泽宇"
)
OLDER_FEMALE_GIVEN = _words("秀英 桂英 秀兰 淑珍 凤兰 玉兰 桂芳 丽华 淑华 秀珍 玉珍 春梅")
OLDER_MALE_GIVEN = _words("建国 国强 建军 志刚 建华 国华 卫东 永强 德明 振华 立新 建平")

OCCUPATIONS_YOUNG = _words("学生 学生 学生 白领 设计师 销售 自由职业 新媒体运营")
OCCUPATIONS_WORKING = _words(
    "白领 白领 白领 教师 医生 护士 公务员 工程师 程序员 设计师 财务 销售 个体经营 自由职业 "
    "律师 人力资源 市场营销 产品经理 会计"
)
OCCUPATIONS_SENIOR = _words("退休 退休 退休 退休 个体经营 教师 医生")

NOTES = [
    "喜欢北欧风格，关注沙发和地毯新品。",
    "家有两岁宝宝，偏好环保材质，问过儿童床。",
    "下个月乔迁新居，计划整体软装，约了上门量尺。",
    "常买厨房收纳用品，对满减活动敏感。",
    "老顾客，偏爱实木家具，生日月会来店。",
    "想换床垫，试躺过三款，等促销再决定。",
    "在企业微信上咨询过窗帘定制，已发样册。",
    "对香薰和床品感兴趣，愿意参加会员沙龙。",
    "给父母买适老化家具，关注防滑和扶手。",
    "只在周末到店，偏好微信群里接龙下单。",
]

INTERESTS = ["宝妈", "健康养生", "时尚穿搭", "美食", "家居收纳", "户外运动"]
SPENDING = ["高消费", "中消费", "价格敏感"]
LIFECYCLE = ["新客", "活跃", "沉睡"]
RULE_TAG_GROUP = "人群"
RULE_TAG_NAME = "25-34岁女性"
RULE_TAG_RULE: dict[str, Any] = {"age_band": ["25-34"], "gender": "f"}

# Chinese mobile prefixes of the three carriers, so numbers look like real ones.
MOBILE_PREFIXES = _words(
    "134 135 136 137 138 139 147 150 151 152 157 158 159 178 182 183 184 187 188 198 130 131 "
    "132 155 156 166 175 176 185 186 133 149 153 173 177 180 181 189 199"
)

# Age bands as ranges of whole years, with the share of a home-goods membership in each.
AGE_RANGES: list[tuple[int, int, float]] = [
    (18, 24, 0.08),
    (25, 34, 0.33),
    (35, 44, 0.28),
    (45, 54, 0.16),
    (55, 64, 0.10),
    (65, 78, 0.05),
]
UNKNOWN_BIRTHDAY_SHARE = 0.06
HISTORY_DAYS = 730


@dataclass
class DemoSummary:
    """What ``seed_demo`` did (``created``) or found (the brand already existed)."""

    created: bool
    brand_code: str
    brand_name: str
    stores: int = 0
    staff: int = 0
    members: int = 0
    member_tags: int = 0
    rule_tag_members: int = 0
    consents: int = 0
    notes: int = 0
    events: int = 0
    communities: int = 0
    memberships: int = 0
    messages: int = 0
    products: int = 0
    seconds: float = 0.0
    logins: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _StoreInfo:
    store: Store
    district: str
    manager_id: int = 0
    clerk_id: int = 0


@dataclass
class _MemberPlan:
    member: Member
    store: _StoreInfo
    age: int | None
    lifecycle: str = ""


def seed_demo(*, stores: int = 20, members: int = 16_000, seed: int = 1, password: str) -> DemoSummary:
    """Create the demo chain, or do nothing if the demo brand already exists.

    Guarantees: the same ``seed`` (and sizes) gives the same stores, staff and members (names and
    mobile numbers); every account can sign in with ``password``; all or nothing is written.
    Raises ValidationFailed for bad sizes or a weak password, Conflict when another brand is set up
    or demo usernames/store codes are already taken.
    """
    started = time.monotonic()
    existing = Brand.objects.filter(code=DEMO_BRAND_CODE).first()
    if existing is not None:
        # A demo made before groups existed gets its groups now; otherwise nothing changes.
        with transaction.atomic():
            seed_community_demo(existing, seed=seed)
            seed_catalog_demo(existing, seed=seed)
            _seed_campaigns(existing)
        return _existing_summary(existing, stores)
    if not 1 <= stores <= MAX_STORES:
        raise ValidationFailed(_("The demo has 1 to %(max)d stores.") % {"max": MAX_STORES}, field="stores")
    if not 0 <= members <= MAX_MEMBERS:
        raise ValidationFailed(
            _("The demo has 0 to %(max)d members.") % {"max": MAX_MEMBERS}, field="members"
        )
    try:
        password_validation.validate_password(password)
    except ValidationError as exc:
        raise ValidationFailed(" ".join(str(m) for m in exc.messages), field="password") from None
    if Brand.objects.exists():
        raise Conflict(
            _("Another brand is already set up here; the demo chain needs an empty database."),
            field="brand",
        )
    try:
        with transaction.atomic():
            summary = _build(stores=stores, members=members, seed=seed, password=password)
    except IntegrityError:
        # A concurrent run created the brand first: report it as already there.
        existing = Brand.objects.filter(code=DEMO_BRAND_CODE).first()
        if existing is None:
            raise
        return _existing_summary(existing, stores)
    summary.seconds = time.monotonic() - started
    return summary


def _seed_campaigns(brand: Brand) -> None:
    """The demo's running flash sale and group buy (each created once)."""
    from siyu.campaigns.services.demo import seed_demo_flash_sale
    from siyu.campaigns.services.demo_group_buys import seed_demo_group_buy

    now = timezone.now()
    seed_demo_flash_sale(brand, now)
    seed_demo_group_buy(brand, now)


def demo_logins(stores: int = 1) -> list[tuple[str, str]]:
    """The demo accounts to print: (username, role label)."""
    logins = [("admin", str(Role.HQ_ADMIN.label)), ("operator", str(Role.HQ_OPERATOR.label))]
    if stores >= 1:
        logins += [("m001", str(Role.STORE_MANAGER.label)), ("c001", str(Role.CLERK.label))]
    return logins


def _existing_summary(brand: Brand, stores: int) -> DemoSummary:
    return DemoSummary(
        created=False,
        brand_code=brand.code,
        brand_name=brand.name,
        stores=Store.objects.filter(brand=brand).count(),
        staff=Staff.objects.filter(brand=brand).count(),
        members=Member.objects.filter(brand=brand).count(),
        logins=demo_logins(stores),
    )


def _build(*, stores: int, members: int, seed: int, password: str) -> DemoSummary:
    rng = random.Random(seed)
    brand = Brand.objects.create(code=DEMO_BRAND_CODE, name=DEMO_BRAND_NAME)
    regions = {code: Region.objects.create(brand=brand, code=code, name=name) for code, name in REGIONS}
    store_infos = _create_stores(rng, brand, regions, stores)
    used_mobiles: set[str] = set()
    staff_count = _create_staff(rng, brand, store_infos, password, used_mobiles)
    plans = _create_members(rng, brand, store_infos, members, used_mobiles)
    consents = _create_consents(rng, plans)
    notes = _create_notes(rng, plans)
    tag_count, rule_total = _create_tags(rng, brand, plans)
    events = _create_events(rng, plans)
    groups = seed_community_demo(brand, seed=seed)
    catalog = seed_catalog_demo(brand, seed=seed)
    _seed_campaigns(brand)
    return DemoSummary(
        created=True,
        brand_code=brand.code,
        brand_name=brand.name,
        stores=len(store_infos),
        staff=staff_count,
        members=len(plans),
        member_tags=tag_count,
        rule_tag_members=rule_total,
        consents=consents,
        notes=notes,
        events=events,
        communities=groups.communities,
        memberships=groups.memberships,
        messages=groups.messages,
        products=catalog.products,
        logins=demo_logins(stores),
    )


def _weighted_index(rng: random.Random, cumulative: list[float]) -> int:
    return min(bisect_right(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)


def _store_code(n: int) -> str:
    return f"BJ{n:03d}"


def _create_stores(
    rng: random.Random, brand: Brand, regions: dict[str, Region], count: int
) -> list[_StoreInfo]:
    codes = [_store_code(i + 1) for i in range(count)]
    taken = sorted(Store.objects.filter(code__in=codes).values_list("code", flat=True))
    if taken:
        raise Conflict(_("Store code %(code)s is already in use.") % {"code": taken[0]}, field="stores")
    rows: list[Store] = []
    names: set[str] = set()
    area_uses: dict[str, int] = {}
    for i in range(count):
        if i < len(CURATED_STORES):
            name, district, street, lat, lng, region = CURATED_STORES[i]
        else:
            district, area, base_lat, base_lng, region = AREAS[rng.randrange(len(AREAS))]
            uses = area_uses.get(area, 0)
            area_uses[area] = uses + 1
            name = f"{area}店"
            while name in names:
                uses += 1
                label = NUMERALS[uses - 1] if uses <= len(NUMERALS) else f"{uses + 1}号"
                name = f"{area}{label}店"
            street = (
                f"{area}{rng.choice(ROAD_SUFFIXES)}{rng.randint(1, 199)}号"
                f"{area}{rng.choice(VENUES)}{rng.randint(1, 4)}层"
            )
            lat = base_lat + rng.uniform(-0.012, 0.012)
            lng = base_lng + rng.uniform(-0.015, 0.015)
        names.add(name)
        # The newest store of a larger chain is still being fitted out.
        status = Store.Status.PREPARING if count >= 10 and i == count - 1 else Store.Status.OPEN
        rows.append(
            Store(
                brand=brand,
                region=regions[region],
                code=codes[i],
                name=name,
                city="北京",
                district=district,
                address=f"北京市{district}{street}",
                latitude=Decimal(f"{lat:.6f}"),
                longitude=Decimal(f"{lng:.6f}"),
                opening_hours=OPENING_HOURS,
                phone=f"010-{rng.choice('5678')}{rng.randint(0, 9999999):07d}",
                status=status,
            )
        )
    created = Store.objects.bulk_create(rows, batch_size=BATCH)
    return [_StoreInfo(store=s, district=s.district) for s in created]


def _person_name(rng: random.Random, gender: str, age: int | None) -> str:
    surname = rng.choices(SURNAMES, weights=SURNAME_WEIGHTS)[0]
    female = gender == Gender.FEMALE or (gender == Gender.UNKNOWN and rng.random() < 0.5)
    if age is not None and age >= 50 and rng.random() < 0.7:
        given = rng.choice(OLDER_FEMALE_GIVEN if female else OLDER_MALE_GIVEN)
    else:
        given = rng.choice(FEMALE_GIVEN if female else MALE_GIVEN)
    return surname + given


def _mobile(rng: random.Random, used: set[str]) -> str:
    while True:
        number = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(100_000_000):08d}"
        if number not in used:
            used.add(number)
            return number


def _create_staff(
    rng: random.Random, brand: Brand, infos: list[_StoreInfo], password: str, used_mobiles: set[str]
) -> int:
    # Hashing with argon2 takes ~50 ms: hash once and share the hash (salt included) between accounts.
    password_hash = make_password(password)
    accounts: list[tuple[Staff, _StoreInfo | None]] = [
        (
            Staff(
                username="admin",
                display_name="总部管理员",
                role=Role.HQ_ADMIN,
                can_reveal_mobile=True,
            ),
            None,
        ),
        (Staff(username="operator", display_name="总部运营", role=Role.HQ_OPERATOR), None),
    ]
    for n, info in enumerate(infos, start=1):
        for prefix, role, gender_f in (("m", Role.STORE_MANAGER, 0.6), ("c", Role.CLERK, 0.75)):
            gender = Gender.FEMALE if rng.random() < gender_f else Gender.MALE
            accounts.append(
                (
                    Staff(
                        username=f"{prefix}{n:03d}",
                        display_name=_person_name(rng, gender, rng.randint(24, 45)),
                        role=role,
                    ),
                    info,
                )
            )
    usernames = [s.username for s, _info in accounts]
    taken = sorted(Staff.objects.filter(username__in=usernames).values_list("username", flat=True))
    if taken:
        raise Conflict(
            _("The username %(username)s is already in use.") % {"username": taken[0]}, field="staff"
        )
    for staff, _info in accounts:
        staff.brand = brand
        staff.password = password_hash
        staff.mobile = _mobile(rng, used_mobiles)
    created = Staff.objects.bulk_create([s for s, _info in accounts], batch_size=BATCH)
    links = []
    for staff, (_s, store_info) in zip(created, accounts, strict=True):
        if store_info is None:
            continue
        if staff.role == Role.STORE_MANAGER:
            store_info.manager_id = staff.pk
        else:
            store_info.clerk_id = staff.pk
        links.append(Staff.stores.through(staff_id=staff.pk, store_id=store_info.store.pk))
    Staff.stores.through.objects.bulk_create(links, batch_size=BATCH)
    return len(created)


def _age_and_birthday(rng: random.Random, today: date) -> tuple[int | None, date | None]:
    if rng.random() < UNKNOWN_BIRTHDAY_SHARE:
        return None, None
    r = rng.random()
    acc = 0.0
    low, high = AGE_RANGES[-1][0], AGE_RANGES[-1][1]
    for lo, hi, share in AGE_RANGES:
        acc += share
        if r < acc:
            low, high = lo, hi
            break
    age = rng.randint(low, high)
    # Born between (age+1) years and age years ago, so the age on ``today`` is exactly ``age``.
    latest = _years_before(today, age)
    earliest = _years_before(today, age + 1) + timedelta(days=1)
    birthday = earliest + timedelta(days=_below(rng, (latest - earliest).days + 1))
    return age, birthday


def _below(rng: random.Random, n: int) -> int:
    """A number in [0, n) drawing exactly one value from ``rng`` whatever ``n`` is.

    ``randrange`` draws a varying number of bits depending on ``n``; where ``n`` depends on today's
    date that would shift every later draw and make the data differ from one day to the next.
    """
    return min(int(rng.random() * n), n - 1) if n > 0 else 0


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _occupation(rng: random.Random, age: int | None, gender: str) -> str:
    if rng.random() < 0.2:
        return ""
    if age is None or 25 <= age < 55:
        if gender == Gender.FEMALE and age is not None and age < 45 and rng.random() < 0.08:
            return "全职妈妈"
        return rng.choice(OCCUPATIONS_WORKING)
    return rng.choice(OCCUPATIONS_YOUNG if age < 25 else OCCUPATIONS_SENIOR)


def _local(day: date, hour: int, minute: int, second: int) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour, minute, second))


def _create_members(
    rng: random.Random, brand: Brand, infos: list[_StoreInfo], count: int, used_mobiles: set[str]
) -> list[_MemberPlan]:
    now = timezone.now()
    today = timezone.localdate(now)
    open_infos = [i for i in infos if i.store.status == Store.Status.OPEN] or infos
    # Flagships are busier than neighbourhood stores.
    weights = [
        rng.uniform(0.6, 1.6) * (1.3 if n < len(CURATED_STORES) else 1.0) for n, _ in enumerate(open_infos)
    ]
    cumulative = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    # Mobile numbers already held by other members are skipped so the insert cannot collide.
    used_mobiles.update(m for m in Member.objects.exclude(mobile=None).values_list("mobile", flat=True) if m)
    sources = [Source.POS_IMPORT, Source.H5, Source.WECOM, Source.STAFF]
    source_cum = [0.45, 0.70, 0.92, 1.0]
    plans: list[_MemberPlan] = []
    for _n in range(count):
        info = open_infos[_weighted_index(rng, cumulative)]
        r = rng.random()
        gender = Gender.FEMALE if r < 0.70 else Gender.MALE if r < 0.97 else Gender.UNKNOWN
        age, birthday = _age_and_birthday(rng, today)
        if rng.random() < 0.75:
            district = info.district
        else:
            district = rng.choice(NEIGHBOUR_DISTRICTS.get(info.district, [info.district]))
        # Membership grows over time: sign-ups per day rise linearly to three times the rate of two
        # years ago (inverse of the CDF (x + x²)/2 of the density 1 + 2x, x = 1 - days_ago/HISTORY_DAYS).
        x = (-1 + (1 + 8 * rng.random()) ** 0.5) / 2
        days_ago = 1 + int((HISTORY_DAYS - 1) * (1 - x))
        source = sources[_weighted_index(rng, source_cum)]
        if source == Source.H5:
            hour = rng.choice([8, 9, 12, 13, 18, 19, 20, 21, 21, 22, 23])
        else:
            hour = rng.randint(10, 21)
        joined_at = _local(today - timedelta(days=days_ago), hour, rng.randrange(60), rng.randrange(60))
        member = Member(
            brand=brand,
            mobile=_mobile(rng, used_mobiles),
            name=_person_name(rng, gender, age),
            gender=gender,
            birthday=birthday,
            age_band=age_band_for(birthday, today),
            occupation=_occupation(rng, age, gender),
            district=district,
            home_store=info.store,
            joined_at=joined_at,
            source=source,
        )
        plans.append(_MemberPlan(member=member, store=info, age=age))
    # Consent is decided here so that the member row is inserted with its final state.
    for plan in plans:
        if rng.random() < 0.62:
            plan.member.marketing_consent = True
            plan.member.consent_updated_at = plan.member.joined_at
    for start in range(0, len(plans), BATCH):
        Member.objects.bulk_create([p.member for p in plans[start : start + BATCH]])
    return plans


CONSENT_SOURCE_BY_MEMBER_SOURCE: dict[str, str] = {
    Source.POS_IMPORT: "import",
    Source.H5: "h5",
    Source.WECOM: "wecom",
    Source.STAFF: "store",
}


def _create_consents(rng: random.Random, plans: list[_MemberPlan]) -> int:
    now = timezone.now()
    records: list[ConsentRecord] = []
    withdrawn: list[Member] = []
    for plan in plans:
        m = plan.member
        if not m.marketing_consent:
            continue
        recorded_by = plan.store.clerk_id if m.source == Source.STAFF else None
        records.append(
            ConsentRecord(
                member=m,
                action=ConsentRecord.Action.GRANTED,
                source=CONSENT_SOURCE_BY_MEMBER_SOURCE.get(m.source, "demo"),
                recorded_by_id=recorded_by,
                occurred_at=m.joined_at,
            )
        )
        # A few change their mind later, typically after a burst of marketing messages.
        if rng.random() < 0.04:
            span = max(60, int((now - m.joined_at).total_seconds()) - 60)
            at = m.joined_at + timedelta(seconds=60 + _below(rng, span - 59))
            records.append(
                ConsentRecord(
                    member=m, action=ConsentRecord.Action.WITHDRAWN, source="h5", occurred_at=min(at, now)
                )
            )
            m.marketing_consent = False
            m.consent_updated_at = min(at, now)
            withdrawn.append(m)
    ConsentRecord.objects.bulk_create(records, batch_size=BATCH)
    if withdrawn:
        Member.objects.bulk_update(withdrawn, ["marketing_consent", "consent_updated_at"], batch_size=500)
    return len(records)


def _create_notes(rng: random.Random, plans: list[_MemberPlan]) -> int:
    now = timezone.now()
    notes: list[MemberNote] = []
    for plan in plans:
        if rng.random() >= 0.03:
            continue
        author = plan.store.clerk_id if rng.random() < 0.7 else plan.store.manager_id
        span = max(1, int((now - plan.member.joined_at).total_seconds()))
        notes.append(
            MemberNote(
                member=plan.member,
                author_id=author or None,
                text=rng.choice(NOTES),
                created_at=plan.member.joined_at + timedelta(seconds=_below(rng, span)),
            )
        )
    saved_times = [n.created_at for n in notes]
    created = MemberNote.objects.bulk_create(notes, batch_size=BATCH)
    # created_at is auto_now_add (set to now on insert); put the notes back at their moment in history.
    for note, at in zip(created, saved_times, strict=True):
        note.created_at = at
    MemberNote.objects.bulk_update(created, ["created_at"], batch_size=500)
    return len(created)


def _interests(rng: random.Random, gender: str, age: int | None) -> list[str]:
    female = gender == Gender.FEMALE
    a = age if age is not None else 35
    chances = {
        "宝妈": 0.38 if female and 26 <= a <= 42 else 0.0,
        "健康养生": 0.40 if a >= 45 else 0.12,
        "时尚穿搭": (0.35 if a < 35 else 0.15) if female else 0.04,
        "美食": 0.22,
        "家居收纳": 0.34 if female else 0.15,
        "户外运动": (0.30 if not female else 0.12) if a < 50 else 0.06,
    }
    return [name for name in INTERESTS if rng.random() < chances[name]]


def _spending(rng: random.Random, age: int | None) -> str | None:
    if rng.random() < 0.15:
        return None  # not enough purchase history yet
    high = 0.22 if age is not None and 35 <= age < 55 else 0.12
    r = rng.random()
    if r < high:
        return "高消费"
    return "中消费" if r < high + 0.5 else "价格敏感"


def _lifecycle(rng: random.Random, joined_at: datetime, today: date) -> str:
    days = (today - timezone.localdate(joined_at)).days
    chance = rng.random()  # drawn even for new members, so later draws do not depend on the date
    if days <= 30:
        return "新客"
    return "活跃" if chance < 0.75 - 0.4 * days / HISTORY_DAYS else "沉睡"


def _create_tags(rng: random.Random, brand: Brand, plans: list[_MemberPlan]) -> tuple[int, int]:
    today = timezone.localdate()
    tags: dict[str, Tag] = {}
    for group_name, names in (("兴趣", INTERESTS), ("消费力", SPENDING), ("生命周期", LIFECYCLE)):
        group = TagGroup.objects.create(brand=brand, name=group_name)
        for name in names:
            tags[name] = Tag.objects.create(group=group, name=name)
    rule_group = TagGroup.objects.create(brand=brand, name=RULE_TAG_GROUP)
    rule_tag = Tag.objects.create(group=rule_group, name=RULE_TAG_NAME, rule=validate_rule(RULE_TAG_RULE))
    rows: list[MemberTag] = []
    for plan in plans:
        m = plan.member
        for name in _interests(rng, m.gender, plan.age):
            # Interests are noted by store staff in conversation; the clerk usually does it.
            rows.append(
                MemberTag(
                    member=m, tag=tags[name], origin=MemberTag.Origin.MANUAL, added_by_id=plan.store.clerk_id
                )
            )
        spending = _spending(rng, plan.age)
        if spending:
            rows.append(MemberTag(member=m, tag=tags[spending], origin=MemberTag.Origin.IMPORT))
        plan.lifecycle = _lifecycle(rng, m.joined_at, today)
        rows.append(MemberTag(member=m, tag=tags[plan.lifecycle], origin=MemberTag.Origin.IMPORT))
    MemberTag.objects.bulk_create(rows, batch_size=BATCH)
    rule_total = recompute_rule_tag(None, rule_tag.pk)["total"]
    return len(rows) + rule_total, rule_total


def _create_events(rng: random.Random, plans: list[_MemberPlan]) -> int:
    now = timezone.now()
    events: list[Event] = []
    for plan in plans:
        m = plan.member
        events.append(
            Event(
                type="member.created",
                member_id=m.pk,
                store_id=m.home_store_id,
                occurred_at=m.joined_at,
                payload={"source": m.source},
            )
        )
    for plan in plans:
        m = plan.member
        # Active members who use the H5 pages or WeChat sign in now and then.
        if plan.lifecycle == "沉睡" or m.source not in (Source.H5, Source.WECOM) or rng.random() >= 0.5:
            continue
        window = min(60 * 86400, int((now - m.joined_at).total_seconds()))
        for _i in range(rng.randint(1, 3)):
            at = now - timedelta(seconds=60 + _below(rng, max(1, window - 60)))
            events.append(
                Event(
                    type="member.signed_in",
                    member_id=m.pk,
                    store_id=m.home_store_id,
                    occurred_at=at,
                    payload={"channel": "h5" if m.source == Source.H5 else "wechat"},
                )
            )
    bulk_record_events(events)
    return len(events)
