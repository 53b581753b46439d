"""backend_from_settings: the right backend, configured from settings.GATEWAY, or a clear error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from generation.backends import backend_from_settings
from generation.client import OpenAIBackend
from generation.offline import OfflineBackend
from generation.types import GenerationConfigError

ROOT = Path(__file__).resolve().parents[2]


def gateway(settings: Any, **values: Any) -> None:
    settings.GATEWAY = {**settings.GATEWAY, **values}


def test_offline_by_name_with_seed(settings: Any) -> None:
    backend = backend_from_settings("offline", seed=5)
    assert isinstance(backend, OfflineBackend) and backend.seed == 5


def test_default_comes_from_generation_backend_setting(settings: Any) -> None:
    gateway(settings, GENERATION_BACKEND="offline")
    assert backend_from_settings().name == "offline"
    gateway(settings, GENERATION_BACKEND="openai", OPENAI_BASE_URL="http://127.0.0.1:9/v1", OPENAI_MODEL="m")
    assert backend_from_settings().name == "openai"


def test_openai_from_settings(settings: Any) -> None:
    gateway(
        settings,
        OPENAI_BASE_URL="http://127.0.0.1:8000/v1",
        OPENAI_API_KEY="sk-settings-secret",
        OPENAI_MODEL="qwen2.5-7b-instruct",
        OPENAI_TIMEOUT_SECONDS=12.5,
        OPENAI_MAX_RETRIES=4,
    )
    backend = backend_from_settings("openai")
    assert isinstance(backend, OpenAIBackend)
    assert (backend.name, backend.model, backend.timeout, backend.max_retries) == (
        "openai",
        "qwen2.5-7b-instruct",
        12.5,
        4,
    )
    assert "sk-settings-secret" not in repr(backend)


def test_empty_api_key_is_allowed_for_local_servers(settings: Any) -> None:
    gateway(settings, OPENAI_BASE_URL="http://127.0.0.1:8000/v1", OPENAI_API_KEY="", OPENAI_MODEL="m")
    backend = backend_from_settings("openai")
    assert isinstance(backend, OpenAIBackend)
    assert backend._client.api_key == "not-needed"


@pytest.mark.parametrize(
    ("base_url", "model", "missing"),
    [
        ("", "m", "OPENAI_BASE_URL"),
        ("http://x/v1", "", "OPENAI_MODEL"),
        ("", "", "OPENAI_BASE_URL and OPENAI_MODEL"),
    ],
)
def test_missing_openai_settings_fail_clearly(settings: Any, base_url: str, model: str, missing: str) -> None:
    gateway(settings, OPENAI_BASE_URL=base_url, OPENAI_MODEL=model)
    with pytest.raises(GenerationConfigError, match=missing):
        backend_from_settings("openai")


def test_unknown_backend(settings: Any) -> None:
    with pytest.raises(GenerationConfigError, match="unknown generation backend 'llama'"):
        backend_from_settings("llama")


def test_offline_generation_never_imports_openai() -> None:
    code = (
        "import sys\n"
        "from generation.backends import backend_from_settings\n"
        "from generation.strategies import strategy_for_name\n"
        "from generation.types import GenerationSpec\n"
        "spec = GenerationSpec(purpose='p', domain='retail_banking', language='zh', kind='dialogue',"
        " task='t')\n"
        "backend = backend_from_settings('offline')\n"
        "strategy_for_name('prompt_template').generate(spec=spec, slot_index=0, backend=backend)\n"
        "assert 'openai' not in sys.modules, 'openai was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "gateway.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_backends_of_one_endpoint_share_one_client_and_its_connections(settings: Any) -> None:
    gateway(settings, OPENAI_BASE_URL="http://127.0.0.1:9/v1", OPENAI_MODEL="m", OPENAI_API_KEY="key-a")
    first, second = backend_from_settings("openai", priority=1.0), backend_from_settings("openai", priority=2.0)
    assert isinstance(first, OpenAIBackend) and isinstance(second, OpenAIBackend)
    assert first._client is second._client and first.limiter is second.limiter
    assert (first.priority, second.priority) == (1.0, 2.0)  # what a chunk owns stays its own
    gateway(settings, OPENAI_API_KEY="key-b")
    other_key = backend_from_settings("openai")
    assert isinstance(other_key, OpenAIBackend) and other_key._client is not first._client
    assert other_key._client.api_key == "key-b"
