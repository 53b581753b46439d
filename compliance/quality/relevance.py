"""Relevance gate: each record's similarity to the request's task and domain; off-topic records are flagged.

Raw cosine scores of the offline embedder are compressed, so they are calibrated (see
``Embedder.calibrate``) before the ``min_relevance`` threshold applies. Beyond
``embedding_max_records`` records a seeded sample is scored and the report says so.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from .embeddings import Embedder
from .types import GateOutcome, QualityItem, rate_outcome

NAME = "relevance"


def relevance_scores(items: Sequence[QualityItem], *, topic: str, embedder: Embedder) -> np.ndarray:
    """Calibrated 0..1 similarity of each item to ``topic``."""
    query = embedder.embed([topic], query=True)[0]
    vectors = embedder.embed([item.text for item in items])
    return embedder.calibrate(vectors @ query)


def relevance_gate(
    items: Sequence[QualityItem],
    *,
    topic: str,
    embedder: Embedder | None,
    min_relevance: float,
    max_rate: float,
    max_records: int,
    seed: int = 0,
) -> tuple[GateOutcome, list[float]]:
    """The outcome and the calibrated scores (for the similarity histogram)."""
    if not topic.strip():
        return GateOutcome(NAME, True, 0.0, max_rate, "no task or domain given: relevance not measured"), []
    if embedder is None:
        return GateOutcome(NAME, False, 1.0, max_rate, "cannot compute: no embedder"), []
    scored = list(items)
    if len(scored) > max_records:
        rng = random.Random(seed)  # noqa: S311 - reproducible sample
        scored = rng.sample(scored, int(max_records))
    scores = relevance_scores(scored, topic=topic, embedder=embedder)
    off = [(item, float(score)) for item, score in zip(scored, scores, strict=True) if score < min_relevance]
    outcome = rate_outcome(NAME, flagged=len(off), total=len(scored), max_rate=max_rate,
                           what=f"are off-topic (calibrated similarity < {min_relevance})", drop=False)
    for item, score in off:
        outcome.flag(item.id, f"off-topic: calibrated similarity {score:.2f} to the task/domain", item.text[:120])
    outcome.metrics = {
        "embedder": embedder.name, "scored": len(scored), "of": len(items), "sampled": len(scored) < len(items),
        "mean_relevance": round(float(np.mean(scores)), 4) if len(scores) else None,
        "calibration": {"unrelated": embedder.unrelated, "related": embedder.related},
        "topic": topic[:200],
    }
    return outcome, [round(float(s), 4) for s in scores]
