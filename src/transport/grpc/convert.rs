//! Conversions between the protobuf messages and the domain types.

use prost_types::Timestamp;

use crate::{
    app::{Match, PersonField, RecognisedFace},
    domain::{Face, Micros, Person},
    error::{Error, Result},
    pipeline::Detection,
    transport::grpc::pb,
};

pub fn timestamp(micros: Micros) -> Timestamp {
    Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    }
}

/// The caller's person fields; output-only fields are ignored.
pub fn person_fields(p: pb::Person) -> Person {
    Person {
        external_id: Some(p.external_id).filter(|id| !id.is_empty()),
        name: p.name,
        birthdate: p.birthdate,
        country: p.country,
        city: p.city,
        title: p.title,
        org: p.org,
        attributes: p.attributes.into_iter().collect(),
        ..Person::default()
    }
}

pub fn person(p: Person) -> pb::Person {
    pb::Person {
        id: p.id,
        external_id: p.external_id.unwrap_or_default(),
        name: p.name,
        birthdate: p.birthdate,
        country: p.country,
        city: p.city,
        title: p.title,
        org: p.org,
        attributes: p.attributes.into_iter().collect(),
        create_time: Some(timestamp(p.created_at)),
        update_time: Some(timestamp(p.updated_at)),
        face_count: i32::try_from(p.face_count).unwrap_or(i32::MAX),
    }
}

pub fn update_mask(mask: Option<prost_types::FieldMask>) -> Result<Vec<PersonField>> {
    mask.map(|m| m.paths)
        .unwrap_or_default()
        .iter()
        .map(|path| {
            PersonField::parse(path).ok_or_else(|| {
                Error::invalid(
                    "update_mask",
                    format!("{path:?} is not a field of a person that can be changed"),
                )
            })
        })
        .collect()
}

pub fn detection(d: &Detection) -> pb::DetectedFace {
    pb::DetectedFace {
        r#box: Some(pb::BoundingBox {
            x: d.rect.x1,
            y: d.rect.y1,
            width: d.rect.width(),
            height: d.rect.height(),
        }),
        landmarks: d
            .landmarks
            .iter()
            .map(|p| pb::Point { x: p[0], y: p[1] })
            .collect(),
        score: d.score,
    }
}

pub fn face(f: Face) -> pb::Face {
    let detected = Detection {
        rect: f.rect,
        landmarks: f.landmarks,
        score: f.detection_score,
    };
    pb::Face {
        id: f.id,
        person_id: f.person_id,
        detection: Some(detection(&detected)),
        image_sha256: f.image_sha256,
        create_time: Some(timestamp(f.created_at)),
    }
}

pub fn recognised_face(f: RecognisedFace) -> pb::RecognizedFace {
    pb::RecognizedFace {
        detection: Some(detection(&f.detection)),
        matches: f.matches.into_iter().map(matched).collect(),
    }
}

fn matched(m: Match) -> pb::Match {
    pb::Match {
        person: Some(person(m.person)),
        face_id: m.face_id,
        similarity: m.similarity,
    }
}

/// The image bytes of a required image field.
pub fn image(field: &str, image: Option<pb::Image>) -> Result<bytes::Bytes> {
    image
        .map(|i| i.content)
        .ok_or_else(|| Error::invalid(field, "is required"))
}
