//! facebank: face registration and recognition over gRPC.
//!
//! A request flows from the transport (`transport`) to the use cases (`app`),
//! which run the face pipeline (`pipeline`) and talk to the outside world only
//! through the ports (`ports`).

#![forbid(unsafe_code)]

pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod pipeline;
pub mod ports;
pub mod tools;
pub mod transport;

use std::sync::Arc;

use anyhow::Context;

use crate::{
    app::FaceBank,
    config::Config,
    pipeline::{align::DLIB_TEMPLATE, detect::common_input_shapes, Pipeline, RecogniserSpec},
    ports::{
        cache::{CachedRecords, PersonCache, RedisCache},
        index::{MemoryIndex, MilvusIndex, VectorIndex},
        inference::{InferenceEngine, Model, TractEngine, TritonEngine},
        records::{Records, SqliteRecords},
    },
};

/// The file of the embedded database inside the data directory.
pub const DATABASE_FILE: &str = "facebank.sqlite3";

/// The default recogniser: dlib's ResNet, 128-d.
pub fn dlib_recogniser() -> RecogniserSpec {
    RecogniserSpec {
        name: "dlib_face_recognition_resnet_v1".into(),
        version: "1".into(),
        template: DLIB_TEMPLATE,
        dimension: 128,
    }
}

/// The pipeline on the configured engine, with no storage: for tools.
pub async fn standalone_pipeline(config: &Config) -> anyhow::Result<Pipeline> {
    let engine = load_engine(config).await?;
    Ok(Pipeline::new(config, engine, dlib_recogniser()))
}

/// Loads the models, opens the stores and rebuilds the vector index: a
/// facebank ready to serve.
pub async fn open(config: Config) -> anyhow::Result<Arc<FaceBank>> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;

    let engine = load_engine(&config).await?;
    open_with_engine(config, engine).await
}

/// [`open`] with an inference engine the caller made (the bench wraps one to
/// time it).
pub async fn open_with_engine(
    config: Config,
    engine: Arc<dyn InferenceEngine>,
) -> anyhow::Result<Arc<FaceBank>> {
    let database = config.data_dir.join(DATABASE_FILE);
    let records = tokio::task::spawn_blocking(move || SqliteRecords::open(&database)).await??;
    let spec = dlib_recogniser();
    let index: Arc<dyn VectorIndex> = if config.milvus.url.is_empty() {
        Arc::new(MemoryIndex::new(spec.dimension))
    } else {
        let index = MilvusIndex::open(&config.milvus, spec.dimension)
            .await
            .with_context(|| format!("cannot open the Milvus index at {}", config.milvus.url))?;
        tracing::info!(url = %config.milvus.url, collection = %config.milvus.collection, "Vectors live in Milvus");
        Arc::new(index)
    };

    let records: Arc<dyn Records> = Arc::new(records);
    let cache = open_cache(&config).await?;
    let pipeline = Pipeline::new(&config, engine, spec);
    let bank = match cache {
        Some(cache) => {
            let records = Arc::new(CachedRecords::new(records, Arc::clone(&cache)));
            FaceBank::new(config, pipeline, records, index).with_cache(cache)
        }
        None => FaceBank::new(config, pipeline, records, index),
    };
    let faces = bank.rebuild_index().await?;
    tracing::info!(faces, "Vector index rebuilt from the database");
    Ok(Arc::new(bank))
}

/// The person cache, when `redis.url` is set. A cache that does not answer
/// at start is logged, not fatal: reads go to the database until it does.
async fn open_cache(config: &Config) -> anyhow::Result<Option<Arc<dyn PersonCache>>> {
    if config.redis.url.is_empty() {
        return Ok(None);
    }
    let cache = RedisCache::new(&config.redis)?;
    match cache.check().await {
        Ok(()) => tracing::info!("Person reads are cached in Redis"),
        Err(error) => {
            tracing::warn!(%error, "Redis does not answer; person reads go to the database until it does")
        }
    }
    Ok(Some(Arc::new(cache)))
}

/// The engine the configuration names: Triton when `triton.url` is set,
/// otherwise the in-process one.
pub async fn load_engine(config: &Config) -> anyhow::Result<Arc<dyn InferenceEngine>> {
    if !config.triton.url.is_empty() {
        let engine = TritonEngine::connect(&config.triton, &dlib_recogniser()).await?;
        tracing::info!(url = %config.triton.url, "Inference runs on Triton");
        return Ok(Arc::new(engine));
    }
    load_tract(config).await
}

/// The in-process engine, whatever the configuration says.
pub async fn load_tract(config: &Config) -> anyhow::Result<Arc<dyn InferenceEngine>> {
    let (detector, recogniser) = (
        config.models.detector.clone(),
        config.models.recogniser.clone(),
    );
    let concurrency = config.inference_concurrency();
    let threads = config.inference.threads_per_run;
    let warm_shapes = common_input_shapes(&config.detector);

    let engine = tokio::task::spawn_blocking(move || -> anyhow::Result<TractEngine> {
        let engine = TractEngine::load(&detector, &recogniser, concurrency, threads)?;
        engine.warm_up(Model::Detector, &warm_shapes)?;
        engine.warm_up(Model::Recogniser, &[vec![1, 3, 150, 150]])?;
        Ok(engine)
    })
    .await??;
    Ok(Arc::new(engine))
}
