//! Milvus as the vector index, against real Milvus standalone servers that
//! `scripts/milvus.sh` starts: the shared one, and one of this file's own
//! that a test stops.

mod common;

use std::time::Duration;

use common::*;
use facebank::config::Config;
use tonic::Code;
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};

fn milvus_config(dir: &std::path::Path, milvus: Milvus) -> Config {
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    config.milvus.url = milvus.url();
    config.milvus.collection = Milvus::new_collection_name();
    config.milvus.timeout_ms = 3000;
    config.milvus.health_interval_ms = 200;
    config
}

#[tokio::test(flavor = "multi_thread")]
async fn faces_are_searchable_in_milvus_as_soon_as_they_are_registered() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(milvus_config(dir.path(), shared_milvus())).await;
    register(&server, "Angelina", &ANGELINA_TWO_PHOTOS).await;
    register(&server, "Jack", &["faces/deepface_jack/1.jpg"]).await;

    let reply = recognize(&server, "faces/deepface_angelina/3.jpg").await;
    assert_eq!(best_match(&reply).as_deref(), Some("Angelina"));
    let reply = recognize(&server, "faces/facerec_obama/1.jpg").await;
    assert!(reply.faces[0].matches.is_empty(), "{reply:?}");

    // A deleted person's vectors go with them.
    let angelina = persons(&server)
        .await
        .into_iter()
        .find(|p| p.name == "Angelina")
        .unwrap();
    server
        .client()
        .delete_person(pb::DeletePersonRequest {
            id: angelina.id.clone(),
        })
        .await
        .unwrap();
    let reply = recognize(&server, "faces/deepface_angelina/3.jpg").await;
    assert_eq!(best_match(&reply), None, "{reply:?}");
    server.stop().await;
}

async fn milvus_health(server: &TestServer) -> Option<ServingStatus> {
    let reply = HealthClient::new(server.channel().await)
        .check(HealthCheckRequest {
            service: "milvus".into(),
        })
        .await
        .ok()?;
    Some(ServingStatus::try_from(reply.into_inner().status).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn with_milvus_stopped_registration_is_unavailable_and_stores_nothing() {
    let milvus = Milvus { port: 19541 };
    milvus.start();
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(milvus_config(dir.path(), milvus)).await;
    let angelina = register(&server, "Angelina", &ANGELINA_TWO_PHOTOS[..1]).await;
    let angelina = angelina.person.unwrap();

    milvus.stop();
    let status = server
        .client()
        .register_faces(new_person_request(
            named("Jack"),
            vec![photo("faces/deepface_jack/1.jpg")],
            pb::FaceSelection::Single,
        ))
        .await
        .expect_err("no index, no registration");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let status = server
        .client()
        .register_faces(existing_person_request(
            &angelina.id,
            &ANGELINA_TWO_PHOTOS[1..],
        ))
        .await
        .expect_err("no index, no registration");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");

    // Nothing of either attempt is stored.
    let stored = persons(&server).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].face_count, 1, "{stored:?}");

    let recognised = server
        .client()
        .recognize(pb::RecognizeRequest {
            image: image("faces/deepface_angelina/3.jpg"),
            max_faces: 0,
            top_k: 3,
            min_similarity: None,
        })
        .await
        .expect_err("no index, no search");
    assert_eq!(recognised.code(), Code::Unavailable, "{recognised:?}");

    let mut reported = None;
    for _ in 0..100 {
        reported = milvus_health(&server).await;
        if reported == Some(ServingStatus::NotServing) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reported, Some(ServingStatus::NotServing));
    server.stop().await;
}
