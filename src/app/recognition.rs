//! Recognise, verify, detect: the read-only calls on photos.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use super::{persons::check_id, FaceBank};
use crate::{
    domain::Person,
    error::{Error, Reason, Result},
    pipeline::{similarity, Detection, EmbeddedFace, Selection},
    ports::index::Hit,
};

/// Each face's search asks the index for this many candidates per wanted
/// match, so that several faces of one person do not crowd out the others.
const OVERSAMPLE: usize = 8;
/// At most this many matches of one face are skipped for vectors without a
/// person row before the search gives up looking further.
const MAX_SKIPPED: usize = 64;

pub struct Match {
    pub person: Person,
    pub face_id: String,
    pub similarity: f32,
}

pub struct RecognisedFace {
    pub detection: Detection,
    /// Best first, one per person.
    pub matches: Vec<Match>,
}

pub struct Recognition {
    pub faces: Vec<RecognisedFace>,
    pub threshold: f32,
}

pub enum Reference {
    Image(Bytes),
    Person(String),
}

pub struct Verification {
    pub similarity: f32,
    pub same_person: bool,
    pub threshold: f32,
    /// With a person reference, their most similar face.
    pub matched_face_id: Option<String>,
}

pub struct DetectOutcome {
    pub faces: Vec<Detection>,
    pub width: u32,
    pub height: u32,
}

impl FaceBank {
    /// Every face of `image` and the persons of `collection` it matches.
    pub async fn recognize(
        &self,
        collection: &str,
        image: Bytes,
        max_faces: i32,
        top_k: i32,
        min_similarity: Option<f32>,
    ) -> Result<Recognition> {
        let collection = self.collection_in("collection", collection).await?;
        let max_faces = count("max_faces", max_faces)?;
        let top_k = match count("top_k", top_k)? {
            0 => 1,
            k if k > self.config.recognition.max_top_k as usize => {
                return Err(Error::invalid(
                    "top_k",
                    format!(
                        "at most {} matches per face",
                        self.config.recognition.max_top_k
                    ),
                ))
            }
            k => k,
        };
        let threshold = self.threshold_in(&collection, "min_similarity", min_similarity)?;

        let image = self.pipeline.decode(image).await?;
        let faces = self
            .pipeline
            .embed_faces(&image, Selection::All { max_faces })
            .await?;
        let queries: Vec<Vec<f32>> = faces.iter().map(|f| f.embedding.clone()).collect();
        // A vector whose person has no row (drift that `facebank reconcile`
        // repairs) must not take the place of a real match: ask again for
        // as many more as were skipped.
        let mut wanted_per_face = top_k;
        let (hits, persons) = loop {
            let hits = self
                .best_per_person(&collection.name, &queries, wanted_per_face, threshold)
                .await?;
            let wanted: HashSet<String> =
                hits.iter().flatten().map(|h| h.person_id.clone()).collect();
            let persons: HashMap<String, Person> = self
                .records
                .persons(&wanted.into_iter().collect::<Vec<_>>())
                .await?
                .into_iter()
                .map(|p| (p.id.clone(), p))
                .collect();
            let skipped = hits
                .iter()
                .map(|h| {
                    h.iter()
                        .filter(|hit| !persons.contains_key(&hit.person_id))
                        .count()
                })
                .max()
                .unwrap_or(0);
            // Enough when the real matches alone can fill `top_k`.
            if skipped == 0 || wanted_per_face >= (top_k + skipped).min(top_k + MAX_SKIPPED) {
                break (hits, persons);
            }
            tracing::warn!(
                collection = %collection.name,
                skipped,
                "Vectors without a person row were skipped; `facebank reconcile --repair` removes them"
            );
            wanted_per_face = (top_k + skipped).min(top_k + MAX_SKIPPED);
        };

        let faces = faces
            .into_iter()
            .zip(hits)
            .map(|(face, hits)| {
                let matches = hits
                    .into_iter()
                    .filter_map(|hit| {
                        let person = persons.get(&hit.person_id)?.clone();
                        Some(Match {
                            person,
                            face_id: hit.face_id,
                            similarity: hit.similarity,
                        })
                    })
                    .take(top_k)
                    .collect();
                RecognisedFace {
                    detection: face.detection,
                    matches,
                }
            })
            .collect();
        Ok(Recognition { faces, threshold })
    }

