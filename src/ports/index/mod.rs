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
    /// The facebank collection the face belongs to.
    pub collection: String,
    pub embedding: Vec<f32>,
}

impl From<crate::domain::Face> for IndexEntry {
    fn from(face: crate::domain::Face) -> Self {
        IndexEntry {
            face_id: face.id,
            person_id: face.person_id,
            collection: face.collection,
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

/// Vectors kept per facebank collection; a search sees one collection only.
#[async_trait]
pub trait VectorIndex: Send + Sync + 'static {
    /// Makes the collection exist, for vectors of `dimension` values
    /// (nothing when it does).
    async fn create_collection(&self, collection: &str, dimension: usize) -> Result<()>;

    /// Removes the collection and its vectors (nothing when there is none).
    async fn drop_collection(&self, collection: &str) -> Result<()>;

    /// Adds the entries to their collections, replacing any with the same
    /// face id.
    async fn upsert(&self, entries: Vec<IndexEntry>) -> Result<()>;

    /// Removes the collection's faces; unknown ids are ignored.
    async fn delete(&self, collection: &str, face_ids: &[String]) -> Result<()>;

    /// For each query, the `k` most similar faces of the collection, best
    /// first, with similarity of at least `min_similarity`.
    async fn search(
        &self,
        collection: &str,
        queries: &[Vec<f32>],
        k: usize,
        min_similarity: f32,
    ) -> Result<Vec<Vec<Hit>>>;

    /// How many faces the collection holds.
    async fn len(&self, collection: &str) -> Result<usize>;

    /// Up to `limit` face ids of the collection greater than `after`, in
    /// byte order: for comparing the index with the records.
    async fn ids_page(
        &self,
        collection: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>>;

    /// The server the index lives on, for health reports; `None` for an
    /// index in process.
    fn backend(&self) -> Option<&'static str> {
        None
    }

    /// Fails while the index cannot be used.
    async fn check(&self) -> Result<()> {
        Ok(())
    }

    /// Makes a server-side index usable again after it lost its structures
    /// (a server that came back empty): true when it had to re-create them,
    /// and the index must then be loaded again from the records.
    async fn recover(&self) -> Result<bool> {
        Ok(false)
    }
}
