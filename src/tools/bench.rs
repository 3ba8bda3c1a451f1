//! `facebank bench`: where the time and memory go.
//!
//! 1. Stages, in process: decode, detect, align, embed for a one-face and a
//!    six-face photo, the detector and recogniser model runs alone (to compare
//!    with other engines), and a search of the exact index.
//! 2. A real server in a child process (`facebank serve`) on a fresh data
//!    directory: resident memory after start, then `Recognize` latency and
//!    throughput with 1 and 4 concurrent clients.
//! 3. The same data directory filled with synthetic faces (random unit
//!    vectors) up to `--faces`; the server restarted: start time, memory and
//!    `Recognize` latency again.
//!
//! `--engines` instead compares the in-process engine with the Triton server
//! of `triton.url`: `Recognize` latency and throughput at 1 and 8 clients, and
//! how much of each request is spent in the engine (for Triton: the calls to
//! the server, network included) against the rest.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use tonic::transport::Channel;

use crate::{
    config::Config,
    domain::{new_id, now_micros, Collection, Face, Person, DEFAULT_COLLECTION},
    pipeline::{detect::Detector, Pipeline, Rect},
    ports::{
        index::{IndexEntry, MemoryIndex, MilvusIndex, VectorIndex},
        inference::{InferenceEngine, Model, Outputs, Tensor, TractEngine},
        records::{Records, SqliteRecords},
    },
    transport::grpc::pb::{self, face_service_client::FaceServiceClient},
};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Folder holding `faces/` and `scenes/` test photos.
    #[arg(long, default_value = "tests/data")]
    pub data: PathBuf,
    /// Runs per stage measurement.
    #[arg(long, default_value_t = 20)]
    pub iterations: usize,
    /// Seconds each load phase runs.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Registered faces for the memory and large-index measurements.
    #[arg(long, default_value_t = 100_000)]
    pub faces: usize,
    /// Only the in-process stage measurements.
    #[arg(long)]
    pub stages_only: bool,
    /// Only the comparison of the in-process engine with Triton (set
    /// `triton.url`, e.g. FACEBANK_TRITON__URL=http://127.0.0.1:8001).
    #[arg(long)]
    pub engines: bool,
    /// Only person reads from the database alone and through the Redis
    /// cache (`redis.url`, default redis://127.0.0.1:6379/0).
    #[arg(long)]
    pub cache: bool,
    /// Only RegisterFaces and Recognize on the embedded storage against the
    /// configured production storage (`database.url`, `redis.url`,
    /// `milvus.url`), with in-process inference for both; the bench works in
    /// a collection of its own there and deletes it afterwards.
    #[arg(long)]
    pub storage: bool,
    /// Only index search, in process and, when `milvus.url` is set, in
    /// Milvus (a collection of its own, dropped afterwards).
    #[arg(long)]
    pub index: bool,
}

const ONE_FACE: &str = "faces/deepface_angelina/1.jpg";
const PROBE: &str = "faces/deepface_angelina/3.jpg";
const SIX_FACES: &str = "scenes/insightface_t1.jpg";
const REGISTERED: [(&str, &[&str]); 3] = [
    (
        "Angelina",
        &[
            "faces/deepface_angelina/1.jpg",
            "faces/deepface_angelina/2.jpg",
        ],
    ),
    ("Jack", &["faces/deepface_jack/1.jpg"]),
    ("Jennifer", &["faces/deepface_jennifer/1.jpg"]),
];

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let config = Config::load()?;
    println!(
        "facebank bench: {} CPU cores, inference threads per run {}, concurrent runs {}\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        config.inference.threads_per_run,
        config.inference_concurrency()
    );

    if args.engines {
        return engines(&args, config).await;
    }
    if args.cache {
        return cache(&config).await;
    }
    if args.storage {
        return storage(&args, config).await;
    }
    if args.index {
        return search(&args, &config).await;
    }
    stages(&args, &config).await?;
    search(&args, &config).await?;
    if !args.stages_only {
        server(&args).await?;
        live(&args).await?;
    }
    Ok(())
}

