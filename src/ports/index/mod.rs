//! The vector index port: derived data, rebuilt from the records at any time.

mod memory;
mod milvus;

pub use self::{memory::MemoryIndex, milvus::MilvusIndex};

use async_trait::async_trait;

use crate::error::Result;

/// One registered face's vector and the person it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    pub face_id: String,
    pub person_id: String,
    pub embedding: Vec<f32>,
}

impl From<crate::domain::Face> for IndexEntry {
    fn from(face: crate::domain::Face) -> Self {
        IndexEntry {
            face_id: face.id,
            person_id: face.person_id,
            embedding: face.embedding,
        }
    }
}

/// A face similar to the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub face_id: String,
    pub person_id: String,
    pub similarity: f32,
}

#[async_trait]
pub trait VectorIndex: Send + Sync + 'static {
    /// Adds the entries, replacing any with the same face id.
    async fn upsert(&self, entries: Vec<IndexEntry>) -> Result<()>;

    /// Removes the faces; unknown ids are ignored.
    async fn delete(&self, face_ids: &[String]) -> Result<()>;

    /// For each query, the `k` most similar faces, best first, with similarity of
    /// at least `min_similarity`.
    async fn search(
        &self,
        queries: &[Vec<f32>],
        k: usize,
        min_similarity: f32,
    ) -> Result<Vec<Vec<Hit>>>;

    /// How many faces the index holds.
    async fn len(&self) -> Result<usize>;

    /// The server the index lives on, for health reports; `None` for an
    /// index in process.
    fn backend(&self) -> Option<&'static str> {
        None
    }
}
