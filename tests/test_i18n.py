"""zh-Hans first: Chinese whatever the browser asks for, English when the user switches."""

import polib
import pytest
from django.conf import settings as django_settings

PO = django_settings.BASE_DIR / "siyu" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


@pytest.fixture
def chinese_default(settings):
    settings.LANGUAGE_CODE = "zh-hans"


def test_catalogue_is_complete():
    po = polib.pofile(str(PO))
    assert po.untranslated_entries() == [] and po.fuzzy_entries() == []


def test_pages_are_chinese_by_default_even_for_english_browsers(client, chinese_default, db):
    response = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    html = response.content.decode()
    assert 'lang="zh-hans"' in html and "员工登录" in html
    assert "会员" in client.get("/h5/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_language_switch_to_english(client, chinese_default, db):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/login/"}, follow=True)
    html = response.content.decode()
    assert 'lang="en"' in html and "Sign in" in html


def test_api_errors_follow_the_language(client, chinese_default, db):
    body = client.get("/api/v1/members").json()
    assert body["code"] == "not_authenticated" and body["message"]
