//! The vector index in Milvus, through `milvus-sdk-rust`'s V2 client.
//!
//! One Milvus collection holds the faces: the face id as its primary key (a
//! string), the person id, and the embedding, under an HNSW index with the
//! cosine metric (embeddings are L2-normalised, so the score is the cosine
//! similarity the rest of facebank uses). Reads use strong consistency, so a
//! face is searchable as soon as the write that added it returns; nothing is
//! flushed per insert. Deletes and look-ups name faces with a filter
//! expression (`id in [...]`), which every Milvus version understands.

use std::{collections::HashMap, time::Duration};

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

pub struct MilvusIndex {
    client: ClientV2,
    collection: String,
    dimension: usize,
    ef: usize,
}

impl MilvusIndex {
    /// Connects, creates the collection and its index unless they exist, and
    /// loads it for search.
    pub async fn open(config: &MilvusConfig, dimension: usize) -> Result<Self> {
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
        let client = ClientV2::new(&connect).await.map_err(unavailable)?;
        let index = MilvusIndex {
            client,
            collection: config.collection.clone(),
            dimension,
            ef: config.hnsw_ef,
        };
        index.create_unless_present(config).await?;
        index
            .client
            .load_collection(
                LoadCollectionRequest::builder()
                    .collection_name(&index.collection)
                    .build()
                    .map_err(unavailable)?,
            )
            .await
            .map_err(unavailable)?;
        Ok(index)
    }

    async fn create_unless_present(&self, config: &MilvusConfig) -> Result<()> {
        let exists = self
            .client
            .has_collection(
                HasCollectionRequest::builder()
                    .collection_name(&self.collection)
                    .build()
                    .map_err(unavailable)?,
            )
            .await
            .map_err(unavailable)?
            .exists();
        if exists {
            return Ok(());
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
                    .dimension(self.dimension as u32),
            );
        let hnsw = IndexParam::new()
            .field_name(EMBEDDING)
            .index_type(IndexType::Hnsw)
            .metric_type(MetricType::Cosine)
            .extra_params(HashMap::from([
                ("M".into(), config.hnsw_m.to_string()),
                ("efConstruction".into(), config.hnsw_ef_construction.to_string()),
            ]));
        self.client
            .create_collection(
                CreateCollectionRequest::builder()
                    .collection_name(&self.collection)
                    .description("facebank faces: id, person_id, embedding")
                    .schema(schema)
                    .index_params(vec![hnsw])
                    .consistency_level(ConsistencyLevel::Strong)
                    .build()
                    .map_err(unavailable)?,
            )
            .await
            .map_err(unavailable)?;
        tracing::info!(collection = %self.collection, "Created the Milvus collection");
        Ok(())
    }
}

fn unavailable(error: impl std::fmt::Display) -> Error {
    Error::Unavailable {
        backend: BACKEND,
        message: error.to_string(),
    }
}

/// `id in ["a", "b"]`, with each id quoted as a Milvus string literal.
fn ids_filter(ids: &[String]) -> String {
    let quoted: Vec<String> = ids
        .iter()
        .map(|id| format!("\"{}\"", id.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{ID} in [{}]", quoted.join(", "))
}

#[async_trait]
impl VectorIndex for MilvusIndex {
    async fn upsert(&self, entries: Vec<IndexEntry>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::with_capacity(entries.len());
        let mut persons = Vec::with_capacity(entries.len());
        let mut vectors = Vec::with_capacity(entries.len());
        for entry in entries {
            if entry.embedding.len() != self.dimension {
                return Err(Error::Internal(format!(
                    "an embedding of {} values for an index of {}",
                    entry.embedding.len(),
                    self.dimension
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
                            .collection_name(&self.collection)
                            .columns(vec![
                                FieldData::varchar(ID, ids),
                                FieldData::varchar(PERSON_ID, persons),
                                FieldData::float_vector(EMBEDDING, vectors),
                            ])
                            .build()
                            .map_err(unavailable)?,
                    )
                    .build()
                    .map_err(unavailable)?,
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete(&self, face_ids: &[String]) -> Result<()> {
        if face_ids.is_empty() {
            return Ok(());
        }
        self.client
            .delete(
                DeleteRequest::builder()
                    .collection_name(&self.collection)
                    .filter(ids_filter(face_ids))
                    .build()
                    .map_err(unavailable)?,
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn search(
        &self,
        queries: &[Vec<f32>],
        k: usize,
        min_similarity: f32,
    ) -> Result<Vec<Vec<Hit>>> {
        if queries.is_empty() || k == 0 {
            return Ok(vec![Vec::new(); queries.len()]);
        }
        let k = k.min(MAX_TOP_K);
        let reply = self
            .client
            .search(
                SearchRequest::builder()
                    .collection_name(&self.collection)
                    .vector_field(EMBEDDING)
                    .vectors(SearchVectors::Float(queries.to_vec()))
                    .limit(k as i64)
                    .metric_type(MetricType::Cosine)
                    .extra_params(HashMap::from([("ef".into(), self.ef.max(k).to_string())]))
                    .output_fields([PERSON_ID])
                    .consistency_level(ConsistencyLevel::Strong)
                    .build()
                    .map_err(unavailable)?,
            )
            .await
            .map_err(unavailable)?;
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
            for row in result.rows().map_err(unavailable)? {
                let similarity = row.get_f32(SCORE).map_err(unavailable)?;
                if similarity < min_similarity {
                    continue;
                }
                hits.push(Hit {
                    face_id: row.get_str(ID).map_err(unavailable)?.to_owned(),
                    person_id: row.get_str(PERSON_ID).map_err(unavailable)?.to_owned(),
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

    async fn len(&self) -> Result<usize> {
        let reply = self
            .client
            .query(
                QueryRequest::builder()
                    .collection_name(&self.collection)
                    .output_fields(["count(*)"])
                    .consistency_level(ConsistencyLevel::Strong)
                    .build()
                    .map_err(unavailable)?,
            )
            .await
            .map_err(unavailable)?;
        let count = reply
            .results()
            .rows()
            .map_err(unavailable)?
            .next()
            .map(|row| row.get_i64("count(*)"))
            .transpose()
            .map_err(unavailable)?
            .unwrap_or(0);
        Ok(usize::try_from(count).unwrap_or(0))
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
