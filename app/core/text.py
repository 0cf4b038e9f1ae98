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


# ---- personal data in public posts ----------------------------------------------------------

MASK = "[đã ẩn]"

_SEP = r"[ .\-]?"  # one optional space, dot or dash between digits: 0912 345 678, 0912.345.678


def _digits(n: int) -> str:
    """n digits, each after an optional separator (the first one too)."""
    return "".join(_SEP + r"\d" for _ in range(n))


# A Vietnamese phone number: 0, +84, (+84), 0084 or 84 (optionally followed by a 0 or "(0)"),
# then a mobile number (3/5/7/8/9 + 8 digits), a landline (2 + 9 digits: 024 3825 1234) or
# an old 11-digit mobile (1 + 9 digits). Fixed lengths keep two numbers written one after
# the other apart, and prices (150.000, 1.500.000) never start with 0.
_PHONE = re.compile(
    r"(?<!\d)"
    r"(?:(?:\(\+84\)|\+84|0084|84)" + _SEP + r"(?:\(0\)" + _SEP + r"|0" + _SEP + r")?|0)"
    r"(?:[35789]" + _digits(8) + r"|[12]" + _digits(9) + r")"
    r"(?!\d)"
)
# Identity numbers: CCCD (12 digits) and CMND (9 digits) written without separators, and a
# CCCD in groups of three with one kind of separator (its first digit is always 0, the
# province code: 001 203 004 567). Grouped 9-digit numbers are prices (150.000.000), not IDs.
_ID_NUMBER = re.compile(
    r"(?<![\d.,])(?:\d{12}|\d{9})(?![\d])"
    r"|(?<![\d.,])0\d{2}([ .\-])\d{3}\1\d{3}\1\d{3}(?![\d])"
)
_DATE_START = re.compile(r"^\d{2}([.\-])\d{2}\1\d{4}\b")  # 03-05-2024 10 (giờ): a date
_EMAIL = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._%+\-]*\s?@\s?[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
)


def mask_personal(text: str) -> tuple[str, bool]:
    """Mask what identifies a person in a public post: e-mail addresses, Vietnamese phone
    numbers (any usual spelling) and identity numbers (CCCD, CMND) become "[đã ẩn]".
    Returns the text and whether anything was masked (so the author can be told)."""
    masked = _EMAIL.sub(MASK, text)
    masked = _PHONE.sub(lambda m: m.group(0) if _DATE_START.match(m.group(0)) else MASK, masked)
    masked = _ID_NUMBER.sub(MASK, masked)
    return masked, masked != text


def clean_post(text: str) -> str:
    """A post's text as stored: no control characters, no runs of spaces, at most one
    empty line between paragraphs, trimmed."""
    text = unicodedata.normalize("NFC", text or "").replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[^\S\n]", " ", text)  # tabs, no-break and other spaces
    text = "".join(c for c in text if c == "\n" or unicodedata.category(c)[0] != "C")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def given_name(full_name: str, default: str = "") -> str:
    """The name a Vietnamese is called by: the last word of the full name (Nguyễn Thị Hồng
    Nhung → Nhung). Public posts and featured work show only this."""
    words = full_name.split()
    return words[-1] if words else default
