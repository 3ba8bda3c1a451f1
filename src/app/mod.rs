//! The use cases: what facebank does for a caller, written against the
//! pipeline and the ports, with no knowledge of the transport or of which
//! backend implements a port.

mod faces;
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
    ports::{cache::PersonCache, index::IndexEntry, index::VectorIndex, records::Records},
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

/// Faces read per query while the index is rebuilt.
const REBUILD_PAGE: usize = 2000;

pub struct FaceBank {
    config: Config,
    pipeline: Pipeline,
    records: Arc<dyn Records>,
    index: Arc<dyn VectorIndex>,
    /// The person cache in front of `records`, when one is configured: kept
    /// here for health reports.
    cache: Option<Arc<dyn PersonCache>>,
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

    pub fn cache(&self) -> Option<&Arc<dyn PersonCache>> {
        self.cache.as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Loads every stored face of the current recogniser into the vector
    /// index; returns how many there were.
    pub async fn rebuild_index(&self) -> Result<usize> {
        let model = &self.pipeline.recogniser().name;
        let mut after: Option<String> = None;
        let mut loaded = 0;
        loop {
            let page = self
                .records
                .faces_page(after.as_deref(), REBUILD_PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            let entries: Vec<IndexEntry> = page
                .into_iter()
                .filter(|face| &face.model_name == model)
                .map(|face| IndexEntry {
                    face_id: face.id,
                    person_id: face.person_id,
                    embedding: face.embedding,
                })
                .collect();
            loaded += entries.len();
            self.index.upsert(entries).await?;
        }
        Ok(loaded)
    }
}