async fn stages(args: &BenchArgs, config: &Config) -> anyhow::Result<()> {
    let engine: Arc<dyn InferenceEngine> = Arc::new(TractEngine::load(
        &config.models.detector,
        &config.models.recogniser,
        config.inference_concurrency(),
        config.inference.threads_per_run,
    )?);
    let pipeline = Pipeline::new(config, Arc::clone(&engine), crate::dlib_recogniser());
    let detector = Detector::new(Arc::clone(&engine), config.detector);

    println!(
        "## Pipeline stages (median of {} runs, ms)\n",
        args.iterations
    );
    println!(
        "| photo | faces | decode | detect | align | embed | total | detector model | recogniser model |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for photo in [ONE_FACE, SIX_FACES] {
        let bytes = bytes::Bytes::from(std::fs::read(args.data.join(photo))?);
        let mut samples = Vec::new();
        let mut faces = 0;
        for i in 0..args.iterations + 2 {
            let (times, found) = pipeline.time_stages(bytes.clone()).await?;
            faces = found;
            if i >= 2 {
                samples.push(times);
            }
        }

        let image = pipeline.decode(bytes.clone()).await?;
        let input = detector.prepare(&image);
        let detector_model = time_runs(args.iterations, || {
            engine.infer(Model::Detector, input.tensor.clone())
        })
        .await?;
        let batch = pipeline.aligned_batch(&image, &pipeline.detect(&image).await?);
        let recogniser_model = time_runs(args.iterations, || {
            engine.infer(Model::Recogniser, batch.clone())
        })
        .await?;

        let median_of =
            |f: fn(&crate::pipeline::StageTimes) -> f64| median(samples.iter().map(f).collect());
        let (decode, detect, align, embed) = (
            median_of(|t| t.decode),
            median_of(|t| t.detect),
            median_of(|t| t.align),
            median_of(|t| t.embed),
        );
        println!(
            "| {photo} ({}x{}) | {faces} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} ({:?}) | {:.1} (batch {faces}) |",
            image.width(),
            image.height(),
            decode * 1e3,
            detect * 1e3,
            align * 1e3,
            embed * 1e3,
            (decode + detect + align + embed) * 1e3,
            detector_model * 1e3,
            input.tensor.shape,
            recogniser_model * 1e3,
        );
    }
    println!();
    Ok(())
}

async fn time_runs<F, Fut, T>(iterations: usize, mut run: F) -> anyhow::Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::error::Result<T>>,
{
    run().await?;
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        run().await?;
        samples.push(started.elapsed().as_secs_f64());
    }
    Ok(median(samples))
}

async fn search(args: &BenchArgs, config: &Config) -> anyhow::Result<()> {
    println!("## Index search (median, ms; k = 8; 128-d synthetic unit vectors)\n");
    println!("| index | faces | 1 query | 6 queries |");
    println!("| --- | --- | --- | --- |");
    let milvus = if config.milvus.url.is_empty() {
        None
    } else {
        let mut milvus = config.milvus.clone();
        milvus.collection_prefix = format!("bench_{}", uuid::Uuid::now_v7().simple());
        Some(MilvusIndex::open(&milvus).await?)
    };
    let mut random = Random(0x5eed);
    for size in [10_000, args.faces.max(10_000)] {
        let entries: Vec<IndexEntry> = (0..size)
            .map(|i| IndexEntry {
                face_id: format!("f{i}"),
                person_id: format!("p{i}"),
                collection: "bench".into(),
                embedding: random.unit_vector(128),
            })
            .collect();
        let queries: Vec<Vec<f32>> = (0..6).map(|_| random.unit_vector(128)).collect();

        let index = MemoryIndex::new();
        index.create_collection("bench", 128).await?;
        index.upsert(entries.clone()).await?;
        let one = time_runs(args.iterations, || {
            index.search("bench", &queries[..1], 8, -1.0)
        })
        .await?;
        let six = time_runs(args.iterations, || index.search("bench", &queries, 8, -1.0)).await?;
        println!(
            "| in process (exact) | {size} | {:.2} | {:.2} |",
            one * 1e3,
            six * 1e3
        );
        drop(index);

        if let Some(milvus) = &milvus {
            milvus.create_collection("bench", 128).await?;
            for chunk in entries.chunks(5000) {
                milvus.upsert(chunk.to_vec()).await?;
            }
            milvus.settle("bench", Duration::from_secs(300)).await?;
            let one = time_runs(args.iterations, || {
                milvus.search("bench", &queries[..1], 8, -1.0)
            })
            .await?;
            let six = time_runs(args.iterations, || {
                milvus.search("bench", &queries, 8, -1.0)
            })
            .await?;
            println!(
                "| Milvus (HNSW, ef {}) | {size} | {:.2} | {:.2} |",
                config.milvus.hnsw_ef,
                one * 1e3,
                six * 1e3
            );
            milvus.drop_collection("bench").await?;
        }
    }
    println!();
    Ok(())
}

