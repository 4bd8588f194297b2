"""Staff console: pages, scope, htmx actions, throttling, language switch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from siyu.members.models import ConsentRecord, Member, MemberImport, MemberNote, MemberTag
from siyu.org.models import ApiToken, AuditEntry
from tests.factories import TEST_PASSWORD, MemberFactory, TagFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def tag(brand):
    return TagFactory(name="咖啡")


@pytest.fixture
def hq_client(client, hq_admin):
    client.force_login(hq_admin)
    return client


@pytest.fixture
def clerk_client(client, clerk_a):
    client.force_login(clerk_a)
    return client


def _login(client, username, password=TEST_PASSWORD):
    return client.post(reverse("console:login"), {"username": username, "password": password})


# --- sign-in ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_root_shows_login_form(client):
    response = client.get("/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[0][0].startswith("/login/?next=/")
    html = response.content.decode()
    assert 'name="password"' in html and 'name="username"' in html
    assert 'name="viewport"' in html


@pytest.mark.django_db
def test_login_and_logout(client, hq_admin):
    response = client.post(
        reverse("console:login"), {"username": "hqadmin", "password": TEST_PASSWORD, "next": "/stores/"}
    )
    assert response.status_code == 302 and response["Location"] == "/stores/"
    assert client.get("/").status_code == 200
    assert client.get(reverse("console:logout")).status_code == 405  # logout is POST only
    response = client.post(reverse("console:logout"))
    assert response.status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_login_ignores_foreign_next(client, hq_admin):
    response = client.post(
        reverse("console:login"),
        {"username": "hqadmin", "password": TEST_PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("console:dashboard")


@pytest.mark.django_db
def test_wrong_password_shows_message(client, hq_admin):
    response = _login(client, "hqadmin", "nope-nope-nope")
    assert response.status_code == 200
    assert "Wrong username or password." in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_login_throttled_after_five_failures(client, hq_admin):
    for _ in range(5):
        assert _login(client, "hqadmin", "wrong-password").status_code == 200
    # Even the right password is refused now, with a friendly message and no session.
    response = _login(client, "hqadmin")
    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many attempts." in html
    assert "Too many failed sign-ins" in html
    assert "_auth_user_id" not in client.session


# --- every page renders ----------------------------------------------------------------------


def _page_urls(member):
    return [
        reverse("console:dashboard"),
        reverse("console:stores"),
        reverse("console:members"),
        reverse("console:member_new"),
        reverse("console:member_detail", args=[member.pk]),
        reverse("console:member_edit", args=[member.pk]),
        reverse("console:tokens"),
    ]


@pytest.mark.django_db
def test_pages_render_for_hq(hq_client, member_a, tag):
    for url in [
        *_page_urls(member_a),
        reverse("console:imports"),
        reverse("console:audit"),
        reverse("console:member_erase", args=[member_a.pk]),
    ]:
        response = hq_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert 'href="/audit/"' in html and 'href="/imports/"' in html  # HQ admin nav
        assert "HQ admin" in html


@pytest.mark.django_db
def test_pages_render_for_clerk(clerk_client, member_a, tag):
    for url in _page_urls(member_a):
        response = clerk_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert 'href="/audit/"' not in html and 'href="/imports/"' not in html
        assert "Clerk" in html
    for url in (
        reverse("console:audit"),
        reverse("console:imports"),
        reverse("console:member_erase", args=[member_a.pk]),
    ):
        assert clerk_client.get(url).status_code == 403, url


@pytest.mark.django_db
def test_dashboard_counts_scope(client, clerk_a, hq_admin, member_a, member_b, store_a):
    MemberFactory(brand=member_a.brand, home_store=store_a, joined_at=timezone.now() - timedelta(days=20))
    MemberFactory(brand=member_a.brand, home_store=store_a, joined_at=timezone.now() - timedelta(days=60))
    client.force_login(clerk_a)
    stats = client.get("/").context["stats"]
    assert (stats.store_count, stats.member_count, stats.joined_7d, stats.joined_30d) == (1, 3, 1, 2)
    assert len(stats.joined_per_day) == 30 and sum(stats.joined_per_day) == 2
    client.force_login(hq_admin)
    html = client.get("/").content.decode()
    assert "vendor/echarts/echarts.min.js" in html and 'id="joined-chart-data"' in html
    stats = client.get("/").context["stats"]
    assert (stats.store_count, stats.member_count) == (2, 4)


@pytest.mark.django_db
def test_stores_page_counts(hq_client, member_a, member_b, store_a, store_b):
    html = hq_client.get(reverse("console:stores")).content.decode()
    assert store_a.name in html and store_b.name in html


# --- scope -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_clerk_cannot_see_other_store(clerk_client, member_a, member_b, tag):
    response = clerk_client.get(reverse("console:member_detail", args=[member_b.pk]))
    assert response.status_code == 404
    html = clerk_client.get(reverse("console:members")).content.decode()
    assert member_a.name in html and member_b.name not in html
    # Actions on the other store's member are 404 too, and change nothing.
    for name, data in (
        ("console:member_tag_add", {"tag": tag.pk}),
        ("console:member_consent", {"granted": "1"}),
        ("console:member_note_add", {"text": "hi"}),
        ("console:member_edit", {"name": "x", "gender": "u", "home_store": ""}),
    ):
        assert clerk_client.post(reverse(name, args=[member_b.pk]), data).status_code == 404, name
    assert not MemberTag.objects.filter(member=member_b).exists()
    assert not MemberNote.objects.filter(member=member_b).exists()
    # Filtering by the other store's id does not leak its members either.
    html = clerk_client.get(reverse("console:members"), {"store": member_b.home_store_id}).content.decode()
    assert member_b.name not in html


@pytest.mark.django_db
def test_missing_member_is_404(hq_client):
    assert hq_client.get("/members/999999/").status_code == 404


# --- member list -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_member_list_masks_mobiles(hq_client, member_a):
    html = hq_client.get(reverse("console:members")).content.decode()
    assert "138****1234" in html and "13812341234" not in html


@pytest.mark.django_db
def test_filters_narrow_the_list(hq_client, brand, store_a, store_b, member_a, member_b, tag, hq_admin):
    male = MemberFactory(brand=brand, home_store=store_a, name="赵先生", gender="m")
    MemberTag.objects.create(member=member_a, tag=tag)

    def names(params):
        response = hq_client.get(reverse("console:members"), params)
        assert response.status_code == 200
        return {m.name for m, _mobile in response.context["rows"]}

    assert names({}) == {member_a.name, member_b.name, male.name}
    assert names({"tag": tag.pk}) == {member_a.name}
    assert names({"store": store_b.pk}) == {member_b.name}
    assert names({"gender": "m"}) == {male.name}
    assert names({"q": "小红"}) == {member_b.name}
    assert names({"q": "1234"}) == {member_a.name}
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert names({"joined_from": tomorrow}) == set()
    # Nonsense input is reported and ignored, never a 500.
    response = hq_client.get(
        reverse("console:members"), {"age_band": "zzz", "joined_to": "not-a-date", "store": "x", "page": "9"}
    )
    assert response.status_code == 200
    assert "Some filters were not understood" in response.content.decode()


@pytest.mark.django_db
def test_member_list_htmx_returns_partial(hq_client, member_a):
    response = hq_client.get(reverse("console:members"), {"q": "王"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and member_a.name in html
    assert "HX-Request" in response["Vary"]


@pytest.mark.django_db
def test_pagination(hq_client, brand, store_a):
    MemberFactory.create_batch(55, brand=brand, home_store=store_a)
    first = hq_client.get(reverse("console:members"))
    assert len(first.context["rows"]) == 50 and "Page 1 of 2" in first.content.decode()
    second = hq_client.get(reverse("console:members"), {"page": 2})
    assert len(second.context["rows"]) == 5


@pytest.mark.django_db
def test_export_button_and_download(client, hq_admin, clerk_a, manager_a, member_a):
    client.force_login(clerk_a)
    assert "members/export/" not in client.get(reverse("console:members")).content.decode()
    assert client.post(reverse("console:members_export"), {"fmt": "csv"}).status_code == 403
    client.force_login(hq_admin)
    assert "members/export/" in client.get(reverse("console:members")).content.decode()
    response = client.post(reverse("console:members_export"), {"fmt": "csv", "q": "王"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert AuditEntry.objects.filter(action="member.export_list", actor=hq_admin).exists()
    response = client.post(reverse("console:members_export"), {"fmt": "pdf"}, HTTP_REFERER="/members/")
    assert response.status_code == 302


# --- member profile --------------------------------------------------------------------------


@pytest.mark.django_db
def test_tag_add_and_remove_with_htmx(clerk_client, member_a, tag):
    url = reverse("console:member_tag_add", args=[member_a.pk])
    response = clerk_client.post(url, {"tag": tag.pk}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="tags-box"' in html and tag.name in html and "<html" not in html
    assert MemberTag.objects.filter(member=member_a, tag=tag).exists()
    remove = reverse("console:member_tag_remove", args=[member_a.pk, tag.pk])
    response = clerk_client.post(remove, **HTMX)
    assert response.status_code == 200
    assert not MemberTag.objects.filter(member=member_a, tag=tag).exists()


@pytest.mark.django_db
def test_tag_add_without_js_redirects(clerk_client, member_a, tag):
    response = clerk_client.post(reverse("console:member_tag_add", args=[member_a.pk]), {"tag": tag.pk})
    assert response.status_code == 302
    assert response["Location"] == reverse("console:member_detail", args=[member_a.pk])
    page = clerk_client.get(response["Location"]).content.decode()
    assert tag.name in page
    assert "Tagged" in page  # the event timeline shows the tagging
    assert 'hx-headers=\'{"X-CSRFToken": "' in page  # htmx posts carry the CSRF token


@pytest.mark.django_db
def test_tag_bad_input_is_a_message(clerk_client, member_a, tag):
    url = reverse("console:member_tag_add", args=[member_a.pk])
    response = clerk_client.post(url, {"tag": "999999"}, **HTMX)
    assert response.status_code == 200 and response["HX-Retarget"] == "#messages"
    assert "No such tag." in response.content.decode()
    response = clerk_client.post(url, {"tag": "abc"}, HTTP_REFERER=reverse("console:member_detail", args=[1]))
    assert response.status_code == 302
    rule_tag = TagFactory(name="规则", rule={"gender": "f"})
    response = clerk_client.post(url, {"tag": rule_tag.pk}, **HTMX)
    assert "Rule-based tags" in response.content.decode()
    assert not MemberTag.objects.filter(member=member_a).exists()


@pytest.mark.django_db
def test_consent_grant_and_withdraw(clerk_client, member_a, clerk_a):
    url = reverse("console:member_consent", args=[member_a.pk])
    response = clerk_client.post(url, {"granted": "1"}, **HTMX)
    assert response.status_code == 200 and 'id="consent-box"' in response.content.decode()
    member_a.refresh_from_db()
    assert member_a.marketing_consent
    response = clerk_client.post(url, {"granted": "0"})
    assert response.status_code == 302
    member_a.refresh_from_db()
    assert not member_a.marketing_consent
    actions = list(ConsentRecord.objects.filter(member=member_a).values_list("action", flat=True))
    assert actions == ["withdrawn", "granted"]
    assert AuditEntry.objects.filter(action="member.consent_withdrawn", actor=clerk_a).exists()
    assert clerk_client.post(url, {"granted": "maybe"}, HTTP_REFERER="/").status_code == 302


@pytest.mark.django_db
def test_add_note(clerk_client, member_a):
    url = reverse("console:member_note_add", args=[member_a.pk])
    response = clerk_client.post(url, {"text": "喜欢拿铁"}, **HTMX)
    assert response.status_code == 200 and "喜欢拿铁" in response.content.decode()
    assert MemberNote.objects.filter(member=member_a, text="喜欢拿铁").exists()
    response = clerk_client.post(url, {"text": "  "}, **HTMX)
    assert response["HX-Retarget"] == "#messages"
    assert MemberNote.objects.filter(member=member_a).count() == 1


@pytest.mark.django_db
def test_reveal_mobile_is_audited(client, hq_admin, clerk_a, member_a):
    client.force_login(hq_admin)
    detail = client.get(reverse("console:member_detail", args=[member_a.pk])).content.decode()
    assert "138****1234" in detail and "13812341234" not in detail and "Reveal mobile" in detail
    response = client.post(reverse("console:member_reveal", args=[member_a.pk]), **HTMX)
    assert response.status_code == 200 and "13812341234" in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    entry = AuditEntry.objects.get(action="member.reveal_mobile")
    assert entry.actor == hq_admin and entry.target_id == str(member_a.pk) and entry.ip == "127.0.0.1"
    # Without JS the whole page comes back with the number.
    response = client.post(reverse("console:member_reveal", args=[member_a.pk]))
    assert "13812341234" in response.content.decode()

    client.force_login(clerk_a)
    detail = client.get(reverse("console:member_detail", args=[member_a.pk])).content.decode()
    assert "Reveal mobile" not in detail
    response = client.post(reverse("console:member_reveal", args=[member_a.pk]))
    assert response.status_code == 403 and "13812341234" not in response.content.decode()
    assert AuditEntry.objects.filter(action="member.reveal_mobile").count() == 2


@pytest.mark.django_db
def test_edit_profile(clerk_client, member_a, store_a, store_b):
    url = reverse("console:member_edit", args=[member_a.pk])
    data = {"name": "王大明", "gender": "m", "birthday": "1990-05-01", "home_store": store_a.pk}
    response = clerk_client.post(url, data)
    assert response.status_code == 302
    member_a.refresh_from_db()
    assert (member_a.name, member_a.gender, member_a.age_band) == ("王大明", "m", "35-44")
    # A store the clerk does not serve is not even a choice.
    response = clerk_client.post(url, {**data, "home_store": store_b.pk})
    assert response.status_code == 200 and response.context["form"].errors
    response = clerk_client.post(url, {**data, "birthday": "2999-01-01"})
    assert response.status_code == 200 and "Birthday is out of range." in response.content.decode()


@pytest.mark.django_db
def test_create_member(client, clerk_a, hq_admin, store_a, store_b, member_a):
    client.force_login(clerk_a)
    form = client.get(reverse("console:member_new")).context["form"]
    assert [c[0] for c in form.fields["home_store"].choices] == [str(store_a.pk)]
    url = reverse("console:member_new")
    response = client.post(
        url, {"mobile": "139 1234 5678", "name": "新会员", "gender": "f", "home_store": store_a.pk}
    )
    assert response.status_code == 302
    member = Member.objects.get(mobile="13912345678")
    assert member.home_store == store_a and response["Location"].endswith(f"/members/{member.pk}/")
    response = client.post(url, {"mobile": "13912345679", "gender": "f", "home_store": store_b.pk})
    assert response.status_code == 200 and not Member.objects.filter(mobile="13912345679").exists()
    response = client.post(url, {"mobile": "13812341234", "gender": "f", "home_store": store_a.pk})
    assert "cannot be added here" in response.content.decode()  # ADR 0010: the same answer as another store's
    response = client.post(url, {"mobile": "12345", "gender": "f", "home_store": store_a.pk})
    assert "Not a valid mainland China mobile number." in response.content.decode()
    client.force_login(hq_admin)
    response = client.post(url, {"mobile": "13912340000", "gender": "u", "home_store": ""})
    assert response.status_code == 302


@pytest.mark.django_db
def test_erase_by_hq_admin(client, hq_admin, hq_operator, member_a, tag):
    MemberTag.objects.create(member=member_a, tag=tag)
    url = reverse("console:member_erase", args=[member_a.pk])
    client.force_login(hq_operator)
    assert client.post(url, {"confirm": member_a.pk}).status_code == 403
    client.force_login(hq_admin)
    assert client.get(url).status_code == 200
    response = client.post(url, {"confirm": "wrong"})
    assert response.status_code == 200
    member_a.refresh_from_db()
    assert member_a.erased_at is None
    response = client.post(url, {"confirm": str(member_a.pk)})
    assert response.status_code == 302
    member_a.refresh_from_db()
    assert member_a.erased_at is not None and member_a.mobile is None and member_a.name == ""
    assert AuditEntry.objects.filter(action="member.erase", actor=hq_admin).exists()
    html = client.get(reverse("console:member_detail", args=[member_a.pk])).content.decode()
    assert "was erased" in html and "Reveal mobile" not in html
    # Erasing twice is refused politely.
    response = client.post(url, {"confirm": str(member_a.pk)}, HTTP_REFERER=url)
    assert response.status_code == 302


@pytest.mark.django_db
def test_export_member_json(hq_client, member_a, hq_admin):
    response = hq_client.post(reverse("console:member_export_json", args=[member_a.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    assert response.json()["mobile"] == "13812341234"
    assert AuditEntry.objects.filter(action="member.export", actor=hq_admin).exists()


# --- imports ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_good_and_bad_files(hq_client, store_a):
    from django.core.files.uploadedfile import SimpleUploadedFile

    good = "手机号,姓名,门店编码\n13700000001,导入一,A001\n13700000002,导入二,A001\n".encode()
    response = hq_client.post(
        reverse("console:imports"), {"file": SimpleUploadedFile("pos.csv", good, "text/csv")}
    )
    assert response.status_code == 302
    result = MemberImport.objects.get()
    assert response["Location"] == reverse("console:import_detail", args=[result.pk])
    assert result.status == "imported" and result.created_count == 2
    page = hq_client.get(response["Location"]).content.decode()
    assert "pos.csv" in page

    bad = "手机号,姓名,门店编码\n12345,坏行,A001\n".encode()
    response = hq_client.post(
        reverse("console:imports"), {"file": SimpleUploadedFile("bad.csv", bad, "text/csv")}, follow=True
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Problems found" in html and "rejected" in MemberImport.objects.first().status
    assert response.context["errors"][0]["row"] == 2

    listing = hq_client.get(reverse("console:imports")).content.decode()
    assert "pos.csv" in listing and "bad.csv" in listing
    response = hq_client.post(
        reverse("console:imports"), {"file": SimpleUploadedFile("x.txt", b"hello", "text/plain")}
    )
    assert response.status_code == 200 and "Upload a .csv or .xlsx file." in response.content.decode()


@pytest.mark.django_db
def test_import_template_download(hq_client):
    response = hq_client.get(reverse("console:import_template", args=["xlsx"]))
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    assert hq_client.get(reverse("console:import_template", args=["csv"])).status_code == 200
    assert hq_client.get("/imports/template.pdf").status_code == 404


@pytest.mark.django_db
def test_clerk_cannot_import(clerk_client):
    assert clerk_client.get(reverse("console:import_template", args=["csv"])).status_code == 403
    assert clerk_client.post(reverse("console:imports"), {}).status_code == 403


# --- tokens ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_tokens_create_shows_secret_once_and_revoke(clerk_client, clerk_a, hq_admin):
    response = clerk_client.post(reverse("console:tokens"), {"name": "收银机"})
    assert response.status_code == 200
    secret = response.context["new_secret"]
    assert secret.startswith("sy_") and secret in response.content.decode()
    token = ApiToken.objects.get(staff=clerk_a)
    assert secret not in clerk_client.get(reverse("console:tokens")).content.decode()
    assert "收银机" in clerk_client.get(reverse("console:tokens")).content.decode()
    response = clerk_client.post(reverse("console:token_revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    # Someone else's token looks absent.
    other = ApiToken.objects.create(staff=hq_admin, name="x", prefix="sy_x", key_hash="0" * 64)
    assert clerk_client.post(reverse("console:token_revoke", args=[other.pk])).status_code == 404
    response = clerk_client.post(reverse("console:tokens"), {"name": ""})
    assert response.status_code == 200 and response.context["form"].errors


# --- audit -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_audit_log_filters(client, hq_admin, clerk_a, member_a, tag):
    client.force_login(clerk_a)
    client.post(reverse("console:member_tag_add", args=[member_a.pk]), {"tag": tag.pk})
    client.post(reverse("console:member_note_add", args=[member_a.pk]), {"text": "note"})
    client.force_login(hq_admin)
    response = client.get(reverse("console:audit"))
    assert response.status_code == 200 and response.context["page"].paginator.count == 2
    response = client.get(reverse("console:audit"), {"action": "member.tag"})
    assert [e.action for e in response.context["page"].object_list] == ["member.tag"]
    response = client.get(reverse("console:audit"), {"actor": clerk_a.pk, "action": "member.note"})
    assert [e.action for e in response.context["page"].object_list] == ["member.note"]
    # Someone who never acted is not a choice: the filter is reported, not applied.
    response = client.get(reverse("console:audit"), {"actor": hq_admin.pk})
    assert response.context["form"].errors and response.context["page"].paginator.count == 2
    assert client.get(reverse("console:audit"), {"actor": "x", "page": "zz"}).status_code == 200


# --- language --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_language_switch_to_english(hq_client, settings):
    settings.LANGUAGE_CODE = "zh-hans"  # the real default (tests otherwise run in English)
    html = hq_client.get(reverse("console:members")).content.decode()
    assert '<html lang="zh-hans"' in html
    response = hq_client.post("/i18n/setlang/", {"language": "en", "next": "/members/"})
    assert response.status_code == 302 and response["Location"] == "/members/"
    html = hq_client.get("/members/").content.decode()
    assert '<html lang="en"' in html
    assert "New member" in html and "Sign out" in html
