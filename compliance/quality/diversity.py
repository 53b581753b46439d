"""Diversity gate: distinct-n, compression ratio, embedding spread and coverage of the requested category mix."""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from .embeddings import Embedder, embedding_sample
from .text import ngrams, tokens
from .types import GateOutcome, QualityItem

NAME = "diversity"


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct token n-grams over all token n-grams (0 when there are none)."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        grams = ngrams(tokens(text), n)
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def compression_ratio(texts: Sequence[str]) -> float:
    """Raw / zlib-compressed size of the joined texts: filler and templates compress well."""
    raw = "\n".join(texts).encode()
    return len(raw) / len(zlib.compress(raw, 6)) if raw else 0.0


def embedding_spread(vectors: np.ndarray) -> float:
    """Mean pairwise cosine distance (rows are unit vectors)."""
    n = len(vectors)
    if n < 2:
        return 0.0
    sims = vectors @ vectors.T
    return float(1.0 - (sims.sum() - np.trace(sims)) / (n * (n - 1)))


def normalise_mix(mix: object) -> dict[str, float]:
    """Requested mix as shares summing to 1: a mapping of weights, or a list (equal shares)."""
    if isinstance(mix, Mapping):
        weights = {str(k): float(v) for k, v in mix.items() if isinstance(v, int | float) and v > 0}
    elif isinstance(mix, list | tuple):
        weights = {str(k): 1.0 for k in mix}
    else:
        return {}
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()} if total else {}


def category_coverage(items: Sequence[QualityItem], requested: Mapping[str, float]) -> dict[str, object]:
    actual_counts = Counter(item.category or "(none)" for item in items)
    n = max(len(items), 1)
    actual = {k: v / n for k, v in actual_counts.items()}
    keys = set(actual) | set(requested)
    tvd = 0.5 * sum(abs(actual.get(k, 0.0) - requested.get(k, 0.0)) for k in keys) if requested else None
    return {
        "requested": {k: round(v, 4) for k, v in sorted(requested.items())},
        "actual": {k: round(v, 4) for k, v in sorted(actual.items())},
        "missing": sorted(k for k in requested if actual_counts.get(k, 0) == 0),
        "total_variation_distance": round(tvd, 4) if tvd is not None else None,
    }


def diversity_gate(
    items: Sequence[QualityItem],
    *,
    thresholds: Mapping[str, float],
    embedder: Embedder | None,
    requested_mix: Mapping[str, float] | None = None,
    seed: int = 0,
    spread_sample: int = 300,
) -> GateOutcome:
    texts = [item.text for item in items]
    if not texts:
        return GateOutcome(NAME, False, 0.0, thresholds["min_distinct_2"], "cannot compute: no records", ">=")
    metrics: dict[str, object] = {
        "distinct_1": round(distinct_n(texts, 1), 4),
        "distinct_2": round(distinct_n(texts, 2), 4),
        "compression_ratio": round(compression_ratio(texts), 3),
    }
    failures = []
    if metrics["distinct_2"] < thresholds["min_distinct_2"]:  # type: ignore[operator]
        failures.append(f"distinct-2 {metrics['distinct_2']} < {thresholds['min_distinct_2']}")
    if metrics["compression_ratio"] > thresholds["max_compression_ratio"]:  # type: ignore[operator]
        failures.append(f"compression ratio {metrics['compression_ratio']} > {thresholds['max_compression_ratio']}")
    if embedder is not None and len(texts) >= 2:
        sample = [texts[i] for i in embedding_sample(texts, min(spread_sample, len(texts)), seed=seed)]
        spread = embedding_spread(embedder.embed(sample))
        metrics["embedding_spread"] = round(spread, 4)
        metrics["embedding_spread_sample"] = len(sample)
        metrics["embedder"] = embedder.name
        if spread < thresholds["min_embedding_spread"]:
            failures.append(f"embedding spread {spread:.4f} < {thresholds['min_embedding_spread']}")
    if requested_mix:
        coverage = category_coverage(items, requested_mix)
        metrics["category_mix"] = coverage
        if coverage["total_variation_distance"] > thresholds["max_category_deviation"]:  # type: ignore[operator]
            failures.append(f"category mix is {coverage['total_variation_distance']} from the requested mix "
                            f"(> {thresholds['max_category_deviation']}); missing: {coverage['missing'] or 'none'}")
    else:
        metrics["category_mix"] = category_coverage(items, {})
        metrics["category_mix"]["note"] = "no mix requested"  # type: ignore[index]
    passed = not failures
    detail = "; ".join(failures) if failures else (
        f"distinct-2 {metrics['distinct_2']}, compression {metrics['compression_ratio']}"
        + (f", spread {metrics['embedding_spread']}" if "embedding_spread" in metrics else ""))
    outcome = GateOutcome(NAME, passed, float(metrics["distinct_2"]), thresholds["min_distinct_2"],  # type: ignore[arg-type]
                          detail, ">=")
    outcome.metrics = metrics
    return outcome
