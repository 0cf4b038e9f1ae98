"""The unit tree (materialised paths, any depth) and the learner groups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, func, literal, select, update
from sqlalchemy.orm import Session

from app.auth.scope import ensure_in_scope, is_in_scope, scope_path
from app.auth.service import Principal
from app.core.audit import record_audit, record_changes, values_of
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.core.text import fold
from app.gamification.boards import reseat
from app.models import UNIT_TYPE_LABELS, LearnerGroup, Unit, UnitType
from app.orgs.schemas import UnitNode

# The seeds' learner groups (seed 002 and the provincial plans); configurable afterwards.
DEFAULT_GROUPS: tuple[tuple[str, str, str], ...] = (
    (
        "can_bo",
        "Cán bộ, công chức, viên chức",
        "Người làm việc trong cơ quan nhà nước, đơn vị sự nghiệp",
    ),
    (
        "doanh_nghiep",
        "Chủ doanh nghiệp, hợp tác xã, hộ kinh doanh",
        "Người quản lý sản xuất, kinh doanh",
    ),
    (
        "cong_nhan",
        "Công nhân, người lao động",
        "Người lao động trong doanh nghiệp, khu công nghiệp",
    ),
    ("nong_dan", "Nông dân", "Người sản xuất nông, lâm, thủy sản"),
    ("hoc_sinh", "Học sinh, sinh viên", "Người đang đi học"),
    ("cao_tuoi", "Người cao tuổi", "Người từ 60 tuổi trở lên"),
    ("khac", "Người dân khác", "Những người không thuộc các nhóm trên"),
)


# The seeds' targets (% taking part, % improving, the certificate level that shows it):
# civil servants all take part and half improve at work (level 2); business owners 80 %
# and half. Everyone else is counted in the unit's working-age population (settings
# `target_join_pct`, `target_basic_pct`: 80 % join, half reach basic skills, level 1).
DEFAULT_GROUP_TARGETS: dict[str, tuple[int, int, int]] = {
    "can_bo": (100, 50, 2),
    "doanh_nghiep": (80, 50, 2),
}


def ensure_default_groups(session: Session) -> int:
    """Create the default learner groups that are missing; returns how many were added."""
    existing = set(session.scalars(select(LearnerGroup.code)))
    added = 0
    for order, (code, name, description) in enumerate(DEFAULT_GROUPS):
        if code not in existing:
            join, improve, level = DEFAULT_GROUP_TARGETS.get(code, (None, None, None))
            session.add(
                LearnerGroup(
                    code=code,
                    name=name,
                    description=description,
                    sort_order=order * 10,
                    join_target_pct=join,
                    improve_target_pct=improve,
                    improve_level=level,
                )
            )
            added += 1
    session.flush()
    return added


def in_subtree(prefix: str):  # type: ignore[no-untyped-def]
    """SQL condition: the unit lies in the subtree whose path is `prefix` ('' = everywhere)."""
    return Unit.path.startswith(prefix) if prefix else Unit.path.is_not(None)


def get_unit(session: Session, unit_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound("Không tìm thấy đơn vị.")
    return unit


def get_unit_by_code(session: Session, code: str) -> Unit | None:
    return session.scalar(select(Unit).where(Unit.code == code))


def create_unit(
    session: Session, *, code: str, name: str, type: UnitType, parent: Unit | None
) -> Unit:
    if get_unit_by_code(session, code) is not None:
        raise Conflict(f"Mã đơn vị “{code}” đã tồn tại.", code="duplicate")
    unit = Unit(
        code=code,
        name=name,
        type=type,
        parent_id=parent.id if parent else None,
        depth=parent.depth + 1 if parent else 0,
        path="",
    )
    session.add(unit)
    session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    session.flush()
    return unit


def move_unit(session: Session, *, unit: Unit, new_parent: Unit | None) -> None:
    """Re-hang a unit and its whole subtree under another parent (or at the top)."""
    if new_parent is not None and new_parent.path.startswith(unit.path):
        raise Invalid("Không thể chuyển đơn vị vào bên trong chính nó.", code="cycle")
    old_path, old_depth = unit.path, unit.depth
    new_path = f"{new_parent.path if new_parent else '/'}{unit.id}/"
    depth_shift = (new_parent.depth + 1 if new_parent else 0) - old_depth
    session.execute(
        update(Unit)
        .where(Unit.path.startswith(old_path))
        .values(
            path=literal(new_path, String)
            + func.substr(Unit.path, len(old_path) + 1, type_=String),
            depth=Unit.depth + depth_shift,
        )
        .execution_options(synchronize_session="fetch")
    )
    unit.parent_id = new_parent.id if new_parent else None
    session.flush()
    session.refresh(unit)
    reseat(session, under_path=new_path)  # their unit boards above changed


def add_unit(
    session: Session,
    *,
    actor: Principal,
    code: str,
    name: str,
    type: UnitType,
    parent_id: int | None,
) -> Unit:
    """An administrator adds a unit inside its scope (only `admin` adds top-level units)."""
    parent = get_unit(session, parent_id) if parent_id is not None else None
    if parent is None and scope_path(actor):
        raise Forbidden("Quản trị đơn vị chỉ được thêm đơn vị bên trong đơn vị của mình.")
    if parent is not None:
        ensure_in_scope(actor, parent.path)
        if not parent.is_active:
            raise Invalid("Đơn vị cấp trên đã ngừng hoạt động.", extra={"field": "parent_id"})
    unit = create_unit(session, code=code, name=name, type=type, parent=parent)
    record_audit(
        session,
        actor_id=actor.user.id,
        action="unit.create",
        target_type="unit",
        target_id=unit.id,
        unit_path=unit.path,
        details={"code": unit.code, "name": unit.name},
    )
    return unit


def get_unit_in_scope(session: Session, actor: Principal, unit_id: int) -> Unit:
    """The unit, or 404 when it does not exist or lies outside the administrator's scope."""
    unit = session.get(Unit, unit_id)
    if unit is None or not is_in_scope(actor, unit.path):
        raise NotFound("Không tìm thấy đơn vị.")
    return unit


