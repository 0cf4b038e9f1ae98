"""Write to the audit log (the caller's transaction commits it with the change itself)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from app.models import AuditLog


def record_audit(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    target_type: str,
    target_id: int | str,
    unit_path: str = "",
    details: dict[str, Any] | None = None,
) -> AuditLog:
    entry = AuditLog(
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        unit_path=unit_path,
        details=details or {},
    )
    session.add(entry)
    session.flush()
    return entry


def values_of(obj: object, keys: Iterable[str]) -> dict[str, str]:
    """The audited values of `keys` on `obj`, as text."""
    return {key: str(getattr(obj, key)) for key in keys}


def record_changes(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    target_type: str,
    target_id: int | str,
    before: dict[str, str],
    after: dict[str, str],
    unit_path: str = "",
) -> AuditLog | None:
    """Audit what changed between two `values_of` snapshots ([old, new] per key); nothing
    is written when nothing changed."""
    diff = {key: [before[key], after[key]] for key in before if before[key] != after.get(key)}
    if not diff:
        return None
    return record_audit(
        session,
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        unit_path=unit_path,
        details=diff,
    )
