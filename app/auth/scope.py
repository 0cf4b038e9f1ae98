"""Where an administrator may act: everywhere for `admin`, its unit's subtree for
`unit_admin`. Every admin query filters on the unit's materialised path with this prefix."""

from __future__ import annotations

from app.auth.service import Principal
from app.core.errors import Forbidden
from app.models import Role


def scope_path(principal: Principal) -> str:
    """The tree prefix the principal administers ('' is the whole tree)."""
    if principal.user.role == Role.admin:
        return ""
    if principal.user.role == Role.unit_admin:
        return principal.unit_path
    raise Forbidden("Bạn không có quyền quản trị.")


def is_in_scope(principal: Principal, unit_path: str) -> bool:
    return unit_path.startswith(scope_path(principal))


def ensure_in_scope(principal: Principal, unit_path: str) -> None:
    if not is_in_scope(principal, unit_path):
        raise Forbidden("Đơn vị này nằm ngoài phạm vi quản lý của bạn.")
