"""Members' nickname and avatar: setting them (only the member themself), the public-name rule in chat,
接龙 relay lines and team progress, WeChat fill-in, export and erasure, the H5 home and "我的" pages, and the
contrast of the member's own chat bubble."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.urls import reverse
from PIL import Image

from siyu.campaigns.services import relay
from siyu.campaigns.services.group_buys import rules as group_buy_rules
from siyu.channels.sms.console import clear_codes, last_code
from siyu.common.errors import Conflict, ValidationFailed
from siyu.communities.models import Community, CommunityMembership
from siyu.communities.services import messages as chat
from siyu.communities.services import posting
from siyu.members.models import ChannelIdentity, Member
from siyu.members.services import bulk, privacy, public_profile
from siyu.members.services.signin import SESSION_KEY, link_wechat_identity
from siyu.tooling.demo.people import avatar_png, nickname_for

CHAT_CSS = Path(__file__).resolve().parent.parent / "siyu" / "h5" / "static" / "h5" / "chat.css"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SIYU_SMS_PROVIDER = "console"
    clear_codes()


def _picture(fmt: str = "PNG", size: tuple[int, int] = (400, 300), colour=(30, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


def _sign_in(client, member: Member) -> None:
    client.post(reverse("h5:login"), {"action": "send", "mobile": member.mobile})
    client.post(
        reverse("h5:login"), {"action": "verify", "mobile": member.mobile, "code": last_code(member.mobile)}
    )
    assert client.session[SESSION_KEY] == member.pk


# --- nickname rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("  小王  爱喝咖啡 ", "小王 爱喝咖啡"), ("Ａｍｙ", "Amy"), ("", ""), ("   ", ""), ("x" * 20, "x" * 20)],
)
def test_clean_nickname_accepts(raw, clean):
    assert public_profile.clean_nickname(raw) == clean


@pytest.mark.parametrize(
    "raw",
    [
        "x" * 21,
        "加我 13812341234",
        "138 1234 1234",
        "看 abc.com",
        "https://x.cn",
        "www.shop",
        "qq 123456",
        "me@example.com",
        "a\u200bb",
        "a\x07b",
    ],
)
def test_clean_nickname_refuses_links_numbers_and_long_names(raw):
    with pytest.raises(ValidationFailed) as exc:
        public_profile.clean_nickname(raw)
    assert exc.value.field == "nickname"


def test_set_nickname_and_erased_member_refused(member_a):
    public_profile.set_nickname(member_a, " 小王 ")
    member_a.refresh_from_db()
    assert member_a.nickname == "小王"
    public_profile.set_nickname(member_a, "")
    member_a.refresh_from_db()
    assert member_a.nickname == ""
    Member.objects.filter(pk=member_a.pk).update(mobile=None, erased_at="2026-01-01T00:00:00Z")
    with pytest.raises(Conflict):
        public_profile.set_nickname(member_a, "小王")


# --- the public name ---------------------------------------------------------------------------------


def test_public_name_prefers_nickname_then_masked(member_a):
    assert public_profile.public_name(member_a) == "王**"
    member_a.nickname = "小王"
    assert public_profile.public_name(member_a) == "小王"
    member_a.nickname, member_a.name = "", ""
    assert public_profile.public_name(member_a) == "138****1234"
    member_a.mobile = None
    assert public_profile.public_name(member_a) == "Member"
    assert public_profile.public_name(None) == "Member"


def test_chat_relay_and_team_use_the_nickname(member_a):
    public_profile.set_nickname(member_a, "小王爱喝咖啡")
    assert chat.display_name(member_a) == "小王爱喝咖啡"
    assert relay.masked_name(member_a) == "小王爱喝咖啡"
    assert (
        relay.relay_line(3, relay.masked_name(member_a), 2, "北欧陶瓷杯")
        == "3. 小王爱喝咖啡 got 2 × 北欧陶瓷杯"
    )
    assert group_buy_rules.masked_name(member_a) == "小王爱喝咖啡"


def test_chat_message_carries_nickname_and_avatar(
    brand, store_a, member_a, django_capture_on_commit_callbacks
):
    group = Community.objects.create(brand=brand, store=store_a, name="朝阳大悦城店·宝妈群1")
    CommunityMembership.objects.create(community=group, member=member_a)
    public_profile.set_nickname(member_a, "小王")
    message = posting.post_member_message(group, member_a, text="大家好")
    data = chat.serialize_message(message)
    assert data["sender"]["name"] == "小王" and data["sender"]["avatar_url"] == ""
    with django_capture_on_commit_callbacks(execute=True):
        public_profile.set_avatar(member_a, _picture())
    message.member.refresh_from_db()
    data = chat.serialize_message(message)
    assert re.fullmatch(r"/h5/avatars/[0-9a-f]{32}\.jpg", data["sender"]["avatar_url"])
    assert "13812341234" not in str(data) and "王小明" not in str(data)


# --- avatar ------------------------------------------------------------------------------------------


def test_avatar_is_square_160_jpeg_without_metadata(member_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        public_profile.set_avatar(member_a, _picture("PNG", (600, 300)))
    member_a.refresh_from_db()
    first = member_a.avatar.name
    with member_a.avatar.open("rb") as fh, Image.open(fh) as img:
        assert img.format == "JPEG" and img.size == (160, 160)
        assert not img.getexif()
    path = Path(member_a.avatar.path)
    # A new upload replaces the old file (deleted after commit).
    with django_capture_on_commit_callbacks(execute=True):
        public_profile.set_avatar(member_a, _picture("WEBP", (50, 80)))
    member_a.refresh_from_db()
    assert member_a.avatar.name != first and not path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        public_profile.remove_avatar(member_a)
    member_a.refresh_from_db()
    assert not member_a.avatar


@pytest.mark.parametrize("data", [b"", b"not a picture", b"GIF89a" + b"\x00" * 10, b"%PDF-1.4 nope"])
def test_avatar_refuses_non_pictures(member_a, data):
    with pytest.raises(ValidationFailed) as exc:
        public_profile.set_avatar(member_a, data)
    assert exc.value.field == "avatar"
    member_a.refresh_from_db()
    assert not member_a.avatar


def test_avatar_refuses_too_large(member_a):
    with pytest.raises(ValidationFailed):
        public_profile.set_avatar(member_a, b"\xff" * (public_profile.MAX_AVATAR_BYTES + 1))


# --- H5: home, 我的, avatars -------------------------------------------------------------------------


def test_home_links_to_groups_group_buys_orders_mall_and_points(client, member_a):
    _sign_in(client, member_a)
    html = client.get(reverse("h5:home")).content.decode()
    for name in ("h5:my_groups", "h5:orders", "h5:mall", "h5:me", "h5:points"):
        assert f'href="{reverse(name)}"' in html
    assert 'href="#group-buys"' in html and 'id="group-buys"' in html


def test_me_sets_nickname_and_avatar_for_the_signed_in_member_only(client, member_a, member_b):
    _sign_in(client, member_a)
    response = client.post(
        reverse("h5:me"), {"action": "nickname", "nickname": "小王", "member": member_b.pk}
    )
    assert response.status_code == 302 and response["Location"] == reverse("h5:me")
    member_a.refresh_from_db()
    member_b.refresh_from_db()
    assert member_a.nickname == "小王" and member_b.nickname == ""
    upload = io.BytesIO(_picture("JPEG"))
    upload.name = "me.jpg"
    response = client.post(reverse("h5:me"), {"action": "avatar", "avatar": upload})
    assert response.status_code == 302
    member_a.refresh_from_db()
    assert member_a.avatar and not Member.objects.get(pk=member_b.pk).avatar
    page = client.get(reverse("h5:me")).content.decode()
    url = reverse("h5:avatar", args=[public_profile.avatar_name(member_a)])
    assert url in page and "小王" in page
    served = client.get(url)
    assert served.status_code == 200 and served["Content-Type"] == "image/jpeg"
    assert b"".join(served.streaming_content)[:2] == b"\xff\xd8"


def test_me_shows_nickname_errors(client, member_a):
    _sign_in(client, member_a)
    response = client.post(reverse("h5:me"), {"action": "nickname", "nickname": "加我13812341234"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'aria-invalid="true"' in html and "links, phone numbers" in html
    member_a.refresh_from_db()
    assert member_a.nickname == ""


def test_me_requires_sign_in(client, member_a):
    assert client.post(reverse("h5:me"), {"action": "nickname", "nickname": "x"}).status_code == 302
    member_a.refresh_from_db()
    assert member_a.nickname == ""


def test_avatar_view_refuses_anything_but_stored_avatars(client, member_a):
    for name in ("../secret_key", "abc.jpg", "0" * 32 + ".jpg", "0" * 32 + ".png"):
        assert client.get(f"/h5/avatars/{name}").status_code == 404


# --- WeChat fill-in ----------------------------------------------------------------------------------


def test_wechat_nickname_fills_an_empty_nickname_only(member_a):
    link_wechat_identity(member_a, {"openid": "o-1", "nickname": "微信里的小王"})
    member_a.refresh_from_db()
    assert member_a.nickname == "微信里的小王"
    assert ChannelIdentity.objects.filter(member=member_a, external_id="o-1").exists()
    public_profile.set_nickname(member_a, "自己选的")
    assert not public_profile.nickname_from_wechat(member_a, "另一个")
    member_a.refresh_from_db()
    assert member_a.nickname == "自己选的"


def test_wechat_nickname_breaking_rules_is_skipped(member_b):
    assert not public_profile.nickname_from_wechat(member_b, "加V 13812341234")
    assert public_profile.nickname_from_wechat(member_b, "很长很长很长很长很长很长很长很长很长很长很长")
    member_b.refresh_from_db()
    assert len(member_b.nickname) == 20


def test_wechat_sign_in_with_userinfo_sets_nickname(client, member_a, wechat_fake):
    ChannelIdentity.objects.create(member=member_a, channel="wechat", external_id="o-known")
    client.get(reverse("h5:wechat_start"), {"scope": "snsapi_userinfo"})
    state = client.session["siyu_wechat_state"]
    code = wechat_fake.issue_code("o-known", scope="snsapi_userinfo", unionid="u-1", nickname="阿明")
    response = client.get(reverse("h5:wechat_callback"), {"code": code, "state": state})
    assert response.status_code == 302
    member_a.refresh_from_db()
    assert member_a.nickname == "阿明" and not member_a.avatar  # the head image is not fetched


# --- export and erasure -----------------------------------------------------------------------------


def test_export_includes_and_erasure_removes_nickname_and_avatar(
    hq_admin, member_a, django_capture_on_commit_callbacks
):
    public_profile.set_nickname(member_a, "小王")
    with django_capture_on_commit_callbacks(execute=True):
        public_profile.set_avatar(member_a, _picture())
    member_a.refresh_from_db()
    data = privacy.member_data(member_a)
    assert data["nickname"] == "小王" and data["avatar"] == public_profile.avatar_name(member_a)
    path = Path(member_a.avatar.path)
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        erased = privacy.erase_member(hq_admin, member_a.pk)
    assert erased.nickname == "" and not erased.avatar
    assert not path.exists()
    data = privacy.member_data(erased)
    assert data["nickname"] == "" and data["avatar"] is None
    assert public_profile.public_name(erased) == "Member"


# --- demo --------------------------------------------------------------------------------------------


def test_demo_nicknames_follow_the_rules_and_avatars_are_pictures(brand, member_a):
    drawn = [nickname_for(f"1380000{n:04d}") for n in range(200)]
    with_nickname = [n for n, _i in drawn if n]
    assert 80 < len(with_nickname) < 160
    assert all(public_profile.clean_nickname(n) == n for n in with_nickname)
    assert bulk.bulk_set_avatars([(member_a.pk, avatar_png("XL", "13800000000"))]) == 1
    member_a.refresh_from_db()
    with member_a.avatar.open("rb") as fh, Image.open(fh) as img:
        assert img.size == (160, 160)


# --- the member's own chat bubble: WCAG AA contrast -------------------------------------------------


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _rule(css: str, selector: str) -> dict[str, str]:
    block = re.search(re.escape(selector) + r"\s*\{([^}]*)\}", css)
    assert block, selector
    return dict(
        (k.strip(), v.strip())
        for k, v in (line.split(":", 1) for line in block.group(1).split(";") if ":" in line)
    )


def test_own_bubble_meets_wcag_aa_contrast():
    css = CHAT_CSS.read_text()
    bubble = _rule(css, ".chat-mine .chat-bubble")
    link = _rule(css, ".chat-mine .chat-bubble a")
    assert re.fullmatch(r"#[0-9a-f]{6}", bubble["background"]) and re.fullmatch(
        r"#[0-9a-f]{6}", bubble["color"]
    )
    assert _contrast(bubble["color"], bubble["background"]) >= 4.5
    assert _contrast(link["color"], bubble["background"]) >= 4.5
