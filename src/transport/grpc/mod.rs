//! The gRPC server: `facebank.v1.FaceService`, `grpc.health.v1.Health` and
//! server reflection.

mod convert;
mod service;
mod status;

use std::{collections::BTreeSet, future::Future, sync::Arc, time::Duration};

use tokio::{net::TcpListener, task::JoinHandle, time::MissedTickBehavior};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::server::NamedService;
use tonic_health::{server::HealthReporter, ServingStatus};
use tower_http::{
    classify::{GrpcCode, GrpcErrorsAsFailures, SharedClassifier},
    trace::{DefaultMakeSpan, DefaultOnFailure, DefaultOnResponse, TraceLayer},
};
use tracing::Level;

use self::pb::face_service_server::FaceServiceServer;
pub use self::service::FaceApi;
use crate::app::FaceBank;

/// The generated protobuf types and gRPC stubs of `facebank.v1`.
pub mod pb {
    tonic::include_proto!("facebank.v1");

    /// The encoded descriptors of the API, served by reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/facebank_descriptor.bin"));
}

/// Serves on `listener` until `shutdown` completes, then finishes the calls in
/// flight.
pub async fn serve(
    bank: Arc<FaceBank>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let max_message = bank.config().images.max_request_bytes;

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<pb::face_service_server::FaceServiceServer<FaceApi>>()
        .await;
    let down: Down = Arc::new(tokio::sync::Mutex::new(BTreeSet::new()));
    let watchers: Vec<JoinHandle<()>> = [
        watch_backend(&bank, &health, &down),
        watch_index(&bank, &health, &down),
        watch_records(&bank, &health, &down),
        watch_cache(&bank, &health),
    ]
    .into_iter()
    .flatten()
    .collect();

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let faces = pb::face_service_server::FaceServiceServer::new(FaceApi::new(bank))
        .max_decoding_message_size(max_message)
        .max_encoding_message_size(max_message);

    // A caller's mistake is not the server's failure: those answers are
    // logged as responses (INFO), and WARN is kept for what an operator must
    // look at (UNAVAILABLE, INTERNAL, DEADLINE_EXCEEDED, ...).
    let callers_errors = [
        GrpcCode::Cancelled,
        GrpcCode::InvalidArgument,
        GrpcCode::NotFound,
        GrpcCode::AlreadyExists,
        GrpcCode::FailedPrecondition,
        GrpcCode::OutOfRange,
        GrpcCode::ResourceExhausted,
    ];
    let classifier = callers_errors.into_iter().fold(
        GrpcErrorsAsFailures::new(),
        GrpcErrorsAsFailures::with_success,
    );
    let trace = TraceLayer::new(SharedClassifier::new(classifier))
        .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
        .on_response(DefaultOnResponse::new().level(Level::INFO))
        .on_failure(DefaultOnFailure::new().level(Level::WARN));

    let served = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .layer(trace)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(faces)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await;
    for watcher in watchers {
        watcher.abort();
    }
    served?;
    Ok(())
}

/// The backends a facebank call cannot do without that are failing their
/// checks now. While any is, the server as a whole (`""`) and the
/// `facebank.v1.FaceService` entry report NOT_SERVING, so a load balancer or
/// orchestrator stops sending work; each backend also has its own entry.
type Down = Arc<tokio::sync::Mutex<BTreeSet<&'static str>>>;

/// Keeps the health service in step with the inference backend, when there is
/// one (entry `triton`).
fn watch_backend(bank: &FaceBank, health: &HealthReporter, down: &Down) -> Option<JoinHandle<()>> {
    let engine = Arc::clone(bank.pipeline().engine());
    let backend = engine.backend()?;
    let interval = Duration::from_millis(bank.config().triton.health_interval_ms);
    Some(watch(backend, interval, health, Some(down), move || {
        let engine = Arc::clone(&engine);
        async move { engine.check().await }
    }))
}

/// Keeps the health service in step with the vector index, when it lives on
/// a server (entry `milvus`).
fn watch_index(
    bank: &Arc<FaceBank>,
    health: &HealthReporter,
    down: &Down,
) -> Option<JoinHandle<()>> {
    let backend = bank.index().backend()?;
    let interval = Duration::from_millis(bank.config().milvus.health_interval_ms);
    let bank = Arc::clone(bank);
    Some(watch(backend, interval, health, Some(down), move || {
        let bank = Arc::clone(&bank);
        async move { bank.check_index().await }
    }))
}

/// Keeps the health service in step with the records database, when it
/// lives on a server (entry `mysql`).
fn watch_records(bank: &FaceBank, health: &HealthReporter, down: &Down) -> Option<JoinHandle<()>> {
    let records = Arc::clone(bank.records());
    let backend = records.backend()?;
    let interval = Duration::from_millis(bank.config().database.health_interval_ms);
    Some(watch(backend, interval, health, Some(down), move || {
        let records = Arc::clone(&records);
        async move { records.check().await }
    }))
}

/// Keeps the cache's own health entry (`redis`) in step with it. Only that
/// entry: without the cache, reads go to the database and nothing fails.
fn watch_cache(bank: &FaceBank, health: &HealthReporter) -> Option<JoinHandle<()>> {
    let cache = Arc::clone(bank.cache()?);
    let backend = cache.backend();
    let interval = Duration::from_millis(bank.config().redis.health_interval_ms);
    Some(watch(backend, interval, health, None, move || {
        let cache = Arc::clone(&cache);
        async move { cache.check().await }
    }))
}

/// Runs `check` every `interval` and sets the backend's entry to its outcome,
/// logging each change. A backend the service needs (`down` given) also moves
/// the overall entries, which serve only while no such backend is down.
fn watch<F, Fut>(
    backend: &'static str,
    interval: Duration,
    health: &HealthReporter,
    down: Option<&Down>,
    check: F,
) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = crate::error::Result<()>> + Send,
{
    let health = health.clone();
    let down = down.cloned();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut was_serving = None;
        loop {
            ticks.tick().await;
            let outcome = check().await;
            let serving = outcome.is_ok();
            if was_serving == Some(serving) {
                continue;
            }
            match outcome {
                Ok(()) => tracing::info!(backend, "Backend is serving"),
                Err(error) => tracing::warn!(backend, %error, "Backend is not serving"),
            }
            health.set_service_status(backend, status(serving)).await;
            if let Some(down) = &down {
                // Held while the entries are set, so that they end in the
                // state of the last change.
                let mut down = down.lock().await;
                if serving {
                    down.remove(backend);
                } else {
                    down.insert(backend);
                }
                for entry in ["", FaceServiceServer::<FaceApi>::NAME] {
                    health
                        .set_service_status(entry, status(down.is_empty()))
                        .await;
                }
            }
            was_serving = Some(serving);
        }
    })
}

fn status(serving: bool) -> ServingStatus {
    if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}
