//! The records port: persons and faces, embeddings included. This is the
//! source of truth; the vector index is rebuilt from it.

mod schema;
mod sqlite;

pub use self::sqlite::SqliteRecords;

use async_trait::async_trait;
use futures::future::BoxFuture;

use crate::{
    domain::{Face, Person},
    error::Result,
};

/// Work that must succeed before a transaction commits (the vector index
/// write); its failure rolls the transaction back. It receives the ids of the
/// faces the transaction touched.
pub type BeforeCommit<'a> = Box<dyn FnOnce(Vec<Face>) -> BoxFuture<'a, Result<()>> + Send + 'a>;

#[async_trait]
pub trait Records: Send + Sync + 'static {
    /// Fails with `ExternalIdTaken` when another person has the external id.
    async fn create_person(&self, person: &Person) -> Result<()>;

    async fn person(&self, id: &str) -> Result<Option<Person>>;

    /// The persons that exist among `ids`, in no particular order.
    async fn persons(&self, ids: &[String]) -> Result<Vec<Person>>;

    /// Up to `limit` persons with ids greater than `after`, in id order.
    async fn list_persons(&self, after: Option<&str>, limit: usize) -> Result<Vec<Person>>;

    /// Overwrites the stored person with this id; false when there is none.
    async fn update_person(&self, person: &Person) -> Result<bool>;

    /// Deletes the person and their faces; `None` when there is no such person.
    /// `before_commit` gets the deleted faces.
    async fn delete_person(
        &self,
        id: &str,
        before_commit: BeforeCommit<'_>,
    ) -> Result<Option<Vec<Face>>>;

    /// Stores the faces, and first `new_person` when given, in one transaction.
    /// `before_commit` gets the faces.
    async fn add_faces(
        &self,
        new_person: Option<&Person>,
        faces: &[Face],
        before_commit: BeforeCommit<'_>,
    ) -> Result<()>;

    async fn faces_of(&self, person_id: &str) -> Result<Vec<Face>>;

    /// Deletes one face; false when there is no such face.
    async fn delete_face(&self, id: &str, before_commit: BeforeCommit<'_>) -> Result<bool>;

    /// Up to `limit` faces with ids greater than `after`, in id order: for
    /// rebuilding the vector index.
    async fn faces_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<Face>>;
}
