"""One error family for the whole service.

Every error carries a stable ``code`` (for the API and for tests), the HTTP
status the web layer answers with, the CLI exit code, and whether retrying the
same operation later can help. Vendor exceptions are translated into these at
the lowest layer (the backend module) and never leave it.
"""

from __future__ import annotations


class ChartvaultError(Exception):
    """Base error: ``code`` is stable, ``message`` says what to do about it."""

    code = "error"
    http_status = 500
    exit_code = 1
    retryable = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


class ConfigurationError(ChartvaultError):
    """A setting is missing or wrong; the message names the variable."""

    code = "bad_configuration"
    exit_code = 78  # EX_CONFIG


class BadInput(ChartvaultError):
    """The input cannot be processed as given (corrupt, encrypted, too large...)."""

    code = "bad_input"
    http_status = 422
    exit_code = 65  # EX_DATAERR


class NotFound(ChartvaultError):
    code = "not_found"
    http_status = 404
    exit_code = 66  # EX_NOINPUT


class PolicyRefusal(ChartvaultError):
    """Refused by a records policy: retention not expired, legal hold, two-person rule."""

    code = "refused_by_policy"
    http_status = 409
    exit_code = 77  # EX_NOPERM


class PermissionDenied(ChartvaultError):
    code = "forbidden"
    http_status = 403
    exit_code = 77


class Unavailable(ChartvaultError):
    """A server we depend on is unreachable; retrying later can help."""

    code = "unavailable"
    http_status = 503
    exit_code = 75  # EX_TEMPFAIL
    retryable = True
