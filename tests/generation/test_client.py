"""The real ``openai`` client against a real local OpenAI-compatible HTTP server."""

from __future__ import annotations

import socket
import time
import traceback

import pytest

from generation.client import OpenAIBackend
from generation.strategies import PromptTemplateStrategy
from generation.types import (
    GenerationError,
    GenerationSpec,
    MalformedOutputError,
    TransientGenerationError,
)
from tests.generation.fake_openai_server import DEFAULT_QA, FakeOpenAIServer

SECRET = "sk-test-DO-NOT-LEAK-4f2a9c"

SPEC = GenerationSpec(
    purpose="客服模型微调",
    domain="retail_banking",
    language="zh",
    kind="dialogue",
    task="生成客服对话",
    seed=1,
)


def backend_for(server: FakeOpenAIServer, *, timeout: float = 5.0, max_retries: int = 0) -> OpenAIBackend:
    return OpenAIBackend(
        base_url=server.base_url, api_key=SECRET, model="qwen-test", timeout=timeout, max_retries=max_retries
    )


def assert_no_secret(exc: BaseException) -> None:
    rendered = "".join(traceback.format_exception(exc))
    assert SECRET not in rendered
    assert SECRET not in str(exc) and SECRET not in repr(exc)


def test_chat_path_yields_a_parsed_record_with_usage(fake_openai_server: FakeOpenAIServer) -> None:
    backend = backend_for(fake_openai_server)
    record = PromptTemplateStrategy().generate(spec=SPEC, slot_index=4, backend=backend)

    assert [t["role"] for t in record.content["messages"]] == ["user", "assistant"]
    assert record.text.startswith("客户：您好")
    assert record.usage == {"prompt_tokens": 42, "completion_tokens": 17, "calls": 1}
    assert record.provenance["backend"] == "openai"
    assert record.provenance["model"] == "qwen-test"
    assert record.provenance["offline"] is False
    assert SECRET not in repr(record.provenance) and SECRET not in repr(backend)

    (request,) = fake_openai_server.state.requests
    body = request["body"]
    assert body["model"] == "qwen-test"
    assert body["response_format"] == {"type": "json_object"}
    assert body["seed"] == 1 * 1_000_003 + 4
    assert (body["temperature"], body["max_tokens"]) == (0.7, 800)
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert request["headers"]["authorization"] == f"Bearer {SECRET}"


def test_qa_completion_reports_model_and_tokens(fake_openai_server: FakeOpenAIServer) -> None:
    fake_openai_server.state.prompt_tokens, fake_openai_server.state.completion_tokens = 7, 3
    spec = GenerationSpec(purpose="p", domain="retail_banking", language="zh", kind="qa", task="t")
    record = PromptTemplateStrategy().generate(spec=spec, slot_index=0, backend=backend_for(fake_openai_server))
    assert record.content == DEFAULT_QA
    assert record.usage == {"prompt_tokens": 7, "completion_tokens": 3, "calls": 1}
    assert record.provenance["response_model"] == "qwen-test"


def test_a_transient_500_is_retried_by_the_client(fake_openai_server: FakeOpenAIServer) -> None:
    fake_openai_server.state.fail_next(1, status=500)
    record = PromptTemplateStrategy().generate(
        spec=SPEC, slot_index=0, backend=backend_for(fake_openai_server, max_retries=2)
    )
    assert len(fake_openai_server.state.requests) == 2
    assert record.usage["calls"] == 1  # the client's own retry is one call to us


def test_a_429_with_retry_after_zero_is_retried(fake_openai_server: FakeOpenAIServer) -> None:
    fake_openai_server.state.fail_next(2, status=429)
    started = time.monotonic()
    PromptTemplateStrategy().generate(spec=SPEC, slot_index=0, backend=backend_for(fake_openai_server, max_retries=2))
    assert len(fake_openai_server.state.requests) == 3
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("status", [429, 500, 503])
def test_exhausted_retries_raise_transient(fake_openai_server: FakeOpenAIServer, status: int) -> None:
    fake_openai_server.state.fail_next(5, status=status)
    with pytest.raises(TransientGenerationError) as info:
        backend_for(fake_openai_server, max_retries=1).complete(
            [{"role": "user", "content": "hi"}], temperature=0.1, max_tokens=10, seed=None, json_mode=False
        )
    assert str(status) in str(info.value)
    assert len(fake_openai_server.state.requests) == 2
    assert_no_secret(info.value)


