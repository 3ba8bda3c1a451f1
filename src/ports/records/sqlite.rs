//! Records in SQLite through Diesel: the embedded default. One connection
//! serialises access, which is what SQLite does with writers anyway; each
//! statement runs on the blocking pool through diesel-async's wrapper.

use std::{collections::HashMap, path::Path};

use async_trait::async_trait;
use diesel::{
    connection::SimpleConnection, prelude::*, result::DatabaseErrorKind, sqlite::SqliteConnection,
};
use diesel_async::{sync_connection_wrapper::SyncConnectionWrapper, AsyncConnection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use tokio::sync::Mutex;

use super::{
    schema::{faces, persons},
    BeforeCommit, Records,
};
use crate::{
    domain::{Face, Person},
    error::{Error, Reason, Refusal, Result},
    pipeline::Rect,
};

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
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
        )
        .map_err(db_error)?;
        conn.run_pending_migrations(MIGRATIONS)
            .map_err(|e| Error::Internal(format!("cannot migrate {url}: {e}")))?;
        Ok(SqliteRecords {
            conn: Mutex::new(SyncConnectionWrapper::new(conn)),
        })
    }
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = persons, check_for_backend(diesel::sqlite::Sqlite), treat_none_as_null = true)]
struct PersonRow {
    id: String,
    external_id: Option<String>,
    name: String,
    birthdate: String,
    country: String,
    city: String,
    title: String,
    org: String,
    attributes: String,
    created_at: i64,
    updated_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = faces, check_for_backend(diesel::sqlite::Sqlite))]
struct FaceRow {
    id: String,
    person_id: String,
    embedding: Vec<u8>,
    model_name: String,
    model_version: String,
    detection_score: f32,
    box_x1: f32,
    box_y1: f32,
    box_x2: f32,
    box_y2: f32,
    landmarks: Vec<u8>,
    image_sha256: String,
    created_at: i64,
}

#[async_trait]
impl Records for SqliteRecords {
    async fn create_person(&self, person: &Person) -> Result<()> {
        let mut conn = self.conn.lock().await;
        insert_person(&mut conn, person).await
    }

    async fn person(&self, id: &str) -> Result<Option<Person>> {
        Ok(self.persons(&[id.to_string()]).await?.pop())
    }

    async fn persons(&self, ids: &[String]) -> Result<Vec<Person>> {
        let mut conn = self.conn.lock().await;
        let rows = persons::table
            .filter(persons::id.eq_any(ids))
            .select(PersonRow::as_select())
            .load(&mut *conn)
            .await
            .map_err(db_error)?;
        with_face_counts(&mut conn, rows).await
    }

    async fn list_persons(&self, after: Option<&str>, limit: usize) -> Result<Vec<Person>> {
        let mut conn = self.conn.lock().await;
        let rows = persons::table
            .filter(persons::id.gt(after.unwrap_or("")))
            .order(persons::id)
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .select(PersonRow::as_select())
            .load(&mut *conn)
            .await
            .map_err(db_error)?;
        with_face_counts(&mut conn, rows).await
    }

    async fn update_person(&self, person: &Person) -> Result<bool> {
        let mut conn = self.conn.lock().await;
        let updated = diesel::update(persons::table.find(&person.id))
            .set(PersonRow::from(person))
            .execute(&mut *conn)
            .await
            .map_err(|e| person_write_error(e, person))?;
        Ok(updated == 1)
    }

    async fn delete_person(
        &self,
        id: &str,
        before_commit: BeforeCommit<'_>,
    ) -> Result<Option<Vec<Face>>> {
        let mut conn = self.conn.lock().await;
        let id = id.to_string();
        conn.transaction::<_, Error, _>(async move |conn| {
            let faces = face_rows(
                conn,
                faces::table.filter(faces::person_id.eq(&id)).into_boxed(),
            )
            .await?;
            diesel::delete(faces::table.filter(faces::person_id.eq(&id)))
                .execute(conn)
                .await
                .map_err(db_error)?;
            let deleted = diesel::delete(persons::table.find(&id))
                .execute(conn)
                .await
                .map_err(db_error)?;
            if deleted == 0 {
                return Ok(None);
            }
            before_commit(faces.clone()).await?;
            Ok(Some(faces))
        })
        .await
    }

