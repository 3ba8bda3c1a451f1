//! Milvus as the vector index, against real Milvus standalone servers that
//! `scripts/milvus.sh` starts: the shared one, and one of this file's own
//! that a test stops.

use crate::common;

use std::time::Duration;

use common::*;
use facebank::{
    config::Config,
    ports::index::{IndexEntry, MilvusIndex, VectorIndex},
};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

fn milvus_config(dir: &std::path::Path, milvus: Milvus) -> Config {
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    config.milvus.url = milvus.url();
    config.milvus.collection_prefix = Milvus::new_collection_name();
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
    // One line that says what failed, not the SDK's dump of a gRPC status.
    assert!(
        status.message().starts_with("milvus is unavailable: "),
        "{status:?}"
    );
    assert!(!status.message().contains("MetadataMap"), "{status:?}");

    // Nothing of either attempt is stored.
    let stored = persons(&server).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].face_count, 1, "{stored:?}");

    let recognised = server
        .client()
        .recognize(pb::RecognizeRequest {
            collection: String::new(),
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
        reported = health(&server, "milvus").await;
        if reported == Some(ServingStatus::NotServing) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reported, Some(ServingStatus::NotServing));
    wait_for_health(&server, "", ServingStatus::NotServing).await;

    // The script starts Milvus on a fresh data directory: it comes back
    // without the collection. facebank creates it again and loads it from
    // the database, without a restart.
    milvus.start();
    wait_for_health(&server, "milvus", ServingStatus::Serving).await;
    wait_for_health(&server, "", ServingStatus::Serving).await;
    let reply = recognize(&server, "faces/deepface_angelina/3.jpg").await;
    assert_eq!(best_match(&reply).as_deref(), Some("Angelina"), "{reply:?}");
    server.stop().await;
    milvus.stop();
}

