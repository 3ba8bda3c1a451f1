//! Inference on a real Triton Inference Server (started by
//! `scripts/triton.sh`): parity with the in-process engine, start-up checks of
//! the models, and outages.

use crate::common;

use std::time::Duration;

use common::{pb, photo, reason, recognize, register, shared_triton, TestServer, Triton};
use facebank::{
    config::{Config, TritonConfig},
    dlib_recogniser,
    pipeline::{EmbeddedFace, Pipeline, Selection},
    ports::inference::TritonEngine,
};
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};

/// Every photo of the test data, faces and scenes.
fn all_photos() -> Vec<String> {
    let root = common::data_path("");
    let mut photos = Vec::new();
    for folder in ["faces", "scenes"] {
        let mut stack = vec![root.join(folder)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("jpg" | "jpeg" | "png")
                ) {
                    photos.push(
                        path.strip_prefix(&root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
    }
    photos.sort();
    photos
}

fn triton_config(triton: &Triton) -> Config {
    Config {
        triton: TritonConfig {
            url: triton.url(),
            ..TritonConfig::default()
        },
        ..Config::default()
    }
}

async fn faces_of(pipeline: &Pipeline, relative: &str) -> Vec<EmbeddedFace> {
    let image = pipeline.decode(photo(relative).into()).await.unwrap();
    pipeline
        .embed_faces(&image, Selection::All { max_faces: 0 })
        .await
        .unwrap_or_else(|e| panic!("{relative}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn embeddings_through_triton_equal_the_in_process_ones() {
    let config = triton_config(&shared_triton());
    let triton = Pipeline::new(
        &config,
        facebank::load_engine(&config).await.unwrap(),
        dlib_recogniser(),
    );
    let local = Pipeline::new(
        &config,
        facebank::load_tract(&config).await.unwrap(),
        dlib_recogniser(),
    );

    let photos = all_photos();
    assert!(photos.len() > 100, "{} photos", photos.len());
    let (mut faces, mut worst) = (0, 0.0f32);
    for relative in &photos {
        let (remote, here) = (
            faces_of(&triton, relative).await,
            faces_of(&local, relative).await,
        );
        assert_eq!(remote.len(), here.len(), "faces found in {relative}");
        for (a, b) in remote.iter().zip(&here) {
            let corners = |r: &facebank::pipeline::Rect| [r.x1, r.y1, r.x2, r.y2];
            let shift = corners(&a.detection.rect)
                .iter()
                .zip(corners(&b.detection.rect))
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(shift < 0.05, "{relative}: boxes differ by {shift} px");
            for (x, y) in a.embedding.iter().zip(&b.embedding) {
                worst = worst.max((x - y).abs());
            }
            assert!(worst <= 1e-4, "{relative}: an embedding differs by {worst}");
        }
        faces += here.len();
    }
    println!(
        "{} photos, {faces} faces: largest difference of an embedding component {worst:e}",
        photos.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn recognize_through_triton_gives_the_same_matches() {
    let dir = tempfile::tempdir().unwrap();
    let probes = [
        "faces/deepface_angelina/3.jpg",
        "faces/deepface_jack/2.jpg",
        "faces/facerec_obama/1.jpg",
        "scenes/insightface_t1.jpg",
    ];

    let local = TestServer::start_with(Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    })
    .await;
    register(&local, "Angelina", &common::ANGELINA_TWO_PHOTOS).await;
    register(&local, "Jack", &["faces/deepface_jack/1.jpg"]).await;
    let mut expected = Vec::new();
    for probe in probes {
        expected.push(recognize(&local, probe).await);
    }
    local.stop().await;

    let remote = TestServer::start_with(Config {
        data_dir: dir.path().to_path_buf(),
        ..triton_config(&shared_triton())
    })
    .await;
    for (probe, expected) in probes.iter().zip(expected) {
        let answer = recognize(&remote, probe).await;
        assert_eq!(answer.faces.len(), expected.faces.len(), "{probe}");
        for (a, b) in answer.faces.iter().zip(&expected.faces) {
            let ids = |f: &pb::RecognizedFace| -> Vec<String> {
                f.matches.iter().map(|m| m.face_id.clone()).collect()
            };
            assert_eq!(ids(a), ids(b), "{probe}");
            for (x, y) in a.matches.iter().zip(&b.matches) {
                assert!((x.similarity - y.similarity).abs() < 1e-4, "{probe}");
            }
        }
    }
    remote.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_model_stops_facebank_at_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = triton_config(&shared_triton());
    config.data_dir = dir.path().to_path_buf();
    config.triton.recogniser_model = "arcface_r100".into();

    let error = facebank::open(config).await.err().expect("start fails");
    let message = format!("{error:#}");
    assert!(message.contains("arcface_r100"), "{message}");
    assert!(message.contains("triton.recogniser_model"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_of_another_embedding_size_is_refused_at_start() {
    let config = triton_config(&shared_triton());
    let arcface_sized = facebank::pipeline::RecogniserSpec {
        dimension: 512,
        ..dlib_recogniser()
    };

    let error = TritonEngine::connect(&config.triton, &arcface_sized)
        .await
        .err()
        .expect("the check fails");
    let message = format!("{error:#}");
    assert!(
        message.contains("dlib_face_recognition_resnet_v1"),
        "{message}"
    );
    assert!(message.contains("512"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_server_stops_facebank_at_start() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = TritonConfig {
        url: format!("http://127.0.0.1:{port}"),
        timeout_ms: 500,
        ..TritonConfig::default()
    };

    let error = TritonEngine::connect(&config, &dlib_recogniser())
        .await
        .err()
        .expect("the connection fails");
    assert!(format!("{error:#}").contains("cannot reach"), "{error:#}");
}

async fn status_of(server: &TestServer, service: &str) -> ServingStatus {
    let reply = HealthClient::new(server.channel().await)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner();
    ServingStatus::try_from(reply.status).unwrap()
}

async fn wait_for_status(server: &TestServer, wanted: ServingStatus) {
    for _ in 0..200 {
        let (triton, faces) = (
            status_of(server, "triton").await,
            status_of(server, "facebank.v1.FaceService").await,
        );
        if triton == wanted && faces == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("health never reported {wanted:?}");
}

async fn recognize_call(
    server: &TestServer,
    relative: &str,
) -> Result<pb::RecognizeResponse, tonic::Status> {
    server
        .client()
        .recognize(pb::RecognizeRequest {
            image: common::image(relative),
            top_k: 1,
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_triton_outage_fails_calls_as_unavailable_and_facebank_recovers_after_it() {
    // A server of this test's own, so stopping it disturbs no other test.
    let triton = Triton {
        grpc_port: 18011,
        http_port: 18010,
    };
    triton.start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = triton_config(&triton);
    config.data_dir = dir.path().to_path_buf();
    config.triton.health_interval_ms = 100;
    config.triton.timeout_ms = 5000;
    let server = TestServer::start_with(config).await;
    register(&server, "Angelina", &common::ANGELINA_TWO_PHOTOS).await;
    let probe = "faces/deepface_angelina/3.jpg";
    let before = recognize_call(&server, probe).await.unwrap();
    wait_for_status(&server, ServingStatus::Serving).await;

    triton.stop();
    let status = recognize_call(&server, probe).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert_eq!(reason(&status), "BACKEND_UNAVAILABLE");
    let person_id = before.faces[0].matches[0]
        .person
        .as_ref()
        .expect("a match names its person")
        .id
        .clone();
    let registration = server
        .client()
        .register_faces(common::existing_person_request(&person_id, &[probe]))
        .await
        .unwrap_err();
    assert_eq!(registration.code(), tonic::Code::Unavailable);
    let faces = server
        .client()
        .list_faces(pb::ListFacesRequest {
            person_id: person_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .faces;
    assert_eq!(faces.len(), 2, "the failed registration left a face behind");
    wait_for_status(&server, ServingStatus::NotServing).await;

    triton.start();
    wait_for_status(&server, ServingStatus::Serving).await;
    let after = recognize_call(&server, probe).await.unwrap();
    assert_eq!(
        after.faces[0].matches[0].face_id,
        before.faces[0].matches[0].face_id
    );
    server.stop().await;
    triton.stop();
}
