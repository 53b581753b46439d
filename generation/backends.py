"""Pick and configure a backend from ``settings.GATEWAY``: the only generation module that reads settings."""

from __future__ import annotations

from gateway.conf import gateway_setting
from generation.offline import OfflineBackend
from generation.types import Backend, GenerationConfigError

BACKEND_NAMES = ("offline", "openai")


def backend_from_settings(name: str | None = None, *, seed: int = 0, priority: float = 0.0) -> Backend:
    """The backend called ``name`` (default: ``GENERATION_BACKEND``), configured from settings.

    ``seed`` only affects the offline backend; ``priority`` only the openai one: of the calls waiting for the
    worker's shared budget, those of the backend with the lowest priority start first. Raises
    ``GenerationConfigError`` for an unknown name or when the OpenAI-compatible endpoint lacks a base URL or model.
    """
    name = name or gateway_setting("GENERATION_BACKEND")
    if name == "offline":
        return OfflineBackend(seed=seed)
    if name != "openai":
        raise GenerationConfigError(f"unknown generation backend {name!r} (known: {', '.join(BACKEND_NAMES)})")

    base_url = str(gateway_setting("OPENAI_BASE_URL") or "").strip()
    model = str(gateway_setting("OPENAI_MODEL") or "").strip()
    missing = [key for key, value in (("OPENAI_BASE_URL", base_url), ("OPENAI_MODEL", model)) if not value]
    if missing:
        raise GenerationConfigError(
            f"the openai backend needs {' and '.join(missing)} (environment or settings.GATEWAY), "
            "e.g. OPENAI_BASE_URL=http://127.0.0.1:8000/v1 OPENAI_MODEL=qwen2.5-7b-instruct"
        )
    # Local servers (vLLM, llama.cpp) accept any key, but the client refuses to start without one.
    api_key = str(gateway_setting("OPENAI_API_KEY") or "") or "not-needed"
    try:
        timeout = float(gateway_setting("OPENAI_TIMEOUT_SECONDS"))
        max_retries = int(gateway_setting("OPENAI_MAX_RETRIES"))
        concurrency = int(gateway_setting("GENERATION_CONCURRENCY"))
    except (TypeError, ValueError) as exc:
        raise GenerationConfigError(
            f"OPENAI_TIMEOUT_SECONDS / OPENAI_MAX_RETRIES / GENERATION_CONCURRENCY are not numbers: {exc}") from None
    if timeout <= 0 or max_retries < 0 or concurrency < 1:
        raise GenerationConfigError("OPENAI_TIMEOUT_SECONDS and GENERATION_CONCURRENCY must be positive and "
                                    "OPENAI_MAX_RETRIES not negative")

    # Imported here so the offline path never loads the openai package.
    from generation.client import OpenAIBackend, shared_client, shared_limiter

    # GENERATION_CONCURRENCY calls in flight per worker process, whatever number of chunks it runs at once, over
    # one connection pool.
    return OpenAIBackend(base_url=base_url, api_key=api_key, model=model, timeout=timeout, max_retries=max_retries,
                         limiter=shared_limiter(base_url, model, concurrency), priority=priority,
                         client=shared_client(base_url, api_key, timeout))
