"""Demo catalog: about thirty home goods with SKUs and pictures, published to every store, with per-store
stock. The pictures are drawn at seed time (``siyu.tooling.demo.pictures``): no download, no external URL.

Deterministic for a seed. Written through ``siyu.catalog.services.bulk`` inside one transaction; does
nothing if the brand already has products, so running the demo twice is harmless.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from django.db import transaction

from siyu.catalog.models import Product, Sku, StoreListing
from siyu.catalog.services import bulk, images
from siyu.org.models import Brand, Store
from siyu.tooling.demo.pictures import product_picture

# (category, name, subtitle, tags, [(spec, price_fen)])
PRODUCTS: list[tuple[str, str, str, list[str], list[tuple[str, int]]]] = [
    (
        "餐厨",
        "北欧陶瓷杯",
        "哑光釉面，手感温润",
        ["北欧", "陶瓷"],
        [("白色 / 350ml", 3900), ("雾蓝 / 350ml", 3900)],
    ),
    ("餐厨", "日式粗陶餐盘", "8 英寸，可进微波炉", ["日式"], [("米白 / 8寸", 4500), ("墨黑 / 8寸", 4500)]),
    ("餐厨", "玻璃密封罐", "厨房收纳，防潮", ["收纳"], [("500ml", 1990), ("1000ml", 2990), ("1500ml", 3590)]),
    ("餐厨", "竹纤维砧板", "抗菌耐切", ["环保"], [("中号", 5900), ("大号", 7900)]),
    ("餐厨", "不锈钢保温杯", "12 小时保温", ["通勤"], [("银色 / 450ml", 8900), ("奶白 / 450ml", 8900)]),
    ("餐厨", "手冲咖啡壶", "细口控流", ["咖啡"], [("600ml", 12900)]),
    ("餐厨", "耐热玻璃茶壶", "带滤网", ["茶具"], [("800ml", 6900)]),
    ("家纺", "记忆棉靠枕", "慢回弹，护腰", ["舒适"], [("灰色", 9900), ("燕麦色", 9900)]),
    ("家纺", "纯棉四件套", "60 支长绒棉", ["床品"], [("1.5m 床", 39900), ("1.8m 床", 39900)]),
    ("家纺", "华夫格毛巾", "吸水速干", ["浴室"], [("白色", 2990), ("浅灰", 2990), ("豆绿", 2990)]),
    ("家纺", "法兰绒毯", "午睡沙发两用", ["秋冬"], [("120×150cm", 12900), ("150×200cm", 16900)]),
    ("家纺", "亚麻桌布", "水洗做旧", ["餐桌"], [("140×180cm", 8900)]),
    ("家纺", "棉麻抱枕套", "可拆洗", ["客厅"], [("45×45cm", 3900)]),
    ("收纳", "折叠收纳箱", "免安装，可叠放", ["收纳"], [("小号", 2990), ("中号", 3990), ("大号", 4990)]),
    ("收纳", "桌面收纳盒", "分格设计", ["书桌"], [("白色", 1990)]),
    ("收纳", "衣柜分层架", "伸缩可调", ["衣柜"], [("单层", 2490), ("双层", 3990)]),
    ("收纳", "藤编收纳篮", "手工编织", ["自然"], [("小号", 4900), ("大号", 6900)]),
    ("收纳", "真空压缩袋", "换季收纳", ["换季"], [("6 件装", 3990)]),
    ("香氛", "香薰蜡烛", "大豆蜡，燃烧 40 小时", ["香氛", "礼物"], [("白茶", 6900), ("雪松", 6900)]),
    ("香氛", "藤条香薰", "无火香薰", ["香氛"], [("小苍兰 / 100ml", 5900), ("琥珀 / 100ml", 5900)]),
    ("香氛", "车载香薰", "出风口夹式", ["车品"], [("海洋", 2990)]),
    ("香氛", "香薰机", "超声波静音", ["香氛"], [("木纹", 15900)]),
    ("灯具", "床头小夜灯", "暖光可调", ["卧室"], [("充电款", 4900)]),
    ("灯具", "北欧台灯", "护眼无频闪", ["书桌"], [("白色", 19900), ("黑色", 19900)]),
    ("灯具", "户外露营灯", "复古造型", ["露营"], [("黄铜色", 12900)]),
    ("清洁", "懒人拖把", "免手洗", ["清洁"], [("标准款", 8900)]),
    ("清洁", "硅藻土地垫", "速干防滑", ["浴室"], [("40×60cm", 4990)]),
    ("清洁", "除螨喷雾", "植物配方", ["床品"], [("300ml", 2990)]),
    ("装饰", "陶瓷花瓶", "素烧工艺", ["装饰"], [("小号", 5900), ("大号", 8900)]),
    ("装饰", "实木相框", "多尺寸", ["装饰"], [("6寸", 990), ("7寸", 1290), ("10寸", 2290)]),
    ("装饰", "挂钟", "静音机芯", ["客厅"], [("30cm", 9900)]),
]
HOT = {"北欧陶瓷杯", "香薰蜡烛", "记忆棉靠枕", "折叠收纳箱", "纯棉四件套"}
MAX_STOCK = 80
DELISTED_PER_STORE = 2


@dataclass
class CatalogDemoSummary:
    products: int = 0
    skus: int = 0
    listings: int = 0
    pictures: int = 0


def seed_demo_pictures(brand: Brand) -> int:
    """Give every product of ``brand`` that has no picture its generated demo picture (drawn here, stored
    and served like an upload). Returns how many were added; running it again adds none."""
    added = 0
    products = Product.objects.filter(brand=brand, images__isnull=True).select_related("category")
    for product in products.order_by("id"):
        category = product.category.name if product.category else ""
        images.attach_image(product, product_picture(product.name, category), main=True)
        added += 1
    return added


@transaction.atomic
def seed_catalog_demo(brand: Brand, *, seed: int = 1) -> CatalogDemoSummary:
    """Seed the demo catalog for ``brand``: ~30 products (a few hot), 1–3 SKUs each, published to all
    stores, stock 0–80 per store recorded as ``set`` movements, and one store delisting two items.
    Every product gets a generated picture (``seed_demo_pictures``). Deterministic for ``seed``; if the brand
    already has products, only products without a picture get one."""
    summary = CatalogDemoSummary()
    if Product.objects.filter(brand=brand).exists():
        summary.pictures = seed_demo_pictures(brand)
        return summary
    rng = random.Random(f"catalog-{seed}")
    categories = bulk.create_categories(brand, list(dict.fromkeys(row[0] for row in PRODUCTS)))
    entries: list[tuple[Product, list[Sku]]] = []
    for index, (category, name, subtitle, tags, variants) in enumerate(PRODUCTS, start=1):
        product = Product(
            name=name,
            subtitle=subtitle,
            description=f"{name}：{subtitle}。",
            category=categories[category],
            tags=tags,
            is_hot=name in HOT,
        )
        skus = []
        for v, (spec, price) in enumerate(variants, start=1):
            member_price = price - price // 10 if rng.random() < 0.5 else None
            skus.append(
                Sku(
                    code=f"{brand.code[:20]}-P{index:03d}-{v}",
                    spec=spec,
                    price_fen=price,
                    member_price_fen=member_price,
                )
            )
        entries.append((product, skus))
    skus = bulk.add_products(brand, entries)
    products = [product for product, _skus in entries]
    bulk.publish_to_all_stores(products)
    stores = list(Store.objects.filter(brand=brand).exclude(status=Store.Status.CLOSED).order_by("code"))
    delisting_store = stores[0].pk if stores else None
    delisted_skus = {s.pk for s in rng.sample(skus, min(DELISTED_PER_STORE, len(skus)))}
    listings = [
        StoreListing(
            store=store,
            sku=sku,
            stock=rng.randint(0, MAX_STOCK),
            listed=not (store.pk == delisting_store and sku.pk in delisted_skus),
        )
        for store in stores
        for sku in skus
    ]
    summary.listings = bulk.open_listings(listings)
    summary.products = len(products)
    summary.skus = len(skus)
    summary.pictures = seed_demo_pictures(brand)
    return summary
