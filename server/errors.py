"""The one error type services raise, and its common kinds.

Handlers never build error responses themselves: ``ApiHandler.write_error``
turns an ``AppError`` into the envelope
``{"error": {"code", "message", "details"}}`` of the API outline.
``code`` is stable English for programs, ``message`` is Chinese for people.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """A refusal the client can understand: HTTP status, stable code, Chinese message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}

    def envelope(self) -> dict[str, Any]:
        """The JSON body sent to the client."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


def bad_request(code: str, message: str, details: dict[str, Any] | None = None) -> AppError:
    """400: the request itself is malformed."""
    return AppError(400, code, message, details)


def unauthorized(message: str = "请先登录", code: str = "not_authenticated") -> AppError:
    """401: no valid credentials."""
    return AppError(401, code, message)


def forbidden(message: str = "无权执行此操作", code: str = "forbidden") -> AppError:
    """403: authenticated but not allowed."""
    return AppError(403, code, message)


def not_found(message: str = "对象不存在", code: str = "not_found") -> AppError:
    """404: missing, or belonging to somebody else (never say which)."""
    return AppError(404, code, message)


def conflict(code: str, message: str, details: dict[str, Any] | None = None) -> AppError:
    """409: the request conflicts with the current state (full, duplicate, wrong status)."""
    return AppError(409, code, message, details)


def too_large(limit_bytes: int) -> AppError:
    """413: the body is over the limit of this endpoint."""
    return AppError(
        413,
        "payload_too_large",
        f"上传内容过大，上限为 {_human_size(limit_bytes)}",
        {"limit_bytes": limit_bytes},
    )


def unsupported_media(message: str, code: str = "unsupported_media_type") -> AppError:
    """415: wrong content type or file type."""
    return AppError(415, code, message)


def validation(
    message: str = "提交的数据有误", fields: dict[str, str] | None = None, code: str = "validation_error"
) -> AppError:
    """422: well-formed but invalid; ``fields`` maps a field path to its Chinese message."""
    return AppError(422, code, message, {"fields": fields or {}})


def throttled(retry_after_seconds: int, message: str = "操作过于频繁，请稍后再试") -> AppError:
    """429 with Retry-After."""
    seconds = max(1, int(retry_after_seconds))
    return AppError(
        429,
        "too_many_requests",
        message,
        {"retry_after": seconds},
        headers={"Retry-After": str(seconds)},
    )


def _human_size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MB"
    if n >= 1024:
        return f"{n / 1024:g} KB"
    return f"{n} 字节"
