"""Validators for what people type: Vietnamese phone numbers, e-mail, names, passwords."""

from __future__ import annotations

import re
import unicodedata

_PHONE_STRIP = re.compile(r"[\s.\-()]")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,49}$")

COMMON_PASSWORDS = frozenset(
    {
        "12345678",
        "123456789",
        "1234567890",
        "password",
        "password1",
        "matkhau",
        "matkhau123",
        "11111111",
        "00000000",
        "88888888",
        "66666666",
        "abc12345",
        "qwerty123",
        "iloveyou",
        "abcd1234",
        "12341234",
        "87654321",
        "vietnam1",
        "admin123",
        "123123123",
        "a12345678",
        "12345678a",
        "123456aa",
    }
)


def normalize_phone(raw: str) -> str:
    """Normalise a Vietnamese phone number to +84…; raises ValueError in Vietnamese.

    Accepts 0912 345 678, 0912.345.678, +84912345678, 84912345678, 0084…, and landlines
    such as 0208 3855 123 (area codes start with 2)."""
    s = _PHONE_STRIP.sub("", raw or "")
    if s.startswith("+84"):
        rest = s[3:]
    elif s.startswith("0084"):
        rest = s[4:]
    elif s.startswith("84") and len(s) in (11, 12):
        rest = s[2:]
    elif s.startswith("0"):
        rest = s[1:]
    else:
        raise ValueError("Số điện thoại không hợp lệ: hãy nhập dạng 0912345678 hoặc +84912345678.")
    if not rest.isdigit():
        raise ValueError("Số điện thoại chỉ gồm chữ số (có thể bắt đầu bằng +84).")
    mobile = len(rest) == 9 and rest[0] in "35789"
    landline = len(rest) == 10 and rest[0] == "2"
    if not (mobile or landline):
        raise ValueError(
            "Số điện thoại không hợp lệ: số di động có 10 chữ số và bắt đầu bằng "
            "03, 05, 07, 08 hoặc 09."
        )
    return "+84" + rest


# Top-level domains reserved for tests and documentation (RFC 2606): no one receives mail
# there, and `.invalid` addresses stand in for the contact of deleted accounts.
RESERVED_TLDS = frozenset({"invalid", "test", "example", "localhost"})


def normalize_email(raw: str) -> str:
    s = (raw or "").strip().lower()
    if len(s) > 254 or not _EMAIL.match(s) or s.rsplit(".", 1)[-1] in RESERVED_TLDS:
        raise ValueError("Địa chỉ thư điện tử không hợp lệ.")
    return s


def normalize_name(raw: str, *, max_length: int = 120, label: str = "Họ và tên") -> str:
    """NFC-normalise, collapse spaces; refuse control characters and digits-only names."""
    s = unicodedata.normalize("NFC", " ".join((raw or "").split()))
    if len(s) < 2:
        raise ValueError(f"{label} quá ngắn.")
    if len(s) > max_length:
        raise ValueError(f"{label} quá dài (tối đa {max_length} ký tự).")
    if any(unicodedata.category(c).startswith("C") for c in s):
        raise ValueError(f"{label} chứa ký tự không hợp lệ.")
    if not any(c.isalpha() for c in s):
        raise ValueError(f"{label} phải có chữ cái.")
    return s


def normalize_code(raw: str) -> str:
    s = (raw or "").strip()
    if not _CODE.match(s):
        raise ValueError(
            "Mã chỉ gồm chữ không dấu, chữ số, dấu chấm, gạch ngang hoặc gạch dưới "
            "(tối đa 50 ký tự)."
        )
    return s


def check_password_strength(password: str, *, login_names: tuple[str, ...] = ()) -> None:
    if len(password) < 8:
        raise ValueError("Mật khẩu phải có ít nhất 8 ký tự.")
    if len(password) > 128:
        raise ValueError("Mật khẩu quá dài (tối đa 128 ký tự).")
    if password.lower() in COMMON_PASSWORDS or len(set(password)) < 4:
        raise ValueError("Mật khẩu quá dễ đoán; hãy chọn mật khẩu khác.")
    digits = re.sub(r"\D", "", password)
    for name in login_names:
        name_digits = re.sub(r"\D", "", name)
        if name and (password.lower() == name.lower() or (digits and digits == name_digits)):
            raise ValueError("Mật khẩu không được trùng với số điện thoại hoặc thư điện tử.")
        if name_digits and len(name_digits) >= 9 and name_digits[-9:] in digits:
            raise ValueError("Mật khẩu không được chứa số điện thoại.")


def identifier_kind(identifier: str) -> tuple[str, str]:
    """Split a sign-in identifier into ('email'|'phone', normalised value)."""
    ident = (identifier or "").strip()
    if "@" in ident:
        return "email", normalize_email(ident)
    return "phone", normalize_phone(ident)
