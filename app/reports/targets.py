"""Target populations: entered per unit (the working-age population on the unit itself,
`units.target_population`; a learner group's population in `unit_targets`), and read for
a subtree. A unit's own figure stands for its whole subtree (the commune's official count
beats the sum of its hamlets'); where a unit has none, its children's figures add up."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.core.audit import record_audit
from app.core.errors import Invalid
from app.models import LearnerGroup, Unit, UnitTarget
from app.orgs.tabular import read_table

MAX_POPULATION = 50_000_000


def parse_population(raw: str, field: str = "so_nguoi") -> int | None:
    """A count as people write it ("1.200", "1 200"); empty is None."""
    digits = raw.strip().replace(".", "").replace(",", "").replace(" ", "")
    if not digits:
        return None
    if not digits.isdigit() or int(digits) > MAX_POPULATION:
        raise Invalid(f"Số người “{raw.strip()[:20]}” không hợp lệ.", extra={"field": field})
    return int(digits)


def subtree(session: Session, root: Unit) -> list[Unit]:
    return list(
        session.scalars(
            select(Unit).where(Unit.path.startswith(root.path, autoescape=True)).order_by(Unit.path)
        )
    )


def rolled_up(units: Iterable[Unit], own: dict[int, int]) -> dict[int, int | None]:
    """Each unit's figure for its subtree: its own where set, else the sum of its
    children's (None where nothing below is set either)."""
    units = list(units)
    children: dict[int | None, list[Unit]] = defaultdict(list)
    for unit in units:
        children[unit.parent_id].append(unit)
    out: dict[int, int | None] = {}
    for unit in sorted(units, key=lambda u: -u.depth):  # leaves first
        if unit.id in own:
            out[unit.id] = own[unit.id]
            continue
        below = [out[c.id] for c in children[unit.id] if out.get(c.id) is not None]
        out[unit.id] = sum(below) if below else None  # type: ignore[arg-type]
    return out


def populations(session: Session, units: list[Unit]) -> dict[int | None, dict[int, int | None]]:
    """For every unit of the list (a subtree): the working-age population (key None) and
    each group's population (key group id), rolled up."""
    ids = [u.id for u in units]
    working_age = {u.id: u.target_population for u in units if u.target_population is not None}
    out: dict[int | None, dict[int, int | None]] = {None: rolled_up(units, working_age)}
    by_group: dict[int, dict[int, int]] = defaultdict(dict)
    for unit_id, group_id, population in session.execute(
        select(UnitTarget.unit_id, UnitTarget.group_id, UnitTarget.population).where(
            UnitTarget.unit_id.in_(ids)
        )
    ):
        by_group[group_id][unit_id] = population
    for group_id, own in by_group.items():
        out[group_id] = rolled_up(units, own)
    return out


def own_targets(session: Session, unit: Unit) -> dict[int, int]:
    """The group populations entered on this unit itself."""
    return {
        t.group_id: t.population
        for t in session.scalars(select(UnitTarget).where(UnitTarget.unit_id == unit.id))
    }


def set_targets(
    session: Session,
    *,
    unit: Unit,
    working_age: int | None,
    groups: dict[int, int | None],
    actor_id: int | None,
) -> None:
    """Enter a unit's populations (None clears one); audited with before and after."""
    known = set(session.scalars(select(LearnerGroup.id)))
    for group_id, value in groups.items():
        if group_id not in known:
            raise Invalid("Nhóm học viên không tồn tại.", extra={"field": f"group_{group_id}"})
        if value is not None and not 0 <= value <= MAX_POPULATION:
            raise Invalid(
                f"Số người cần từ 0 đến {MAX_POPULATION:,}.".replace(",", "."),
                extra={"field": f"group_{group_id}"},
            )
    if working_age is not None and not 0 <= working_age <= MAX_POPULATION:
        raise Invalid(
            f"Số người cần từ 0 đến {MAX_POPULATION:,}.".replace(",", "."),
            extra={"field": "working_age"},
        )
    before = {"working_age": unit.target_population, **own_targets(session, unit)}
    unit.target_population = working_age
    for group_id, value in groups.items():
        row = session.scalar(
            select(UnitTarget).where(UnitTarget.unit_id == unit.id, UnitTarget.group_id == group_id)
        )
        if value is None:
            if row is not None:
                session.execute(delete(UnitTarget).where(UnitTarget.id == row.id))
        elif row is None:
            session.add(UnitTarget(unit_id=unit.id, group_id=group_id, population=value))
        else:
            row.population = value
    session.flush()
    after = {"working_age": unit.target_population, **own_targets(session, unit)}
    if before != after:
        record_audit(
            session,
            actor_id=actor_id,
            action="targets.update",
            target_type="unit",
            target_id=unit.id,
            unit_path=unit.path,
            details={"before": _keyed(before), "after": _keyed(after)},
        )


