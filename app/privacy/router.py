"""JSON API: a learner's download of their own data and their request for deletion, and an
administrator's anonymisation of a learner on request (docs/privacy.md)."""

from __future__ import annotations

import json
from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from app.auth.dependencies import AdminOrUnitAdmin, LimiterDep, SettingsDep, SignedIn
from app.core.ids import Id
from app.core.schemas import JsonIn
from app.db import SessionDep
from app.openapi import errors, files
from app.privacy import service

router = APIRouter(tags=["privacy"])


class DeletionIn(JsonIn):
    password: str = Field(min_length=1, max_length=200)


class AnonymisedOut(BaseModel):
    user_id: int
    full_name: str
    sessions_revoked: int
    submissions: int
    images_deleted: int
    questions: int
    answers: int
    certificates: int
    pdfs_deleted: int
    notifications_deleted: int


def data_response(data: dict[str, object]) -> Response:
    """The learner's data as a JSON file to keep (never cached on the way)."""
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        media_type="application/json; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{service.EXPORT_FILENAME}"',
            "Cache-Control": "private, no-store",
        },
    )


def signed_out(request: Request) -> None:
    """After a deletion: no renewed tokens, and the auth cookies cleared (the middleware)."""
    request.state.new_tokens = None
    request.state.clear_auth_cookies = True


@router.get(
    "/me/data",
    responses=files("application/json", description="A JSON file"),
)
def my_data(
    principal: SignedIn, session: SessionDep, settings: SettingsDep, limiter: LimiterDep
) -> Response:
    """Everything the platform keeps about the signed-in person, as a JSON file
    (`bdhai-du-lieu-cua-toi.json`): account, learning, points, badges, streak, certificates,
    mentoring, questions and answers, notifications. At most 5 an hour; audited."""
    data = service.export_for(session, principal=principal, limiter=limiter, settings=settings)
    return data_response(data)


@router.post("/me/deletion", response_model=AnonymisedOut)
def request_deletion(
    body: DeletionIn,
    request: Request,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> AnonymisedOut:
    """Delete the signed-in learner's personal data at once, confirmed with the password:
    the account is anonymised (counts stay true), every session ends. Administrators' own
    accounts are refused (403)."""
    done = service.delete_own_account(
        session, principal=principal, password=body.password, limiter=limiter, settings=settings
    )
    signed_out(request)
    user = principal.user
    return AnonymisedOut(user_id=user.id, full_name=user.full_name, **asdict(done))


@router.post(
    "/admin/users/{user_id}/anonymise", response_model=AnonymisedOut, responses=errors(409)
)
def anonymise_user(
    user_id: Id, principal: AdminOrUnitAdmin, session: SessionDep, settings: SettingsDep
) -> AnonymisedOut:
    """Anonymise a learner's account on their request (inside the administrator's subtree;
    learner and mentor accounts only). Audited with the administrator as the actor."""
    user, done = service.anonymise_by_admin(
        session, actor=principal, user_id=user_id, settings=settings
    )
    return AnonymisedOut(user_id=user.id, full_name=user.full_name, **asdict(done))
