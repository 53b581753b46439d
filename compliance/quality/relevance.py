"""Relevance gate: each record's similarity to the request's task and domain; off-topic records are flagged.

Raw cosine scores of the offline embedder are compressed (0.73 unrelated vs 0.87 related) and shift
with language, so a fixed cut-off on them misfires. Each record is instead scored against the topic
*and* against a fixed set of off-topic anchors (sport, cooking, films, weather, programming, in
Chinese and English): calibrated relevance = clip(0.5 + (sim(topic) - max sim(anchor)) / scale, 0, 1),
so 0.5 means "as close to the topic as to the nearest unrelated subject". ``min_relevance`` (0.35)
applies to that. Beyond ``embedding_max_records`` records a seeded sample is scored and the report says so.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from .embeddings import Embedder
from .types import GateOutcome, QualityItem, rate_outcome

NAME = "relevance"


OFF_TOPIC_ANCHORS = (
    "体育比赛新闻", "菜谱和烹饪", "电影和娱乐八卦", "天气、旅游和美食", "编程与软件开发",
    "sports news", "cooking recipes", "movies and celebrity gossip", "weather, travel and food",
    "programming and software",
)


def relevance_scores(items: Sequence[QualityItem], *, topic: str, embedder: Embedder) -> np.ndarray:
    """Calibrated 0..1 relevance of each item to ``topic`` (0.5: as close as to an unrelated subject)."""
    queries = embedder.embed([topic, *OFF_TOPIC_ANCHORS], query=True)
    vectors = embedder.embed([item.text for item in items])
    sims = vectors @ queries.T
    margin = sims[:, 0] - sims[:, 1:].max(axis=1)
    return np.clip(0.5 + margin / embedder.margin_scale, 0.0, 1.0)


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
        "calibration": {"method": "margin over off-topic anchors", "scale": embedder.margin_scale,
                        "raw_unrelated": embedder.unrelated, "raw_related": embedder.related},
        "topic": topic[:200],
    }
    return outcome, [round(float(s), 4) for s in scores]