/// The vectors of the faces stored under `config`, read through facebank's
/// own records port (the database is the source of truth).
async fn stored_faces(config: &Config) -> Vec<facebank::domain::Face> {
    let records = facebank::open_records(config, false).await.unwrap();
    records.faces_page(None, 1000).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_finds_and_repairs_vectors_changed_behind_facebanks_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = milvus_config(dir.path(), shared_milvus());
    if std::env::var("FACEBANK_TEST_RECORDS").is_ok_and(|e| e == "mysql") {
        config.database.url = test_database(dir.path()).await;
    }
    let server = TestServer::start_with(config.clone()).await;
    register(&server, "Angelina", &ANGELINA_TWO_PHOTOS).await;
    register(&server, "Jack", &["faces/deepface_jack/1.jpg"]).await;
    server.stop().await;
    let faces = stored_faces(&config).await;
    assert_eq!(faces.len(), 3);
    let clean = facebank::reconcile(&config, false, false).await.unwrap();
    assert!(clean.is_clean(), "{clean:?}");
    assert_eq!((clean.faces, clean.vectors), (3, 3));

    // Behind facebank's back: one face's vector is deleted, and strays that
    // no row backs are written, one of them a copy of Angelina's first face
    // under a person who does not exist; more strays than one page holds.
    let index = MilvusIndex::open(&config.milvus).await.unwrap();
    index.create_collection("default", 128).await.unwrap();
    let angelina = faces
        .iter()
        .find(|f| f.image_sha256 == sha256_of("faces/deepface_angelina/1.jpg"))
        .unwrap();
    index
        .delete("default", std::slice::from_ref(&angelina.id))
        .await
        .unwrap();
    let mut strays: Vec<IndexEntry> = (0..2500)
        .map(|k| IndexEntry {
            face_id: format!("stray-{k:05}"),
            person_id: "nobody".into(),
            collection: "default".into(),
            embedding: synthetic_vector(k),
        })
        .collect();
    strays.push(IndexEntry {
        face_id: "stray-copy".into(),
        person_id: "ghost".into(),
        collection: "default".into(),
        embedding: angelina.embedding.clone(),
    });
    for chunk in strays.chunks(1000) {
        index.upsert(chunk.to_vec()).await.unwrap();
    }

    let drift = facebank::reconcile(&config, false, false).await.unwrap();
    assert_eq!(drift.rows_without_vectors, vec![angelina.id.clone()]);
    assert_eq!(drift.vectors_without_rows.len(), 2501);
    assert!(drift
        .vectors_without_rows
        .contains(&"stray-copy".to_string()));
    assert!(!drift.repaired);
    assert_eq!(
        index.len("default").await.unwrap(),
        2503,
        "a report changes nothing"
    );

    // Removing most of the index looks like the wrong database: refused
    // unless forced.
    let refused = facebank::reconcile(&config, true, false).await.unwrap_err();
    assert!(refused.to_string().contains("--force"), "{refused:#}");
    assert_eq!(index.len("default").await.unwrap(), 2503);
    let repaired = facebank::reconcile(&config, true, true).await.unwrap();
    assert_eq!(repaired.rows_without_vectors, drift.rows_without_vectors);
    assert_eq!(repaired.vectors_without_rows, drift.vectors_without_rows);
    assert_eq!(index.len("default").await.unwrap(), 3);
    assert!(facebank::reconcile(&config, false, false)
        .await
        .unwrap()
        .is_clean());

    // The same drift again, repaired by a start instead: the copy that would
    // take the only top-1 slot is gone and the deleted vector is back.
    index
        .delete("default", std::slice::from_ref(&angelina.id))
        .await
        .unwrap();
    index.upsert(strays[2500..].to_vec()).await.unwrap();
    let server = TestServer::start_with(config.clone()).await;
    let reply = server
        .client()
        .recognize(pb::RecognizeRequest {
            collection: String::new(),
            image: image("faces/deepface_angelina/1.jpg"),
            max_faces: 0,
            top_k: 1,
            min_similarity: None,
        })
        .await
        .unwrap()
        .into_inner();
    let top = &reply.faces[0].matches[0];
    assert_eq!(top.face_id, angelina.id, "{reply:?}");

    // A stray that appears while the server runs, closer to the probe than any
    // real face, is skipped instead of hiding the real match at top_k = 1.
    let probe = register(&server, "Probe", &["faces/deepface_angelina/3.jpg"])
        .await
        .person
        .unwrap();
    let probe_face = stored_faces(&config)
        .await
        .into_iter()
        .find(|f| f.person_id == probe.id)
        .unwrap();
    server
        .client()
        .delete_person(pb::DeletePersonRequest {
            id: probe.id.clone(),
        })
        .await
        .unwrap();
    index
        .upsert(vec![IndexEntry {
            face_id: "stray-probe".into(),
            person_id: "ghost".into(),
            collection: "default".into(),
            embedding: probe_face.embedding,
        }])
        .await
        .unwrap();
    let reply = server
        .client()
        .recognize(pb::RecognizeRequest {
            image: image("faces/deepface_angelina/3.jpg"),
            top_k: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.faces[0].matches.len(), 1, "{reply:?}");
    let top = reply.faces[0].matches[0].person.as_ref().unwrap();
    assert_eq!(top.name, "Angelina", "{reply:?}");
    server.stop().await;
    index
        .delete("default", &["stray-probe".to_string()])
        .await
        .unwrap();
    assert!(facebank::reconcile(&config, false, false)
        .await
        .unwrap()
        .is_clean());

    // reindex --recreate drops the collection and writes every vector again.
    let (loaded, after) = facebank::reindex(&config, true).await.unwrap();
    assert_eq!(loaded, 3);
    assert!(after.is_clean(), "{after:?}");
    assert_eq!(index.len("default").await.unwrap(), 3);
}

fn sha256_of(relative: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(photo(relative))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A unit vector that depends on `k`.
fn synthetic_vector(k: usize) -> Vec<f32> {
    let raw: Vec<f32> = (0..128)
        .map(|i| ((k * 131 + i * 7) % 97) as f32 - 48.0)
        .collect();
    let norm = raw.iter().map(|v| v * v).sum::<f32>().sqrt();
    raw.into_iter().map(|v| v / norm).collect()
}
