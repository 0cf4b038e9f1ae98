"""How a learner appears to other people wherever learners are ranked: the leaderboards,
the weekly league, the mentor board and a unit's honour roll (pages and JSON alike). One
function, `shown`, applies the learner's choice (`User.board_name`):

- `short` (the default): the given name and the family name's initial, "Cường N.";
  the unit (hamlet, residential group…) beside it only on a unit-subtree board, whose
  readers all belong to that subtree; on boards that reach beyond it (everyone, a learner
  group, a level, the league, the mentor board for everyone) a short name stands alone,
  since a given name, an initial and a hamlet together point at one person;
- `full`: the full name, with the unit, everywhere.

Learners always see themselves in full. Administrators see full names only on the honour
roll of a unit in their scope (the one list they print and hand out: vinh danh)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.text import short_name
from app.models import BoardName, Unit, User

DEFAULT_NAME = "Học viên"
CHOICE_LABELS = {
    BoardName.short: "Tên và chữ cái đầu của họ",
    BoardName.full: "Họ và tên đầy đủ, kèm đơn vị",
}


@dataclass(frozen=True)
class Shown:
    name: str
    unit: str  # "" when not shown


def shown(
    full_name: str,
    unit: str,
    choice: BoardName | str,
    *,
    own: bool,
    local: bool,
    reveal: bool = False,
) -> Shown:
    """A learner as a reader sees them. `own`: the reader is the learner; `local`: a
    unit-subtree board; `reveal`: an administrator's honour roll of a unit in scope."""
    if own or reveal or choice == BoardName.full:
        return Shown(full_name, unit)
    return Shown(short_name(full_name, DEFAULT_NAME), unit if local else "")


def shown_many(
    session: Session,
    user_ids: Iterable[int],
    *,
    viewer_id: int | None,
    local: bool,
    reveal: bool = False,
) -> dict[int, Shown]:
    """`shown` for these learners, read from the accounts as they are now (nothing is kept
    on the boards, so a change of choice shows at once)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(User.id, User.full_name, User.board_name, Unit.name)
        .join(Unit, Unit.id == User.unit_id)
        .where(User.id.in_(ids))
    )
    return {
        uid: shown(name, unit, choice, own=uid == viewer_id, local=local, reveal=reveal)
        for uid, name, choice, unit in rows
    }


def set_choice(session: Session, user: User, choice: BoardName | str) -> BoardName:
    user.board_name = BoardName(choice)
    session.flush()
    return user.board_name


def as_others_see(user: User) -> str:
    """The learner's name as other learners see it on the everyone board."""
    return shown(user.full_name, "", user.board_name, own=False, local=False).name
