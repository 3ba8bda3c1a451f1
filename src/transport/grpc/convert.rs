//! Conversions between the protobuf messages and the domain types.

use prost_types::Timestamp;

use crate::{
    app::{
        ClipTrack, FrameInput, LiveFrame, Match, PersonField, RecognisedFace, Registration,
        RegistrationTarget,
    },
    domain::{Collection, Face, Micros, ModelSpec, Person},
    error::{Error, Result},
    pipeline::{Detection, FrameImage},
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
        collection: p.collection,
        ..Person::default()
    }
}

pub fn collection(c: Collection) -> pb::Collection {
    pb::Collection {
        name: c.name,
        model: Some(pb::RecognitionModel {
            name: c.model.name,
            version: c.model.version,
            dimension: i32::try_from(c.model.dimension).unwrap_or(i32::MAX),
            metric: c.model.metric,
        }),
        threshold: c.threshold,
        create_time: Some(timestamp(c.created_at)),
        person_count: i32::try_from(c.person_count).unwrap_or(i32::MAX),
    }
}

/// The model a caller names for a new collection; empty parts mean "the
/// served model's".
pub fn model_spec(m: pb::RecognitionModel) -> Result<ModelSpec> {
    Ok(ModelSpec {
        name: m.name,
        version: m.version,
        dimension: u32::try_from(m.dimension)
            .map_err(|_| Error::invalid("collection.model.dimension", "must not be negative"))?,
        metric: m.metric,
    })
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
        collection: p.collection,
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

pub fn matched(m: Match) -> pb::Match {
    pb::Match {
        person: Some(person(m.person)),
        face_id: m.face_id,
        similarity: m.similarity,
    }
}

/// The image bytes of a required image field.
/// Whether the largest face is wanted; refuses a number the enum does not
/// define rather than reading it as the default.
pub fn largest_face(value: i32) -> Result<bool> {
    match pb::FaceSelection::try_from(value) {
        Ok(selection) => Ok(selection == pb::FaceSelection::Largest),
        Err(_) => Err(Error::invalid(
            "face_selection",
            format!("{value} is not a FaceSelection (0, 1 or 2)"),
        )),
    }
}

pub fn image(field: &str, image: Option<pb::Image>) -> Result<bytes::Bytes> {
    image
        .map(|i| i.content)
        .ok_or_else(|| Error::invalid(field, "is required"))
}

/// The target of a registration: an existing person's id (`Ok`) or a new
/// person's fields (`Err`), as both oneofs that name one carry it.
pub fn registration_target(
    target: Option<Result<String, pb::Person>>,
) -> Result<RegistrationTarget> {
    match target {
        Some(Ok(id)) => Ok(RegistrationTarget::Existing(id)),
        Some(Err(fields)) => Ok(RegistrationTarget::New(person_fields(fields))),
        None => Err(Error::invalid("target", "name a person_id or a new_person")),
    }
}

pub fn registration(
    r: Registration,
) -> (Option<pb::Person>, Vec<pb::Face>, Vec<pb::RejectedImage>) {
    let rejected = r
        .refused
        .into_iter()
        .map(|(index, refusal)| pb::RejectedImage {
            image_index: index as i32,
            reason: refusal.reason.to_string(),
            message: refusal.message,
        })
        .collect();
    (
        Some(person(r.person)),
        r.faces.into_iter().map(face).collect(),
        rejected,
    )
}

pub fn frame(frame: Option<pb::Frame>) -> Result<FrameInput> {
    let frame = frame.ok_or_else(|| Error::invalid("frame", "is required"))?;
    let image = match frame.image {
        Some(pb::frame::Image::Encoded(bytes)) => FrameImage::Encoded(bytes),
        Some(pb::frame::Image::Raw(raw)) => FrameImage::Raw {
            rgb: raw.rgb,
            width: u32::try_from(raw.width)
                .map_err(|_| Error::invalid("raw.width", "must not be negative"))?,
            height: u32::try_from(raw.height)
                .map_err(|_| Error::invalid("raw.height", "must not be negative"))?,
        },
        None => {
            return Err(Error::invalid(
                "frame.image",
                "send encoded bytes or raw pixels",
            ))
        }
    };
    Ok(FrameInput {
        frame_id: frame.frame_id,
        timestamp_ms: frame.timestamp_ms,
        image,
    })
}

pub fn clip_track(t: ClipTrack) -> pb::ClipTrack {
    pb::ClipTrack {
        track_id: t.track_id as i64,
        first_frame: t.first_frame as i32,
        last_frame: t.last_frame as i32,
        first_frame_id: t.first_frame_id,
        last_frame_id: t.last_frame_id,
        frames: t.frames as i32,
        identity: t.identity.map(matched),
        agreeing_frames: t.agreeing_frames as i32,
    }
}

pub fn live_frame(f: LiveFrame) -> pb::RecognizeFramesResponse {
    pb::RecognizeFramesResponse {
        frame_id: f.frame_id,
        timestamp_ms: f.timestamp_ms,
        frame_index: f.index as i64,
        dropped: f.dropped,
        faces: f
            .faces
            .into_iter()
            .map(|face| pb::TrackedFace {
                detection: Some(detection(&face.detection)),
                track_id: face.track_id as i64,
                identity: face.identity.map(matched),
                embedded: face.embedded,
            })
            .collect(),
    }
}
