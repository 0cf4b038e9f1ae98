"""The notifications page behind the bell."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.dependencies import CsrfProtected, SignedIn
from app.db import SessionDep
from app.models import utcnow
from app.notifications import service
from app.templating import redirect, render

router = APIRouter(include_in_schema=False)


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, principal: SignedIn, session: SessionDep) -> Response:
    """The newest 30; opening the page marks them read (the bell empties)."""
    user_id = principal.user.id
    items = service.recent(session, user_id)
    unread = {n.id for n in items if n.read_at is None}
    marked = service.mark_read(session, user_id, now=utcnow(), ids=sorted(unread))
    viewer = request.state._state.get("viewer")
    if viewer is not None:  # the bell on this page already shows them read
        request.state.viewer = viewer.with_unread(max(viewer.unread - marked, 0))
    return render(
        request,
        "notifications/list.html",
        {"items": items, "unread": unread, "section": "notifications"},
    )


@router.post("/notifications/read", dependencies=[CsrfProtected])
def read_all(principal: SignedIn, session: SessionDep) -> Response:
    service.mark_read(session, principal.user.id, now=utcnow())
    return redirect("/notifications")
