"""Text similarity that works for Vietnamese without a tokenizer: character n-grams of the
folded text (lowercase, no diacritics), cosine and containment, and a 64-bit SimHash for
spotting near-duplicates cheaply."""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from functools import lru_cache

from app.core.text import fold

_SPACES = re.compile(r"[^\w]+")
N = 4  # character 4-grams: enough to see Vietnamese syllables and their neighbours


def normal(text: str) -> str:
    """Folded, with every run of non-word characters one space."""
    return _SPACES.sub(" ", fold(text)).strip()


def grams(text: str, n: int = N) -> Counter[str]:
    t = f" {normal(text)} "
    return Counter(t[i : i + n] for i in range(max(0, len(t) - n + 1)))


@lru_cache(maxsize=4096)
def grams_cached(text: str) -> Counter[str]:
    """For fixed texts (exemplars, tasks) compared again and again."""
    return grams(text)


def cosine(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    small, big = (a, b) if len(a) < len(b) else (b, a)
    dot = sum(v * big.get(k, 0) for k, v in small.items())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def containment(part: Counter[str], whole: Counter[str]) -> float:
    """Share of `part`'s n-grams found in `whole` (1.0: all of it is there)."""
    total = sum(part.values())
    if not total:
        return 0.0
    return sum(min(v, whole.get(k, 0)) for k, v in part.items()) / total


def jaccard(a: str, b: str) -> float:
    sa, sb = set(grams(a)), set(grams(b))
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)


_LANE = 20  # bits per counter: enough for any text the forms accept
_SPREAD = [sum(((byte >> i) & 1) << (i * _LANE) for i in range(8)) for byte in range(256)]


def simhash(text: str) -> int:
    """A signed 64-bit SimHash of the text's 4-grams (fits a BIGINT column).

    The 64 per-bit counters are kept side by side in one big integer (20 bits each), so a
    gram is added with eight table look-ups instead of a 64-step loop."""
    total = weight = 0
    for gram, count in grams(text).items():
        data = gram.encode()
        h = zlib.crc32(data) | zlib.crc32(data, 0x9E3779B9) << 32
        spread = 0
        for j in range(8):
            spread |= _SPREAD[(h >> (8 * j)) & 0xFF] << (8 * j * _LANE)
        total += count * spread
        weight += count
    mask = (1 << _LANE) - 1
    value = sum(1 << i for i in range(64) if ((total >> (i * _LANE)) & mask) * 2 > weight)
    return value - (1 << 64) if value >= 1 << 63 else value


def hamming(a: int, b: int) -> int:
    return ((a ^ b) & ((1 << 64) - 1)).bit_count()


@lru_cache(maxsize=8192)
def normal_cached(text: str) -> str:
    """`normal` for fixed texts (key terms, exemplars) looked at again and again."""
    return normal(text)


def contains_term(folded_text: str, term: str) -> bool:
    """A key term, matched with or without diacritics and whatever the case."""
    needle = normal_cached(term)
    return bool(needle) and f" {needle} " in f" {folded_text} "
