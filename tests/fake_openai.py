"""A local HTTP server that speaks the OpenAI chat-completions protocol and replays scripted
answers: good grades, broken JSON, refusals, truncation, 429s, 500s, slow answers. With an
empty script it answers a valid grade for whatever rubric it is asked about."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.browser import free_port


@dataclass
class Reply:
    status: int = 200
    content: str | None = None  # None: a valid grade for the rubric asked about
    finish_reason: str = "stop"
    refusal: str | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    error: str = "scripted error"
    band: int = 2  # for generated grades
    usage: tuple[int, int] = (900, 120)


def criteria_ids(request: dict[str, Any]) -> list[str]:
    fmt = request.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema")
    if schema:
        return schema["properties"]["criteria"]["items"]["properties"]["id"]["enum"]
    text = " ".join(str(m.get("content")) for m in request["messages"])
    return list(dict.fromkeys(re.findall(r"Tiêu chí `([a-z0-9_-]+)`", text)))


def grade_json(ids: list[str], band: int, confidence: float = 0.9) -> str:
    return json.dumps(
        {
            "criteria": [
                {"id": i, "score": band, "comment": f"Nhận xét cho tiêu chí {i}: làm khá tốt."}
                for i in ids
            ],
            "overall_comment": "Bài làm đúng hướng; hãy thêm ví dụ cụ thể ở nơi bạn sống.",
            "confidence": confidence,
        },
        ensure_ascii=False,
    )


class FakeOpenAI:
    def __init__(self, *, default_delay: float = 0.0, default_band: int = 2) -> None:
        self.script: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.default = Reply(delay=default_delay, band=default_band)
        self._lock = threading.Lock()
        self.url = ""

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    def _next(self) -> Reply:
        with self._lock:
            return self.script.popleft() if self.script else self.default

    async def completions(self, request: Request) -> JSONResponse:
        body = await request.json()
        with self._lock:
            self.requests.append(body)
        reply = self._next()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status != 200:
            return JSONResponse(
                {"error": {"message": reply.error, "type": "server_error", "code": None}},
                status_code=reply.status,
                headers=reply.headers,
            )
        content = reply.content
        if content is None and reply.refusal is None:
            content = grade_json(criteria_ids(body), reply.band)
        prompt, completion = reply.usage
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": content,
                            "refusal": reply.refusal,
                        },
                        "finish_reason": reply.finish_reason,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        )

    @contextmanager
    def serve(self) -> Iterator[str]:
        app = Starlette(routes=[Route("/v1/chat/completions", self.completions, methods=["POST"])])
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", backlog=2048)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port}/v1"
        try:
            yield self.url
        finally:
            server.should_exit = True
            thread.join(10)


def main() -> None:
    """Serve a fake endpoint in its own process: python -m tests.fake_openai PORT DELAY"""
    import sys

    port, delay = int(sys.argv[1]), float(sys.argv[2])
    fake = FakeOpenAI(default_delay=delay)
    app = Starlette(routes=[Route("/v1/chat/completions", fake.completions, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=2048)


if __name__ == "__main__":
    main()