/// RegisterFaces and Recognize through gRPC on the embedded storage, then on
/// the configured production storage, both with in-process inference.
async fn storage(args: &BenchArgs, config: Config) -> anyhow::Result<()> {
    if config.database.url.is_empty() && config.redis.url.is_empty() && config.milvus.url.is_empty()
    {
        bail!(
            "--storage compares with production storage: set database.url, redis.url or milvus.url"
        );
    }
    let engine = crate::load_tract(&config).await?;
    println!(
        "## RegisterFaces and Recognize by storage (in-process inference; {} registrations, {} s per Recognize row)\n",
        args.iterations, args.seconds
    );
    println!("| storage | call | clients | requests | p50 ms | p95 ms | requests/s |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let photos = [
        "faces/deepface_angelina/1.jpg",
        "faces/deepface_jack/1.jpg",
        "faces/deepface_jennifer/1.jpg",
        "faces/deepface_angelina/2.jpg",
    ];
    for production in [false, true] {
        let temp = tempfile_dir()?;
        let mut config = Config {
            data_dir: temp.path().to_path_buf(),
            ..config.clone()
        };
        let name = if production {
            let mut parts = Vec::new();
            if !config.database.url.is_empty() {
                parts.push("MySQL");
            }
            if !config.redis.url.is_empty() {
                parts.push("Redis");
            }
            if !config.milvus.url.is_empty() {
                parts.push("Milvus");
            }
            parts.join(" + ")
        } else {
            config.database = Default::default();
            config.redis = Default::default();
            config.milvus = Default::default();
            "SQLite + in process".to_string()
        };
        let bank = crate::open_with_engine(config, Arc::clone(&engine)).await?;
        let collection = format!("bench_{}", uuid::Uuid::now_v7().simple());
        bank.create_collection(&collection, None, None).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(crate::transport::grpc::serve(
            Arc::clone(&bank),
            listener,
            async {
                let _ = stopped.await;
            },
        ));
        let client = FaceServiceClient::connect(format!("http://{address}")).await?;

        let mut latencies = Vec::new();
        for i in 0..args.iterations {
            let photo = photos[i % photos.len()];
            let person = pb::Person {
                name: format!("bench {i}"),
                collection: collection.clone(),
                ..Default::default()
            };
            let started = Instant::now();
            register_person(&client, &args.data, person, &[photo]).await?;
            latencies.push(started.elapsed().as_secs_f64());
        }
        latencies.sort_by(f64::total_cmp);
        println!(
            "| {name} | RegisterFaces (one photo) | 1 | {} | {:.1} | {:.1} | {:.1} |",
            latencies.len(),
            percentile(&latencies, 0.5) * 1e3,
            percentile(&latencies, 0.95) * 1e3,
            latencies.len() as f64 / latencies.iter().sum::<f64>(),
        );
        let bytes = bytes::Bytes::from(std::fs::read(args.data.join(PROBE))?);
        for clients in [1, 4] {
            let report = load_in(
                &client,
                &collection,
                bytes.clone(),
                clients,
                Duration::from_secs(args.seconds),
            )
            .await?;
            println!(
                "| {name} | Recognize | {clients} | {} | {:.1} | {:.1} | {:.1} |",
                report.requests, report.p50_ms, report.p95_ms, report.per_second
            );
        }
        let _ = stop.send(());
        served.await??;
        bank.delete_collection(&collection, true).await?;
    }
    Ok(())
}

