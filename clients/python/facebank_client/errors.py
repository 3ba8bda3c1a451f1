"""The exceptions a facebank call raises.

Every failed call raises a `FacebankError` (or one of its subclasses, chosen by
the gRPC status code) carrying the code, the server's sentence, and the
`google.rpc.ErrorInfo` reason a program can switch on, such as ``NO_FACE``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class FieldViolation:
    """One entry of the error's `google.rpc.BadRequest`: a field that was wrong."""

    field: str
    description: str


class FacebankError(Exception):
    """A facebank call failed.

    Attributes:
        code: the gRPC status code.
        message: the server's explanation, one sentence.
        reason: the ErrorInfo reason (``NO_FACE``, ``PERSON_NOT_FOUND``, ...);
            None when the server sent no ErrorInfo (for example when the call
            never reached facebank: connection refused, deadline exceeded).
        domain: the ErrorInfo domain, ``facebank.v1`` for facebank's own reasons.
        metadata: the ErrorInfo metadata.
        field_violations: the BadRequest field violations, if any.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str | None = None,
        domain: str | None = None,
        metadata: Mapping[str, str] | None = None,
        field_violations: Sequence[FieldViolation] = (),
    ) -> None:
        super().__init__(f"{code.name}: {message}" + (f" [{reason}]" if reason else ""))
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata: Mapping[str, str] = dict(metadata or {})
        self.field_violations: tuple[FieldViolation, ...] = tuple(field_violations)


class InvalidArgumentError(FacebankError):
    """The request was wrong: a bad image, no usable face, a malformed field."""


class NotFoundError(FacebankError):
    """The person, face or collection named by the request does not exist."""


class AlreadyExistsError(FacebankError):
    """Another person already has the external id, or a collection the name."""


class FailedPreconditionError(FacebankError):
    """The call cannot be done in the current state.

    For example verifying against a person with no faces, or deleting a
    collection that holds persons without `delete_persons`.
    """


class ResourceExhaustedError(FacebankError):
    """A stream went past a server limit."""


class UnavailableError(FacebankError):
    """The server or one of its backends could not be reached; retry later."""


_BY_CODE: dict[grpc.StatusCode, type[FacebankError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
}


def from_rpc_error(error: grpc.RpcError) -> FacebankError:
    """The FacebankError for a failed call, with the rich details decoded."""
    # Errors raised by a call are also its grpc.Call, which holds the trailers.
    call = cast(grpc.Call, error)
    code, message = call.code(), call.details() or ""
    error_class = _BY_CODE.get(code, FacebankError)

    status = rpc_status.from_call(call)
    if status is None:
        return error_class(code, message)

    info = error_details_pb2.ErrorInfo()
    bad_request = error_details_pb2.BadRequest()
    found_info = False
    for detail in status.details:
        if detail.Is(info.DESCRIPTOR):
            detail.Unpack(info)
            found_info = True
        elif detail.Is(bad_request.DESCRIPTOR):
            detail.Unpack(bad_request)

    return error_class(
        code,
        message,
        reason=info.reason if found_info else None,
        domain=info.domain if found_info else None,
        metadata=dict(info.metadata),
        field_violations=[
            FieldViolation(v.field, v.description) for v in bad_request.field_violations
        ],
    )
