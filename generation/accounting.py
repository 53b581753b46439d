"""Prices, costs and estimates: what a call, a job or a team's usage costs.

Prices are per 1,000 tokens. A ``ModelPrice`` row (admin) wins over ``GENERATION_MODEL_PRICES`` in
settings; a model with neither (a self-hosted endpoint, the offline backend) costs 0 and the estimate
says the price is unknown rather than pretending.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from gateway.conf import gateway_setting

SIX_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class Price:
    model: str
    prompt_per_1k: Decimal
    completion_per_1k: Decimal
    source: str  # "admin", "settings" or "unknown"

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        raw = (Decimal(prompt_tokens) * self.prompt_per_1k + Decimal(completion_tokens) * self.completion_per_1k) / 1000
        return raw.quantize(SIX_PLACES, rounding=ROUND_HALF_UP)


def model_price(model: str) -> Price:
    from generation.models import ModelPrice

    row = ModelPrice.objects.filter(model=model).first()
    if row is not None:
        return Price(model, row.prompt_per_1k, row.completion_per_1k, "admin")
    configured = (gateway_setting("GENERATION_MODEL_PRICES") or {}).get(model)
    if isinstance(configured, dict):
        return Price(model, Decimal(str(configured.get("prompt", 0))), Decimal(str(configured.get("completion", 0))),
                     "settings")
    return Price(model, Decimal(0), Decimal(0), "unknown")


def calls_per_record(strategy: str, options: dict[str, Any], size: int) -> float:
    """Model calls one record needs when nothing is malformed (repairs add to this)."""
    if strategy == "knowledge_tree":
        return 4.0 if options.get("refine", True) else 2.0
    if strategy == "multi_step":
        mix = options.get("subcategories")
        subcategories = len(mix) if mix else int(options.get("subcategory_count") or 4)
        shared = subcategories + (0 if mix else 1)  # one items list per subcategory, plus the subcategory list
        return 1.0 + shared / max(1, size)
    return 1.0


def estimate(*, strategy: str, options: dict[str, Any], size: int, model: str) -> dict[str, Any]:
    """The expected calls, tokens and cost of a job, from the settings' per-call token figures."""
    per_call = gateway_setting("GENERATION_ESTIMATE_TOKENS")
    calls = calls_per_record(strategy, options, size) * size
    prompt_tokens = int(round(calls * int(per_call["prompt"])))
    completion_tokens = int(round(calls * int(per_call["completion"])))
    price = model_price(model)
    return {
        "model": model,
        "calls": int(round(calls)),
        "calls_per_record": round(calls / size, 4) if size else 0.0,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cost": price.cost(prompt_tokens, completion_tokens),
        "price_source": price.source,
    }
