"""members: members and tags (plain rows through factory_boy)."""

from __future__ import annotations

import factory
from django.utils import timezone

from siyu.members.models import Gender, Member, Tag, TagGroup
from tests.factories.org import BrandFactory, StoreFactory


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    brand = factory.SubFactory(BrandFactory)
    mobile = factory.Sequence(lambda n: f"139{n:08d}")
    name = factory.Sequence(lambda n: f"会员{n}")
    gender = Gender.FEMALE
    home_store = factory.SubFactory(StoreFactory)
    joined_at = factory.LazyFunction(timezone.now)


class TagGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TagGroup
        django_get_or_create = ("brand", "name")

    brand = factory.SubFactory(BrandFactory)
    name = "兴趣"


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    group = factory.SubFactory(TagGroupFactory)
    name = factory.Sequence(lambda n: f"标签{n}")