def _keyed(values: dict[object, object]) -> dict[str, object]:
    return {str(k): v for k, v in values.items()}


@dataclass
class ImportResult:
    rows: int
    errors: list[str]  # "dòng 3: …" (nothing is saved when there are any)


IMPORT_HEADER = ("ma_don_vi", "ma_nhom", "so_nguoi")


def import_targets(
    session: Session,
    *,
    filename: str,
    data: bytes,
    scope_prefix: str,
    actor_id: int | None,
    max_bytes: int,
    max_rows: int,
) -> ImportResult:
    """Populations from a CSV/XLSX with the columns ma_don_vi, ma_nhom (a group's code;
    empty: the working-age population), so_nguoi (empty clears it). All rows or none: any
    bad row is reported by its line and nothing is saved."""
    header, rows = read_table(filename, data, max_bytes=max_bytes, max_rows=max_rows)
    missing = [c for c in IMPORT_HEADER if c not in header]
    if missing:
        raise Invalid(
            "Tệp cần các cột: " + ", ".join(IMPORT_HEADER) + " (thiếu " + ", ".join(missing) + ").",
            code="bad_header",
        )
    units = {u.code: u for u in session.scalars(select(Unit))}
    groups = {g.code: g.id for g in session.scalars(select(LearnerGroup))}
    errors: list[str] = []
    wanted: dict[int, tuple[Unit, dict[int, int | None], list[int | None]]] = {}
    for row in rows:
        code, group_code, raw = (row.values.get(c, "").strip() for c in IMPORT_HEADER)
        unit = units.get(code)
        if unit is None:
            errors.append(f"dòng {row.line}: không có đơn vị mã “{code}”.")
            continue
        if not unit.path.startswith(scope_prefix):
            errors.append(f"dòng {row.line}: đơn vị “{code}” nằm ngoài phạm vi quản lý của bạn.")
            continue
        if group_code and group_code not in groups:
            errors.append(f"dòng {row.line}: không có nhóm học viên mã “{group_code}”.")
            continue
        try:
            value = parse_population(raw)
        except Invalid:
            errors.append(f"dòng {row.line}: số người “{raw}” không hợp lệ.")
            continue
        entry = wanted.setdefault(unit.id, (unit, {}, []))
        if group_code:
            entry[1][groups[group_code]] = value
        else:
            entry[2].append(value)
    if errors:
        return ImportResult(rows=len(rows), errors=errors)
    for unit, by_group, working_age in wanted.values():
        set_targets(
            session,
            unit=unit,
            working_age=working_age[-1] if working_age else unit.target_population,
            groups=by_group,
            actor_id=actor_id,
        )
    return ImportResult(rows=len(rows), errors=[])


def set_group_targets(
    session: Session,
    *,
    group: LearnerGroup,
    join: int | None,
    improve: int | None,
    level: int | None,
    actor_id: int | None,
) -> None:
    """A group's target percentages (None: the group has no target of its own)."""
    if (improve is None) != (level is None):
        raise Invalid(
            "Chỉ tiêu nâng cao cần cả tỷ lệ và bậc chứng nhận.", extra={"field": "improve_level"}
        )
    before = [group.join_target_pct, group.improve_target_pct, group.improve_level]
    group.join_target_pct, group.improve_target_pct, group.improve_level = join, improve, level
    session.flush()
    if before != [join, improve, level]:
        record_audit(
            session,
            actor_id=actor_id,
            action="targets.group",
            target_type="group",
            target_id=group.id,
            details={"before": before, "after": [join, improve, level]},
        )
