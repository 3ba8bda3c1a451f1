//! The gRPC server: `facebank.v1.FaceService`, `grpc.health.v1.Health` and
//! server reflection.

mod convert;
mod service;
mod status;

use std::{future::Future, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tower_http::trace::{DefaultMakeSpan, DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

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

    let trace = TraceLayer::new_for_grpc()
        .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
        .on_response(DefaultOnResponse::new().level(Level::INFO))
        .on_failure(DefaultOnFailure::new().level(Level::WARN));

    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .layer(trace)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(faces)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}
