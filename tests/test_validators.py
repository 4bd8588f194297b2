"""The shared input rules (``siyu.common.validators``): ids, idempotency keys, money in yuan and fen."""

from __future__ import annotations

from decimal import Decimal

import pytest

from siyu.common.errors import NotFound, ValidationFailed
from siyu.common.validators import (
    MAX_DB_ID,
    MAX_KEY_LENGTH,
    clean_fen,
    clean_idempotency_key,
    fen_to_yuan,
    optional_id,
    parse_id,
    parse_ids,
    yuan_to_fen,
)

# --- ids ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "pk"), [(1, 1), ("42", 42), (" 7 ", 7), (MAX_DB_ID, MAX_DB_ID)])
def test_parse_id_accepts_positive_ids(raw, pk):
    assert parse_id(raw, "thing") == pk


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "  ",
        0,
        -1,
        "0",
        "-1",
        "+1",
        "1.0",
        1.0,
        1.5,
        True,
        False,
        "abc",
        "１２",
        "١٢",
        [1],
        {},
        2**63,
        10**30,
    ],
)
def test_parse_id_refuses_junk_as_not_found(raw):
    with pytest.raises(NotFound) as caught:
        parse_id(raw, "thing", "No such thing.")
    assert caught.value.field == "thing" and caught.value.message == "No such thing."


def test_parse_id_has_a_default_message():
    with pytest.raises(NotFound) as caught:
        parse_id("x", "thing")
    assert caught.value.message


def test_parse_ids_keeps_order_and_drops_repeats():
    assert parse_ids([3, "1", 3, 2], "ids", limit=10) == [3, 1, 2]
    assert parse_ids(None, "ids", limit=10) == [] and parse_ids((), "ids", limit=10) == []


@pytest.mark.parametrize("raw", ["1,2", 5, {"a": 1}, "abc"])
def test_parse_ids_refuses_a_non_list(raw):
    with pytest.raises(ValidationFailed) as caught:
        parse_ids(raw, "ids", limit=10)
    assert caught.value.field == "ids"


def test_parse_ids_bounds_the_list_and_each_id():
    with pytest.raises(ValidationFailed):
        parse_ids(list(range(1, 12)), "ids", limit=10)
    with pytest.raises(NotFound):
        parse_ids([1, "x"], "ids", limit=10)
    with pytest.raises(NotFound):
        parse_ids([1, True], "ids", limit=10)


@pytest.mark.parametrize(
    ("raw", "pk"), [("12", 12), (12, 12), (None, None), ("", None), ("0", None), ("x", None)]
)
def test_optional_id_is_none_for_absent_or_junk(raw, pk):
    assert optional_id(raw) == pk
    assert optional_id(str(10**30)) is None


# --- idempotency keys -------------------------------------------------------------------------------


def test_clean_idempotency_key_strips_and_keeps_printable_ascii():
    assert clean_idempotency_key("  abc-123  ") == "abc-123"
    assert clean_idempotency_key("k" * MAX_KEY_LENGTH) == "k" * MAX_KEY_LENGTH
    assert clean_idempotency_key(None, required=False) is None
    with pytest.raises(ValidationFailed):
        clean_idempotency_key("  ", required=False)  # sent but blank: a client bug, not "no key"


@pytest.mark.parametrize(
    "raw", [None, "", "   ", 5, True, b"abc", "k" * (MAX_KEY_LENGTH + 1), "键", "a\tb", "a\x00b", "a\nb"]
)
def test_clean_idempotency_key_refuses_junk(raw):
    with pytest.raises(ValidationFailed) as caught:
        clean_idempotency_key(raw, "Idempotency-Key")
    assert caught.value.field == "Idempotency-Key"


def test_clean_idempotency_key_names_its_default_field():
    with pytest.raises(ValidationFailed) as caught:
        clean_idempotency_key("x" * 500, required=False)
    assert caught.value.field == "idempotency_key"


# --- money ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "fen"),
    [
        ("9.9", 990),
        ("9.90", 990),
        ("0.01", 1),
        ("0", 0),
        ("12", 1200),
        (" 39.90 ", 3990),
        ("¥9.90", 990),
        ("¥ 9.90", 990),
        ("9，90", 990),  # full-width comma typed as the decimal point
        ("9．9", 990),  # full-width full stop
        ("￥１２．５", 1250),  # full-width sign and digits, as a Chinese input method types them
        (Decimal("19.99"), 1999),
        (Decimal("5"), 500),
        (7, 700),
        ("9999999.99", 999_999_999),
    ],
)
def test_yuan_to_fen_is_exact(raw, fen):
    assert yuan_to_fen(raw, "price") == fen


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "abc",
        "9.999",
        "-1",
        "1e3",
        "1,000",
        "9.9.9",
        ".5",
        "10000000",
        "NaN",
        "Infinity",
        9.9,
        True,
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("1.234"),
        [],
        "١٢",  # other scripts' digits are not amounts
        "¥",
    ],
)
def test_yuan_to_fen_refuses_junk(raw):
    with pytest.raises(ValidationFailed) as caught:
        yuan_to_fen(raw, "price")
    assert caught.value.field == "price"


def test_yuan_to_fen_bounds():
    assert yuan_to_fen("0.01", "price", minimum=1) == 1
    with pytest.raises(ValidationFailed) as low:
        yuan_to_fen("0", "price", minimum=1)
    assert "0.01" in low.value.message
    assert yuan_to_fen("100", "price", maximum=10_000) == 10_000
    with pytest.raises(ValidationFailed) as high:
        yuan_to_fen("100.01", "price", maximum=10_000)
    assert "100.00" in high.value.message


@pytest.mark.parametrize(("raw", "fen"), [(0, 0), (1, 1), (999_999_999, 999_999_999)])
def test_clean_fen_takes_real_ints(raw, fen):
    assert clean_fen(raw, "price_fen") == fen


@pytest.mark.parametrize("raw", [None, True, False, 1.0, "100", Decimal("1"), -1, 1_000_000_000, [1]])
def test_clean_fen_refuses_junk_and_out_of_range(raw):
    with pytest.raises(ValidationFailed) as caught:
        clean_fen(raw, "price_fen")
    assert caught.value.field == "price_fen"


def test_clean_fen_bounds():
    assert clean_fen(1, "p", minimum=1, maximum=5) == 1
    for bad in (0, 6):
        with pytest.raises(ValidationFailed):
            clean_fen(bad, "p", minimum=1, maximum=5)


@pytest.mark.parametrize(
    ("fen", "text"),
    [(3990, "39.90"), (5, "0.05"), (0, "0.00"), (100, "1.00"), (-150, "-1.50"), (-5, "-0.05"), (None, "")],
)
def test_fen_to_yuan(fen, text):
    assert fen_to_yuan(fen) == text


@pytest.mark.parametrize("fen", [0, 1, 99, 100, 3990, 999_999_999])
def test_yuan_and_fen_round_trip(fen):
    assert yuan_to_fen(fen_to_yuan(fen), "price") == fen
