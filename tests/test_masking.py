"""Masking personal data in public posts (`app.core.text.mask_personal`): phone numbers
written with any run of separators between their digits are found, while prices, dates,
times and quantities are left alone. Table-driven: each row is one attempt.

Vietnamese digit words ("không chín tám tám…") are out of scope: the matcher reads digits.
"""

from __future__ import annotations

import re

import pytest

from app.core.text import MASK, mask_personal

# ---- bypass attempts: each must be masked, leaving no digit of the number behind -----------

BYPASSES = [
    # one separator between every digit
    ("spaces", "Gọi em 0 9 8 8 1 2 3 4 5 6 nhé"),
    ("dots", "sđt 0.9.8.8.1.2.3.4.5.6"),
    ("dashes", "zalo 0-9-8-8-1-2-3-4-5-6"),
    ("slashes", "số 0988/123/456"),
    ("underscores", "số 0_9_8_8_1_2_3_4_5_6"),
    # runs of separators
    ("double space", "0 9 8 8  123 456"),
    ("several spaces", "0988     123     456"),
    ("tabs", "0988\t\t123\t456"),
    ("no-break spaces", "0988\u00a0123\u00a0\u00a0456"),
    ("dots in a row", "0988...123...456"),
    ("dashes and spaces", "0988 - 123 - 456"),
    ("spaced slashes", "0988 / 123 / 456"),
    ("long dashes", "0988 – 123 — 456"),
    ("mixed", "liên hệ 0.9-8/8_1 2.3-4/5_6"),
    ("mixed runs", "0 9 . 8 8 -- 1 2 3 __ 4 5 6"),
    ("zero-width", "0988\u200b123\u200b456"),
    ("a line break", "số em:\n0988\n123 456"),
    # prefixes
    ("+84 spaced", "+84 9 8 8 1 2 3 4 5 6"),
    ("(+84) spaced", "(+84) 9 8 8 . 1 2 3 . 4 5 6"),
    ("0084", "0 0 8 4 9 8 8 1 2 3 4 5 6"),
    ("84 (0)", "84 (0) 988 - 123 - 456"),
    ("landline in brackets", "máy bàn (024) 3825 1234"),
    ("landline spaced", "0 2 4 . 3 8 2 5 . 1 2 3 4"),
    ("old 11-digit mobile", "0 1 6 8 . 1 2 3 . 4 5 6 7"),
    ("full-width digits", "số ０９８８１２３４５６"),
    # glued to a word or another number
    ("after a word", "sđt:0 9 8 8 1 2 3 4 5 6"),
    ("after a small number", "Lớp 5 0988 123 456"),
    ("CCCD spaced", "CCCD 0 7 9 2 0 3 0 0 4 5 6 7"),
    ("CCCD mixed", "CCCD 079-203.004 567"),
]


@pytest.mark.parametrize(("label", "text"), BYPASSES, ids=[b[0] for b in BYPASSES])
def test_spaced_out_numbers_are_masked(label, text):
    masked, changed = mask_personal(text)
    assert changed, label
    assert MASK in masked
    kept = "5" if label == "after a small number" else ""  # "Lớp 5" is not the number
    assert "".join(re.findall(r"\d", masked)) == kept, masked  # no digit of it is left


def test_two_spaced_numbers_side_by_side_are_both_masked():
    masked, changed = mask_personal("0 9 8 8 1 2 3 4 5 6 0 9 1 2 3 4 5 6 7 8, hoặc 0988  123  456")
    assert changed and masked == f"{MASK} {MASK}, hoặc {MASK}"


def test_a_date_before_a_number_stays_and_the_number_goes():
    masked, changed = mask_personal("Ngày 03/05/2024 gọi 0988 123 456")
    assert changed and masked == f"Ngày 03/05/2024 gọi {MASK}"
    masked, changed = mask_personal("03-05-2024 0 9 8 8 1 2 3 4 5 6")
    assert changed and masked == f"03-05-2024 {MASK}"


def test_brackets_around_a_number_are_masked_with_it():
    assert mask_personal("gọi (0988 123 456) nhé") == (f"gọi {MASK} nhé", True)
    assert mask_personal("số (+84) 988 123 456") == (f"số {MASK}", True)


# ---- ordinary text: nothing is masked -------------------------------------------------------

ORDINARY = [
    ("price with dots", "Giá 150.000 đ"),
    ("price in millions", "1.500.000"),
    ("prices in a row", "Giá 150.000 đồng, 1.500.000 đồng hoặc 150.000.000 đồng"),
    ("prices spaced", "Học phí 1 500 000 đồng, 2 000 000 đồng"),
    ("a list of prices", "Giá 1.500.000 2.000.000 3.000.000 đ"),
    ("price with đ", "Mua 2 kg gạo giá 25.000đ"),
    ("date and hour", "03-05-2024 10 giờ"),
    ("date with slashes and hour", "Ngày 03/05/2024 10 giờ sáng"),
    ("date with dots and hour", "Hạn chót 03.05.2024 10 giờ"),
    ("short date", "Ngày 3/5/2024 09 giờ"),
    ("spaced date", "Ngày 03 / 05 / 2024 10 giờ"),
    ("two dates", "Từ 01/05/2024 - 05/05/2024"),
    ("ISO date", "Ngày 2024-05-03 09 giờ"),
    ("time", "Họp lúc 07:30 ngày 03/05/2024"),
    ("time range", "Ca sáng 07:30 - 09:30, ca chiều 13:30 - 15:30"),
    ("hours", "7h30 đến 9h"),
    ("quantities", "Làm 2 3 4 lần"),
    ("counts", "Lớp 10 11 12"),
    ("levels", "Bậc 1 - 5, bài 1 - 12"),
    ("years", "Năm 2024 và năm 2025"),
    ("decimals", "Tỉ lệ 0,5 và 0.75"),
    ("population", "Dân số 12.345 người"),
    ("score", "Tỉ số 0 - 3"),
    ("lesson codes", "Bài b1-01 và b2-03"),
    ("a mention", "Hỏi AI @ChatGPT"),
]


@pytest.mark.parametrize(("label", "text"), ORDINARY, ids=[o[0] for o in ORDINARY])
def test_ordinary_numbers_stay(label, text):
    assert mask_personal(text) == (text, False), label
