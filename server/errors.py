"""Domain exceptions -> gRPC status codes with rich details, in one place.

Each error aborts the call with a clear message; an error that names a request field also
carries a ``google.rpc.BadRequest`` with that field violation.  Unexpected exceptions become
INTERNAL with a request-independent message (the traceback goes to the log, never to the client).
"""

from __future__ import annotations

import functools
import logging

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from stampauth import errors

log = logging.getLogger("stampauth.server")

STATUS_OF = {
    errors.InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unimplemented: grpc.StatusCode.UNIMPLEMENTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.Cancelled: grpc.StatusCode.CANCELLED,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def to_status(error: errors.StampAuthError) -> status_pb2.Status:
    code = STATUS_OF.get(type(error), grpc.StatusCode.INTERNAL)
    status = status_pb2.Status(code=code.value[0], message=error.message)
    if error.field:
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.BadRequest(
            field_violations=[error_details_pb2.BadRequest.FieldViolation(field=error.field, description=error.message)]
        ))
        status.details.append(detail)
    return status


def handle_errors(method):
    """Decorate a servicer method: it runs inside the servicer's ``call`` (authentication, admission, cancellation);
    domain errors abort with their status; nothing else escapes."""

    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            with self.call(method.__name__, context):
                return method(self, request, context)
        except errors.StampAuthError as error:
            status = to_status(error)
            log.info("%s -> %s: %s", method.__name__, STATUS_OF.get(type(error), grpc.StatusCode.INTERNAL).name, error.message)
            context.abort_with_status(rpc_status.to_status(status))
        except Exception:  # noqa: BLE001 - the service must keep serving
            log.exception("%s failed unexpectedly", method.__name__)
            status = status_pb2.Status(code=code_pb2.INTERNAL,
                                       message="internal error; the server logged the details, please report it")
            context.abort_with_status(rpc_status.to_status(status))

    return wrapper
