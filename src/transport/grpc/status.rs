//! The one mapping from facebank's domain error to a gRPC status, with the
//! standard rich error details (`ErrorInfo` with the reason, `BadRequest` with
//! the offending fields).

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::Error;

const DOMAIN: &str = "facebank.v1";

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let code = match &error {
            Error::BadImage { .. }
            | Error::InvalidField { .. }
            | Error::NothingRegistered { .. } => Code::InvalidArgument,
            Error::PersonNotFound(_)
            | Error::PersonNotInCollection { .. }
            | Error::FaceNotFound(_)
            | Error::CollectionNotFound(_) => Code::NotFound,
            Error::PersonHasNoFaces(_)
            | Error::CollectionNotEmpty { .. }
            | Error::ModelMismatch(_) => Code::FailedPrecondition,
            Error::ExternalIdTaken(_) | Error::CollectionExists(_) => Code::AlreadyExists,
            Error::LimitExceeded(_) => Code::ResourceExhausted,
            Error::StreamFailed(_) => Code::Cancelled,
            Error::Unavailable { .. } => Code::Unavailable,
            Error::Internal(_) => Code::Internal,
        };

        let mut details = ErrorDetails::with_error_info(error.reason(), DOMAIN, []);
        match &error {
            Error::InvalidField { field, message } => {
                details.add_bad_request_violation(field.clone(), message.clone());
            }
            Error::BadImage { field, refusal } => {
                details.add_bad_request_violation(*field, refusal.message.clone());
            }
            Error::NothingRegistered { refusals } => {
                for (index, refusal) in refusals {
                    details.add_bad_request_violation(
                        format!("images[{index}]"),
                        format!("{}: {}", refusal.reason, refusal.message),
                    );
                }
            }
            _ => {}
        }
        match &error {
            Error::Internal(message) => tracing::error!(%message, "Internal error"),
            Error::Unavailable { backend, message } => {
                tracing::warn!(backend, %message, "Backend unavailable")
            }
            _ => {}
        }

        Status::with_error_details(code, error.to_string(), details)
    }
}

/// A failed read of the caller's stream (cut off, cancelled, malformed).
impl From<Status> for Error {
    fn from(status: Status) -> Self {
        Error::StreamFailed(format!("{:?}: {}", status.code(), status.message()))
    }
}
