"""PII detection and masking for Chinese and English text, fully offline.

With ``recognizers.py`` this is the only module that imports Presidio. It runs Presidio on blank
spaCy pipelines (tokenisation only: no model is loaded or downloaded) with our own recognizers,
and fails closed: any error inside analysis or masking is raised as ``PiiDetectionError`` and
detected PII is never returned unmasked.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# tldextract (imported by Presidio) reads this when it is imported; empty = never fetch the suffix list.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

import spacy  # noqa: E402
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry  # noqa: E402
from presidio_analyzer import RecognizerResult as AnalyzerResult  # noqa: E402
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine  # noqa: E402
from presidio_anonymizer import AnonymizerEngine  # noqa: E402
from presidio_anonymizer.entities import OperatorConfig  # noqa: E402
from presidio_anonymizer.entities import RecognizerResult as AnonymizerInput  # noqa: E402
from spacy.tokens import Doc  # noqa: E402

from .crypto import encrypt_value  # noqa: E402
from .errors import PiiDetectionError  # noqa: E402
from .ner import prime as _ner_prime  # noqa: E402
from .policy_schema import ENTITY_TYPES, MASK_OPERATORS  # noqa: E402
from .recognizers import SUPPORTED_LANGUAGES, CharWindowContextEnhancer, build_recognizers  # noqa: E402
from .surrogates import surrogate  # noqa: E402

# Also the tie-break order when two types claim the same span with the same score.
PII_ENTITY_TYPES = ENTITY_TYPES
DEFAULT_OPERATOR = "replace"
DEFAULT_SCORE_THRESHOLD = 0.5
PSEUDONYM_HEX_CHARS = 12
MASK_KEEP_LAST = 4

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef\U00030000-\U0003134f]")
_PRIORITY = {entity: rank for rank, entity in enumerate(PII_ENTITY_TYPES)}


@dataclass(frozen=True)
class PiiFinding:
    entity_type: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class ContentFinding(PiiFinding):
    """A finding inside structured content; ``start``/``end`` index the string found at ``path``."""

    path: tuple[str | int, ...] = ()


@dataclass(frozen=True)
class MaskResult:
    masked_text: str
    findings: tuple[PiiFinding, ...]
    counts: dict[str, int]  # entities masked, per type


@dataclass(frozen=True)
class ContentMaskResult:
    findings: tuple[ContentFinding, ...]
    counts: dict[str, int]  # entities masked across the whole structure, per type


def detect_language(text: str) -> str:
    """``"zh"`` if the text holds any CJK ideograph, else ``"en"``."""
    return "zh" if _CJK.search(text) else "en"


class BlankSpacyNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine over blank pipelines: tokens only, no NER model, nothing downloaded.

    ``SpacyNlpEngine.load`` would ``spacy.load`` (and try to download) a trained model per language.
    Our recognizers are all patterns, so a tokenizer is all Presidio needs.
    """

    def __init__(self, languages: Sequence[str] = SUPPORTED_LANGUAGES) -> None:
        super().__init__(models=[{"lang_code": lang, "model_name": f"blank:{lang}"} for lang in languages])
        self._languages = tuple(languages)

    def load(self) -> None:
        # Presidio's __init__ sets ``self.nlp = None``, so mypy infers the attribute as None only.
        self.nlp = {lang: _blank_pipeline(lang) for lang in self._languages}  # type: ignore[assignment]

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        """Empty artifacts: no recognizer of ours reads tokens (patterns read the text, names run their own
        models, context is matched on characters), and tokenising every text was a fifth of the run time."""
        nlp = self.nlp[language]  # type: ignore[index]
        return NlpArtifacts(
            entities=[], tokens=Doc(nlp.vocab, words=[]), tokens_indices=[], lemmas=[], nlp_engine=self,
            language=language,
        )


def _blank_pipeline(lang: str) -> spacy.language.Language:
    if lang == "zh":
        # The character segmenter needs neither jieba nor pkuseg (not installed, and pkuseg needs a model).
        return spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "char"}}})
    return spacy.blank(lang)


