"""Tokens and n-grams that treat Chinese and English alike: every CJK character is a token, a Latin word is one."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[a-z0-9]+(?:[.'][a-z0-9]+)*", re.IGNORECASE)
CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def tokens(text: str) -> list[str]:
    """CJK characters one by one, Latin words and numbers whole; punctuation and spaces dropped."""
    return _TOKEN.findall(normalise(text))


def is_cjk(text: str) -> bool:
    """True when most letters are CJK (decides character vs word n-grams for decontamination)."""
    cjk = len(CJK_CHAR.findall(text))
    latin = len(re.findall(r"[A-Za-z]", text))
    return cjk > 0 and cjk * 3 >= latin


def ngrams(seq: list[str], n: int) -> list[tuple[str, ...]]:
    if len(seq) < n:
        return [tuple(seq)] if seq else []
    return [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]


def shingles(text: str, n: int = 3) -> set[str]:
    """Token n-grams: character n-grams for Chinese, word n-grams for English, mixed text mixed."""
    return {" ".join(g) for g in ngrams(tokens(text), n)}


def hash64(value: str) -> int:
    """A stable 64-bit hash (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "little")