    async fn add_faces(
        &self,
        new_person: Option<&Person>,
        faces: &[Face],
        before_commit: BeforeCommit<'_>,
    ) -> Result<()> {
        let mut conn = self.conn.lock().await;
        let rows: Vec<FaceRow> = faces.iter().map(FaceRow::from).collect();
        conn.transaction::<_, Error, _>(async move |conn| {
            if let Some(person) = new_person {
                insert_person(conn, person).await?;
            }
            for row in &rows {
                diesel::insert_into(faces::table)
                    .values(row)
                    .execute(conn)
                    .await
                    .map_err(|e| face_write_error(e, &row.person_id))?;
            }
            before_commit(faces.to_vec()).await
        })
        .await
    }

    async fn faces_of(&self, person_id: &str) -> Result<Vec<Face>> {
        let mut conn = self.conn.lock().await;
        let query = faces::table
            .filter(faces::person_id.eq(person_id))
            .order(faces::id)
            .into_boxed();
        face_rows(&mut conn, query).await
    }

    async fn delete_face(&self, id: &str, before_commit: BeforeCommit<'_>) -> Result<bool> {
        let mut conn = self.conn.lock().await;
        let id = id.to_string();
        conn.transaction::<_, Error, _>(async move |conn| {
            let faces =
                face_rows(conn, faces::table.filter(faces::id.eq(&id)).into_boxed()).await?;
            if faces.is_empty() {
                return Ok(false);
            }
            diesel::delete(faces::table.find(&id))
                .execute(conn)
                .await
                .map_err(db_error)?;
            before_commit(faces).await?;
            Ok(true)
        })
        .await
    }

    async fn faces_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<Face>> {
        let mut conn = self.conn.lock().await;
        let query = faces::table
            .filter(faces::id.gt(after.unwrap_or("").to_string()))
            .order(faces::id)
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .into_boxed();
        face_rows(&mut conn, query).await
    }
}

async fn insert_person(conn: &mut Conn, person: &Person) -> Result<()> {
    diesel::insert_into(persons::table)
        .values(PersonRow::from(person))
        .execute(conn)
        .await
        .map_err(|e| person_write_error(e, person))?;
    Ok(())
}

async fn face_rows(
    conn: &mut Conn,
    query: faces::BoxedQuery<'_, diesel::sqlite::Sqlite>,
) -> Result<Vec<Face>> {
    let rows = query
        .select(FaceRow::as_select())
        .load(conn)
        .await
        .map_err(db_error)?;
    rows.into_iter().map(Face::try_from).collect()
}

async fn with_face_counts(conn: &mut Conn, rows: Vec<PersonRow>) -> Result<Vec<Person>> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let counts: HashMap<String, i64> = faces::table
        .filter(faces::person_id.eq_any(&ids))
        .group_by(faces::person_id)
        .select((faces::person_id, diesel::dsl::count_star()))
        .load::<(String, i64)>(conn)
        .await
        .map_err(db_error)?
        .into_iter()
        .collect();

    rows.into_iter()
        .map(|row| {
            let count = counts.get(&row.id).copied().unwrap_or(0);
            let mut person = Person::try_from(row)?;
            person.face_count = u32::try_from(count).unwrap_or(u32::MAX);
            Ok(person)
        })
        .collect()
}

