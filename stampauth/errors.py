"""Domain errors.  The gRPC layer maps each class to one status code in one place
(``stampauth.server.errors``); the library itself never imports grpc.

Every message says what is wrong and what to do about it.  ``field`` names the request
field at fault (dotted path, as in a proto) so it can be reported as a BadRequest violation.
"""

from __future__ import annotations


class StampAuthError(Exception):
    """Base class of every error the library raises on purpose."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def with_field(self, field: str) -> "StampAuthError":
        """Same error, attributed to ``field`` (prefixing any field it already names)."""
        self.field = f"{field}.{self.field}" if self.field else field
        return self


class InvalidInput(StampAuthError):
    """The caller sent something unusable: bad image bytes, out-of-range option... (INVALID_ARGUMENT)."""


class NotFound(StampAuthError):
    """An identity or specimen that does not exist (NOT_FOUND)."""


class AlreadyExists(StampAuthError):
    """Creating something that is already there (ALREADY_EXISTS)."""


class FailedPrecondition(StampAuthError):
    """The request is valid but the system is not in a state to serve it (FAILED_PRECONDITION)."""


class ResourceExhausted(StampAuthError):
    """A size, pixel, page or quota limit was exceeded (RESOURCE_EXHAUSTED)."""


class Unimplemented(StampAuthError):
    """A capability that this version does not provide yet (UNIMPLEMENTED)."""


class Unavailable(StampAuthError):
    """The server is starting or stopping; retry shortly (UNAVAILABLE)."""


class Unauthenticated(StampAuthError):
    """No valid credentials were sent (UNAUTHENTICATED)."""


class PermissionDenied(StampAuthError):
    """The credentials are valid but lack the role the method needs (PERMISSION_DENIED)."""


class Cancelled(StampAuthError):
    """The caller cancelled the call; its work stopped (CANCELLED)."""


class DeadlineExceeded(StampAuthError):
    """The call's deadline passed; its work stopped (DEADLINE_EXCEEDED)."""
