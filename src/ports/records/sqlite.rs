//! Records in SQLite through Diesel: the embedded default. One connection
//! serialises access, which is what SQLite does with writers anyway; each
//! statement runs on the blocking pool through diesel-async's wrapper.

use std::path::Path;

use diesel::{connection::SimpleConnection, prelude::*, sqlite::SqliteConnection};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use tokio::sync::{Mutex, MutexGuard};

use super::rows::{db_error, unavailable};
use crate::error::{Error, Result};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

type Conn = SyncConnectionWrapper<SqliteConnection>;

pub struct SqliteRecords {
    conn: Mutex<Conn>,
}

impl SqliteRecords {
    /// Opens (creating if needed) the database file and applies pending
    /// migrations.
    pub fn open(path: &Path) -> Result<Self> {
        let url = path
            .to_str()
            .ok_or_else(|| Error::invalid("data_dir", "the path is not UTF-8"))?;
        let mut conn = SqliteConnection::establish(url).map_err(|e| unavailable(e.to_string()))?;
        conn.batch_execute(
            // The wait first: another process (a running server) may hold
            // the lock that switching the journal mode needs.
            "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(db_error)?;
        conn.run_pending_migrations(MIGRATIONS)
            .map_err(|e| Error::Internal(format!("cannot migrate {url}: {e}")))?;
        Ok(SqliteRecords {
            conn: Mutex::new(SyncConnectionWrapper::new(conn)),
        })
    }

    async fn conn(&self) -> Result<MutexGuard<'_, Conn>> {
        Ok(self.conn.lock().await)
    }
}

super::queries::diesel_records!(SqliteRecords, super::Conn, diesel::sqlite::Sqlite);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{Collection, Face, Person, DEFAULT_COLLECTION},
        error::Error,
        pipeline::Rect,
        ports::records::Records,
    };

    fn face_of(person_id: &str) -> Face {
        Face {
            id: crate::domain::new_id(),
            person_id: person_id.to_string(),
            collection: DEFAULT_COLLECTION.into(),
            embedding: vec![1.0, 0.0],
            model_name: "m".into(),
            model_version: "1".into(),
            detection_score: 0.99,
            rect: Rect {
                x1: 0.0,
                y1: 0.0,
                x2: 10.0,
                y2: 10.0,
            },
            landmarks: [[1.0, 2.0]; 5],
            image_sha256: "ab".into(),
            created_at: 1,
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn faces_of_a_person_deleted_meanwhile_are_person_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let records = SqliteRecords::open(&dir.path().join("db.sqlite3")).unwrap();
        let gone = crate::domain::new_id();

        let stored = records
            .add_faces(
                None,
                &[face_of(&gone)],
                Box::new(|_| Box::pin(async { Ok(()) })),
            )
            .await;

        assert!(matches!(stored, Err(Error::PersonNotFound(id)) if id == gone));
        assert!(records.faces_of(&gone).await.unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failed_vector_write_rolls_the_rows_back() {
        let dir = tempfile::tempdir().unwrap();
        let records = SqliteRecords::open(&dir.path().join("db.sqlite3")).unwrap();
        let person = Person {
            id: crate::domain::new_id(),
            collection: DEFAULT_COLLECTION.into(),
            ..Person::default()
        };

        let stored = records
            .add_faces(
                Some(&person),
                &[face_of(&person.id)],
                Box::new(|_| {
                    Box::pin(async {
                        Err(Error::Unavailable {
                            backend: "index",
                            message: "down".into(),
                        })
                    })
                }),
            )
            .await;

        assert!(matches!(stored, Err(Error::Unavailable { .. })));
        assert!(
            records.person(&person.id).await.unwrap().is_none(),
            "no orphan person row"
        );
        assert!(
            records.faces_of(&person.id).await.unwrap().is_empty(),
            "no orphan face row"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_collections_migration_keeps_existing_persons_and_faces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        {
            // A database as the two migrations before collections left it.
            let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
            conn.batch_execute("PRAGMA foreign_keys = ON;").unwrap();
            conn.run_next_migration(MIGRATIONS).unwrap();
            conn.run_next_migration(MIGRATIONS).unwrap();
            conn.batch_execute(
                "INSERT INTO persons VALUES ('p1', 'ext-1', 'Ada', '', '', '', '', '', '{}', 1, 1);
                 INSERT INTO faces VALUES ('f1', 'p1', x'0000803F', 'm', '1', 0.9,
                     0, 0, 10, 10, zeroblob(40), 'ab', 1);",
            )
            .unwrap();
        }

        let records = SqliteRecords::open(&path).unwrap();
        let person = records.person("p1").await.unwrap().unwrap();
        assert_eq!(person.collection, DEFAULT_COLLECTION);
        assert_eq!((person.name.as_str(), person.face_count), ("Ada", 1));
        let faces = records.faces_of("p1").await.unwrap();
        assert_eq!(faces[0].collection, DEFAULT_COLLECTION);
        assert_eq!(faces[0].embedding, vec![1.0]);
        let collections = records.collections().await.unwrap();
        assert_eq!(collections.len(), 1);
        assert_eq!(collections[0].person_count, 1);
        assert_eq!(collections[0].model.dimension, 128);

        // External ids are now unique within a collection only.
        let elsewhere = Collection {
            name: "other".into(),
            ..collections[0].clone()
        };
        records.create_collection(&elsewhere).await.unwrap();
        let twin = Person {
            id: "p2".into(),
            collection: "other".into(),
            external_id: Some("ext-1".into()),
            ..Person::default()
        };
        records.create_person(&twin).await.unwrap();
        let clash = Person {
            id: "p3".into(),
            ..twin.clone()
        };
        assert!(matches!(
            records.create_person(&clash).await,
            Err(Error::ExternalIdTaken(_))
        ));
        // A face cascade still works after the table rebuild.
        records
            .delete_person("p1", Box::new(|_| Box::pin(async { Ok(()) })))
            .await
            .unwrap();
        assert!(records.faces_of("p1").await.unwrap().is_empty());
    }
}