async fn server(args: &BenchArgs) -> anyhow::Result<()> {
    let temp = tempfile_dir()?;
    let dir = temp.path();
    let port = free_port()?;

    let started = Instant::now();
    let mut child = ChildServer::start(dir, port).await?;
    println!("## Server in a child process, fresh data directory\n");
    println!(
        "- ready after {:.1} s; resident memory {} MiB",
        started.elapsed().as_secs_f64(),
        child.rss_mib()?
    );
    let client = child.client().await?;
    for (name, photos) in REGISTERED {
        register(&client, &args.data, name, photos).await?;
    }
    println!(
        "- registered {} persons; resident memory {} MiB\n",
        REGISTERED.len(),
        child.rss_mib()?
    );
    load_table(args, &client, &[PROBE, SIX_FACES]).await?;
    child.stop()?;

    let filled = Instant::now();
    let records = SqliteRecords::open(&dir.join(crate::DATABASE_FILE))?;
    fill(&records, DEFAULT_COLLECTION, args.faces).await?;
    drop(records);
    println!(
        "\n## The same server with {} registered faces\n",
        args.faces
    );
    println!(
        "- {} synthetic faces written in {:.1} s",
        args.faces,
        filled.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let mut child = ChildServer::start(dir, port).await?;
    println!(
        "- ready after {:.1} s (index rebuilt from the database); resident memory {} MiB\n",
        started.elapsed().as_secs_f64(),
        child.rss_mib()?
    );
    let client = child.client().await?;
    load_table(args, &client, &[PROBE]).await?;
    println!(
        "\n- resident memory after the load: {} MiB",
        child.rss_mib()?
    );
    child.stop()?;

    Ok(())
}

async fn load_table(
    args: &BenchArgs,
    client: &FaceServiceClient<Channel>,
    photos: &[&str],
) -> anyhow::Result<()> {
    println!("| photo | clients | requests | p50 ms | p95 ms | requests/s |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for photo in photos {
        let bytes = bytes::Bytes::from(std::fs::read(args.data.join(photo))?);
        for clients in [1, 4] {
            let report = load(
                client,
                bytes.clone(),
                clients,
                Duration::from_secs(args.seconds),
            )
            .await?;
            println!(
                "| {photo} | {clients} | {} | {:.1} | {:.1} | {:.1} |",
                report.requests, report.p50_ms, report.p95_ms, report.per_second
            );
        }
    }
    Ok(())
}

struct LoadReport {
    requests: usize,
    mean_ms: f64,
    p50_ms: f64,
    p95_ms: f64,
    per_second: f64,
}

/// `clients` callers each sending `Recognize` back to back for `duration`.
async fn load(
    client: &FaceServiceClient<Channel>,
    image: bytes::Bytes,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<LoadReport> {
    load_in(client, "", image, clients, duration).await
}

/// [`load`] searching `collection`.
async fn load_in(
    client: &FaceServiceClient<Channel>,
    collection: &str,
    image: bytes::Bytes,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<LoadReport> {
    let started = Instant::now();
    let callers = (0..clients).map(|_| {
        let mut client = client.clone();
        let image = image.clone();
        let collection = collection.to_string();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < duration {
                let call = Instant::now();
                client
                    .recognize(pb::RecognizeRequest {
                        image: Some(pb::Image {
                            content: image.clone(),
                        }),
                        top_k: 1,
                        collection: collection.clone(),
                        ..Default::default()
                    })
                    .await?;
                latencies.push(call.elapsed().as_secs_f64());
            }
            Ok::<_, tonic::Status>(latencies)
        })
    });
    let mut latencies = Vec::new();
    for caller in futures::future::join_all(callers).await {
        latencies.extend(caller??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Ok(LoadReport {
        requests: latencies.len(),
        mean_ms: latencies.iter().sum::<f64>() / latencies.len().max(1) as f64 * 1e3,
        p50_ms: percentile(&latencies, 0.50) * 1e3,
        p95_ms: percentile(&latencies, 0.95) * 1e3,
        per_second: latencies.len() as f64 / elapsed,
    })
}

/// Counts the time spent inside an engine's `infer`.
struct TimedEngine {
    inner: Arc<dyn InferenceEngine>,
    nanos: AtomicU64,
}

#[async_trait::async_trait]
impl InferenceEngine for TimedEngine {
    async fn infer(&self, model: Model, input: Tensor) -> crate::error::Result<Outputs> {
        let started = Instant::now();
        let outputs = self.inner.infer(model, input).await;
        self.nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        outputs
    }
}

async fn engines(args: &BenchArgs, config: Config) -> anyhow::Result<()> {
    if config.triton.url.is_empty() {
        bail!("--engines compares with Triton: set triton.url (FACEBANK_TRITON__URL)");
    }
    println!(
        "## Recognize by engine ({} s per row; engine ms: mean time per request inside the engine)\n",
        args.seconds
    );
    println!("| engine | photo | clients | requests | p50 ms | p95 ms | requests/s | engine ms | rest ms |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for triton in [false, true] {
        let engine = Arc::new(TimedEngine {
            inner: if triton {
                crate::load_engine(&config).await?
            } else {
                crate::load_tract(&config).await?
            },
            nanos: AtomicU64::new(0),
        });
        let temp = tempfile_dir()?;
        let bank = crate::open_with_engine(
            Config {
                data_dir: temp.path().to_path_buf(),
                ..config.clone()
            },
            Arc::clone(&engine) as Arc<dyn InferenceEngine>,
        )
        .await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(crate::transport::grpc::serve(bank, listener, async {
            let _ = stopped.await;
        }));
        let client = FaceServiceClient::connect(format!("http://{address}")).await?;
        for (name, photos) in REGISTERED {
            register(&client, &args.data, name, photos).await?;
        }

        let name = if triton { "Triton" } else { "in-process" };
        for photo in [PROBE, SIX_FACES] {
            let bytes = bytes::Bytes::from(std::fs::read(args.data.join(photo))?);
            for clients in [1, 8] {
                let before = engine.nanos.load(Ordering::Relaxed);
                let report = load(
                    &client,
                    bytes.clone(),
                    clients,
                    Duration::from_secs(args.seconds),
                )
                .await?;
                let inside = (engine.nanos.load(Ordering::Relaxed) - before) as f64
                    / 1e6
                    / report.requests as f64;
                println!(
                    "| {name} | {photo} | {clients} | {} | {:.1} | {:.1} | {:.1} | {inside:.1} | {:.1} |",
                    report.requests,
                    report.p50_ms,
                    report.p95_ms,
                    report.per_second,
                    report.mean_ms - inside,
                );
            }
        }
        let _ = stop.send(());
        served.await??;
    }
    Ok(())
}

async fn register(
    client: &FaceServiceClient<Channel>,
    data: &Path,
    name: &str,
    photos: &[&str],
) -> anyhow::Result<()> {
    let person = pb::Person {
        name: name.into(),
        ..Default::default()
    };
    register_person(client, data, person, photos).await
}

async fn register_person(
    client: &FaceServiceClient<Channel>,
    data: &Path,
    person: pb::Person,
    photos: &[&str],
) -> anyhow::Result<()> {
    let images = photos
        .iter()
        .map(|p| {
            Ok(pb::Image {
                content: std::fs::read(data.join(p))?.into(),
            })
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    client
        .clone()
        .register_faces(pb::RegisterFacesRequest {
            target: Some(pb::register_faces_request::Target::NewPerson(person)),
            images,
            face_selection: 0,
        })
        .await?;
    Ok(())
}

/// Person reads (one by id, and the eight matches of a recognition in one
/// call) from SQLite alone and through the Redis cache, with 10,000 stored
/// persons. The cache's keys are removed afterwards.
async fn cache(config: &Config) -> anyhow::Result<()> {
    use crate::ports::cache::{CachedRecords, PersonCache, RedisCache};

    const STORED_FACES: usize = 100_000;
    const READS: usize = 2000;
    let dir = tempfile_dir()?;
    // The configured database (a scratch one: the bench works in a collection
    // of its own and deletes it), or a fresh SQLite file.
    let database = Config {
        data_dir: dir.path().to_path_buf(),
        ..config.clone()
    };
    let sqlite = crate::open_records(&database, true).await?;
    let backend = if config.database.url.is_empty() {
        "SQLite"
    } else {
        "MySQL"
    };
    let collection = Collection {
        name: format!("bench_{}", uuid::Uuid::now_v7().simple()),
        model: crate::dlib_recogniser().model(),
        threshold: None,
        created_at: now_micros(),
        person_count: 0,
    };
    sqlite.create_collection(&collection).await?;
    fill(&*sqlite, &collection.name, STORED_FACES).await?;
    let mut redis = config.redis.clone();
    if redis.url.is_empty() {
        redis.url = "redis://127.0.0.1:6379/0".into();
    }
    redis.key_prefix = format!("facebank-bench-{}:", new_id());
    let redis_cache = Arc::new(RedisCache::new(&redis)?);
    redis_cache
        .check()
        .await
        .with_context(|| format!("Redis at {}", redis.url))?;
    let cached: Arc<dyn Records> = Arc::new(CachedRecords::new(
        Arc::clone(&sqlite),
        Arc::clone(&redis_cache) as Arc<dyn PersonCache>,
    ));

    let ids: Vec<String> = sqlite
        .list_persons(&collection.name, None, 5000)
        .await?
        .into_iter()
        .map(|p| p.id)
        .collect();
    println!(
        "## Person reads, {} persons stored (median of {READS} reads after one warm-up pass, ms)\n",
        STORED_FACES / 10
    );
    println!("| read | {backend} | {backend} + Redis cache (warm) |");
    println!("| --- | --- | --- |");
    let mut pick = Random(0xcafe);
    let mut choose = |n: usize| -> Vec<String> {
        (0..n)
            .map(|_| ids[(pick.next().abs() * (ids.len() - 1) as f32) as usize].clone())
            .collect()
    };
    for (label, per_read) in [("one person by id", 1), ("eight persons in one call", 8)] {
        let reads: Vec<Vec<String>> = (0..READS).map(|_| choose(per_read)).collect();
        let mut row = Vec::new();
        for records in [&sqlite, &cached] {
            // Warm the cache (and SQLite's pages) with every read once.
            for wanted in &reads {
                records.persons(wanted).await?;
            }
            let mut samples = Vec::with_capacity(READS);
            for wanted in &reads {
                let started = Instant::now();
                records.persons(wanted).await?;
                samples.push(started.elapsed().as_secs_f64() * 1e3);
            }
            row.push(format!("{:.3}", median(samples)));
        }
        println!("| {label} | {} | {} |", row[0], row[1]);
    }

    // Leave nothing behind on the servers.
    let keep = Box::new(
        |_| -> futures::future::BoxFuture<'static, crate::error::Result<()>> {
            Box::pin(async { Ok(()) })
        },
    );
    sqlite
        .delete_collection(&collection.name, true, keep)
        .await?;
    let mut conn = bb8_redis::redis::Client::open(redis.url.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    let keys: Vec<String> = bb8_redis::redis::cmd("KEYS")
        .arg(format!("{}*", redis.key_prefix))
        .query_async(&mut conn)
        .await?;
    if !keys.is_empty() {
        bb8_redis::redis::cmd("DEL")
            .arg(&keys)
            .query_async::<()>(&mut conn)
            .await?;
    }
    Ok(())
}

/// Adds synthetic persons (ten faces each) until the database holds `total`
/// faces.
async fn fill(records: &dyn Records, collection: &str, total: usize) -> anyhow::Result<()> {
    let spec = crate::dlib_recogniser();
    let mut random = Random(0xface);
    let mut written = REGISTERED
        .iter()
        .map(|(_, photos)| photos.len())
        .sum::<usize>();
    while written < total {
        let now = now_micros();
        let person = Person {
            id: new_id(),
            name: format!("synthetic {written}"),
            collection: collection.into(),
            created_at: now,
            updated_at: now,
            ..Person::default()
        };
        let faces: Vec<Face> = (0..10.min(total - written))
            .map(|n| Face {
                id: new_id(),
                person_id: person.id.clone(),
                collection: collection.into(),
                embedding: random.unit_vector(spec.dimension),
                model_name: spec.name.clone(),
                model_version: spec.version.clone(),
                detection_score: 0.99,
                rect: Rect {
                    x1: 0.0,
                    y1: 0.0,
                    x2: 100.0,
                    y2: 100.0,
                },
                landmarks: [[0.0; 2]; 5],
                // One image may give a person one face: each its own.
                image_sha256: format!("synthetic-{written}-{n}"),
                created_at: now,
            })
            .collect();
        written += faces.len();
        records
            .add_faces(
                Some(&person),
                &faces,
                Box::new(|_| Box::pin(async { Ok(()) })),
            )
            .await?;
    }
    Ok(())
}

/// RecognizeFrames on a steady 640 x 480 scene of six faces, with the track
/// reuse at its configured interval and with every face embedded on every
/// frame (interval 1).
async fn live(args: &BenchArgs) -> anyhow::Result<()> {
    const FRAMES: usize = 30;
    let scene = image::load_from_memory(&std::fs::read(args.data.join(SIX_FACES))?)?.to_rgb8();
    let frame = image::imageops::resize(&scene, 640, 480, image::imageops::FilterType::Triangle);
    let rgb = bytes::Bytes::from(frame.into_raw());
    let default_interval = Config::default().streaming.recheck_interval;

    println!("\n## RecognizeFrames, steady 640x480 scene with six faces, {FRAMES} raw frames\n");
    println!("| re-embedding | frames/s (streamed back to back) | latency p50 ms | p95 ms | faces embedded |");
    println!("| --- | --- | --- | --- | --- |");
    for interval in [1, default_interval] {
        let temp = tempfile_dir()?;
        let dir = temp.path();
        let mut child = ChildServer::start_with(
            dir,
            free_port()?,
            &[(
                "FACEBANK_STREAMING__RECHECK_INTERVAL",
                &interval.to_string(),
            )],
        )
        .await?;
        let client = child.client().await?;

        let rgb = rgb.clone();
        let request = move |i: usize| pb::RecognizeFramesRequest {
            options: None,
            frame: Some(pb::Frame {
                frame_id: i.to_string(),
                timestamp_ms: 0,
                image: Some(pb::frame::Image::Raw(pb::RawImage {
                    rgb: rgb.clone(),
                    width: 640,
                    height: 480,
                })),
            }),
        };
        let started = Instant::now();
        let mut replies = client
            .clone()
            .recognize_frames(futures::stream::iter((0..FRAMES).map(request.clone())))
            .await?
            .into_inner();
        let mut embedded = 0;
        while let Some(reply) = replies.message().await? {
            embedded += reply.faces.iter().filter(|f| f.embedded).count();
        }
        let per_second = FRAMES as f64 / started.elapsed().as_secs_f64();

        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        let mut replies = client
            .clone()
            .recognize_frames(tokio_stream::wrappers::ReceiverStream::new(receiver))
            .await?
            .into_inner();
        let mut latencies = Vec::with_capacity(FRAMES);
        for i in 0..FRAMES {
            let sent = Instant::now();
            sender.send(request(i)).await?;
            replies.message().await?.context("the stream ended early")?;
            latencies.push(sent.elapsed().as_secs_f64());
        }
        drop(sender);
        latencies.sort_by(f64::total_cmp);

        let label = if interval == 1 {
            "every frame".to_string()
        } else {
            format!("every {interval} frames")
        };
        println!(
            "| {label} | {per_second:.1} | {:.1} | {:.1} | {embedded} of {} |",
            percentile(&latencies, 0.5) * 1e3,
            percentile(&latencies, 0.95) * 1e3,
            FRAMES * 6
        );
        child.stop()?;
    }
    Ok(())
}

/// `facebank serve` in a child process.
struct ChildServer {
    child: Child,
    port: u16,
}

impl ChildServer {
    async fn start(dir: &Path, port: u16) -> anyhow::Result<ChildServer> {
        Self::start_with(dir, port, &[]).await
    }

    async fn start_with(
        dir: &Path,
        port: u16,
        environment: &[(&str, &str)],
    ) -> anyhow::Result<ChildServer> {
        let child = Command::new(std::env::current_exe()?)
            .envs(environment.iter().copied())
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start facebank serve")?;
        let mut server = ChildServer { child, port };
        server.wait_until_serving().await?;
        Ok(server)
    }

    async fn wait_until_serving(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(300);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("facebank serve exited with {status}");
            }
            if let Ok(channel) = Channel::from_shared(format!("http://127.0.0.1:{}", self.port))?
                .connect()
                .await
            {
                let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
                let request = tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                };
                if health.check(request).await.is_ok() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("facebank serve did not become ready")
    }

    async fn client(&self) -> anyhow::Result<FaceServiceClient<Channel>> {
        Ok(FaceServiceClient::connect(format!("http://127.0.0.1:{}", self.port)).await?)
    }

    fn rss_mib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmRSS in /proc")?;
        Ok(kib / 1024)
    }

    fn stop(&mut self) -> anyhow::Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn tempfile_dir() -> anyhow::Result<tempfile::TempDir> {
    Ok(tempfile::Builder::new()
        .prefix("facebank-bench-")
        .tempdir()?)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    percentile(&samples, 0.5)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// xorshift64*: reproducible synthetic vectors without a dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        bits as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    fn unit_vector(&mut self, dimension: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..dimension).map(|_| self.next()).collect();
        crate::pipeline::recognise::normalised(&v)
    }
}
