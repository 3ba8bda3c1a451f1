//! The records facebank keeps, as the rest of the code sees them.

use std::collections::BTreeMap;

use crate::pipeline::{geometry::Point, Rect};

/// Microseconds since the Unix epoch.
pub type Micros = i64;

pub fn now_micros() -> Micros {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}

/// A new identifier: a UUIDv7, so identifiers sort by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The collection that always exists, used when a call names none.
pub const DEFAULT_COLLECTION: &str = "default";

/// The only way embeddings are compared so far.
pub const COSINE: &str = "cosine";

/// The recognition model a collection's embeddings come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    pub name: String,
    pub version: String,
    pub dimension: u32,
    /// "cosine", the only metric so far.
    pub metric: String,
}

/// A named set of persons, searched on its own, pinned to one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Collection {
    pub name: String,
    pub model: ModelSpec,
    /// The match threshold of searches that give none; `None` means the
    /// server's configured threshold.
    pub threshold: Option<f32>,
    pub created_at: Micros,
    /// Filled in on reads.
    pub person_count: u32,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Person {
    pub id: String,
    /// The collection the person belongs to; never changes.
    pub collection: String,
    pub external_id: Option<String>,
    pub name: String,
    /// YYYY-MM-DD, or empty.
    pub birthdate: String,
    pub country: String,
    pub city: String,
    pub title: String,
    pub org: String,
    pub attributes: BTreeMap<String, String>,
    pub created_at: Micros,
    pub updated_at: Micros,
    /// Filled in on reads.
    pub face_count: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    pub id: String,
    pub person_id: String,
    /// The person's collection.
    pub collection: String,
    pub embedding: Vec<f32>,
    pub model_name: String,
    pub model_version: String,
    pub detection_score: f32,
    pub rect: Rect,
    pub landmarks: [Point; 5],
    /// Hex SHA-256 of the encoded image the face came from.
    pub image_sha256: String,
    pub created_at: Micros,
}
