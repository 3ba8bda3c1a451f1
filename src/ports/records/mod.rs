//! The records port: persons and faces, embeddings included. This is the
//! source of truth; the vector index is rebuilt from it.

mod mysql;
mod queries;
mod rows;
mod schema;
mod sqlite;

pub use self::{mysql::MysqlRecords, sqlite::SqliteRecords};

use async_trait::async_trait;
use futures::future::BoxFuture;

use crate::{
    domain::{Collection, Face, Person},
    error::Result,
};

/// Work that must succeed before a transaction commits (the vector index
/// write); its failure rolls the transaction back. It receives the ids of the
/// faces the transaction touched.
pub type BeforeCommit<'a> = Box<dyn FnOnce(Vec<Face>) -> BoxFuture<'a, Result<()>> + Send + 'a>;

#[async_trait]
pub trait Records: Send + Sync + 'static {
    /// Fails with `CollectionExists` when the name is taken.
    async fn create_collection(&self, collection: &Collection) -> Result<()>;

    async fn collection(&self, name: &str) -> Result<Option<Collection>>;

    /// Every collection, by name, with its person count.
    async fn collections(&self) -> Result<Vec<Collection>>;

    /// Deletes the collection; with `delete_persons` also its persons and
    /// faces, otherwise only when it has none (`CollectionNotEmpty`). `None`
    /// when there is no such collection; else the ids of the persons deleted.
    /// `before_commit` gets the deleted faces.
    async fn delete_collection(
        &self,
        name: &str,
        delete_persons: bool,
        before_commit: BeforeCommit<'_>,
    ) -> Result<Option<Vec<String>>>;

    /// Fails with `ExternalIdTaken` when another person of the collection has
    /// the external id, `CollectionNotFound` when the collection is gone.
    async fn create_person(&self, person: &Person) -> Result<()>;

    async fn person(&self, id: &str) -> Result<Option<Person>>;

    /// The persons that exist among `ids`, in no particular order.
    async fn persons(&self, ids: &[String]) -> Result<Vec<Person>>;

    /// Up to `limit` persons of the collection with ids greater than `after`,
    /// in id order.
    async fn list_persons(
        &self,
        collection: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Person>>;

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

    /// The ids among `ids` that have a face row.
    async fn existing_faces(&self, ids: &[String]) -> Result<Vec<String>>;

    /// The server the records live on, for health reports; `None` for a
    /// database in process.
    fn backend(&self) -> Option<&'static str> {
        None
    }

    /// Fails while the database cannot be used.
    async fn check(&self) -> Result<()> {
        Ok(())
    }
}
