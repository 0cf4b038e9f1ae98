"""Hand a just-saved submission to the grading engine once the request's transaction has
committed (as a background task, which runs after the response)."""

from __future__ import annotations

from fastapi import BackgroundTasks, Request


async def _kick(request: Request, submission_id: int) -> None:
    engine = request.app.state.grading
    if engine is not None:
        await engine.kick(submission_id)


def grade_after_commit(request: Request, background: BackgroundTasks, submission_id: int) -> None:
    background.add_task(_kick, request, submission_id)
