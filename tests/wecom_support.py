"""A fake WeCom server and connectors pointing at it (registered as a pytest plugin in tests/conftest.py).

``fake_wecom`` is a running ``tests.fakes.wecom.FakeWeCom``; ``connect_wecom`` adds a WeCom connector for it
(optionally for one store and with an app agent id, which the staff-push and store-robot paths need);
``wecom_connector`` is that connector for store A with the app agent.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from siyu.channels.models import Connector
from siyu.channels.services.connectors import add_wecom_connector
from siyu.org.models import Store
from tests.fakes.wecom import AES_KEY, CALLBACK_TOKEN, CORP_ID, CORP_SECRET, FakeWeCom

AGENT_ID = "1000002"


@pytest.fixture
def fake_wecom() -> Iterator[FakeWeCom]:
    with FakeWeCom() as server:
        yield server


def connect_wecom(fake: FakeWeCom, store: Store | None = None, *, agent_id: str | None = None) -> Connector:
    """A WeCom connector talking to ``fake``: store-wide when ``store`` is given, with the app ``agent_id``
    when given."""
    args = {
        "corp_id": CORP_ID,
        "corp_secret": CORP_SECRET,
        "token": CALLBACK_TOKEN,
        "aes_key": AES_KEY,
        "api_base": fake.url,
    }
    if agent_id is not None:
        args["agent_id"] = agent_id
    if store is not None:
        args["store_code"] = store.code
    return add_wecom_connector(**args)


@pytest.fixture
def wecom_connector(fake_wecom: FakeWeCom, store_a: Store) -> Connector:
    return connect_wecom(fake_wecom, store_a, agent_id=AGENT_ID)
