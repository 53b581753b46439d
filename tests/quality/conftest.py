from __future__ import annotations

import pytest

from compliance.quality.embeddings import get_embedder


@pytest.fixture
def hashed_embedder():
    return get_embedder("hashed")


@pytest.fixture
def fast_embeddings(monkeypatch, hashed_embedder):
    """Pipeline tests use the hashed fallback embedder: deterministic and quick on a shared CPU."""
    monkeypatch.setattr("compliance.quality.runner.get_embedder", lambda: hashed_embedder)
    return hashed_embedder
