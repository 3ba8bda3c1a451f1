"""A Python client for facebank, the face registration and recognition service.

`FacebankClient` covers the common calls; `pb` holds the generated protobuf
messages (`pb.Person`, `pb.Frame`...) and `pb_grpc` the generated stub.
"""

from ._gen.facebank.v1 import facebank_pb2 as pb
from ._gen.facebank.v1 import facebank_pb2_grpc as pb_grpc
from .client import DEFAULT_TARGET, FacebankClient, ImageSource
from .errors import (
    AlreadyExistsError,
    FacebankError,
    FailedPreconditionError,
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
    UnavailableError,
)

__all__ = [
    "DEFAULT_TARGET",
    "AlreadyExistsError",
    "FacebankClient",
    "FacebankError",
    "FailedPreconditionError",
    "FieldViolation",
    "ImageSource",
    "InvalidArgumentError",
    "NotFoundError",
    "ResourceExhaustedError",
    "UnavailableError",
    "pb",
    "pb_grpc",
]
