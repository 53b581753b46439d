"""Content-safety screening against a lexicon mapped to the GB/T 45654 risk taxonomy.

The first layer of the content filter: a curated list of clearly prohibited phrases, each tagged
with its risk code (``A1.4`` = terrorism/extremism, ...). Text and terms are normalised the same
way before matching (NFKC, lower case, no spaces, punctuation or symbols), so full-width letters
and phrases split up with spaces or hyphens (``制 造 炸 弹``, ``制-造-炸-弹``) still match.
The seed lexicon is far smaller than the standard's 10,000 terms; it is a starting point.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import SafetyFilterError

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
LEXICON_PATH = Path(__file__).resolve().parent / "data" / "safety_lexicon.csv"
LEXICON_COLUMNS = ["risk_code", "lang", "term"]
LEXICON_LANGUAGES = ("zh", "en")

_RISK_CODE = re.compile(r"A[1-5]\.[1-9]\d?")
_SEVERITY = {"allow": 0, "flag": 1, "block": 2}
_VERDICT_BY_SEVERITY: dict[int, Verdict] = {0: "pass", 1: "flag", 2: "block"}


@dataclass(frozen=True)
class SafetyHit:
    risk_code: str  # e.g. "A1.4"
    category: str  # e.g. "A1"
    term: str  # the lexicon term that matched, as written in the lexicon
    layer: str = "lexicon"


@dataclass(frozen=True)
class SafetyVerdict:
    """The most severe action among the hits. ``hits`` also lists hits whose category is allowed."""

    verdict: Verdict
    hits: tuple[SafetyHit, ...]


def normalise_for_matching(text: str) -> str:
    """NFKC, lower case, and only letters, marks and digits kept (spaces and punctuation dropped)."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LMN")


@dataclass(frozen=True)
class Lexicon:
    """Normalised term -> hits, plus the term lengths that start with each character."""

    entries: dict[str, tuple[SafetyHit, ...]]
    lengths_by_first_char: dict[str, tuple[int, ...]]

    def __len__(self) -> int:
        return sum(len(hits) for hits in self.entries.values())

    def find(self, text: str) -> tuple[SafetyHit, ...]:
        """Every distinct lexicon hit in ``text``, in order of first occurrence."""
        normalised = normalise_for_matching(text)
        seen: dict[SafetyHit, None] = {}
        for i, ch in enumerate(normalised):
            for length in self.lengths_by_first_char.get(ch, ()):
                for hit in self.entries.get(normalised[i : i + length], ()):
                    seen.setdefault(hit, None)
        return tuple(seen)


def load_lexicon(path: Path) -> Lexicon:
    """Read a ``risk_code,lang,term`` CSV. Raises ``SafetyFilterError`` for a malformed row or no rows."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames != LEXICON_COLUMNS:
                raise SafetyFilterError(f"{path.name}: columns must be {','.join(LEXICON_COLUMNS)}")
            entries: dict[str, list[SafetyHit]] = {}
            for line, row in enumerate(reader, start=2):
                risk_code, lang, term = (row.get(column) or "" for column in LEXICON_COLUMNS)
                key = normalise_for_matching(term)
                if not _RISK_CODE.fullmatch(risk_code) or lang not in LEXICON_LANGUAGES or not key:
                    raise SafetyFilterError(f"{path.name}:{line}: malformed lexicon row")
                hit = SafetyHit(risk_code=risk_code, category=risk_code.split(".")[0], term=term)
                entries.setdefault(key, []).append(hit)
    except OSError as exc:
        raise SafetyFilterError(f"safety lexicon could not be read ({type(exc).__name__})") from exc
    if not entries:
        raise SafetyFilterError(f"{path.name}: the safety lexicon is empty")
    lengths: dict[str, set[int]] = {}
    for key in entries:
        lengths.setdefault(key[0], set()).add(len(key))
    return Lexicon(
        entries={key: tuple(hits) for key, hits in entries.items()},
        lengths_by_first_char={ch: tuple(sorted(ns)) for ch, ns in lengths.items()},
    )


@functools.lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The packaged seed lexicon, read once per process."""
    return load_lexicon(LEXICON_PATH)


def screen_safety(text: str, *, actions: Mapping[str, str]) -> SafetyVerdict:
    """Judge ``text`` against the lexicon under a policy's ``actions`` (category -> block/flag/allow).

    The verdict is the most severe action among the hits: block > flag > pass. A category missing
    from ``actions`` counts as ``block``. Raises ``SafetyFilterError`` if the text cannot be judged
    (bad input, bad actions, unreadable lexicon); callers hold the content back.
    """
    try:
        return _screen(text, actions)
    except SafetyFilterError:
        raise
    except Exception as exc:
        raise SafetyFilterError(f"content-safety filter failed ({type(exc).__name__})") from exc


def _screen(text: str, actions: Mapping[str, str]) -> SafetyVerdict:
    if not isinstance(text, str):
        raise SafetyFilterError(f"the safety filter expects text, got {type(text).__name__}")
    if not isinstance(actions, Mapping):
        raise SafetyFilterError("actions must map a safety category to an action")
    problems = [
        f"{category}={action!r}"
        for category, action in actions.items()
        if category not in SAFETY_CATEGORIES or action not in SAFETY_ACTIONS
    ]
    if problems:
        raise SafetyFilterError(f"invalid safety actions: {', '.join(sorted(problems))}")
    hits = default_lexicon().find(text)
    severity = max((_SEVERITY[actions.get(hit.category, DEFAULT_ACTION)] for hit in hits), default=0)
    return SafetyVerdict(verdict=_VERDICT_BY_SEVERITY[severity], hits=hits)
