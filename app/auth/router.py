"""JSON API for accounts: register, sign in, refresh, sign out, me, password."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, status

from app.auth import service
from app.auth.dependencies import (
    LimiterDep,
    Public,
    SettingsDep,
    SignedInPendingPassword,
    client_ip,
)
from app.auth.schemas import (
    ChangePasswordIn,
    GroupBrief,
    LoginIn,
    LogoutIn,
    MeOut,
    RefreshIn,
    RegisterIn,
    ResetWithTokenIn,
    TokenPair,
    UnitBrief,
)
from app.db import SessionDep
from app.models import LearnerGroup, Unit, User
from app.openapi import errors

router = APIRouter(tags=["auth"])


def _pair(tokens: service.IssuedTokens) -> TokenPair:
    return TokenPair(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
        must_change_password=tokens.must_change_password,
    )


def me_out(session: SessionDep, user: User) -> MeOut:
    unit = session.get(Unit, user.unit_id)
    group = session.get(LearnerGroup, user.group_id) if user.group_id else None
    assert unit is not None
    return MeOut(
        id=user.id,
        full_name=user.full_name,
        phone=user.phone,
        email=user.email,
        role=user.role,
        unit=UnitBrief.model_validate(unit),
        group=GroupBrief.model_validate(group) if group else None,
        must_change_password=user.must_change_password,
        created_at=user.created_at,
    )


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenPair,
    dependencies=[Depends(Public())],
    responses=errors(409),
)
def register(
    body: RegisterIn,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> TokenPair:
    """Sign up and sign in. Limited per client address and per unit (429 with Retry-After);
    a phone number or e-mail that cannot be used gets one message that does not say whether
    it is registered (409)."""
    user = service.register(
        session,
        full_name=body.full_name,
        phone=body.phone,
        email=body.email,
        password=body.password,
        unit_id=body.unit_id,
        group_id=body.group_id,
        client_ip=client_ip(request),
        limiter=limiter,
        settings=settings,
    )
    tokens = service.start_session(
        session, user=user, settings=settings, user_agent=request.headers.get("user-agent", "")
    )
    return _pair(tokens)


@router.post("/auth/login", response_model=TokenPair, dependencies=[Depends(Public())])
def login(
    body: LoginIn,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> TokenPair:
    user = service.authenticate(
        session,
        identifier=body.identifier,
        password=body.password,
        client_ip=client_ip(request),
        limiter=limiter,
        settings=settings,
    )
    tokens = service.start_session(
        session, user=user, settings=settings, user_agent=request.headers.get("user-agent", "")
    )
    return _pair(tokens)


@router.post("/auth/refresh", response_model=TokenPair, dependencies=[Depends(Public())])
def refresh(body: RefreshIn, session: SessionDep, settings: SettingsDep) -> TokenPair:
    return _pair(service.refresh_session(session, token=body.refresh_token, settings=settings))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(
    principal: SignedInPendingPassword, session: SessionDep, body: LogoutIn | None = None
) -> None:
    service.logout(session, auth=principal.auth, everywhere=bool(body and body.everywhere))


@router.post("/auth/password", response_model=TokenPair)
def change_password(
    body: ChangePasswordIn,
    principal: SignedInPendingPassword,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> TokenPair:
    """Change the password; every session ends and a fresh one is returned for this device."""
    service.change_password(
        session,
        user=principal.user,
        current_password=body.current_password,
        new_password=body.new_password,
    )
    tokens = service.start_session(
        session,
        user=principal.user,
        settings=settings,
        user_agent=request.headers.get("user-agent", ""),
    )
    return _pair(tokens)


@router.post(
    "/auth/password-reset", status_code=status.HTTP_204_NO_CONTENT, dependencies=[Depends(Public())]
)
def reset_with_token(body: ResetWithTokenIn, session: SessionDep) -> None:
    """Set a new password with a one-time link an administrator gave."""
    service.reset_with_token(session, token=body.token, new_password=body.new_password)


@router.get("/me", response_model=MeOut)
def me(principal: SignedInPendingPassword, session: SessionDep) -> MeOut:
    return me_out(session, principal.user)
