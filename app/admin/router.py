"""JSON API for account administration (admins everywhere, unit admins in their subtree)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from app.admin import service
from app.admin.schemas import (
    Activity,
    ResetIn,
    ResetOut,
    UnlockOut,
    UserCreatedOut,
    UserCreateIn,
    UserOut,
    UserPage,
    UserPatch,
)
from app.auth.dependencies import AdminOrUnitAdmin, SettingsDep
from app.auth.schemas import GroupBrief, UnitBrief
from app.core.clock import local_day
from app.core.ids import Id
from app.db import SessionDep
from app.models import LearnerGroup, Role, Unit, User, utcnow
from app.openapi import errors

router = APIRouter(prefix="/admin", tags=["admin"])


def user_out(user: User, unit: Unit, group: LearnerGroup | None) -> UserOut:
    return UserOut(
        id=user.id,
        full_name=user.full_name,
        phone=user.phone,
        email=user.email,
        role=user.role,
        unit=UnitBrief.model_validate(unit),
        group=GroupBrief.model_validate(group) if group else None,
        is_active=user.is_active,
        must_change_password=user.must_change_password,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


def _out(session: SessionDep, user: User) -> UserOut:
    unit = session.get(Unit, user.unit_id)
    assert unit is not None
    group = session.get(LearnerGroup, user.group_id) if user.group_id else None
    return user_out(user, unit, group)


@router.get("/users", response_model=UserPage)
def list_users(
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    unit_id: Id | None = None,
    group_id: Id | None = None,
    role: Role | None = None,
    active: bool | None = None,
    level: Annotated[int | None, Query(ge=1, le=20)] = None,
    activity: Activity | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> UserPage:
    """Accounts in the caller's subtree. `level`: the level a learner is working on;
    `activity`: `7d` / `30d` (studied in the last 7 / 30 days), `inactive30` (studied
    before, not in the last 30 days), `never`."""
    rows, total = service.list_users(
        session,
        actor=principal,
        q=q,
        unit_id=unit_id,
        group_id=group_id,
        role=role,
        active=active,
        level=level,
        activity=activity,
        today=local_day(utcnow(), settings.tz),
        page=page,
        per_page=per_page,
    )
    return UserPage(items=[user_out(*r) for r in rows], total=total, page=page, per_page=per_page)


@router.post(
    "/users",
    response_model=UserCreatedOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(409),
)
def create_user(
    body: UserCreateIn, principal: AdminOrUnitAdmin, session: SessionDep
) -> UserCreatedOut:
    user, password = service.create_account(
        session,
        actor=principal,
        full_name=body.full_name,
        phone=body.phone,
        email=body.email,
        unit_id=body.unit_id,
        group_id=body.group_id,
        role=body.role,
    )
    return UserCreatedOut(user=_out(session, user), temporary_password=password)


@router.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: Id, principal: AdminOrUnitAdmin, session: SessionDep) -> UserOut:
    user, unit = service.get_user_in_scope(session, principal, user_id)
    group = session.get(LearnerGroup, user.group_id) if user.group_id else None
    return user_out(user, unit, group)


@router.patch("/users/{user_id}", response_model=UserOut, responses=errors(409))
def update_user(
    user_id: Id, body: UserPatch, principal: AdminOrUnitAdmin, session: SessionDep
) -> UserOut:
    user = service.update_account(
        session, actor=principal, user_id=user_id, changes=body.model_dump(exclude_unset=True)
    )
    return _out(session, user)


@router.post("/users/{user_id}/deactivate", response_model=UserOut, responses=errors(409))
def deactivate_user(user_id: Id, principal: AdminOrUnitAdmin, session: SessionDep) -> UserOut:
    return _out(
        session, service.set_active(session, actor=principal, user_id=user_id, active=False)
    )


@router.post("/users/{user_id}/activate", response_model=UserOut, responses=errors(409))
def activate_user(user_id: Id, principal: AdminOrUnitAdmin, session: SessionDep) -> UserOut:
    return _out(session, service.set_active(session, actor=principal, user_id=user_id, active=True))


@router.post("/users/{user_id}/reset-password", response_model=ResetOut, responses=errors(409))
def reset_password(
    user_id: Id,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    body: ResetIn | None = None,
) -> ResetOut:
    result = service.reset_password(
        session,
        actor=principal,
        user_id=user_id,
        method=(body or ResetIn()).method,
        settings=settings,
    )
    return ResetOut.model_validate(result)


@router.post(
    "/users/{user_id}/levels/{level_number}/unlock", response_model=UnlockOut, responses=errors(409)
)
def unlock_level(
    user_id: Id,
    level_number: Annotated[int, Path(ge=1, le=20)],
    principal: AdminOrUnitAdmin,
    session: SessionDep,
) -> UnlockOut:
    """Open a level for a learner before the previous level is completed (lessons inside it
    still open in order)."""
    created = service.unlock_level(
        session, actor=principal, user_id=user_id, level_number=level_number
    )
    return UnlockOut(user_id=user_id, level=level_number, created=created)