class PiiEngine:
    """Detects and masks every type in ``PII_ENTITY_TYPES`` (identifiers by pattern and check digit, names by
    the offline models in ``compliance.ner``).

    Share one per process through ``get_pii_engine()`` (importing Presidio and spaCy takes ~0.7 s).
    """

    def __init__(self, *, score_threshold: float = DEFAULT_SCORE_THRESHOLD) -> None:
        languages = list(SUPPORTED_LANGUAGES)
        nlp_engine = BlankSpacyNlpEngine(languages)
        nlp_engine.load()
        # An explicit, non-empty registry stops AnalyzerEngine from loading Presidio's predefined
        # recognizers and its spaCy NER recognizer (which would want a trained model).
        registry = RecognizerRegistry(recognizers=build_recognizers(languages), supported_languages=languages)
        self.score_threshold = score_threshold
        self._analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp_engine,
            supported_languages=languages,
            default_score_threshold=score_threshold,
            context_aware_enhancer=CharWindowContextEnhancer(),
        )
        self._anonymizer = AnonymizerEngine()

    def analyze(
        self, text: str, *, language: str | None = None, entities: Sequence[str] | None = None
    ) -> list[PiiFinding]:
        """PII in ``text``, in text order, with overlaps resolved to the stronger finding.

        ``language`` defaults to ``"zh"`` when the text holds a CJK character, else ``"en"``.
        Raises ``PiiDetectionError`` if the text cannot be analysed.
        """
        if not isinstance(text, str):
            raise PiiDetectionError(f"PII analysis expects text, got {type(text).__name__}")
        if not text:
            return []
        lang = language or detect_language(text)
        if lang not in SUPPORTED_LANGUAGES:
            raise PiiDetectionError(
                f"unsupported language {lang!r} (supported: {', '.join(SUPPORTED_LANGUAGES)})"
            )
        try:
            raw = self._analyzer.analyze(
                text=text,
                language=lang,
                entities=list(entities or PII_ENTITY_TYPES),
                score_threshold=self.score_threshold,
            )
        except Exception as exc:
            # The class name only: Presidio messages can quote the text, and reasons get stored.
            raise PiiDetectionError(f"PII analysis failed ({type(exc).__name__})") from exc
        return _resolve_overlaps(raw)

    def mask(
        self,
        text: str,
        *,
        operators: Mapping[str, str],
        hmac_key: bytes,
        language: str | None = None,
        encryption_key: bytes | None = None,
    ) -> MaskResult:
        """``text`` with every finding replaced by its entity type's operator.

        Operators: ``redact`` removes the value, ``replace`` writes ``<TYPE>``, ``mask`` keeps the last
        four characters, ``hash`` writes ``<TYPE:12 hex>`` (keyed HMAC-SHA256, stable for a key). A type
        missing from ``operators`` is replaced. Raises ``PiiDetectionError`` on any failure.
        """
        _check_mask_arguments(operators, hmac_key, encryption_key)
        findings = self.analyze(text, language=language)
        return self._apply(text, findings, operators, hmac_key, encryption_key)

    def prime(self, texts: Iterable[str]) -> None:
        """Run the name models over many texts in one batch, so later ``analyze`` calls hit the cache."""
        _ner_prime(texts)

    def mask_content(
        self, content: Any, *, operators: Mapping[str, str], hmac_key: bytes, encryption_key: bytes | None = None
    ) -> tuple[Any, ContentMaskResult]:
        """Mask every string value in a JSON-like structure (dicts, lists, strings); keys are kept.

        Returns the masked copy and the findings (each with its ``path``) and counts per type.
        Numbers are checked as text and replaced by masked text if they hold PII. Values of any other
        type raise ``PiiDetectionError`` rather than pass unchecked.
        """
        _check_mask_arguments(operators, hmac_key, encryption_key)
        found: list[ContentFinding] = []
        try:
            masked = self._mask_node(content, (), operators, hmac_key, found, encryption_key)
        except PiiDetectionError:
            raise
        except Exception as exc:
            raise PiiDetectionError(
                f"PII masking of structured content failed ({type(exc).__name__})"
            ) from exc
        return masked, ContentMaskResult(findings=tuple(found), counts=_counts(found))

    def _mask_node(
        self,
        node: Any,
        path: tuple[str | int, ...],
        operators: Mapping[str, str],
        hmac_key: bytes,
        found: list[ContentFinding],
        encryption_key: bytes | None = None,
    ) -> Any:
        if isinstance(node, str):
            return self._mask_leaf(node, path, operators, hmac_key, found, encryption_key)
        if isinstance(node, dict):
            return {
                key: self._mask_node(value, (*path, key), operators, hmac_key, found, encryption_key)
                for key, value in node.items()
            }
        if isinstance(node, list | tuple):
            masked = [
                self._mask_node(value, (*path, i), operators, hmac_key, found, encryption_key)
                for i, value in enumerate(node)
            ]
            return masked if isinstance(node, list) else tuple(masked)
        if node is None or isinstance(node, bool):
            return node
        if isinstance(node, int | float):
            # A phone or card number stored as a JSON number is still PII.
            text = str(node)
            before = len(found)
            masked_text = self._mask_leaf(text, path, operators, hmac_key, found, encryption_key)
            return masked_text if len(found) > before else node
        raise PiiDetectionError(f"cannot check a value of type {type(node).__name__} at {_format_path(path)}")

    def _mask_leaf(
        self,
        text: str,
        path: tuple[str | int, ...],
        operators: Mapping[str, str],
        hmac_key: bytes,
        found: list[ContentFinding],
        encryption_key: bytes | None = None,
    ) -> str:
        result = self._apply(text, self.analyze(text), operators, hmac_key, encryption_key)
        found.extend(ContentFinding(f.entity_type, f.start, f.end, f.score, path) for f in result.findings)
        return result.masked_text

    def _apply(
        self,
        text: str,
        findings: Sequence[PiiFinding],
        operators: Mapping[str, str],
        hmac_key: bytes,
        encryption_key: bytes | None = None,
    ) -> MaskResult:
        if not findings:
            return MaskResult(masked_text=text, findings=(), counts={})
        types = {f.entity_type for f in findings}
        configs = {
            entity: _operator_config(entity, operators.get(entity, DEFAULT_OPERATOR), hmac_key, encryption_key)
            for entity in types
        }
        try:
            engine_result = self._anonymizer.anonymize(
                text=text,
                analyzer_results=[AnonymizerInput(f.entity_type, f.start, f.end, f.score) for f in findings],
                operators=configs,
                # Two numbers separated by a space are two entities (and two counts), not one.
                merge_entities_with_spaces=False,
            )
        except Exception as exc:
            raise PiiDetectionError(f"PII masking failed ({type(exc).__name__})") from exc
        if len(engine_result.items) != len(findings):
            raise PiiDetectionError(
                f"PII masking replaced {len(engine_result.items)} of {len(findings)} findings"
            )
        return MaskResult(masked_text=engine_result.text, findings=tuple(findings), counts=_counts(findings))


