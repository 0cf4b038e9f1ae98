"""The edge of every HTTP request, before any route sees it.

`RequestGuard` is a pure ASGI middleware that

- refuses a body larger than `max_bytes` (`max_json_bytes` for JSON, which no form of ours
  needs megabytes of, and whose scan for NUL below costs most): early when
  `Content-Length` says so, and otherwise
  on the bytes actually received (chunked bodies have no `Content-Length`): `receive` counts
  them and raises `RequestRefused` (413, with `Connection: close`) as soon as the count
  passes the limit, so the route stops reading and nothing more is buffered;
- refuses the NUL character (U+0000) wherever text comes in: the path, the query string,
  urlencoded forms, the text fields (and part headers) of multipart forms, and JSON string
  values (`\\u0000`). File parts of multipart bodies are binary and may hold NUL bytes.
  PostgreSQL cannot store NUL in text, and no person types one.

Path and query are checked before the app runs; the body is checked as it streams through
`receive`, so the refusal is raised while the route reads its body, before it acts on it.
The responses are the app's own (Vietnamese, JSON for the API, a page otherwise): refusals
raised inside the app go to its exception handler for `RequestRefused`, and the ones made
before it runs are rendered by the `respond` callable the app passes in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MiB = 1024 * 1024
NUL_MESSAGE = (
    "Dữ liệu gửi lên có ký tự NUL (ký tự rỗng, mã 0), không được phép. "
    "Hãy xóa ký tự đó rồi gửi lại."
)


class RequestRefused(HTTPException):
    """A request refused at the edge: `detail` is the Vietnamese message shown."""

    def __init__(
        self, status_code: int, message: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code


def too_large(max_bytes: int) -> RequestRefused:
    mib, kib = max_bytes // MiB, max(1, max_bytes // 1024)
    limit = f"{mib} MB" if mib else f"{kib} KB"
    # Connection: close tells the server to drop the connection rather than read (and
    # discard) the rest of a body nobody will use.
    return RequestRefused(
        413, f"Dữ liệu gửi lên quá lớn (tối đa {limit}).", "too_large", {"Connection": "close"}
    )


def nul_refused() -> RequestRefused:
    return RequestRefused(422, NUL_MESSAGE, "invalid_character")


Responder = Callable[[Request, RequestRefused], Response]


class RequestGuard:
    def __init__(
        self, app: ASGIApp, *, max_bytes: int, max_json_bytes: int, respond: Responder
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_bytes = min(max_json_bytes, max_bytes)
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        scanner = scanner_for(headers.get("content-type"))
        limit = self.max_json_bytes if isinstance(scanner, JsonScanner) else self.max_bytes
        refusal = self._refuse_before_reading(scope, headers, limit)
        if refusal is not None:
            response = self.respond(Request(scope, receive), refusal)
            await response(scope, receive, send)
            return
        received = 0
        refused: RequestRefused | None = None

        async def guarded_receive() -> Message:
            nonlocal received, refused
            if refused is not None:  # a route that caught the refusal and read on
                raise refused
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                refused = too_large(limit)
                raise refused
            if scanner is not None and chunk and scanner.feed(chunk):
                refused = nul_refused()
                raise refused
            return message

        await self.app(scope, guarded_receive, send)

    def _refuse_before_reading(
        self, scope: Scope, headers: Headers, limit: int
    ) -> RequestRefused | None:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return too_large(limit)
        raw_path = scope.get("raw_path") or b""
        query = scope.get("query_string") or b""
        if "\x00" in scope["path"] or has_nul_escaped(raw_path) or has_nul_escaped(query):
            return nul_refused()
        return None


def has_nul_escaped(data: bytes) -> bool:
    """A NUL in URL-encoded bytes: raw, or written %00."""
    return b"\x00" in data or b"%00" in data


class Scanner(Protocol):
    def feed(self, chunk: bytes) -> bool:
        """Read the next chunk of the body; True once a NUL has been seen in text."""
        ...


def scanner_for(content_type: str | None) -> Scanner | None:
    """How to find NUL in text for a body of this type (None: the app does not read it as
    text). FastAPI parses JSON only for JSON content types (strict_content_type)."""
    if content_type is None:
        return JsonScanner()
    kind, options = parse_options_header(content_type)
    if kind == b"application/x-www-form-urlencoded":
        return UrlencodedScanner()
    if kind == b"multipart/form-data":
        boundary = options.get(b"boundary")
        return MultipartScanner(boundary) if boundary else None
    if kind == b"application/json" or (
        kind.startswith(b"application/") and kind.endswith(b"+json")
    ):
        return JsonScanner()
    return None


class UrlencodedScanner:
    """`%00` or a raw NUL anywhere, also across two chunks."""

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> bool:
        data = self._tail + chunk
        self._tail = data[-2:]
        return has_nul_escaped(data)


class JsonScanner:
    """The escape `\\u0000` in a JSON text (the only way JSON writes U+0000), or a raw NUL
    byte (never valid JSON), also when a chunk boundary cuts the escape. `u0000` is an
    escape when an odd run of backslashes comes before it (`\\\\u0000` is a backslash and
    the text "u0000"). Only byte searches, so a large body costs little."""

    def __init__(self) -> None:
        self._carry = b""

    def feed(self, chunk: bytes) -> bool:
        if b"\x00" in chunk:
            return True
        data = self._carry + chunk
        start, found = 0, data.find(b"u0000")
        while found != -1:
            before = data[start:found]
            if (len(before) - len(before.rstrip(b"\\"))) % 2:
                return True
            start, found = found, data.find(b"u0000", found + 1)
        # What may begin an escape that ends in the next chunk: the last run of
        # backslashes (only its parity matters) and the few characters after it.
        last = data.rfind(b"\\")
        if last == -1 or len(data) - last > 6:
            self._carry = b""
        else:
            head = data[: last + 1]
            odd = (len(head) - len(head.rstrip(b"\\"))) % 2
            self._carry = (b"\\" if odd else b"\\\\") + data[last + 1 :]
        return False


class MultipartScanner:
    """NUL in the text fields and part headers of a multipart/form-data body, with the
    parser Starlette itself uses (python-multipart) and Starlette's rule for what is a
    file: a part whose Content-Disposition has a `filename`."""

    def __init__(self, boundary: bytes) -> None:
        self.found = False
        self._broken = False
        self._field = b""
        self._value = b""
        self._is_file = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_part_data": self._part_data,
            },
        )

    def feed(self, chunk: bytes) -> bool:
        if not self._broken and not self.found:
            try:
                self._parser.write(chunk)
            except Exception:  # a malformed body: Starlette's parser refuses it (400)
                self._broken = True
        return self.found

    def _part_begin(self) -> None:
        self._is_file = False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        if b"\x00" in self._field or b"\x00" in self._value:
            self.found = True
        if self._field.lower() == b"content-disposition":
            _, options = parse_options_header(self._value)
            self._is_file = b"filename" in options
        self._field = self._value = b""

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._is_file and data.find(b"\x00", start, end) != -1:
            self.found = True
