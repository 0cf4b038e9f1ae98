"""Text helpers for Vietnamese: matching without case or diacritics."""

from __future__ import annotations

import re
import unicodedata
from itertools import pairwise


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

# What people put between the digits of a number, in any run and any mix: spaces (also
# tabs, no-break spaces and line breaks), dots, dashes, slashes, underscores, brackets and a
# few symbols; zero-width characters too. Commas and colons are not: they write decimals
# (0,5) and times (07:30). A "run" is digits joined by separators: 0 9 8 8 . 1 2 3 - 456.
_SEPARATORS = r"\s.\-\u2010-\u2015/\\_()*·•|~\u200b-\u200d\u2060\ufeff"
_RUN = re.compile(rf"\d(?:[{_SEPARATORS}]*\d)*")
_GROUP = re.compile(r"\d+")  # the digits written together inside a run
_DATE_SEPARATORS = {".", "-", "/"}
# Identity numbers written without separators: CCCD (12 digits) and CMND (9 digits).
# Separated 9-digit groups are prices (150.000.000), not IDs; a separated CCCD (its first
# digit is always 0, the province code: 079 203 004 567) is found with the runs below.
_ID_NUMBER = re.compile(r"(?<![\d.,])(?:\d{12}|\d{9})(?![\d])")
_EMAIL = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._%+\-]*\s?@\s?[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
)


def _ascii_digits(text: str) -> str:
    return "".join(str(unicodedata.decimal(c)) for c in text)  # ０９ (full width) → 09


def _is_date(values: list[str], seps: list[str], i: int) -> int:
    """How many groups from i form a date (03/05/2024, 3-5-2024, 2024-05-03; one kind of
    separator, spaces around it allowed), or 0."""
    if i + 2 >= len(values):
        return 0
    a, b, c = values[i : i + 3]
    kind = {seps[i].strip(), seps[i + 1].strip()}
    if len(kind) != 1 or not kind <= _DATE_SEPARATORS:
        return 0
    if len(c) == 4 and len(a) <= 2 and len(b) <= 2:  # day, month, year
        day, month, year = int(a), int(b), int(c)
    elif len(a) == 4 and len(b) == 2 and len(c) == 2:  # year, month, day
        year, month, day = int(a), int(b), int(c)
    else:
        return 0
    return 3 if 1 <= day <= 31 and 1 <= month <= 12 and 1900 <= year <= 2099 else 0


def _phone_lengths(digits: str) -> list[int]:
    """The lengths (in digits) a Vietnamese phone number at the start of `digits` may
    have: 0, 84 or 0084 (either optionally followed by a 0, as in +84 (0) 912…), then a
    mobile number (3/5/7/8/9 + 8 digits), a landline (2 + 9 digits: 024 3825 1234) or an
    old mobile (1 + 9 digits)."""
    out = []
    for lead in ("00840", "0084", "840", "84", "0"):
        if digits.startswith(lead) and len(digits) > len(lead):
            first = digits[len(lead)]
            body = 9 if first in "35789" else 10 if first in "12" else 0
            if body:
                out.append(len(lead) + body)
    return out


def _run_spans(values: list[str], seps: list[str]) -> list[tuple[int, int]]:
    """The groups of one run that are a phone or an identity number, as (first, end)
    group indexes. A number starts at the start of a group and ends at the end of one (so
    fixed lengths keep two numbers side by side apart); dates are stepped over; prices
    never start with 0."""
    spans: list[tuple[int, int]] = []
    n = len(values)
    left = [0] * (n + 1)  # digits from group i to the run's end
    for k in range(n - 1, -1, -1):
        left[k] = left[k + 1] + len(values[k])
    i = 0
    while i < n:
        if skip := _is_date(values, seps, i):
            i += skip
            continue
        ends: dict[int, int] = {}  # digits read from group i -> the group after them
        digits = ""
        for j in range(i, n):
            digits += values[j]
            ends[len(digits)] = j + 1
            if len(digits) > 15:  # longer than any number looked for
                break
        cccd = digits[0] == "0"  # a CCCD starts with its province code, 001…096
        if cccd and left[i] == 12:  # a CCCD however spaced (or a phone and two digits)
            spans.append((i, n))
            break
        phone = next((ends[k] for k in _phone_lengths(digits) if k in ends), None)
        end = phone or (ends.get(12) if cccd else None)  # a CCCD with more numbers after
        if end is None:
            i += 1
            continue
        spans.append((i, end))
        i = end
    return spans


def _mask_numbers(text: str) -> str:
    out: list[str] = []
    last = 0
    for run in _RUN.finditer(text):
        groups = list(_GROUP.finditer(text, run.start(), run.end()))
        values = [_ascii_digits(g.group()) for g in groups]
        seps = [text[a.end() : b.start()] for a, b in pairwise(groups)]
        for first, end in _run_spans(values, seps):
            start, stop = groups[first].start(), groups[end - 1].end()
            for _ in range(2):  # +84, (+84), (024)
                if start > last and text[start - 1] in "+(":
                    start -= 1
            opened = text.count("(", start, stop) - text.count(")", start, stop)
            if opened > 0 and text.startswith(")", stop):
                stop += 1
            out += [text[last:start], MASK]
            last = stop
    return "".join(out) + text[last:]


def mask_personal(text: str) -> tuple[str, bool]:
    """Mask what identifies a person in a public post: e-mail addresses, Vietnamese phone
    numbers (any usual spelling, with any run of spaces, dots, dashes, slashes or
    underscores between the digits) and identity numbers (CCCD, CMND) become "[đã ẩn]".
    Returns the text and whether anything was masked (so the author can be told)."""
    masked = _EMAIL.sub(MASK, text)
    masked = _mask_numbers(masked)
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


def short_name(full_name: str, default: str = "") -> str:
    """A Vietnamese name as others see it on boards by default: the given name (the last
    word) and the family name's initial (the first word's): Nguyễn Văn Cường → Cường N.
    One word stays as it is. A trailing number stays with the word before it (Học Viên
    Số 01 → Số 01 H.), so the short form never falls back to the full name."""
    words = unicodedata.normalize("NFC", full_name or "").split()
    lettered = [i for i, w in enumerate(words) if any(c.isalpha() for c in w)]
    if not lettered:
        return " ".join(words) or default
    given = " ".join(words[lettered[-1] :])
    if lettered[-1] == 0:
        return given
    initial = next(c for c in words[0] if c.isalpha()) if lettered[0] == 0 else ""
    return f"{given} {initial.upper()}." if initial else given
