//! Health checking and server reflection, so generic tools work with no proto
//! file at hand.

use crate::common;

use common::{run_facebank, TestServer};
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};
use tonic_reflection::pb::v1::{
    server_reflection_client::ServerReflectionClient, server_reflection_request::MessageRequest,
    server_reflection_response::MessageResponse, ServerReflectionRequest,
};

#[tokio::test(flavor = "multi_thread")]
async fn health_reports_the_server_and_the_face_service_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut health = HealthClient::new(server.channel().await);

    for service in ["", "facebank.v1.FaceService"] {
        let reply = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.status(), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn reflection_lists_the_services_and_describes_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let ask = |request: MessageRequest| {
        tokio_stream::once(ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        })
    };

    let mut replies = reflection
        .server_reflection_info(ask(MessageRequest::ListServices(String::new())))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        replies.message().await.unwrap().unwrap().message_response
    else {
        panic!("no service list")
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"facebank.v1.FaceService"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");

    let mut replies = reflection
        .server_reflection_info(ask(MessageRequest::FileContainingSymbol(
            "facebank.v1.RecognizeRequest".into(),
        )))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        replies.message().await.unwrap().unwrap().message_response
    else {
        panic!("no descriptor")
    };
    assert!(!files.file_descriptor_proto.is_empty());
}

/// `facebank health`, the check the container image runs, over the real binary.
#[tokio::test(flavor = "multi_thread")]
async fn the_health_command_exits_zero_only_while_the_entry_is_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let url = format!("http://{}", server.address);
    let serving = run_facebank(&["--server", &url, "health"]).await;
    assert!(serving.status.success(), "{serving:?}");
    assert_eq!(
        String::from_utf8_lossy(&serving.stdout),
        "server: SERVING\n"
    );
    let service = run_facebank(&[
        "--server",
        &url,
        "health",
        "--service",
        "facebank.v1.FaceService",
    ])
    .await;
    assert!(service.status.success(), "{service:?}");

    let unknown = run_facebank(&["--server", &url, "health", "--service", "no.such.Service"]).await;
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("NotFound"),
        "{unknown:?}"
    );

    server.stop().await;
    let gone = run_facebank(&["--server", &url, "health"]).await;
    assert!(!gone.status.success());
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("cannot reach facebank"),
        "{gone:?}"
    );
}
