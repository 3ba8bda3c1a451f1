//! The vector index in Milvus, through `milvus-sdk-rust`'s V2 client.
//!
//! Each facebank collection has a Milvus collection of its own, named
//! `<milvus.collection_prefix>_<name>`: the face id as its primary key (a
//! string), the person id, and the embedding, under an HNSW index with the
//! cosine metric (embeddings are L2-normalised, so the score is the cosine
//! similarity the rest of facebank uses). Reads use strong consistency, so a
//! face is searchable as soon as the write that added it returns; nothing is
//! flushed per insert. Deletes and look-ups name faces with a filter
//! expression (`id in [...]`), which every Milvus version understands.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use milvus::v2::prelude::*;

use super::{Hit, IndexEntry, VectorIndex};
use crate::{
    config::MilvusConfig,
    error::{Error, Result},
};

const BACKEND: &str = "milvus";
const ID: &str = "id";
const PERSON_ID: &str = "person_id";
const EMBEDDING: &str = "embedding";
const SCORE: &str = "score";
/// Longest id stored: UUIDs take 36 characters.
const ID_LENGTH: u32 = 64;
/// Milvus answers at most this many hits per query.
const MAX_TOP_K: usize = 16_384;
/// The most rows one query may return (Milvus's `maxQueryResultWindow`).
const MAX_QUERY_WINDOW: usize = 16_384;

pub struct MilvusIndex {
    client: ClientV2,
    config: MilvusConfig,
    /// The facebank collections made ready, with their dimension.
    known: Mutex<HashMap<String, usize>>,
}

