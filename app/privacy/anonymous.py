"""How an anonymised account is marked, and the refusal every administrative path gives it.

Anonymisation (app.privacy.service.anonymise) keeps the row for the counts and replaces
what identifies the person; among others the password hash becomes UNUSABLE_PASSWORD, a
value no path but anonymisation writes. Deletion is final: no administrator brings such an
account back (activation, passwords, reset links, edits, roles, imports, certificates)."""

from __future__ import annotations

from sqlalchemy import ColumnElement

from app.core.errors import Conflict
from app.models import User

# Not an argon2 hash: verify_password() answers False for it, whatever is typed.
UNUSABLE_PASSWORD = "!anonymised"
PLACEHOLDER_DOMAIN = "an-danh.invalid"
ANONYMISED_MESSAGE = (
    "Tài khoản này đã bị xoá thông tin cá nhân theo yêu cầu của người học. Việc xoá là vĩnh "
    "viễn: không thể mở lại, cấp mật khẩu, sửa thông tin, đổi vai trò hay cấp chứng nhận "
    "cho tài khoản này. Nếu người đó muốn học tiếp, họ đăng ký một tài khoản mới."
)


def anonymous_name(user_id: int) -> str:
    return f"Học viên đã xoá #{user_id}"


def placeholder_email(user_id: int) -> str:
    """users.phone_or_email requires one of the two: an address under the reserved `.invalid`
    domain (RFC 2606), which reaches nobody and says nothing about the person."""
    return f"da-xoa-{user_id}@{PLACEHOLDER_DOMAIN}"


def is_anonymised(user: User) -> bool:
    return user.password_hash == UNUSABLE_PASSWORD


def anonymised_condition() -> ColumnElement[bool]:
    """`is_anonymised` in SQL."""
    return User.password_hash == UNUSABLE_PASSWORD


def refuse_anonymised(user: User) -> None:
    """409 for an anonymised account (every administrative change goes through here)."""
    if is_anonymised(user):
        raise Conflict(ANONYMISED_MESSAGE, code="anonymised")