def change_unit(
    session: Session, *, actor: Principal, unit_id: int, changes: dict[str, Any]
) -> Unit:
    """Rename, retype, move or (de)activate a unit inside the administrator's scope.
    A unit admin cannot move or retire its own root unit, nor move anything out of scope."""
    unit = get_unit_in_scope(session, actor, unit_id)
    own_root = bool(scope_path(actor)) and unit.path == actor.unit_path
    if own_root and ("parent_id" in changes or changes.get("is_active") is False):
        raise Forbidden("Bạn không thể chuyển hoặc ngừng đơn vị gốc của mình.")
    before = values_of(unit, changes)
    if "parent_id" in changes:
        new_parent_id = changes["parent_id"]
        new_parent = get_unit(session, new_parent_id) if new_parent_id is not None else None
        if new_parent is None and scope_path(actor):
            raise Forbidden("Chỉ quản trị hệ thống mới đặt được đơn vị ở cấp cao nhất.")
        if new_parent is not None:
            ensure_in_scope(actor, new_parent.path)
            if not new_parent.is_active and new_parent.id != unit.parent_id:
                raise Invalid("Đơn vị cấp trên đã ngừng hoạt động.", extra={"field": "parent_id"})
        if (new_parent.id if new_parent else None) != unit.parent_id:
            move_unit(session, unit=unit, new_parent=new_parent)
    if changes.get("is_active") is False and unit.is_active:
        active_children = session.scalar(
            select(func.count())
            .select_from(Unit)
            .where(Unit.parent_id == unit.id, Unit.is_active.is_(True))
        )
        if active_children:
            raise Invalid(
                "Đơn vị còn đơn vị con đang hoạt động; hãy ngừng hoặc chuyển chúng trước.",
                code="has_children",
            )
    for key in ("name", "type", "is_active"):
        if changes.get(key) is not None:
            setattr(unit, key, changes[key])
    session.flush()
    record_changes(
        session,
        actor_id=actor.user.id,
        action="unit.update",
        target_type="unit",
        target_id=unit.id,
        unit_path=unit.path,
        before=before,
        after=values_of(unit, changes),
    )
    return unit


def unit_out_fields(unit: Unit) -> dict[str, object]:
    return {
        "id": unit.id,
        "code": unit.code,
        "name": unit.name,
        "type": unit.type,
        "type_label": UNIT_TYPE_LABELS[unit.type],
        "parent_id": unit.parent_id,
        "depth": unit.depth,
        "is_active": unit.is_active,
    }


