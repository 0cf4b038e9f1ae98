"""Write to the audit log (the caller's transaction commits it with the change itself).

Audit rows hold references and codes: ids, serials, counts, scores, statuses, methods,
dates. Free text typed by people stays out of them, with the exceptions listed in
FREE_TEXT (an administrator's or moderator's reason for what they did, the names of units
and groups, and a person's name and contact while their account exists: PERSONAL_KEYS,
which anonymisation replaces). `record_audit` applies this to every writer: a string that
is not a code, under a key the action does not allow, is not stored (OMITTED instead).
See docs/privacy.md."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from app.models import AuditLog

log = logging.getLogger("bdhai")

# What a code looks like: letters without diacritics, digits, . _ : + - (statuses, methods,
# roles, formats, serials, key ids, ISO dates), and not a phone number.
_CODE = re.compile(r"^[A-Za-z0-9_.:+\-]{0,80}$")
_PHONE = re.compile(r"\d{9,}")
OMITTED = "[không ghi nội dung tự do]"
MAX_TEXT = 500

# The keys under which an action may keep free text, and why.
_REASON = frozenset({"reason"})  # the actor's own reason for the action (accountability)
FREE_TEXT: dict[str, frozenset[str]] = {
    # a person's name and contacts while their account exists (PERSONAL_KEYS)
    "account.update": frozenset({"full_name", "phone", "email"}),
    "certificate.issue": frozenset({"holder"}),
    # an administrator's or a moderator's reason
    "certificate.revoke": _REASON,
    "mentor.confirm": _REASON,
    "mentor.reject": _REASON,
    "mentor.remove": _REASON,
    "question.hide": _REASON,
    "answer.hide": _REASON,
    "question.unhide": frozenset({"hidden_reason", "note"}),
    "answer.unhide": frozenset({"hidden_reason", "note"}),
    "grade.change": frozenset({"reason", "feedback"}),  # a fixed label; the reviewer's words
    # names of units and learner groups (not people)
    "unit.create": frozenset({"name"}),
    "unit.update": frozenset({"name"}),
    "group.create": frozenset({"name", "description"}),
    "group.update": frozenset({"name", "description"}),
    # the filters an administrator typed to export the log
    "audit.export": frozenset({"filters"}),
}
# Free text that names the person an audit row is about: replaced on anonymisation.
PERSONAL_KEYS = frozenset({"full_name", "phone", "email", "holder"})
# Free text a writer is known to pass that stays on its own row instead (a learner's words
# on the review item or the mentorship): left out without a warning.
LEFT_OUT: dict[str, frozenset[str]] = {
    "grade.appeal": _REASON,
    "mentor.step_down": _REASON,
}


def is_code(value: str) -> bool:
    return bool(_CODE.match(value)) and not _PHONE.search(value)


def _bounded(value: Any) -> Any:
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, list | tuple):
        return [_bounded(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _bounded(v) for k, v in value.items()}
    return value


def _coded(value: Any, dropped: list[str], path: str) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_coded(v, dropped, path) for v in value]
    if isinstance(value, dict):
        return {str(k): _coded(v, dropped, f"{path}.{k}") for k, v in value.items()}
    text = str(value)
    if is_code(text):
        return text
    dropped.append(path)
    return OMITTED


def clean_details(action: str, details: dict[str, Any] | None) -> dict[str, Any]:
    """`details` as the audit log may keep them for `action`: values that are not codes are
    replaced by OMITTED unless FREE_TEXT allows their key (then at most MAX_TEXT
    characters)."""
    allowed = FREE_TEXT.get(action, frozenset())
    dropped: list[str] = []
    clean = {
        str(key): _bounded(value) if key in allowed else _coded(value, dropped, str(key))
        for key, value in (details or {}).items()
    }
    unexpected = [path for path in dropped if path not in LEFT_OUT.get(action, ())]
    if unexpected:
        log.warning("audit %s: free text left out of %s", action, ", ".join(unexpected))
    return clean


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
        details=clean_details(action, details),
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
