//! The rows of both databases and their conversions to the domain, and how
//! database errors become facebank's.

use diesel::{prelude::*, result::DatabaseErrorKind};

use super::schema::{collections, faces, persons};
use crate::{
    domain::{Collection, Face, ModelSpec, Person},
    error::{Error, Reason, Refusal, Result},
    pipeline::Rect,
};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = persons, check_for_backend(diesel::sqlite::Sqlite, diesel::mysql::Mysql), treat_none_as_null = true)]
pub(super) struct PersonRow {
    pub(super) id: String,
    pub(super) external_id: Option<String>,
    pub(super) name: String,
    pub(super) birthdate: String,
    pub(super) country: String,
    pub(super) city: String,
    pub(super) title: String,
    pub(super) org: String,
    pub(super) attributes: String,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
    pub(super) collection: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = faces, check_for_backend(diesel::sqlite::Sqlite, diesel::mysql::Mysql))]
pub(super) struct FaceRow {
    pub(super) id: String,
    pub(super) person_id: String,
    pub(super) embedding: Vec<u8>,
    pub(super) model_name: String,
    pub(super) model_version: String,
    pub(super) detection_score: f32,
    pub(super) box_x1: f32,
    pub(super) box_y1: f32,
    pub(super) box_x2: f32,
    pub(super) box_y2: f32,
    pub(super) landmarks: Vec<u8>,
    pub(super) image_sha256: String,
    pub(super) created_at: i64,
    pub(super) collection: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = collections, check_for_backend(diesel::sqlite::Sqlite, diesel::mysql::Mysql))]
pub(super) struct CollectionRow {
    pub(super) name: String,
    pub(super) model_name: String,
    pub(super) model_version: String,
    pub(super) dimension: i32,
    pub(super) metric: String,
    pub(super) threshold: Option<f32>,
    pub(super) created_at: i64,
}

impl From<&Collection> for CollectionRow {
    fn from(c: &Collection) -> Self {
        CollectionRow {
            name: c.name.clone(),
            model_name: c.model.name.clone(),
            model_version: c.model.version.clone(),
            dimension: i32::try_from(c.model.dimension).unwrap_or(i32::MAX),
            metric: c.model.metric.clone(),
            threshold: c.threshold,
            created_at: c.created_at,
        }
    }
}

impl From<CollectionRow> for Collection {
    fn from(r: CollectionRow) -> Self {
        Collection {
            name: r.name,
            model: ModelSpec {
                name: r.model_name,
                version: r.model_version,
                dimension: u32::try_from(r.dimension).unwrap_or(0),
                metric: r.metric,
            },
            threshold: r.threshold,
            created_at: r.created_at,
            person_count: 0,
        }
    }
}

/// A face row naming a person that does not exist (deleted meanwhile).
pub(super) fn face_write_error(error: diesel::result::Error, person_id: &str) -> Error {
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

pub(super) fn person_write_error(error: diesel::result::Error, person: &Person) -> Error {
    match error {
        diesel::result::Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            Error::CollectionNotFound(person.collection.clone())
        }
        diesel::result::Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            Error::ExternalIdTaken(person.external_id.clone().unwrap_or_default())
        }
        other => db_error(other),
    }
}

pub(super) fn db_error(error: diesel::result::Error) -> Error {
    unavailable(error.to_string())
}

pub(super) fn unavailable(message: String) -> Error {
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
            collection: p.collection.clone(),
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
            collection: r.collection,
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
            collection: f.collection.clone(),
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
            collection: r.collection,
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
