"""docs/channels.md's per-channel table (what Siyu does automatically, what needs the group owner's
confirmation, what goes through staff) matches the connectors' declarations in code."""

from __future__ import annotations

from pathlib import Path

from siyu.channels.connectors.base import DeliveryPath
from siyu.channels.connectors.table import CHANNELS, END, START, delivery_table

DOC = Path(__file__).resolve().parent.parent / "docs" / "channels.md"


def test_the_table_in_the_doc_is_the_one_generated_from_the_connectors():
    text = DOC.read_text(encoding="utf-8")
    assert START in text and END in text
    in_doc = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert in_doc == delivery_table(), "regenerate the table: siyu.channels.connectors.table.delivery_table()"


def test_the_table_says_what_each_channel_declares():
    rows = {line.split(" | ")[0].lstrip("| "): line for line in delivery_table().splitlines()[2:]}
    for name, impl in CHANNELS:
        row = rows[name]
        for path in impl.delivery_paths:
            assert f"`{path.value}`" in row
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        owner, staff = cells[3], cells[4]
        assert (owner != "—") == (DeliveryPath.OWNER_CONFIRM in impl.delivery_paths)
        assert ("sidebar" in staff) == (DeliveryPath.STAFF in impl.delivery_paths)
        assert ("every post" in cells[2]) == (DeliveryPath.AUTO in impl.delivery_paths)
