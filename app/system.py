"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.auth.dependencies import Public
from app.migrations import current_revision, head_revision

router = APIRouter(tags=["system"])


@router.get("/healthz", dependencies=[Depends(Public())])
def healthz() -> dict[str, str]:
    """The process is up (no dependencies checked)."""
    return {"status": "ok"}


@router.get("/readyz", dependencies=[Depends(Public())])
def readyz(request: Request) -> JSONResponse:
    """Ready to serve: the database answers and its schema is at the newest migration."""
    engine = request.app.state.engine
    try:
        with engine.connect().execution_options(read_only=True) as conn:
            conn.execute(text("SELECT 1"))
            current = current_revision(conn)
    except Exception:
        return JSONResponse(
            {
                "status": "unavailable",
                "database": "unreachable",
                "detail": "Không kết nối được cơ sở dữ liệu.",
            },
            status_code=503,
        )
    head = head_revision()
    if current != head:
        return JSONResponse(
            {
                "status": "unavailable",
                "database": "ok",
                "migration": current,
                "head": head,
                "detail": "Cơ sở dữ liệu chưa được nâng cấp lên phiên bản mới nhất.",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "ok", "migration": current})
