//! Records in MySQL/MariaDB through diesel-async: migrations, transactions, and
//! an outage of a real server (`scripts/mariadb.sh` starts a private one that
//! this file stops). The other suites run on MySQL with
//! `FACEBANK_TEST_RECORDS=mysql` (see `scripts/test`).

use crate::common;

use common::*;
use facebank::{
    config::Config,
    domain::{Face, Person},
    error::Error,
    pipeline::Rect,
    ports::records::{MysqlRecords, Records},
};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

async fn mysql_config(dir: &std::path::Path, server: &str) -> Config {
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    config.database.url = test_database_on(server, dir).await;
    config.database.timeout_ms = 1000;
    config.database.health_interval_ms = 200;
    config
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_applies_the_migrations_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = mysql_config(dir.path(), &mysql_server_url()).await;

    let first = facebank::migrate(&config).await.unwrap();
    assert_eq!(first, vec!["20261204000000".to_string()]);
    let again = facebank::migrate(&config).await.unwrap();
    assert!(again.is_empty(), "{again:?}");
}

fn face_of(person_id: &str) -> Face {
    Face {
        id: facebank::domain::new_id(),
        person_id: person_id.to_string(),
        collection: "default".into(),
        embedding: vec![0.6, 0.8],
        model_name: "m".into(),
        model_version: "1".into(),
        detection_score: 0.99,
        rect: Rect {
            x1: 1.0,
            y1: 2.0,
            x2: 30.0,
            y2: 40.0,
        },
        landmarks: [[1.5, 2.5]; 5],
        image_sha256: "ab".repeat(32),
        created_at: 1,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_vector_write_rolls_the_mysql_rows_back() {
    let dir = tempfile::tempdir().unwrap();
    let config = mysql_config(dir.path(), &mysql_server_url()).await;
    facebank::migrate(&config).await.unwrap();
    let records = MysqlRecords::new(&config.database).unwrap();
    let person = Person {
        id: facebank::domain::new_id(),
        name: "Zoë 山田".into(),
        collection: "default".into(),
        ..Person::default()
    };

    let stored = records
        .add_faces(
            Some(&person),
            &[face_of(&person.id)],
            Box::new(|_| {
                Box::pin(async {
                    Err(Error::Unavailable {
                        backend: "index",
                        message: "down".into(),
                    })
                })
            }),
        )
        .await;
    assert!(
        matches!(stored, Err(Error::Unavailable { .. })),
        "{stored:?}"
    );
    assert!(records.person(&person.id).await.unwrap().is_none());
    assert!(records.faces_of(&person.id).await.unwrap().is_empty());

    // The same write with a working index is stored exactly, embedding included.
    let face = face_of(&person.id);
    records
        .add_faces(
            Some(&person),
            std::slice::from_ref(&face),
            Box::new(|_| Box::pin(async { Ok(()) })),
        )
        .await
        .unwrap();
    let stored = records.person(&person.id).await.unwrap().unwrap();
    assert_eq!(stored.name, "Zoë 山田");
    assert_eq!(stored.face_count, 1);
    let faces = records.faces_of(&person.id).await.unwrap();
    assert_eq!(faces.len(), 1);
    assert_eq!(faces[0].embedding, face.embedding);
    assert_eq!(faces[0].landmarks, face.landmarks);

    // A second face from the same image is refused by the unique index.
    let duplicate = records
        .add_faces(
            None,
            &[face_of(&person.id)],
            Box::new(|_| Box::pin(async { Ok(()) })),
        )
        .await;
    assert!(
        matches!(duplicate, Err(Error::BadImage { .. })),
        "{duplicate:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_mysql_down_calls_are_unavailable_and_recover_without_a_restart() {
    let mariadb = Mariadb { port: 13306 };
    mariadb.start();
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(mysql_config(dir.path(), &mariadb.url()).await).await;
    let angelina = register(&server, "Angelina", &ANGELINA_TWO_PHOTOS)
        .await
        .person
        .unwrap();
    wait_for_health(&server, "mysql", ServingStatus::Serving).await;

    mariadb.stop();
    let mut client = server.client();
    let status = client
        .register_faces(new_person_request(
            named("Jack"),
            vec![photo("faces/deepface_jack/1.jpg")],
            pb::FaceSelection::Largest,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let status = client
        .list_persons(pb::ListPersonsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    // Reads of a person go through the Redis cache when the suite runs with
    // one (FACEBANK_TEST_CACHE=redis): Angelina, read when she was registered,
    // is then still served.
    let cached = std::env::var("FACEBANK_TEST_CACHE").is_ok_and(|e| e == "redis");
    let read = client
        .get_person(pb::GetPersonRequest {
            id: angelina.id.clone(),
        })
        .await;
    let recognised = client
        .recognize(pb::RecognizeRequest {
            image: image("faces/deepface_angelina/3.jpg"),
            ..Default::default()
        })
        .await;
    if cached {
        assert_eq!(read.unwrap().into_inner().person.unwrap().name, "Angelina");
        let reply = recognised.unwrap().into_inner();
        assert_eq!(best_match(&reply).as_deref(), Some("Angelina"));
    } else {
        assert_eq!(read.unwrap_err().code(), Code::Unavailable);
        assert_eq!(recognised.unwrap_err().code(), Code::Unavailable);
    }
    wait_for_health(&server, "mysql", ServingStatus::NotServing).await;
    wait_for_health(&server, "", ServingStatus::NotServing).await;

    mariadb.start();
    wait_for_health(&server, "mysql", ServingStatus::Serving).await;
    wait_for_health(&server, "", ServingStatus::Serving).await;
    let reply = recognize(&server, "faces/deepface_angelina/3.jpg").await;
    assert_eq!(best_match(&reply).as_deref(), Some("Angelina"));
    // The failed registration left nothing behind: no row, no vector.
    let names: Vec<String> = persons(&server).await.into_iter().map(|p| p.name).collect();
    assert_eq!(names, vec!["Angelina".to_string()]);
    let reply = recognize(&server, "faces/deepface_jack/2.jpg").await;
    assert_eq!(best_match(&reply), None, "{reply:?}");
    server.stop().await;
}
