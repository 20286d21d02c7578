"""The one exception the HTTP ingest endpoints raise to refuse a request: a status, a message, headers.

It is a Starlette `HTTPException`, so the app's handler answers it as `{"error": message}` with its
status and headers, exactly like `api.errors.ApiError`, without `ingest` importing `api`.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException


class RequestRefused(HTTPException):
    """A request refused with `status` (4xx a client fault, 429/503 a temporary refusal) and `message`."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers or {})
        self.message = message

    @property
    def status(self) -> int:
        """The HTTP status of the answer."""
        return self.status_code
