//! Registering faces for a person, listing and deleting them.

use std::collections::HashMap;
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::{detached, persons::check_id, persons::new_person, FaceBank};
use crate::{
    domain::{new_id, now_micros, Face, Person},
    error::{Error, Reason, Refusal, Result},
    pipeline::EmbeddedFace,
    ports::index::{IndexEntry, VectorIndex},
};

/// Images one registration call may carry.
pub const MAX_IMAGES: usize = 64;

pub enum RegistrationTarget {
    Existing(String),
    New(Person),
}

/// A registration under way: the faces accepted so far, not yet stored.
pub struct PendingRegistration {
    person: Person,
    is_new: bool,
    largest: bool,
    images: usize,
    faces: Vec<Face>,
    refused: Vec<(usize, Refusal)>,
    /// Digests of the person's images already registered, and their face ids.
    registered_images: HashMap<String, String>,
}

impl PendingRegistration {
    pub fn images(&self) -> usize {
        self.images
    }
}

/// What one registration call did.
pub struct Registration {
    pub person: Person,
    pub faces: Vec<Face>,
    /// Index of the image in the request, and why it added no face.
    pub refused: Vec<(usize, Refusal)>,
}

impl FaceBank {
    /// Adds one face from each image. With `largest`, the largest face of an
    /// image is taken; otherwise the image must show exactly one face. A new
    /// person is stored only if at least one face is accepted; if none is,
    /// nothing is stored and the call fails with every image's reason.
    pub async fn register_faces(
        &self,
        target: RegistrationTarget,
        images: Vec<Bytes>,
        largest: bool,
    ) -> Result<Registration> {
        if images.is_empty() {
            return Err(Error::invalid("images", "at least one image is required"));
        }
        if images.len() > MAX_IMAGES {
            return Err(Error::invalid(
                "images",
                format!("at most {MAX_IMAGES} images per call"),
            ));
        }

        let mut pending = self.begin_registration(target, largest).await?;
        for bytes in images {
            self.add_image(&mut pending, bytes).await?;
        }
        self.commit_registration(pending).await
    }

    /// Starts a registration whose images arrive one at a time; nothing is
    /// stored before [`FaceBank::commit_registration`].
    pub async fn begin_registration(
        &self,
        target: RegistrationTarget,
        largest: bool,
    ) -> Result<PendingRegistration> {
        let (person, is_new) = match target {
            RegistrationTarget::Existing(id) => {
                let person = self.person_in("person_id", &id).await?;
                // Only a collection of this server's model takes its faces.
                self.collection_in("person.collection", &person.collection)
                    .await?;
                (person, false)
            }
            RegistrationTarget::New(fields) => {
                let collection = self
                    .collection_in("person.collection", &fields.collection)
                    .await?;
                (new_person(fields, &collection)?, true)
            }
        };
        let registered_images = match is_new {
            true => HashMap::new(),
            false => {
                let faces = self.records.faces_of(&person.id).await?;
                faces.into_iter().map(|f| (f.image_sha256, f.id)).collect()
            }
        };
        Ok(PendingRegistration {
            person,
            is_new,
            largest,
            images: 0,
            faces: Vec::new(),
            refused: Vec::new(),
            registered_images,
        })
    }

    /// Finds the face to register in one more image; a refused image is noted,
    /// not an error.
    pub async fn add_image(&self, pending: &mut PendingRegistration, bytes: Bytes) -> Result<()> {
        let index = pending.images;
        pending.images += 1;
        let digest = hex(&Sha256::digest(&bytes));
        if let Some(face_id) = pending.registered_images.get(&digest) {
            let message =
                format!("this image is already registered for the person as face {face_id}");
            pending
                .refused
                .push((index, Refusal::new(Reason::DuplicateFace, message)));
            return Ok(());
        }
        match self.face_to_register(bytes, pending.largest).await {
            Ok(face) => {
                let record = self.face_record(&pending.person, face, digest.clone());
                pending.registered_images.insert(digest, record.id.clone());
                pending.faces.push(record);
            }
            Err(Error::BadImage { refusal, .. }) => pending.refused.push((index, refusal)),
            Err(other) => return Err(other),
        }
        Ok(())
    }