def surrogate_tag_key() -> bytes:
    """Key of the tag that marks our surrogates (one per deployment, so any dataset's fakes can be recognised)."""
    try:
        from django.conf import settings

        base = str(settings.PII_HMAC_KEY)
    except Exception:  # noqa: BLE001 - outside Django (benchmarks) a fixed key is fine: it only marks fakes
        base = "synthgate-surrogate-tag"
    return hmac.new(base.encode(), b"surrogate-tag-v1", hashlib.sha256).digest()


@functools.lru_cache(maxsize=1)
def get_pii_engine() -> PiiEngine:
    """The process-wide engine, built on first use. Raises ``PiiDetectionError`` if it cannot be built."""
    try:
        return PiiEngine()
    except Exception as exc:
        raise PiiDetectionError(f"PII engine could not be built ({type(exc).__name__}: {exc})") from exc


def pseudonym(entity_type: str, value: str, hmac_key: bytes) -> str:
    """``<TYPE:12 hex>``: HMAC-SHA256 over ``TYPE:canonical value``.

    The value is canonicalised first (digits only for phones and cards, without +86; upper-case X in
    IDs; lower-case e-mail), so one number written two ways gets one pseudonym.
    """
    message = f"{entity_type}:{_canonical(entity_type, value)}".encode()
    digest = hmac.new(hmac_key, message, hashlib.sha256).hexdigest()
    return f"<{entity_type}:{digest[:PSEUDONYM_HEX_CHARS]}>"


