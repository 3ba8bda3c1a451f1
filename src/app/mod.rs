//! The use cases: what facebank does for a caller, written against the
//! pipeline and the ports, with no knowledge of the transport or of which
//! backend implements a port.

mod collections;
mod faces;
pub mod maintenance;
mod persons;
mod recognition;
mod streams;

use std::sync::Arc;

pub use self::{
    faces::{PendingRegistration, Registration, RegistrationTarget},
    persons::{PersonField, PersonPage},
    recognition::{DetectOutcome, Match, RecognisedFace, Recognition, Reference, Verification},
    streams::{
        ClipRecognition, ClipTrack, FrameInput, LiveFace, LiveFrame, RegistrationPart,
        LIVE_REPLY_BUFFER,
    },
};
use crate::{
    config::Config,
    error::Result,
    pipeline::Pipeline,
    ports::{cache::PersonCache, index::VectorIndex, records::Records},
};

/// Runs a write to its end on a task of its own. A caller that goes away
/// (a cancelled request) must not cut a transaction in half between the
/// database and the vector index.
async fn detached<T, F>(write: F) -> Result<T>
where
    F: std::future::Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    tokio::spawn(write)
        .await
        .map_err(crate::error::Error::internal)?
}

pub struct FaceBank {
    config: Config,
    pipeline: Pipeline,
    records: Arc<dyn Records>,
    index: Arc<dyn VectorIndex>,
    /// The person cache in front of `records`, when one is configured: kept
    /// here for health reports.
    cache: Option<Arc<dyn PersonCache>>,
    /// The collections this server has served, by name: a call's collection
    /// is looked up here before the database.
    collections: std::sync::RwLock<std::collections::HashMap<String, crate::domain::Collection>>,
}

impl FaceBank {
    pub fn new(
        config: Config,
        pipeline: Pipeline,
        records: Arc<dyn Records>,
        index: Arc<dyn VectorIndex>,
    ) -> Self {
        FaceBank {
            config,
            pipeline,
            records,
            index,
            cache: None,
            collections: Default::default(),
        }
    }

    /// Notes the cache that `records` reads through.
    pub fn with_cache(mut self, cache: Arc<dyn PersonCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    pub fn index(&self) -> &Arc<dyn VectorIndex> {
        &self.index
    }

    pub fn records(&self) -> &Arc<dyn Records> {
        &self.records
    }

    pub fn cache(&self) -> Option<&Arc<dyn PersonCache>> {
        self.cache.as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Fails while the vector index cannot be used. An index whose server
    /// came back without its collection gets it back, loaded from the
    /// records, without a restart.
    pub async fn check_index(&self) -> Result<()> {
        let error = match self.index.check().await {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        if !self.index.recover().await.unwrap_or(false) {
            return Err(error);
        }
        tracing::warn!("The vector index came back empty; loading it from the database");
        let faces = self.rebuild_index().await?;
        tracing::info!(faces, "Vector index loaded again from the database");
        Ok(())
    }

    /// Brings the vector index in step with the records at start: an index
    /// in process is loaded with every face of the current recogniser; one on
    /// a server keeps what it has and gets only what is missing, and loses
    /// vectors that have no row. Returns how many faces the index serves.
    pub async fn rebuild_index(&self) -> Result<usize> {
        let collections = self.prepare_collections().await?;
        let model = &self.pipeline.recogniser().name;
        if self.index.backend().is_none() {
            return maintenance::load_all(&*self.records, &*self.index, &collections, model).await;
        }
        let drift = maintenance::reconcile(
            &*self.records,
            &*self.index,
            &collections,
            model,
            true,
            std::time::Duration::from_secs(1),
        )
        .await?;
        if !drift.is_clean() {
            tracing::warn!(
                rows_without_vectors = drift.rows_without_vectors.len(),
                vectors_without_rows = drift.vectors_without_rows.len(),
                "The vector index had drifted from the database; repaired"
            );
        }
        Ok(drift.faces)
    }
}
