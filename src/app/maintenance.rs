//! Keeping a vector index in step with the records, its source of truth:
//! loading it, and finding and repairing drift (`facebank reconcile` and
//! `facebank reindex`, and every start on a server-side index).

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use crate::{
    domain::{Collection, ModelSpec},
    error::Result,
    ports::{
        index::{IndexEntry, VectorIndex},
        records::Records,
    },
};

/// Faces or ids read per query.
const PAGE: usize = 2000;

/// What a comparison of the index with the records found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Drift {
    /// Faces of the current recogniser in the records.
    pub faces: usize,
    /// Vectors in the index before any repair.
    pub vectors: usize,
    /// Face rows whose vector is missing from the index.
    pub rows_without_vectors: Vec<String>,
    /// Vectors whose face row does not exist (or is of another recogniser).
    pub vectors_without_rows: Vec<String>,
    /// Whether the drift was repaired: missing vectors written, stray ones
    /// removed.
    pub repaired: bool,
}

impl Drift {
    pub fn is_clean(&self) -> bool {
        self.rows_without_vectors.is_empty() && self.vectors_without_rows.is_empty()
    }
}

/// Makes the index ready for every collection pinned to `served` and
/// returns them; collections of other models are left alone.
pub async fn prepare_collections(
    records: &dyn Records,
    index: &dyn VectorIndex,
    served: &ModelSpec,
) -> Result<Vec<Collection>> {
    let mut ready = Vec::new();
    for collection in records.collections().await? {
        if &collection.model != served {
            tracing::warn!(
                collection = %collection.name,
                model = %collection.model.name,
                "Collection pinned to another model; this server does not serve it"
            );
            continue;
        }
        index
            .create_collection(&collection.name, collection.model.dimension as usize)
            .await?;
        ready.push(collection);
    }
    Ok(ready)
}

/// Writes the vector of every face of `model` in `collections` into the
/// index (replacing what is there); returns how many.
pub async fn load_all(
    records: &dyn Records,
    index: &dyn VectorIndex,
    collections: &[String],
    model: &str,
) -> Result<usize> {
    let mut after: Option<String> = None;
    let mut loaded = 0;
    loop {
        let page = records.faces_page(after.as_deref(), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        let entries: Vec<IndexEntry> = page
            .into_iter()
            .filter(|face| face.model_name == model && collections.contains(&face.collection))
            .map(IndexEntry::from)
            .collect();
        loaded += entries.len();
        index.upsert(entries).await?;
    }
    Ok(loaded)
}

/// Compares the index's `collections` with the records' faces of `model` in
/// them and, with `repair`, writes the missing vectors and removes the stray
/// ones.
///
/// Other processes may be writing meanwhile: a registration stores its vector
/// before its row commits, and a deletion removes the vector before the row.
/// So whatever looks out of step is looked up again after `settle`, and only
/// what is still out of step then is reported and repaired.
pub async fn reconcile(
    records: &dyn Records,
    index: &dyn VectorIndex,
    collections: &[String],
    model: &str,
    repair: bool,
    settle: Duration,
) -> Result<Drift> {
    // Face id to collection, of every vector.
    let mut in_index: HashMap<String, String> = HashMap::new();
    for collection in collections {
        let mut after: Option<String> = None;
        loop {
            let page = index.ids_page(collection, after.as_deref(), PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.clone());
            in_index.extend(page.into_iter().map(|id| (id, collection.clone())));
        }
    }
    let vectors = in_index.len();

    let mut missing: Vec<IndexEntry> = Vec::new();
    let mut faces = 0;
    let mut after: Option<String> = None;
    loop {
        let page = records.faces_page(after.as_deref(), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        let served = page
            .into_iter()
            .filter(|face| face.model_name == model && collections.contains(&face.collection));
        for face in served {
            faces += 1;
            if in_index.get(&face.id) == Some(&face.collection) {
                in_index.remove(&face.id);
            } else {
                missing.push(IndexEntry::from(face));
            }
        }
    }
    let mut stray: Vec<(String, String)> = in_index.into_iter().collect();

    let drifted = !(missing.is_empty() && stray.is_empty());
    if drifted && !settle.is_zero() {
        tokio::time::sleep(settle).await;
    }
    // A stray vector whose row has committed meanwhile is not stray; a
    // missing vector whose row is gone meanwhile is not missing.
    let stray_ids: Vec<String> = stray.iter().map(|(id, _)| id.clone()).collect();
    let committed = existing(records, &stray_ids).await?;
    stray.retain(|(id, _)| !committed.contains(id));
    let ids: Vec<String> = missing.iter().map(|e| e.face_id.clone()).collect();
    let still_there = existing(records, &ids).await?;
    missing.retain(|e| still_there.contains(&e.face_id));
    stray.sort_unstable();

    if repair {
        let mut by_collection: HashMap<&str, Vec<String>> = HashMap::new();
        for (id, collection) in &stray {
            by_collection
                .entry(collection)
                .or_default()
                .push(id.clone());
        }
        for (collection, ids) in by_collection {
            for chunk in ids.chunks(PAGE) {
                index.delete(collection, chunk).await?;
            }
        }
        for chunk in missing.chunks(PAGE) {
            index.upsert(chunk.to_vec()).await?;
        }
    }
    let mut rows_without_vectors: Vec<String> = missing.into_iter().map(|e| e.face_id).collect();
    rows_without_vectors.sort_unstable();
    Ok(Drift {
        faces,
        vectors,
        rows_without_vectors,
        vectors_without_rows: stray.into_iter().map(|(id, _)| id).collect(),
        repaired: repair,
    })
}

async fn existing(records: &dyn Records, ids: &[String]) -> Result<HashSet<String>> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(PAGE) {
        found.extend(records.existing_faces(chunk).await?);
    }
    Ok(found)
}
