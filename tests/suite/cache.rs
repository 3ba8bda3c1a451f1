//! The Redis cache in front of person reads, against a real `redis-server`
//! that each test starts on a free loopback port of its own (and stops), so a
//! test can take the cache away mid-run without touching anyone else's.

use crate::common;

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use bb8_redis::redis::{self, AsyncCommands};
use common::*;
use facebank::config::Config;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

/// A `redis-server` that keeps nothing on disk, killed when dropped.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Redis { port, child: None };
        redis.restart();
        redis
    }

    /// Starts the server on its port and waits until it answers.
    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (Debian package redis-server)");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// How many times the server has run `command` (from `INFO commandstats`).
    async fn calls(&self, command: &str) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut self.connection().await)
            .await
            .unwrap();
        let field = format!("cmdstat_{command}:calls=");
        info.lines()
            .find_map(|line| line.strip_prefix(&field))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |calls| calls.parse().unwrap())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

const PREFIX: &str = "facebank-test:";

async fn start_cached(redis: &Redis, data_dir: &std::path::Path) -> TestServer {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.redis.url = redis.url();
    config.redis.key_prefix = PREFIX.into();
    config.redis.health_interval_ms = 100;
    TestServer::start_with(config).await
}

async fn get(server: &TestServer, id: &str) -> Result<pb::Person, tonic::Status> {
    server
        .client()
        .get_person(pb::GetPersonRequest { id: id.into() })
        .await
        .map(|r| r.into_inner().person.unwrap())
}

async fn cached_entry(redis: &Redis, id: &str) -> Option<String> {
    redis
        .connection()
        .await
        .get(format!("{PREFIX}person:v2:{id}"))
        .await
        .unwrap()
}

/// Polls the `redis` health entry until it reads `wanted` (the watcher checks
/// every 100 ms here).
async fn wait_for_health(server: &TestServer, wanted: ServingStatus) {
    for _ in 0..100 {
        if health(server, "redis").await == Some(wanted) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the redis health entry never became {wanted:?}");
}

#[tokio::test]
async fn person_reads_are_served_from_the_cache() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let server = start_cached(&redis, dir.path()).await;
    let person = create_person(&server, named("Ada")).await;

    assert_eq!(cached_entry(&redis, &person.id).await, None);
    assert_eq!(get(&server, &person.id).await.unwrap().name, "Ada");
    let entry = cached_entry(&redis, &person.id)
        .await
        .expect("the first read fills the cache");
    assert!(entry.contains("\"Ada\""), "{entry}");

    // A second read comes from the cache: what the cache holds is what it says.
    let planted = entry.replace("\"Ada\"", "\"Ada from the cache\"");
    let _: () = redis
        .connection()
        .await
        .set(format!("{PREFIX}person:v2:{}", person.id), planted)
        .await
        .unwrap();
    assert_eq!(
        get(&server, &person.id).await.unwrap().name,
        "Ada from the cache"
    );
    server.stop().await;
}

#[tokio::test]
async fn reads_after_update_delete_and_new_faces_are_never_stale() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let server = start_cached(&redis, dir.path()).await;
    let reply = register(&server, "Angelina", &ANGELINA_TWO_PHOTOS[..1]).await;
    let id = reply.person.unwrap().id;
    assert_eq!(get(&server, &id).await.unwrap().face_count, 1);
    assert!(cached_entry(&redis, &id).await.is_some());

    // More faces: the cached face count goes.
    server
        .client()
        .register_faces(existing_person_request(&id, &ANGELINA_TWO_PHOTOS[1..]))
        .await
        .unwrap();
    assert_eq!(get(&server, &id).await.unwrap().face_count, 2);

    // An update, read right after, many times over.
    for round in 0..20 {
        let title = format!("title {round}");
        server
            .client()
            .update_person(pb::UpdatePersonRequest {
                person: Some(pb::Person {
                    id: id.clone(),
                    title: title.clone(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["title".into()],
                }),
            })
            .await
            .unwrap();
        assert_eq!(get(&server, &id).await.unwrap().title, title);
    }

    // A deleted face and a deleted person.
    let faces = faces_of(&server, &id).await;
    server
        .client()
        .delete_face(pb::DeleteFaceRequest {
            id: faces[0].id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(get(&server, &id).await.unwrap().face_count, 1);
    server
        .client()
        .delete_person(pb::DeletePersonRequest { id: id.clone() })
        .await
        .unwrap();
    assert_eq!(get(&server, &id).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(cached_entry(&redis, &id).await, None);
    server.stop().await;
}

#[tokio::test]
async fn the_matches_of_one_recognition_are_read_in_one_round_trip() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let server = start_cached(&redis, dir.path()).await;
    // Three registered people: whatever one recognition matches is read with
    // one MGET, however many faces and matches it has.
    for name in ["A", "B", "C"] {
        let photo = format!("faces/compreface_{name}/1.jpg");
        register(&server, name, &[photo.as_str()]).await;
    }
    let before = redis.calls("mget").await;
    let reply = recognize(&server, "faces/compreface_A/2.jpg").await;
    assert_eq!(best_match(&reply).as_deref(), Some("A"));
    assert_eq!(redis.calls("mget").await - before, 1);
    server.stop().await;
}

#[tokio::test]
async fn with_redis_stopped_reads_go_to_the_database_and_health_says_so() {
    let mut redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let server = start_cached(&redis, dir.path()).await;
    let person = create_person(&server, named("Grace")).await;
    get(&server, &person.id).await.unwrap();
    wait_for_health(&server, ServingStatus::Serving).await;

    redis.stop();
    wait_for_health(&server, ServingStatus::NotServing).await;
    assert_eq!(get(&server, &person.id).await.unwrap().name, "Grace");
    // A write while the cache is away, then reads of it.
    server
        .client()
        .update_person(pb::UpdatePersonRequest {
            person: Some(pb::Person {
                id: person.id.clone(),
                name: "Grace Hopper".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into()],
            }),
        })
        .await
        .unwrap();
    assert_eq!(get(&server, &person.id).await.unwrap().name, "Grace Hopper");
    let recognised = recognize(&server, "faces/deepface_angelina/3.jpg").await;
    assert_eq!(recognised.faces.len(), 1);

    // Back: health recovers and the cache fills again, with the new record.
    redis.restart();
    wait_for_health(&server, ServingStatus::Serving).await;
    // Reads leave the cache alone for a while after a failed one.
    tokio::time::sleep(facebank::ports::cache::BACKOFF + Duration::from_millis(100)).await;
    assert_eq!(get(&server, &person.id).await.unwrap().name, "Grace Hopper");
    let entry = cached_entry(&redis, &person.id)
        .await
        .expect("filled again");
    assert!(entry.contains("Grace Hopper"), "{entry}");
    server.stop().await;
}
