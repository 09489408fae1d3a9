"""Domain errors with a stable ``code``; the API maps them to JSON in one place."""

from __future__ import annotations


class ServiceError(Exception):
    """An error a person can act on. ``status`` is the HTTP status the API answers with."""

    code = "error"
    status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        extra: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class NotFoundError(ServiceError):
    code = "not_found"
    status = 404


class ConflictError(ServiceError):
    code = "conflict"
    status = 409


class CommandError(RuntimeError):
    """A command failed for a reason a person can act on (printed as one line)."""