impl MilvusIndex {
    /// Connects; each collection is made ready by `create_collection`.
    pub async fn open(config: &MilvusConfig) -> Result<Self> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let connect = ConnectConfig::new()
            .uri(config.url.clone())
            .connect_timeout(timeout)
            .rpc_timeout(timeout)
            .retry(
                RetryConfig::new()
                    .max_attempts(config.retries + 1)
                    .initial_backoff(Duration::from_millis(50))
                    .max_retry_timeout(timeout),
            )
            .telemetry(TelemetryConfig::new().enabled(false));
        let client = ClientV2::new(&connect).await.map_err(milvus_down)?;
        Ok(MilvusIndex {
            client,
            config: config.clone(),
            known: Mutex::new(HashMap::new()),
        })
    }

    /// The Milvus collection of a facebank collection.
    fn name(&self, collection: &str) -> String {
        format!("{}_{collection}", self.config.collection_prefix)
    }

    fn known(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The dimension of a collection made ready.
    fn dimension(&self, collection: &str) -> Result<usize> {
        self.known()
            .get(collection)
            .copied()
            .ok_or_else(|| Error::Internal(format!("the index has no collection {collection:?}")))
    }

    /// Creates the Milvus collection unless it exists and loads it for
    /// search; true when it had to be created.
    async fn prepare(&self, collection: &str, dimension: usize) -> Result<bool> {
        let name = self.name(collection);
        let created = self.create_unless_present(&name, dimension).await?;
        self.client
            .load_collection(
                LoadCollectionRequest::builder()
                    .collection_name(&name)
                    .build()
                    .map_err(milvus_down)?,
            )
            .await
            .map_err(milvus_down)?;
        self.known().insert(collection.to_string(), dimension);
        Ok(created)
    }

    /// Drops a collection's vectors and creates its Milvus collection anew,
    /// empty (`facebank reindex --recreate`, to apply new index settings).
    pub async fn recreate(&self, collection: &str, dimension: usize) -> Result<()> {
        self.drop_collection(collection).await?;
        self.prepare(collection, dimension).await.map(drop)
    }

    /// Seals what a collection holds and waits, up to `timeout`, until its
    /// HNSW index covers every row: a search then runs as it does on a
    /// settled collection (the bench's measurements need that; facebank's
    /// own writes never flush).
    pub async fn settle(&self, collection: &str, timeout: Duration) -> Result<()> {
        let name = self.name(collection);
        self.client
            .flush(
                FlushRequest::builder()
                    .collection_names([name.clone()])
                    .build()
                    .map_err(milvus_down)?,
            )
            .await
            .map_err(milvus_down)?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let described = self
                .client
                .describe_index(
                    DescribeIndexRequest::builder()
                        .collection_name(&name)
                        .field_name(EMBEDDING)
                        .build()
                        .map_err(milvus_down)?,
                )
                .await
                .map_err(milvus_down)?;
            let done = described
                .indexes()
                .iter()
                .all(|i| i.get_indexed_rows() >= i.get_total_rows());
            if done || std::time::Instant::now() > deadline {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn exists(&self, name: &str) -> Result<bool> {
        Ok(self
            .client
            .has_collection(
                HasCollectionRequest::builder()
                    .collection_name(name)
                    .build()
                    .map_err(milvus_down)?,
            )
            .await
            .map_err(milvus_down)?
            .exists())
    }

    async fn create_unless_present(&self, name: &str, dimension: usize) -> Result<bool> {
        if self.exists(name).await? {
            return Ok(false);
        }
        let schema = CollectionSchema::new()
            .add_field(
                FieldSchema::new()
                    .name(ID)
                    .data_type(DataType::VarChar)
                    .max_length(ID_LENGTH)
                    .primary_key(true),
            )
            .add_field(
                FieldSchema::new()
                    .name(PERSON_ID)
                    .data_type(DataType::VarChar)
                    .max_length(ID_LENGTH),
            )
            .add_field(
                FieldSchema::new()
                    .name(EMBEDDING)
                    .data_type(DataType::FloatVector)
                    .dimension(u32::try_from(dimension).unwrap_or(u32::MAX)),
            );
        let hnsw = IndexParam::new()
            .field_name(EMBEDDING)
            .index_type(IndexType::Hnsw)
            .metric_type(MetricType::Cosine)
            .extra_params(HashMap::from([
                ("M".into(), self.config.hnsw_m.to_string()),
                (
                    "efConstruction".into(),
                    self.config.hnsw_ef_construction.to_string(),
                ),
            ]));
        self.client
            .create_collection(
                CreateCollectionRequest::builder()
                    .collection_name(name)
                    .description("facebank faces: id, person_id, embedding")
                    .schema(schema)
                    .index_params(vec![hnsw])
                    .consistency_level(ConsistencyLevel::Strong)
                    .build()
                    .map_err(milvus_down)?,
            )
            .await
            .map_err(milvus_down)?;
        tracing::info!(collection = %name, "Created the Milvus collection");
        Ok(true)
    }

    async fn upsert_into(&self, collection: &str, entries: Vec<IndexEntry>) -> Result<()> {
        let dimension = self.dimension(collection)?;
        let mut ids = Vec::with_capacity(entries.len());
        let mut persons = Vec::with_capacity(entries.len());
        let mut vectors = Vec::with_capacity(entries.len());
        for entry in entries {
            if entry.embedding.len() != dimension {
                return Err(Error::Internal(format!(
                    "an embedding of {} values for a collection of {dimension}",
                    entry.embedding.len(),
                )));
            }
            ids.push(entry.face_id);
            persons.push(entry.person_id);
            vectors.push(entry.embedding);
        }
        self.client
            .upsert(
                UpsertRequest::builder()
                    .insert(
                        InsertRequest::builder()
                            .collection_name(self.name(collection))
                            .columns(vec![
                                FieldData::varchar(ID, ids),
                                FieldData::varchar(PERSON_ID, persons),
                                FieldData::float_vector(EMBEDDING, vectors),
                            ])
                            .build()
                            .map_err(milvus_down)?,
                    )
                    .build()
                    .map_err(milvus_down)?,
            )
            .await
            .map_err(milvus_down)?;
        Ok(())
    }
}

fn unavailable(error: impl std::fmt::Display) -> Error {
    Error::Unavailable {
        backend: BACKEND,
        message: error.to_string(),
    }
}

/// A Milvus error in one line: a gRPC status by its code, message and cause
/// (the SDK's own text is the status's debug dump).
fn milvus_down(error: milvus::v2::prelude::Error) -> Error {
    unavailable(describe(&error))
}

fn describe(error: &milvus::v2::prelude::Error) -> String {
    use milvus::v2::prelude::Error as Milvus;
    match error {
        Milvus::Grpc(status) => {
            let mut text = format!("{:?}: {}", status.code(), status.message());
            let mut cause = std::error::Error::source(status);
            while let Some(inner) = cause {
                let inner_text = inner.to_string();
                if !text.contains(&inner_text) {
                    text = format!("{text}: {inner_text}");
                }
                cause = inner.source();
            }
            text
        }
        Milvus::RetryExhausted { attempts, source } => {
            format!("{} (after {attempts} attempts)", describe(source))
        }
        other => other.to_string(),
    }
}

/// `id in ["a", "b"]`, with each id quoted as a Milvus string literal.
fn ids_filter(ids: &[String]) -> String {
    let quoted: Vec<String> = ids.iter().map(|id| quoted(id)).collect();
    format!("{ID} in [{}]", quoted.join(", "))
}

/// A Milvus string literal.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[async_trait]
impl VectorIndex for MilvusIndex {
    async fn create_collection(&self, collection: &str, dimension: usize) -> Result<()> {
        self.prepare(collection, dimension).await.map(drop)
    }

    async fn drop_collection(&self, collection: &str) -> Result<()> {
        let name = self.name(collection);
        if self.exists(&name).await? {
            self.client
                .drop_collection(
                    DropCollectionRequest::builder()
                        .collection_name(&name)
                        .build()
                        .map_err(milvus_down)?,
                )
                .await
                .map_err(milvus_down)?;
        }
        self.known().remove(collection);
        Ok(())
    }

    async fn upsert(&self, entries: Vec<IndexEntry>) -> Result<()> {
        let mut by_collection: HashMap<String, Vec<IndexEntry>> = HashMap::new();
        for entry in entries {
            by_collection
                .entry(entry.collection.clone())
                .or_default()
                .push(entry);
        }
        for (collection, entries) in by_collection {
            self.upsert_into(&collection, entries).await?;
        }
        Ok(())
    }

    async fn delete(&self, collection: &str, face_ids: &[String]) -> Result<()> {
        if face_ids.is_empty() {
            return Ok(());
        }
        self.client
            .delete(
                DeleteRequest::builder()
                    .collection_name(self.name(collection))
                    .filter(ids_filter(face_ids))
                    .build()
                    .map_err(milvus_down)?,
            )
            .await
            .map_err(milvus_down)?;
        Ok(())
    }

    async fn search(
        &self,
        collection: &str,
        queries: &[Vec<f32>],
        k: usize,
        min_similarity: f32,
    ) -> Result<Vec<Vec<Hit>>> {
        let dimension = self.dimension(collection)?;
        if let Some(query) = queries.iter().find(|q| q.len() != dimension) {
            return Err(Error::Internal(format!(
                "a {}-dimensional query for a {dimension}-dimensional collection",
                query.len()
            )));
        }
        if queries.is_empty() || k == 0 {
            return Ok(vec![Vec::new(); queries.len()]);
        }
        let k = k.min(MAX_TOP_K);
        let reply = self
            .client
            .search(
                SearchRequest::builder()
                    .collection_name(self.name(collection))
                    .vector_field(EMBEDDING)
                    .vectors(SearchVectors::Float(queries.to_vec()))
                    .limit(k as i64)
                    .metric_type(MetricType::Cosine)
                    .extra_params(HashMap::from([(
                        "ef".into(),
                        self.config.hnsw_ef.max(k).to_string(),
                    )]))
                    .output_fields([PERSON_ID])
                    .consistency_level(ConsistencyLevel::Strong)
                    .build()
                    .map_err(milvus_down)?,
            )
            .await
            .map_err(milvus_down)?;
        let mut answers = Vec::with_capacity(queries.len());
        for result in reply.results() {
            // Milvus 2.3 leaves the primary key's and the score's names out of
            // its answer; the SDK needs them to read rows.
            let mut result = result.clone();
            if result.get_primary_field_name().is_empty() {
                result.set_primary_field_name(ID);
            }
            if result.get_score_field_name().is_empty() {
                result.set_score_field_name(SCORE);
            }
            let mut hits = Vec::new();
            for row in result.rows().map_err(milvus_down)? {
                let similarity = row.get_f32(SCORE).map_err(milvus_down)?;
                if similarity < min_similarity {
                    continue;
                }
                hits.push(Hit {
                    face_id: row.get_str(ID).map_err(milvus_down)?.to_owned(),
                    person_id: row.get_str(PERSON_ID).map_err(milvus_down)?.to_owned(),
                    similarity,
                });
            }
            answers.push(hits);
        }
        // An empty result set can come back with no entry per query.
        answers.resize_with(queries.len(), Vec::new);
        Ok(answers)
    }

    fn backend(&self) -> Option<&'static str> {
        Some(BACKEND)
    }

    async fn check(&self) -> Result<()> {
        let known: Vec<String> = self.known().keys().cloned().collect();
        for collection in known {
            let name = self.name(&collection);
            // A collection dropped meanwhile is not missing.
            if !self.exists(&name).await? && self.known().contains_key(&collection) {
                return Err(unavailable(format!(
                    "the Milvus collection {name} is missing"
                )));
            }
        }
        Ok(())
    }

    async fn recover(&self) -> Result<bool> {
        let known: Vec<(String, usize)> =
            self.known().iter().map(|(c, d)| (c.clone(), *d)).collect();
        let mut created = false;
        for (collection, dimension) in known {
            created |= self.prepare(&collection, dimension).await?;
        }
        Ok(created)
    }

    async fn len(&self, collection: &str) -> Result<usize> {
        let reply = self
            .client
            .query(
                QueryRequest::builder()
                    .collection_name(self.name(collection))
                    .output_fields(["count(*)"])
                    .consistency_level(ConsistencyLevel::Strong)
                    .build()
                    .map_err(milvus_down)?,
            )
            .await
            .map_err(milvus_down)?;
        let count = reply
            .results()
            .rows()
            .map_err(milvus_down)?
            .next()
            .map(|row| row.get_i64("count(*)"))
            .transpose()
            .map_err(milvus_down)?
            .unwrap_or(0);
        Ok(usize::try_from(count).unwrap_or(0))
    }

    async fn ids_page(
        &self,
        collection: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        // Milvus answers a query with a limit with the smallest keys that
        // match, in key order (its own query iterator relies on this); the ids
        // are sorted here all the same.
        let limit = limit.clamp(1, MAX_QUERY_WINDOW);
        let reply = self
            .client
            .query(
                QueryRequest::builder()
                    .collection_name(self.name(collection))
                    .filter(format!("{ID} > {}", quoted(after.unwrap_or(""))))
                    .output_fields([ID])
                    .limit(limit as i64)
                    .consistency_level(ConsistencyLevel::Strong)
                    .build()
                    .map_err(milvus_down)?,
            )
            .await
            .map_err(milvus_down)?;
        let mut ids = reply
            .results()
            .rows()
            .map_err(milvus_down)?
            .map(|row| row.get_str(ID).map(str::to_owned))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(milvus_down)?;
        ids.sort_unstable();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_quotes_every_id() {
        assert_eq!(
            ids_filter(&["a".into(), "b\"c".into()]),
            r#"id in ["a", "b\"c"]"#
        );
    }
}