def test_a_client_timeout_is_transient(fake_openai_server: FakeOpenAIServer) -> None:
    fake_openai_server.state.delay_seconds = 2.0
    started = time.monotonic()
    with pytest.raises(TransientGenerationError) as info:
        PromptTemplateStrategy().generate(
            spec=SPEC, slot_index=0, backend=backend_for(fake_openai_server, timeout=0.5, max_retries=0)
        )
    assert time.monotonic() - started < 1.9
    assert "APITimeoutError" in str(info.value)
    assert_no_secret(info.value)


def test_a_401_is_permanent_and_never_shows_the_key(fake_openai_server: FakeOpenAIServer) -> None:
    fake_openai_server.state.required_api_key = "sk-the-right-key"
    with pytest.raises(GenerationError) as info:
        PromptTemplateStrategy().generate(
            spec=SPEC, slot_index=0, backend=backend_for(fake_openai_server, max_retries=3)
        )
    assert not isinstance(info.value, TransientGenerationError)
    assert "401" in str(info.value)
    assert len(fake_openai_server.state.requests) == 1  # a 401 is never retried
    assert_no_secret(info.value)


def test_a_key_echoed_by_the_server_is_redacted(fake_openai_server: FakeOpenAIServer) -> None:
    fake_openai_server.state.required_api_key = "sk-the-right-key"
    fake_openai_server.state.echo_authorization = True
    with pytest.raises(GenerationError) as info:
        backend_for(fake_openai_server).complete(
            [{"role": "user", "content": "hi"}], temperature=0, max_tokens=5, seed=None, json_mode=False
        )
    assert "Bearer [redacted]" in str(info.value)
    assert_no_secret(info.value)


def test_a_connection_refused_is_transient(fake_openai_server: FakeOpenAIServer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = OpenAIBackend(base_url=f"http://127.0.0.1:{port}/v1", api_key=SECRET, model="m", timeout=2, max_retries=0)
    with pytest.raises(TransientGenerationError) as info:
        backend.complete([{"role": "user", "content": "hi"}], temperature=0, max_tokens=5, seed=None, json_mode=False)
    assert_no_secret(info.value)


def test_non_json_content_gets_one_repair_then_fails(fake_openai_server: FakeOpenAIServer) -> None:
    fake_openai_server.state.content = "好的，以下是一段对话：客户问……客服答……"
    with pytest.raises(MalformedOutputError):
        PromptTemplateStrategy().generate(spec=SPEC, slot_index=0, backend=backend_for(fake_openai_server))
    first, repair = (r["body"] for r in fake_openai_server.state.requests)
    assert [m["role"] for m in repair["messages"]] == ["system", "user", "assistant", "user"]
    assert repair["messages"][2]["content"] == fake_openai_server.state.content


def test_endpoint_without_json_mode_falls_back_once_and_remembers(
    fake_openai_server: FakeOpenAIServer,
) -> None:
    fake_openai_server.state.reject_response_format = True
    backend = backend_for(fake_openai_server)
    strategy = PromptTemplateStrategy()
    strategy.generate(spec=SPEC, slot_index=0, backend=backend)
    assert backend.json_mode_supported is False
    strategy.generate(spec=SPEC, slot_index=1, backend=backend)

    bodies = [r["body"] for r in fake_openai_server.state.requests]
    assert ["response_format" in b for b in bodies] == [True, False, False]


def test_a_400_without_json_mode_is_permanent(fake_openai_server: FakeOpenAIServer) -> None:
    fake_openai_server.state.reject_response_format = True
    backend = backend_for(fake_openai_server)
    backend.json_mode_supported = False
    fake_openai_server.state.fail_next(1, status=400)
    with pytest.raises(GenerationError) as info:
        backend.complete([{"role": "user", "content": "hi"}], temperature=0, max_tokens=5, seed=1, json_mode=True)
    assert not isinstance(info.value, TransientGenerationError)
    assert len(fake_openai_server.state.requests) == 1
