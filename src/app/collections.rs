//! Collections: named sets of persons, each pinned to one recognition model
//! and searched on its own.

use std::sync::{Arc, PoisonError};

use super::{detached, maintenance, FaceBank};
use crate::{
    domain::{now_micros, Collection, ModelSpec, DEFAULT_COLLECTION},
    error::{Error, Result},
};

const MAX_NAME: usize = 64;

impl FaceBank {
    /// The model this server runs, as collections are pinned to it.
    pub fn served_model(&self) -> ModelSpec {
        self.pipeline.recogniser().model()
    }

    /// Creates a collection pinned to `model` (the served model when `None`;
    /// any other is refused) with its own default threshold.
    pub async fn create_collection(
        &self,
        name: &str,
        model: Option<ModelSpec>,
        threshold: Option<f32>,
    ) -> Result<Collection> {
        check_name("collection.name", name)?;
        let served = self.served_model();
        if let Some(model) = model {
            check_model(&model, &served)?;
        }
        if let Some(threshold) = threshold {
            if !(-1.0..=1.0).contains(&threshold) {
                return Err(Error::invalid(
                    "collection.threshold",
                    "must be a cosine similarity in [-1, 1]",
                ));
            }
        }
        let collection = Collection {
            name: name.to_string(),
            model: served,
            threshold,
            created_at: now_micros(),
            person_count: 0,
        };
        let (records, index, created) = (
            Arc::clone(&self.records),
            Arc::clone(&self.index),
            collection.clone(),
        );
        detached(async move {
            records.create_collection(&created).await?;
            // The row first: a name taken by another call never touches the
            // index. A failed index write takes the row back.
            let dimension = created.model.dimension as usize;
            if let Err(error) = index.create_collection(&created.name, dimension).await {
                let undone = records
                    .delete_collection(&created.name, false, Box::new(|_| Box::pin(async { Ok(()) })))
                    .await;
                if let Err(undo) = undone {
                    tracing::warn!(%undo, collection = %created.name, "Could not remove a collection whose index failed");
                }
                return Err(error);
            }
            Ok(())
        })
        .await?;
        self.remember(&collection);
        Ok(collection)
    }

    pub async fn get_collection(&self, name: &str) -> Result<Collection> {
        check_name("name", name)?;
        self.records
            .collection(name)
            .await?
            .ok_or_else(|| Error::CollectionNotFound(name.to_string()))
    }

    pub async fn list_collections(&self) -> Result<Vec<Collection>> {
        self.records.collections().await
    }

    /// Deletes a collection and its vectors; with `delete_persons` also its
    /// persons and faces. Returns how many persons went with it.
    pub async fn delete_collection(&self, name: &str, delete_persons: bool) -> Result<usize> {
        check_name("name", name)?;
        if name == DEFAULT_COLLECTION {
            return Err(Error::invalid(
                "name",
                "the default collection cannot be deleted",
            ));
        }
        let (records, index, collection) = (
            Arc::clone(&self.records),
            Arc::clone(&self.index),
            name.to_string(),
        );
        let deleted = detached(async move {
            let dropped = collection.clone();
            records
                .delete_collection(
                    &collection,
                    delete_persons,
                    Box::new(|_| Box::pin(async move { index.drop_collection(&dropped).await })),
                )
                .await
        })
        .await?;
        self.forget(name);
        match deleted {
            Some(persons) => Ok(persons.len()),
            None => Err(Error::CollectionNotFound(name.to_string())),
        }
    }

    /// The collection a call names in `field` (empty: `default`), if this
    /// server's model serves it.
    pub(super) async fn collection_in(&self, field: &str, name: &str) -> Result<Collection> {
        let name = if name.is_empty() {
            DEFAULT_COLLECTION
        } else {
            name
        };
        check_name(field, name)?;
        let known = self
            .collections
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned();
        let collection = match known {
            Some(collection) => collection,
            None => {
                let collection = self
                    .records
                    .collection(name)
                    .await?
                    .ok_or_else(|| Error::CollectionNotFound(name.to_string()))?;
                let served = self.served_model();
                if collection.model != served {
                    return Err(Error::ModelMismatch(format!(
                        "collection {name:?} is pinned to model {} {} ({}-d, {}); this server runs {} {}",
                        collection.model.name,
                        collection.model.version,
                        collection.model.dimension,
                        collection.model.metric,
                        served.name,
                        served.version
                    )));
                }
                // Made by another facebank process: make it searchable here.
                self.index
                    .create_collection(name, collection.model.dimension as usize)
                    .await?;
                self.remember(&collection);
                collection
            }
        };
        Ok(collection)
    }

    /// The match threshold of a search in `collection`: the caller's, else
    /// the collection's, else the configured one.
    pub(super) fn threshold_in(
        &self,
        collection: &Collection,
        field: &str,
        given: Option<f32>,
    ) -> Result<f32> {
        self.threshold(field, given.or(collection.threshold))
    }

    /// Makes the index ready for every collection this server's model serves;
    /// returns their names. Collections of other models are left alone.
    pub async fn prepare_collections(&self) -> Result<Vec<String>> {
        let ready =
            maintenance::prepare_collections(&*self.records, &*self.index, &self.served_model())
                .await?;
        for collection in &ready {
            self.remember(collection);
        }
        Ok(ready.into_iter().map(|c| c.name).collect())
    }

    fn remember(&self, collection: &Collection) {
        self.collections
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(collection.name.clone(), collection.clone());
    }

    fn forget(&self, name: &str) {
        self.collections
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }
}

/// 1 to 64 characters: lower-case ASCII letters, digits and underscores,
/// starting with a letter (so that it can name a Milvus collection).
fn check_name(field: &str, name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!(
                "a collection name has 1 to {MAX_NAME} lower-case letters, digits and underscores, starting with a letter"
            ),
        ))
    }
}

/// A model named on create must be the served one; empty parts mean "the
/// served one's".
fn check_model(given: &ModelSpec, served: &ModelSpec) -> Result<()> {
    let differs = (!given.name.is_empty() && given.name != served.name)
        || (!given.version.is_empty() && given.version != served.version)
        || (given.dimension != 0 && given.dimension != served.dimension)
        || (!given.metric.is_empty() && given.metric != served.metric);
    if differs {
        return Err(Error::ModelMismatch(format!(
            "this server runs model {} {} ({}-d, {}); a collection can only be pinned to it",
            served.name, served.version, served.dimension, served.metric
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_names_can_name_milvus_collections() {
        for good in ["default", "a", "staff_2026", &"x".repeat(64)] {
            assert!(check_name("name", good).is_ok(), "{good}");
        }
        for bad in ["", "Staff", "1st", "_x", "a-b", "a b", "é", &"x".repeat(65)] {
            assert!(check_name("name", bad).is_err(), "{bad}");
        }
    }
}
