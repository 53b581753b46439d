from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.generation.fake_openai_server import FakeOpenAIServer, running_fake_openai_server

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture
def fake_openai_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    """A real OpenAI-compatible server on 127.0.0.1; proxies disabled so the client talks to it directly."""
    for var in _PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    with running_fake_openai_server() as server:
        yield server