def list_units(
    session: Session,
    *,
    scope_prefix: str = "",
    parent_id: int | None = None,
    roots_only: bool = False,
    q: str | None = None,
    active_only: bool = False,
    limit: int = 500,
) -> Sequence[Unit]:
    stmt = select(Unit).where(in_subtree(scope_prefix))
    if parent_id is not None:
        stmt = stmt.where(Unit.parent_id == parent_id)
    elif roots_only:
        stmt = stmt.where(Unit.parent_id.is_(None))
    if q:
        stmt = stmt.where(
            Unit.search_key.contains(fold(q), autoescape=True)
            | func.lower(Unit.code).contains(q.strip().lower(), autoescape=True)
        )
    if active_only:
        stmt = stmt.where(Unit.is_active.is_(True))
    return session.scalars(stmt.order_by(Unit.depth, Unit.name).limit(limit)).all()


def unit_tree(
    session: Session,
    *,
    root: Unit | None = None,
    max_depth: int = 3,
    active_only: bool = True,
) -> list[UnitNode]:
    """Nested nodes from `root` (or every top unit) down `max_depth` levels, in one query."""
    base_depth = root.depth if root else 0
    stmt = select(Unit).where(Unit.depth < base_depth + max_depth)
    if root is not None:
        stmt = stmt.where(Unit.path.startswith(root.path))
    if active_only:
        stmt = stmt.where(Unit.is_active.is_(True))
    units = session.scalars(stmt.order_by(Unit.depth, Unit.name)).all()
    parents_with_children = (
        set(
            session.scalars(
                select(Unit.parent_id)
                .where(Unit.parent_id.in_([u.id for u in units]))
                .where(Unit.is_active.is_(True) if active_only else Unit.id.is_not(None))
                .distinct()
            )
        )
        if units
        else set()
    )
    nodes: dict[int, UnitNode] = {}
    tops: list[UnitNode] = []
    for unit in units:
        node = UnitNode(**unit_out_fields(unit), has_children=unit.id in parents_with_children)  # type: ignore[arg-type]
        nodes[unit.id] = node
        parent = nodes.get(unit.parent_id) if unit.parent_id else None
        if parent is not None:
            parent.children.append(node)
        elif (root is None and unit.parent_id is None) or (root is not None and unit.id == root.id):
            tops.append(node)
    return tops


def ancestors(session: Session, unit: Unit) -> list[Unit]:
    """The chain from the top of the tree down to `unit` itself."""
    ids = unit.path_ids
    by_id = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(ids)))}
    return [by_id[i] for i in ids if i in by_id]


def list_groups(session: Session, *, active_only: bool = True) -> Sequence[LearnerGroup]:
    stmt = select(LearnerGroup)
    if active_only:
        stmt = stmt.where(LearnerGroup.is_active.is_(True))
    return session.scalars(stmt.order_by(LearnerGroup.sort_order, LearnerGroup.name)).all()


def get_group(session: Session, group_id: int) -> LearnerGroup:
    group = session.get(LearnerGroup, group_id)
    if group is None:
        raise NotFound("Không tìm thấy nhóm học viên.")
    return group


def add_group(
    session: Session,
    *,
    actor: Principal,
    code: str,
    name: str,
    description: str,
    sort_order: int,
) -> LearnerGroup:
    if session.scalar(select(LearnerGroup.id).where(LearnerGroup.code == code)) is not None:
        raise Conflict(f"Mã nhóm “{code}” đã tồn tại.", code="duplicate")
    group = LearnerGroup(code=code, name=name, description=description, sort_order=sort_order)
    session.add(group)
    session.flush()
    record_audit(
        session,
        actor_id=actor.user.id,
        action="group.create",
        target_type="group",
        target_id=group.id,
        details={"code": code, "name": name},
    )
    return group


def change_group(
    session: Session, *, actor: Principal, group_id: int, changes: dict[str, Any]
) -> LearnerGroup:
    group = get_group(session, group_id)
    before = values_of(group, changes)
    for key, value in changes.items():
        if value is not None:
            setattr(group, key, value)
    session.flush()
    record_changes(
        session,
        actor_id=actor.user.id,
        action="group.update",
        target_type="group",
        target_id=group.id,
        before=before,
        after=values_of(group, changes),
    )
    return group
