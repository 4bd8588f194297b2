import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.common.errors import ValidationFailed
from siyu.common.mobile import mask_mobile, normalize_mobile


@pytest.mark.parametrize(
    "raw",
    [
        "13812341234",
        "138 1234 1234",
        "138-1234-1234",
        "+8613812341234",
        "008613812341234",
        "8613812341234",
        "13812341234.0",
    ],
)
def test_normalize_accepts_common_forms(raw):
    assert normalize_mobile(raw) == "13812341234"


@pytest.mark.parametrize(
    "raw", ["", None, "12812341234", "1381234123", "138123412345", "abc", "+1 415 555 0100"]
)
def test_normalize_rejects_bad_numbers(raw):
    with pytest.raises(ValidationFailed) as exc:
        normalize_mobile(raw)
    assert exc.value.field == "mobile"


def test_mask():
    assert mask_mobile("13812341234") == "138****1234"
    assert mask_mobile(None) == ""


@given(st.from_regex(r"1[3-9]\d{9}", fullmatch=True))
def test_normalize_is_idempotent_and_mask_hides_middle(mobile):
    assert normalize_mobile(normalize_mobile(mobile)) == mobile
    masked = mask_mobile(mobile)
    assert masked[3:7] == "****" and masked[:3] == mobile[:3] and masked[-4:] == mobile[-4:]
