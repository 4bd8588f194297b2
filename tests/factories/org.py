"""org: brands, regions, stores and staff (plain rows through factory_boy)."""

from __future__ import annotations

import factory

from siyu.org.models import Brand, Region, Role, Staff, Store

TEST_PASSWORD = "correct-horse-battery"


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand
        django_get_or_create = ("code",)

    code = "test-brand"
    name = "测试家居"


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Region
        django_get_or_create = ("brand", "code")

    brand = factory.SubFactory(BrandFactory)
    code = factory.Sequence(lambda n: f"r{n}")
    name = factory.Sequence(lambda n: f"区域{n}")


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    brand = factory.SubFactory(BrandFactory)
    code = factory.Sequence(lambda n: f"S{n:03d}")
    name = factory.Sequence(lambda n: f"测试门店{n}")
    city = "北京"
    district = "朝阳区"


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Staff
        skip_postgeneration_save = True

    brand = factory.SubFactory(BrandFactory)
    username = factory.Sequence(lambda n: f"staff{n}")
    display_name = factory.Sequence(lambda n: f"员工{n}")
    role = Role.CLERK
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def stores(self, create, extracted, **kwargs):
        if create and extracted:
            self.stores.set(extracted)
        if create:
            self.save()