/// A face row naming a person that does not exist (deleted meanwhile).
fn face_write_error(error: diesel::result::Error, person_id: &str) -> Error {
    match error {
        diesel::result::Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            Error::PersonNotFound(person_id.to_string())
        }
        diesel::result::Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            Error::BadImage {
                field: "images",
                refusal: Refusal::new(
                    Reason::DuplicateFace,
                    "another call registered one of these images for the person meanwhile; nothing was stored",
                ),
            }
        }
        other => db_error(other),
    }
}

fn person_write_error(error: diesel::result::Error, person: &Person) -> Error {
    match error {
        diesel::result::Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            Error::ExternalIdTaken(person.external_id.clone().unwrap_or_default())
        }
        other => db_error(other),
    }
}

fn db_error(error: diesel::result::Error) -> Error {
    unavailable(error.to_string())
}

fn unavailable(message: String) -> Error {
    Error::Unavailable {
        backend: "database",
        message,
    }
}

impl From<diesel::result::Error> for Error {
    fn from(error: diesel::result::Error) -> Self {
        db_error(error)
    }
}

impl From<&Person> for PersonRow {
    fn from(p: &Person) -> Self {
        PersonRow {
            id: p.id.clone(),
            external_id: p.external_id.clone(),
            name: p.name.clone(),
            birthdate: p.birthdate.clone(),
            country: p.country.clone(),
            city: p.city.clone(),
            title: p.title.clone(),
            org: p.org.clone(),
            attributes: serde_json::to_string(&p.attributes).unwrap_or_else(|_| "{}".into()),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

impl TryFrom<PersonRow> for Person {
    type Error = Error;

    fn try_from(r: PersonRow) -> Result<Self> {
        let attributes = serde_json::from_str(&r.attributes).map_err(|e| {
            Error::Internal(format!("person {} has malformed attributes: {e}", r.id))
        })?;
        Ok(Person {
            id: r.id,
            external_id: r.external_id,
            name: r.name,
            birthdate: r.birthdate,
            country: r.country,
            city: r.city,
            title: r.title,
            org: r.org,
            attributes,
            created_at: r.created_at,
            updated_at: r.updated_at,
            face_count: 0,
        })
    }
}

impl From<&Face> for FaceRow {
    fn from(f: &Face) -> Self {
        FaceRow {
            id: f.id.clone(),
            person_id: f.person_id.clone(),
            embedding: to_bytes(&f.embedding),
            model_name: f.model_name.clone(),
            model_version: f.model_version.clone(),
            detection_score: f.detection_score,
            box_x1: f.rect.x1,
            box_y1: f.rect.y1,
            box_x2: f.rect.x2,
            box_y2: f.rect.y2,
            landmarks: to_bytes(f.landmarks.as_flattened()),
            image_sha256: f.image_sha256.clone(),
            created_at: f.created_at,
        }
    }
}

impl TryFrom<FaceRow> for Face {
    type Error = Error;

    fn try_from(r: FaceRow) -> Result<Self> {
        let points = from_bytes(&r.landmarks);
        let landmarks: [[f32; 2]; 5] = std::array::from_fn(|k| {
            [
                points.get(2 * k).copied().unwrap_or(0.0),
                points.get(2 * k + 1).copied().unwrap_or(0.0),
            ]
        });
        if points.len() != 10 || r.embedding.len() % 4 != 0 {
            return Err(Error::Internal(format!(
                "face {} is stored malformed",
                r.id
            )));
        }
        Ok(Face {
            embedding: from_bytes(&r.embedding),
            id: r.id,
            person_id: r.person_id,
            model_name: r.model_name,
            model_version: r.model_version,
            detection_score: r.detection_score,
            rect: Rect {
                x1: r.box_x1,
                y1: r.box_y1,
                x2: r.box_x2,
                y2: r.box_y2,
            },
            landmarks,
            image_sha256: r.image_sha256,
            created_at: r.created_at,
        })
    }
}

fn to_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face_of(person_id: &str) -> Face {
        Face {
            id: crate::domain::new_id(),
            person_id: person_id.to_string(),
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
}