def _canonical(entity_type: str, value: str) -> str:
    if entity_type == "CN_MOBILE":
        return re.sub(r"\D", "", value)[-11:]
    if entity_type == "CN_BANK_CARD":
        return re.sub(r"\D", "", value)
    if entity_type == "CN_RESIDENT_ID":
        return value.upper()
    if entity_type == "EMAIL_ADDRESS":
        return value.lower()
    return value


def _keep_last(value: str) -> str:
    # A value no longer than what would be kept is masked entirely.
    keep = MASK_KEEP_LAST if len(value) > MASK_KEEP_LAST else 0
    return "*" * (len(value) - keep) + value[len(value) - keep :]


def _operator_config(
    entity_type: str, operator: str, hmac_key: bytes, encryption_key: bytes | None = None
) -> OperatorConfig:
    if operator == "redact":
        return OperatorConfig("redact")
    if operator == "replace":
        return OperatorConfig("replace", {"new_value": f"<{entity_type}>"})
    if operator == "mask":
        return OperatorConfig("custom", {"lambda": _keep_last})
    if operator == "hash":
        make: Callable[[str], str] = functools.partial(pseudonym, entity_type, hmac_key=hmac_key)
        return OperatorConfig("custom", {"lambda": make})
    if operator == "surrogate":
        fake: Callable[[str], str] = functools.partial(
            surrogate, entity_type, key=hmac_key, tag_key=surrogate_tag_key()
        )
        return OperatorConfig("custom", {"lambda": fake})
    if operator == "encrypt":
        if not encryption_key:
            raise PiiDetectionError(f"{entity_type}: the encrypt operator needs an encryption key")
        seal: Callable[[str], str] = functools.partial(encrypt_value, entity_type, key=encryption_key)
        return OperatorConfig("custom", {"lambda": seal})
    raise PiiDetectionError(f"{entity_type}: unknown masking operator {operator!r}")


def _check_mask_arguments(
    operators: Mapping[str, str], hmac_key: bytes, encryption_key: bytes | None = None
) -> None:
    if not isinstance(operators, Mapping):
        raise PiiDetectionError("operators must map entity type to operator")
    unknown = sorted(f"{entity}={op!r}" for entity, op in operators.items() if op not in MASK_OPERATORS)
    if unknown:
        raise PiiDetectionError(
            f"unknown masking operators: {', '.join(unknown)} (known: {', '.join(MASK_OPERATORS)})"
        )
    if not isinstance(hmac_key, bytes) or not hmac_key:
        raise PiiDetectionError("hmac_key must be non-empty bytes")


def _resolve_overlaps(results: Iterable[AnalyzerResult]) -> list[PiiFinding]:
    """Keep the strongest of overlapping results: higher score, then longer span, then type priority."""
    ranked = sorted(
        results,
        key=lambda r: (-r.score, -(r.end - r.start), _PRIORITY.get(r.entity_type, len(_PRIORITY)), r.start),
    )
    kept: list[PiiFinding] = []
    for r in ranked:
        if all(r.end <= k.start or r.start >= k.end for k in kept):
            kept.append(
                PiiFinding(
                    entity_type=r.entity_type, start=r.start, end=r.end, score=round(float(r.score), 4)
                )
            )
    return sorted(kept, key=lambda f: f.start)


def _counts(findings: Iterable[PiiFinding]) -> dict[str, int]:
    return dict(Counter(f.entity_type for f in findings))


def _format_path(path: tuple[str | int, ...]) -> str:
    return "/".join(str(part) for part in path) or "<root>"
