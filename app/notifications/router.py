"""JSON API: my notifications and marking them read."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.auth.dependencies import SignedIn
from app.core.ids import Id
from app.core.schemas import JsonIn
from app.db import SessionDep
from app.models import Notification, utcnow
from app.notifications import service

router = APIRouter(tags=["notifications"])


class NotificationOut(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    link: str
    created_at: datetime
    read: bool


class NotificationsOut(BaseModel):
    unread: int
    items: list[NotificationOut]


class ReadIn(JsonIn):
    model_config = ConfigDict(extra="forbid")

    ids: list[Id] | None = Field(default=None, max_length=200, description="all when absent")


class ReadOut(BaseModel):
    marked: int
    unread: int


def notification_out(note: Notification) -> NotificationOut:
    return NotificationOut(
        id=note.id,
        kind=note.kind,
        title=note.title,
        body=note.body,
        link=note.link,
        created_at=note.created_at,
        read=note.read_at is not None,
    )


@router.get("/notifications", response_model=NotificationsOut)
def my_notifications(
    principal: SignedIn,
    session: SessionDep,
    before: Id | None = None,
) -> NotificationsOut:
    """The newest first, 30 at a time (`before` pages back), and the unread count."""
    user_id = principal.user.id
    return NotificationsOut(
        unread=service.unread_count(session, user_id),
        items=[notification_out(n) for n in service.recent(session, user_id, before_id=before)],
    )


@router.post("/notifications/read", response_model=ReadOut)
def read_notifications(body: ReadIn, principal: SignedIn, session: SessionDep) -> ReadOut:
    user_id = principal.user.id
    marked = service.mark_read(session, user_id, now=utcnow(), ids=body.ids)
    return ReadOut(marked=marked, unread=service.unread_count(session, user_id))
