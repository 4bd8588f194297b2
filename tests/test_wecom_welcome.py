"""The welcome on WeCom: one group welcome template per Siyu group template and WeCom app, kept in sync."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from siyu.channels.models import OutboxMessage, WeComWelcomeTemplate
from siyu.channels.services import outbox
from siyu.communities.services import matrix
from siyu.communities.services.wecom_welcome import wecom_welcome_text
from tests.wecom_support import AGENT_ID, connect_wecom

pytestmark = pytest.mark.django_db

BASE = "/cgi-bin/externalcontact/group_welcome_template"


@pytest.fixture(autouse=True)
def _quiet_outbox(settings):
    settings.SIYU_OUTBOX_DISPATCH = "off"
    cache.clear()


@pytest.fixture
def fake(fake_wecom):
    return fake_wecom


@pytest.fixture
def connector(fake, store_a):
    return connect_wecom(fake, store_a, agent_id=AGENT_ID)


def _drain():
    while outbox.dispatch_due():
        pass


def _template(hq_admin, **extra):
    data = {
        "name": "宝妈群",
        "base_name": "宝妈群",
        "welcome_template": "欢迎{name}加入{group}！这里是{store}的会员群。\n{rules}",
        "rules_text": "请勿发广告。",
        **extra,
    }
    return matrix.create_group_template(hq_admin, data)


def test_placeholders_become_wecom_nickname(brand, hq_admin, store_a):
    template = _template(hq_admin)
    text = wecom_welcome_text(template, store_name=store_a.name)
    assert text == "欢迎%NICKNAME%加入this group！这里是朝阳大悦城店的会员群。\n请勿发广告。"


def test_created_edited_and_deleted_with_the_group_template(fake, connector, hq_admin, store_a):
    template = _template(hq_admin)
    assert OutboxMessage.objects.filter(action="welcome_template_sync").count() == 1
    _drain()
    row = WeComWelcomeTemplate.objects.get(connector=connector, group_template_id=template.pk)
    held = fake.welcome_templates[row.template_id]
    assert held["text"]["content"].startswith("欢迎%NICKNAME%加入")
    assert "朝阳大悦城店" in held["text"]["content"]
    assert fake.calls(f"{BASE}/add")[0].json()["notify"] == 1

    matrix.update_group_template(hq_admin, template.pk, {"welcome_template": "{name}，你好！"})
    _drain()
    assert fake.welcome_templates[row.template_id]["text"]["content"] == "%NICKNAME%，你好！"
    assert len(fake.calls(f"{BASE}/add")) == 1 and len(fake.calls(f"{BASE}/edit")) == 1

    # An edit that leaves the welcome alone queues nothing; a sync with nothing new calls nothing.
    matrix.update_group_template(hq_admin, template.pk, {"recommended_size": 150})
    assert OutboxMessage.objects.filter(action="welcome_template_sync", status="pending").count() == 0
    matrix.update_group_template(hq_admin, template.pk, {"rules_text": "请勿刷屏。"})
    _drain()
    assert len(fake.calls(f"{BASE}/edit")) == 1  # the text has no {rules}: WeCom already holds it

    matrix.update_group_template(hq_admin, template.pk, {"active": False})
    _drain()
    assert fake.welcome_templates == {}
    assert not WeComWelcomeTemplate.objects.exists()


def test_reordered_or_repeated_syncs_write_the_current_text(fake, connector, hq_admin):
    template = _template(hq_admin)
    matrix.update_group_template(hq_admin, template.pk, {"welcome_template": "一 {name}"})
    matrix.update_group_template(hq_admin, template.pk, {"welcome_template": "二 {name}"})
    # Run the queued syncs newest first: each asks for the current text when it runs.
    rows = list(OutboxMessage.objects.filter(action="welcome_template_sync").order_by("-id"))
    for row in rows:
        outbox.get_connector(connector).perform(row.action, row.payload)
    [held] = fake.welcome_templates.values()
    assert held["text"]["content"] == "二 %NICKNAME%"
    assert len(fake.calls(f"{BASE}/add")) == 1
    assert len(fake.calls(f"{BASE}/edit")) == 0


def test_no_wecom_app_no_sync(hq_admin):
    _template(hq_admin)
    assert not OutboxMessage.objects.filter(action="welcome_template_sync").exists()
