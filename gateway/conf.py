"""Access to the gateway's own settings namespace, ``settings.GATEWAY``.

Unknown keys are refused, as DRF's ``APISettings`` does, so a typo fails loudly instead of being
silently ignored.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KNOWN_KEYS = frozenset(
    {
        "AUDIT_SIGNING_KEY_PATH",
        "DATASET_DIR",
        "GENERATION_BACKEND",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_MODEL",
        "OPENAI_TIMEOUT_SECONDS",
        "OPENAI_MAX_RETRIES",
        "GENERATION_CHUNK_SIZE",
        "GENERATION_CONCURRENCY",
        "GENERATION_MODEL_PRICES",
        "GENERATION_ESTIMATE_TOKENS",
        "PIPELINE_STALE_SECONDS",
        "SCREENING_PROCESSES",
    }
)


def check_gateway_settings() -> None:
    unknown = set(settings.GATEWAY) - KNOWN_KEYS
    if unknown:
        raise ImproperlyConfigured(f"Unknown keys in settings.GATEWAY: {', '.join(sorted(unknown))}")


def gateway_setting(name: str) -> Any:
    if name not in KNOWN_KEYS:
        raise ImproperlyConfigured(f"{name} is not a gateway setting")
    return settings.GATEWAY[name]