    /// Stores the accepted faces (and the new person) in one transaction.
    pub async fn commit_registration(&self, pending: PendingRegistration) -> Result<Registration> {
        let PendingRegistration {
            mut person,
            is_new,
            faces,
            refused,
            images,
            ..
        } = pending;
        if images == 0 {
            return Err(Error::invalid("images", "at least one image is required"));
        }
        if faces.is_empty() {
            return Err(Error::NothingRegistered { refusals: refused });
        }

        self.store_faces(is_new.then_some(&person), &faces).await?;
        // Other registrations may have added faces meanwhile.
        if let Some(stored) = self.records.person(&person.id).await? {
            person.face_count = stored.face_count;
        }
        Ok(Registration {
            person,
            faces,
            refused,
        })
    }

    pub async fn list_faces(&self, person_id: &str) -> Result<Vec<Face>> {
        self.person_in("person_id", person_id).await?;
        self.records.faces_of(person_id).await
    }

    pub async fn delete_face(&self, id: &str) -> Result<()> {
        check_id("id", id)?;
        let (records, index, face_id) = (
            Arc::clone(&self.records),
            Arc::clone(&self.index),
            id.to_string(),
        );
        let found = detached(async move {
            records
                .delete_face(
                    &face_id,
                    Box::new(|faces| Box::pin(delete_vectors(&index, faces))),
                )
                .await
        })
        .await?;
        if found {
            Ok(())
        } else {
            Err(Error::FaceNotFound(id.to_string()))
        }
    }

    /// The one face of the image that would be registered, or why none.
    async fn face_to_register(&self, bytes: Bytes, largest: bool) -> Result<EmbeddedFace> {
        let image = self.pipeline.decode(bytes).await?;
        let mut faces = self.pipeline.detect(&image).await?;
        if faces.is_empty() {
            return Err(Error::bad_image(
                Reason::NoFace,
                "no face was found in the image",
            ));
        }

        if !largest {
            // Faces too small to register do not count against "exactly one".
            let usable = faces
                .iter()
                .filter(|f| self.pipeline.check_quality(f).is_ok())
                .count();
            if usable > 1 {
                return Err(Error::bad_image(
                    Reason::MultipleFaces,
                    format!("the image shows {usable} faces; send one face per image or ask for the largest"),
                ));
            }
            if usable == 1 {
                faces.retain(|f| self.pipeline.check_quality(f).is_ok());
            }
        }
        faces.truncate(1);
        self.pipeline
            .check_quality(&faces[0])
            .map_err(|refusal| Error::BadImage {
                field: "image",
                refusal,
            })?;

        let mut embedded = self.pipeline.embed(&image, faces).await?;
        embedded
            .pop()
            .ok_or_else(|| Error::internal("the recogniser returned no embedding"))
    }

    fn face_record(&self, person: &Person, face: EmbeddedFace, image_sha256: String) -> Face {
        let model = self.pipeline.recogniser();
        Face {
            id: new_id(),
            person_id: person.id.clone(),
            collection: person.collection.clone(),
            embedding: face.embedding,
            model_name: model.name.clone(),
            model_version: model.version.clone(),
            detection_score: face.detection.score,
            rect: face.detection.rect,
            landmarks: face.detection.landmarks,
            image_sha256,
            created_at: now_micros(),
        }
    }

    /// Rows first, vectors before the commit; a failed vector write rolls the
    /// rows back, and vectors written before a failed commit are removed.
    async fn store_faces(&self, new_person: Option<&Person>, faces: &[Face]) -> Result<()> {
        let (records, index) = (Arc::clone(&self.records), Arc::clone(&self.index));
        let (new_person, faces) = (new_person.cloned(), faces.to_vec());
        detached(async move {
            let indexed = AtomicBool::new(false);
            let stored = records
                .add_faces(
                    new_person.as_ref(),
                    &faces,
                    Box::new(|faces| {
                        Box::pin(async {
                            index
                                .upsert(faces.into_iter().map(IndexEntry::from).collect())
                                .await?;
                            indexed.store(true, Ordering::SeqCst);
                            Ok(())
                        })
                    }),
                )
                .await;

            if stored.is_err() && indexed.load(Ordering::SeqCst) {
                if let Err(error) = delete_vectors(&index, faces).await {
                    tracing::error!(%error, "Could not remove vectors of a failed registration");
                }
            }
            stored
        })
        .await
    }
}

/// Removes the vectors of faces whose rows are being deleted.
pub(super) async fn delete_vectors(index: &Arc<dyn VectorIndex>, faces: Vec<Face>) -> Result<()> {
    let mut by_collection: HashMap<String, Vec<String>> = HashMap::new();
    for face in faces {
        by_collection
            .entry(face.collection)
            .or_default()
            .push(face.id);
    }
    for (collection, ids) in by_collection {
        index.delete(&collection, &ids).await?;
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
