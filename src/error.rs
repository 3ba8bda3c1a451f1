//! The one error type of facebank's domain. The transport maps it to a
//! `tonic::Status` in exactly one place (`transport::grpc::status`).

use std::fmt;

/// A machine-readable reason, sent to clients in the `ErrorInfo` detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    EmptyImage,
    ImageTooLarge,
    UnsupportedImage,
    CorruptImage,
    NoFace,
    MultipleFaces,
    FaceTooSmall,
    LowQualityFace,
    PersonNotFound,
    FaceNotFound,
    ExternalIdTaken,
    InvalidField,
    DuplicateFace,
    PersonHasNoFaces,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::EmptyImage => "EMPTY_IMAGE",
            Reason::ImageTooLarge => "IMAGE_TOO_LARGE",
            Reason::UnsupportedImage => "UNSUPPORTED_IMAGE",
            Reason::CorruptImage => "CORRUPT_IMAGE",
            Reason::NoFace => "NO_FACE",
            Reason::MultipleFaces => "MULTIPLE_FACES",
            Reason::FaceTooSmall => "FACE_TOO_SMALL",
            Reason::LowQualityFace => "LOW_QUALITY_FACE",
            Reason::PersonNotFound => "PERSON_NOT_FOUND",
            Reason::FaceNotFound => "FACE_NOT_FOUND",
            Reason::ExternalIdTaken => "EXTERNAL_ID_TAKEN",
            Reason::InvalidField => "INVALID_FIELD",
            Reason::DuplicateFace => "DUPLICATE_FACE",
            Reason::PersonHasNoFaces => "PERSON_HAS_NO_FACES",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One refused image or face: why, and a sentence for people.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub reason: Reason,
    pub message: String,
}

impl Refusal {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Refusal {
            reason,
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller sent an image that cannot be used, in the named field.
    #[error("{}", .refusal.message)]
    BadImage {
        field: &'static str,
        refusal: Refusal,
    },

    /// A request field is missing or malformed.
    #[error("invalid {field}: {message}")]
    InvalidField { field: String, message: String },

    /// Every image of a registration was refused; `refusals` holds one entry per
    /// image, in request order.
    #[error("no face was registered: {}", summarise(.refusals))]
    NothingRegistered { refusals: Vec<(usize, Refusal)> },

    #[error("person {0} does not exist")]
    PersonNotFound(String),

    /// The person exists, but in another collection than the call names.
    #[error("person {id} is not in collection {collection:?}")]
    PersonNotInCollection { id: String, collection: String },

    #[error("face {0} does not exist")]
    FaceNotFound(String),

    #[error("person {0} has no registered faces")]
    PersonHasNoFaces(String),

    #[error("external id {0:?} is already used by another person")]
    ExternalIdTaken(String),

    #[error("collection {0:?} does not exist")]
    CollectionNotFound(String),

    #[error("collection {0:?} already exists")]
    CollectionExists(String),

    #[error(
        "collection {name:?} holds {persons} {}; set delete_persons to delete {} with it",
        if *.persons == 1 { "person" } else { "persons" },
        if *.persons == 1 { "the person" } else { "them" }
    )]
    CollectionNotEmpty { name: String, persons: usize },

    /// A collection pinned to a model other than the one this server runs,
    /// or a request that names another model.
    #[error("{0}")]
    ModelMismatch(String),

    /// A stream went past one of its configured limits.
    #[error("{0}")]
    LimitExceeded(String),

    /// The caller's stream broke off or was malformed at the transport level.
    #[error("the request stream failed: {0}")]
    StreamFailed(String),

    /// A backend (database, vector index, inference engine) could not be reached
    /// or is overloaded; the call may succeed when retried.
    #[error("{backend} is unavailable: {message}")]
    Unavailable {
        backend: &'static str,
        message: String,
    },

    /// A bug or a broken installation: never caused by the caller's input.
    #[error("internal error: {0}")]
    Internal(String),
}

fn summarise(refusals: &[(usize, Refusal)]) -> String {
    refusals
        .iter()
        .map(|(index, r)| format!("image {index}: {}", r.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    pub fn bad_image(reason: Reason, message: impl Into<String>) -> Self {
        Error::BadImage {
            field: "image",
            refusal: Refusal::new(reason, message),
        }
    }

    /// The same error, blamed on another request field.
    pub fn in_field(self, name: &'static str) -> Self {
        match self {
            Error::BadImage { refusal, .. } => Error::BadImage {
                field: name,
                refusal,
            },
            other => other,
        }
    }

    /// The same error, said of one frame of a stream: its message names the
    /// frame by its position and id.
    pub fn in_frame(self, index: u64, frame_id: &str) -> Self {
        let at = if frame_id.is_empty() {
            format!("frame {index}")
        } else {
            format!("frame {index} ({frame_id:?})")
        };
        match self {
            Error::BadImage { field, refusal } => Error::BadImage {
                field,
                refusal: Refusal::new(refusal.reason, format!("{at}: {}", refusal.message)),
            },
            Error::InvalidField { field, message } => Error::InvalidField {
                field,
                message: format!("{at}: {message}"),
            },
            other => other,
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn internal(error: impl fmt::Display) -> Self {
        Error::Internal(error.to_string())
    }

    /// The machine-readable reason a client sees.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::BadImage { refusal, .. } => refusal.reason.as_str(),
            Error::InvalidField { .. } => Reason::InvalidField.as_str(),
            Error::NothingRegistered { refusals } => refusals
                .first()
                .map_or("NO_FACE", |(_, r)| r.reason.as_str()),
            Error::PersonNotFound(_) | Error::PersonNotInCollection { .. } => {
                Reason::PersonNotFound.as_str()
            }
            Error::FaceNotFound(_) => Reason::FaceNotFound.as_str(),
            Error::PersonHasNoFaces(_) => Reason::PersonHasNoFaces.as_str(),
            Error::ExternalIdTaken(_) => Reason::ExternalIdTaken.as_str(),
            Error::CollectionNotFound(_) => "COLLECTION_NOT_FOUND",
            Error::CollectionExists(_) => "COLLECTION_EXISTS",
            Error::CollectionNotEmpty { .. } => "COLLECTION_NOT_EMPTY",
            Error::ModelMismatch(_) => "MODEL_MISMATCH",
            Error::LimitExceeded(_) => "STREAM_LIMIT",
            Error::StreamFailed(_) => "STREAM_FAILED",
            Error::Unavailable { .. } => "BACKEND_UNAVAILABLE",
            Error::Internal(_) => "INTERNAL",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn a_collection_of_one_person_is_spoken_of_in_the_singular() {
        let one = Error::CollectionNotEmpty {
            name: "staff".into(),
            persons: 1,
        };
        assert_eq!(
            one.to_string(),
            "collection \"staff\" holds 1 person; set delete_persons to delete the person with it"
        );
    }
}
