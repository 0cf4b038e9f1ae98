"""One error type for expected failures, rendered as a Vietnamese message and a 4xx."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """An expected failure: `message` is shown to the person as it is (Vietnamese)."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        keep_changes: bool = False,
    ) -> None:
        super().__init__(message)
        # True when what the request wrote before failing must still be committed
        # (e.g. revoking a session whose refresh token was replayed).
        self.keep_changes = keep_changes
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        if code is not None:
            self.code = code
        self.headers = headers or {}
        self.extra = extra or {}


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str = "Bạn cần đăng nhập để tiếp tục.", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kw)


class Invalid(AppError):
    status_code = 422
    code = "invalid"


class TooManyRequests(AppError):
    status_code = 429
    code = "rate_limited"


# Vietnamese wording for Pydantic's validation error types.
_PYDANTIC_MESSAGES: dict[str, str] = {
    "missing": "Thiếu thông tin bắt buộc.",
    "string_too_short": "Quá ngắn (tối thiểu {min_length} ký tự).",
    "string_too_long": "Quá dài (tối đa {max_length} ký tự).",
    "string_type": "Phải là chuỗi ký tự.",
    "int_parsing": "Phải là một số nguyên.",
    "int_type": "Phải là một số nguyên.",
    "bool_parsing": "Phải là đúng hoặc sai.",
    "bool_type": "Phải là đúng hoặc sai.",
    "greater_than_equal": "Phải lớn hơn hoặc bằng {ge}.",
    "less_than_equal": "Phải nhỏ hơn hoặc bằng {le}.",
    "greater_than": "Phải lớn hơn {gt}.",
    "less_than": "Phải nhỏ hơn {lt}.",
    "enum": "Giá trị không hợp lệ; chọn một trong: {expected}.",
    "literal_error": "Giá trị không hợp lệ; chọn một trong: {expected}.",
    "json_invalid": "Dữ liệu JSON không đúng định dạng.",
    "model_attributes_type": "Dữ liệu gửi lên phải là một đối tượng JSON.",
    "dict_type": "Dữ liệu gửi lên phải là một đối tượng JSON.",
    "list_type": "Phải là một danh sách.",
    "extra_forbidden": "Trường này không được phép.",
    "string_pattern_mismatch": "Không đúng định dạng.",
    "url_parsing": "Địa chỉ không hợp lệ.",
}


def vietnamese_validation_message(error: dict[str, Any]) -> str:
    """The Vietnamese message for one Pydantic error (our own ValueErrors pass through)."""
    etype = error.get("type", "")
    if etype == "value_error":
        ctx_error = (error.get("ctx") or {}).get("error")
        text = str(ctx_error) if ctx_error else str(error.get("msg", ""))
        if "UploadFile" in text:  # FastAPI's own check of a file field, in English
            return "Phải là một tệp được tải lên."
        return text
    template = _PYDANTIC_MESSAGES.get(etype)
    if template is None:
        return "Giá trị không hợp lệ."
    ctx = dict(error.get("ctx") or {})
    if isinstance(ctx.get("expected"), str):  # Pydantic joins the choices with an English "or"
        ctx["expected"] = ctx["expected"].replace(" or ", " hoặc ")
    try:
        return template.format(**ctx)
    except (KeyError, IndexError):
        return template


FIELD_LABELS: dict[str, str] = {
    "full_name": "Họ và tên",
    "phone": "Số điện thoại",
    "email": "Thư điện tử",
    "identifier": "Số điện thoại hoặc thư điện tử",
    "password": "Mật khẩu",
    "current_password": "Mật khẩu hiện tại",
    "new_password": "Mật khẩu mới",
    "unit_id": "Đơn vị",
    "group_id": "Nhóm học viên",
    "role": "Vai trò",
    "code": "Mã",
    "name": "Tên",
    "type": "Loại đơn vị",
    "parent_id": "Đơn vị cấp trên",
    "refresh_token": "Mã làm mới phiên",
    "file": "Tệp",
}


def field_label(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form", "header")]
    if not parts:
        return ""
    return FIELD_LABELS.get(parts[-1], ".".join(parts))


def form_errors(exc: Any) -> dict[str, str]:
    """Field → Vietnamese message, from a pydantic ValidationError, for re-showing a form."""
    out: dict[str, str] = {}
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        key = loc[-1] if loc else "__all__"
        out.setdefault(key, vietnamese_validation_message(error))
    return out
