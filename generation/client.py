"""The one module that talks to an OpenAI-compatible server (vLLM, llama.cpp, OpenAI itself).

Every ``openai`` error becomes one of ours: ``TransientGenerationError`` for what may pass on the
next try, ``GenerationError`` for what never will. The API key stays inside the client: it is never
logged, never put in an error message, never part of provenance.
"""

from __future__ import annotations

import logging
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from generation.types import Completion, GenerationError, TransientGenerationError

logger = logging.getLogger(__name__)

# Only what might pass on the next try; everything else (400, 401, 403, 404, 422) is permanent.
_TRANSIENT_ERRORS: tuple[type[openai.APIError], ...] = (
    openai.APITimeoutError,
    openai.APIConnectionError,
    openai.RateLimitError,
    openai.InternalServerError,
)
# The client retries these statuses itself, so when one still surfaces it is just as transient.
_TRANSIENT_STATUSES = frozenset({408, 409})


class OpenAIBackend:
    """Chat completions from an OpenAI-compatible endpoint."""

    name = "openai"

    def __init__(self, base_url: str, api_key: str, model: str, timeout: float, max_retries: int) -> None:
        self.base_url = base_url
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self._secret = api_key
        # The client's own retries (with backoff, honouring Retry-After) cover transient failures only:
        # connection errors, timeouts, 408, 409, 429 and 5xx. It never retries 400/401/403/404/422.
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries)
        # Some local servers reject response_format; after the first such 400 we stop sending it.
        self.json_mode_supported = True

    def __repr__(self) -> str:
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self.model!r})"

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        seed: int | None,
        json_mode: bool,
    ) -> Completion:
        """One chat completion. Raises ``TransientGenerationError`` or ``GenerationError``."""
        want_json = json_mode and self.json_mode_supported
        try:
            response = self._create(messages, temperature, max_tokens, seed, json_mode=want_json)
        except openai.BadRequestError as exc:
            if not want_json:
                raise self._translate(exc) from None
            # The 400 may be about response_format: try once without it before giving up.
            logger.info("endpoint %s rejected the request with json mode; retrying without it", self.base_url)
            try:
                response = self._create(messages, temperature, max_tokens, seed, json_mode=False)
            except openai.APIError as retry_exc:
                raise self._translate(retry_exc) from None
            self.json_mode_supported = False
            logger.warning("endpoint %s does not support response_format=json_object", self.base_url)
        except openai.APIError as exc:
            raise self._translate(exc) from None

        if not isinstance(response, ChatCompletion):  # e.g. a proxy answering 200 with an HTML page
            raise GenerationError(f"{self.base_url} did not return a chat completion")
        if not response.choices:
            raise GenerationError(f"{self.base_url} returned a completion with no choices")
        usage = response.usage
        return Completion(
            text=response.choices[0].message.content or "",
            model=response.model or self.model,
            prompt_tokens=(usage.prompt_tokens or 0) if usage is not None else 0,
            completion_tokens=(usage.completion_tokens or 0) if usage is not None else 0,
        )

    def _create(
        self,
        messages: list[dict[str, str]],
        temperature: float,
        max_tokens: int,
        seed: int | None,
        *,
        json_mode: bool,
    ) -> ChatCompletion:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        if seed is not None:
            kwargs["seed"] = seed
        if json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        response: ChatCompletion = self._client.chat.completions.create(**kwargs)
        return response

    def _translate(self, exc: openai.APIError) -> GenerationError:
        """Our error for ``exc``. Callers raise it ``from None``: the openai error holds the request,
        headers and all, and must not ride along in tracebacks."""
        status = getattr(exc, "status_code", None)
        where = f"{self.base_url} (model {self.model})"
        detail = f"HTTP {status}: {exc.message}" if status is not None else exc.message
        # A server may echo request headers in its error body: never let the key through.
        if self._secret:
            detail = detail.replace(self._secret, "[redacted]")
        detail = detail[:500]
        if isinstance(exc, _TRANSIENT_ERRORS) or status in _TRANSIENT_STATUSES:
            return TransientGenerationError(f"{type(exc).__name__} from {where}: {detail}")
        return GenerationError(f"{type(exc).__name__} from {where}: {detail}")
