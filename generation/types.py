"""What the generation room takes in, hands back and raises.

Pure data: no Django, no network. The gateway builds a ``GenerationSpec`` from a dataset request,
a strategy turns it into one ``GeneratedRecord`` per slot, and every failure is one of the errors
below so callers can tell "try again later" from "this will never work".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

LANGUAGES = ("zh", "en")
KINDS = ("dialogue", "qa", "math")


class GenerationError(Exception):
    """Generation failed and retrying the same call will not help."""


class TransientGenerationError(GenerationError):
    """Generation failed for a reason that may pass on retry (timeout, rate limit, 5xx)."""


class MalformedOutputError(GenerationError):
    """The model's output did not match the requested schema, even after one repair attempt."""


class GenerationConfigError(GenerationError):
    """The generation room is misconfigured (unknown backend or strategy, missing settings)."""


class GenerationCancelled(GenerationError):
    """The job was cancelled (or stopped at its budget) while this call waited: nothing was sent."""


@dataclass(frozen=True)
class GenerationSpec:
    """What to generate: one spec is shared by every slot of a request."""

    purpose: str
    domain: str
    language: str
    kind: str
    task: str
    conditions: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    # Strategy options from the request (subcategory mix, knowledge-tree tags, task types, difficulty).
    options: tuple[tuple[str, Any], ...] | dict[str, Any] = ()
    seed: int = 0
    temperature: float = 0.7
    max_tokens: int = 800

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise GenerationConfigError(f"language must be one of {LANGUAGES}, not {self.language!r}")
        if self.kind not in KINDS:
            raise GenerationConfigError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if self.max_tokens <= 0:
            raise GenerationConfigError("max_tokens must be positive")
        # Specs often come from JSON, where sequences are lists: keep the dataclass hashable and frozen.
        object.__setattr__(self, "conditions", tuple(self.conditions))
        object.__setattr__(self, "examples", tuple(self.examples))
        if isinstance(self.options, dict):
            object.__setattr__(self, "options", tuple(sorted(self.options.items())))

    def option(self, name: str, default: Any = None) -> Any:
        return dict(self.options).get(name, default)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Completion:
    """One backend call's answer: raw text plus what it cost."""

    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    # Filled by the caching/accounting layer: answered from the response cache (nothing paid), and
    # how many transient failures the backend retried before this answer.
    cached: bool = False
    retries: int = 0
    finish_reason: str = "stop"


@dataclass(frozen=True)
class GeneratedRecord:
    """One validated record.

    ``content`` is the structured record (``{"messages": [...]}`` or ``{"instruction", "response"}``),
    ``text`` its flattened form for screening, ``provenance`` how it was made (no raw PII, no secrets),
    ``usage`` the summed cost: ``{"prompt_tokens", "completion_tokens", "calls"}``.
    """

    slot_index: int
    content: dict[str, Any]
    text: str
    provenance: dict[str, Any]
    usage: dict[str, int]


@runtime_checkable
class Backend(Protocol):
    """Something that turns chat messages into a completion: the offline templates or an LLM server."""

    name: str
    model: str

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        seed: int | None,
        json_mode: bool,
    ) -> Completion: ...