    /// For each query, the most similar face of each of the `top_k` most
    /// similar persons, best first. The index ranks faces, not persons: when a
    /// query's candidates all come from fewer persons than wanted (one person
    /// with many faces), the index is asked again for more.
    async fn best_per_person(
        &self,
        collection: &str,
        queries: &[Vec<f32>],
        top_k: usize,
        threshold: f32,
    ) -> Result<Vec<Vec<Hit>>> {
        let mut limit = top_k * OVERSAMPLE;
        loop {
            let hits = self
                .index
                .search(collection, queries, limit, threshold)
                .await?;
            let persons = |h: &[Hit]| {
                h.iter()
                    .map(|hit| &hit.person_id)
                    .collect::<HashSet<_>>()
                    .len()
            };
            let enough = hits.iter().all(|h| h.len() < limit || persons(h) >= top_k);
            if enough || limit >= self.index.len(collection).await? {
                return Ok(hits
                    .into_iter()
                    .map(|h| best_of_each_person(h, top_k))
                    .collect());
            }
            limit *= 4;
        }
    }

    /// Compares the largest face of `image` with the largest face of another
    /// image, or with the most similar registered face of a person.
    /// The threshold and the model are those of `collection`, which a
    /// reference person must belong to.
    pub async fn verify(
        &self,
        collection: &str,
        image: Bytes,
        reference: Reference,
        threshold: Option<f32>,
    ) -> Result<Verification> {
        let collection = self.collection_in("collection", collection).await?;
        let threshold = self.threshold_in(&collection, "threshold", threshold)?;
        if let Reference::Person(id) = &reference {
            check_id("person_id", id)?;
            if self.person_in("person_id", id).await?.collection != collection.name {
                return Err(Error::PersonNotInCollection {
                    id: id.clone(),
                    collection: collection.name.clone(),
                });
            }
        }

        let probe = self.largest_face(image).await?;
        let (similarity, matched_face_id) = match reference {
            Reference::Image(other) => {
                let other = self
                    .largest_face(other)
                    .await
                    .map_err(|e| e.in_field("other_image"))?;
                (similarity(&probe.embedding, &other.embedding), None)
            }
            Reference::Person(id) => {
                let model = &self.pipeline.recogniser().name;
                let faces = self.list_faces(&id).await?;
                let no_faces = || Error::PersonHasNoFaces(id.clone());
                let best = faces
                    .iter()
                    .filter(|f| &f.model_name == model)
                    .map(|f| (similarity(&probe.embedding, &f.embedding), f.id.clone()))
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .ok_or_else(no_faces)?;
                (best.0, Some(best.1))
            }
        };

        Ok(Verification {
            similarity,
            same_person: similarity >= threshold,
            threshold,
            matched_face_id,
        })
    }

    pub async fn detect(&self, image: Bytes, max_faces: i32) -> Result<DetectOutcome> {
        let max_faces = count("max_faces", max_faces)?;
        let image = self.pipeline.decode(image).await?;
        let mut faces = self.pipeline.detect(&image).await?;
        if max_faces > 0 {
            faces.truncate(max_faces);
        }
        Ok(DetectOutcome {
            faces,
            width: image.width(),
            height: image.height(),
        })
    }

    async fn largest_face(&self, image: Bytes) -> Result<EmbeddedFace> {
        let image = self.pipeline.decode(image).await?;
        self.pipeline
            .embed_faces(&image, Selection::Largest)
            .await?
            .pop()
            .ok_or_else(|| Error::bad_image(Reason::NoFace, "no face was found in the image"))
    }

    pub(super) fn threshold(&self, field: &str, given: Option<f32>) -> Result<f32> {
        match given {
            None => Ok(self.config.recognition.threshold),
            Some(t) if (-1.0..=1.0).contains(&t) => Ok(t),
            Some(t) => Err(Error::invalid(
                field,
                format!("{t} is not a similarity in [-1, 1]"),
            )),
        }
    }
}

/// The first (best) hit of each person, at most `top_k` of them. Equal
/// similarities are ordered by person and face id, so that the answer does
/// not depend on the order the index happens to hold its vectors in.
fn best_of_each_person(mut hits: Vec<Hit>, top_k: usize) -> Vec<Hit> {
    hits.sort_by(|a, b| {
        b.similarity
            .total_cmp(&a.similarity)
            .then_with(|| a.person_id.cmp(&b.person_id))
            .then_with(|| a.face_id.cmp(&b.face_id))
    });
    let mut seen = HashSet::new();
    hits.into_iter()
        .filter(|hit| seen.insert(hit.person_id.clone()))
        .take(top_k)
        .collect()
}

fn count(field: &str, value: i32) -> Result<usize> {
    usize::try_from(value).map_err(|_| Error::invalid(field, "must not be negative"))
}
