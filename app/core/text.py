"""Text helpers for Vietnamese: matching without case or diacritics."""

from __future__ import annotations

import re
import unicodedata


def fold(text: str) -> str:
    """Lowercase without diacritics (đ → d) and with single spaces: 'Đặng  Thị' → 'dang thi'.
    Used for search keys and for matching headers and labels people type."""
    text = unicodedata.normalize("NFD", (text or "").lower().replace("đ", "d").replace("Đ", "d"))
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    return " ".join(text.split())


def phone_fragment(query: str) -> str | None:
    """The part of a typed phone number to look for in stored `+84…` numbers: '0912 34'
    → '91234', '+84 912' → '912'; None when the query has fewer than three digits."""
    digits = re.sub(r"\D", "", query)
    if query.strip().startswith("+84") or (digits.startswith("84") and len(digits) > 9):
        digits = digits[2:]
    elif digits.startswith("0"):
        digits = digits[1:]
    return digits if len(digits) >= 3 else None
