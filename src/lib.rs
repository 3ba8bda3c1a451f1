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

use std::{sync::Arc, time::Duration};

use anyhow::Context;

use crate::{
    app::{
        maintenance::{self, Drift},
        FaceBank,
    },
    config::Config,
    pipeline::{align::DLIB_TEMPLATE, detect::common_input_shapes, Pipeline, RecogniserSpec},
    ports::{
        cache::{CachedRecords, PersonCache, RedisCache},
        index::{MemoryIndex, MilvusIndex, VectorIndex},
        inference::{InferenceEngine, Model, TractEngine, TritonEngine},
        records::{MysqlRecords, Records, SqliteRecords},
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
    let records = open_records(&config, config.database.migrate_on_start).await?;
    let spec = dlib_recogniser();
    let index = open_index(&config).await?;

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

/// The vector index the configuration names: Milvus when `milvus.url` is set,
/// otherwise the exact index in process.
pub async fn open_index(config: &Config) -> anyhow::Result<Arc<dyn VectorIndex>> {
    if config.milvus.url.is_empty() {
        return Ok(Arc::new(MemoryIndex::new()));
    }
    Ok(Arc::new(open_milvus(config).await?))
}

async fn open_milvus(config: &Config) -> anyhow::Result<MilvusIndex> {
    let index = MilvusIndex::open(&config.milvus).await.with_context(|| {
        format!(
            "cannot open the Milvus index at {}",
            config.redacted().milvus.url
        )
    })?;
    tracing::info!(url = %config.redacted().milvus.url, prefix = %config.milvus.collection_prefix, "Vectors live in Milvus");
    Ok(index)
}

/// Compares the configured vector index with the database (`facebank
/// reconcile`); with `repair`, writes the missing vectors and removes the
/// stray ones.
///
/// A repair that would remove more than half of the index's vectors is
/// refused unless `force` is set: that is what pointing the command at the
/// wrong database (say, a forgotten `database.url`) looks like.
pub async fn reconcile(config: &Config, repair: bool, force: bool) -> anyhow::Result<Drift> {
    let (records, index, collections) = open_for_maintenance(config).await?;
    let model = dlib_recogniser().name;
    let settle = Duration::from_secs(2);
    let report =
        maintenance::reconcile(&*records, &index, &collections, &model, false, settle).await?;
    if !repair || report.is_clean() {
        return Ok(report);
    }
    if report.vectors_without_rows.len() * 2 > report.vectors && !force {
        anyhow::bail!(
            "a repair would remove {} of the index's {} vectors; is this the right database ({})? \
             Pass --force to repair all the same",
            report.vectors_without_rows.len(),
            report.vectors,
            if config.database.url.is_empty() {
                format!("SQLite in {}", config.data_dir.display())
            } else {
                config.redacted().database.url
            }
        );
    }
    Ok(maintenance::reconcile(&*records, &index, &collections, &model, true, settle).await?)
}

/// Rebuilds the configured vector index from the database (`facebank
/// reindex`): every face's vector is written again and stray ones removed;
/// with `recreate`, the collection is dropped and created anew first (to
/// apply changed index settings; searches miss faces until it is done).
pub async fn reindex(config: &Config, recreate: bool) -> anyhow::Result<(usize, Drift)> {
    let (records, index, collections) = open_for_maintenance(config).await?;
    let spec = dlib_recogniser();
    if recreate {
        for collection in &collections {
            index.recreate(collection, spec.dimension).await?;
        }
    }
    let loaded = maintenance::load_all(&*records, &index, &collections, &spec.name).await?;
    let settle = Duration::from_secs(2);
    let drift =
        maintenance::reconcile(&*records, &index, &collections, &spec.name, true, settle).await?;
    Ok((loaded, drift))
}

/// The records, the Milvus index and the collections this build's model
/// serves, made ready in it.
async fn open_for_maintenance(
    config: &Config,
) -> anyhow::Result<(Arc<dyn Records>, MilvusIndex, Vec<String>)> {
    if config.milvus.url.is_empty() {
        anyhow::bail!(
            "no vector index to maintain: the in-process index is loaded from the database at \
             every start. reconcile and reindex work on Milvus (set milvus.url)"
        );
    }
    if !config.database.url.is_empty() {
        // The SQLite file is created on demand; a server database is not.
    } else if !config.data_dir.join(DATABASE_FILE).exists() {
        anyhow::bail!(
            "there is no database at {}",
            config.data_dir.join(DATABASE_FILE).display()
        );
    }
    let records = open_records(config, false).await?;
    let index = open_milvus(config).await?;
    let served = dlib_recogniser().model();
    let collections = maintenance::prepare_collections(&*records, &index, &served).await?;
    Ok((
        records,
        index,
        collections.into_iter().map(|c| c.name).collect(),
    ))
}

/// The records database the configuration names: MySQL when `database.url`
/// is set, otherwise the SQLite file in the data directory (always migrated).
pub async fn open_records(config: &Config, migrate: bool) -> anyhow::Result<Arc<dyn Records>> {
    if config.database.url.is_empty() {
        let database = config.data_dir.join(DATABASE_FILE);
        let records = tokio::task::spawn_blocking(move || SqliteRecords::open(&database)).await??;
        return Ok(Arc::new(records));
    }
    let url = config.redacted().database.url;
    let records = MysqlRecords::new(&config.database)?;
    if migrate {
        let applied = records
            .migrate(&config.database.url)
            .await
            .with_context(|| format!("cannot migrate the database at {url}"))?;
        tracing::info!(%url, ?applied, "Records live in MySQL; migrations applied");
    } else {
        tracing::info!(%url, "Records live in MySQL");
    }
    Ok(Arc::new(records))
}

/// Applies pending migrations to the configured database (`facebank
/// migrate`); returns the versions applied.
pub async fn migrate(config: &Config) -> anyhow::Result<Vec<String>> {
    if config.database.url.is_empty() {
        std::fs::create_dir_all(&config.data_dir)?;
        open_records(config, true).await?;
        return Ok(Vec::new());
    }
    let records = MysqlRecords::new(&config.database)?;
    let url = config.redacted().database.url;
    records
        .migrate(&config.database.url)
        .await
        .with_context(|| format!("cannot migrate the database at {url}"))
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
