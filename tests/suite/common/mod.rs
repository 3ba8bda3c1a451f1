//! A real facebank gRPC server on a loopback port, started by the test, and
//! the photos the tests use (see `tests/data/PROVENANCE.md`).

#![allow(dead_code)]

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use facebank::{
    config::Config,
    transport::grpc::pb::{face_service_client::FaceServiceClient, Image},
};
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::transport::Channel;
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};

pub use facebank::transport::grpc::pb;

/// Two photos of one person, registered by several tests.
pub const ANGELINA_TWO_PHOTOS: [&str; 2] = [
    "faces/deepface_angelina/1.jpg",
    "faces/deepface_angelina/2.jpg",
];

pub struct TestServer {
    pub client: FaceServiceClient<Channel>,
    pub address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server with the default configuration on `data_dir`.
    pub async fn start(data_dir: &Path) -> TestServer {
        Self::start_with(Config {
            data_dir: data_dir.to_path_buf(),
            ..Config::default()
        })
        .await
    }

    /// Starts a server with `config`. The environment can move a whole suite
    /// onto the production backends: a configuration that names none gets
    /// the shared Triton with `FACEBANK_TEST_INFERENCE=triton`, the shared
    /// Milvus (a collection of its own) with `FACEBANK_TEST_INDEX=milvus`, a
    /// database of its own on MySQL with `FACEBANK_TEST_RECORDS=mysql`, and
    /// the Redis cache (a key prefix of its own) with `FACEBANK_TEST_CACHE=redis`.
    pub async fn start_with(mut config: Config) -> TestServer {
        if config.triton.url.is_empty()
            && std::env::var("FACEBANK_TEST_INFERENCE").is_ok_and(|e| e == "triton")
        {
            config.triton.url = shared_triton().url();
        }
        if config.milvus.url.is_empty()
            && std::env::var("FACEBANK_TEST_INDEX").is_ok_and(|e| e == "milvus")
        {
            config.milvus.url = shared_milvus().url();
            config.milvus.collection_prefix = Milvus::new_collection_name();
        }
        if config.database.url.is_empty()
            && std::env::var("FACEBANK_TEST_RECORDS").is_ok_and(|e| e == "mysql")
        {
            config.database.url = test_database(&config.data_dir).await;
        }
        if config.redis.url.is_empty()
            && std::env::var("FACEBANK_TEST_CACHE").is_ok_and(|e| e == "redis")
        {
            config.redis.url = std::env::var("FACEBANK_TEST_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
            config.redis.key_prefix = format!("facebank_test:{}:", uuid::Uuid::now_v7().simple());
        }
        config.listen = "127.0.0.1:0".parse().unwrap();
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let address = listener.local_addr().unwrap();
        let bank = facebank::open(config).await.expect("facebank starts");

        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            facebank::transport::grpc::serve(bank, listener, async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });

        let client = FaceServiceClient::connect(format!("http://{address}"))
            .await
            .expect("client connects")
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        TestServer {
            client,
            address,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A new connection, for the server's other services.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.address))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub fn client(&self) -> FaceServiceClient<Channel> {
        self.client.clone()
    }

    /// Stops the server and waits until it has released its data directory.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

pub fn data_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(relative)
}

/// Runs the facebank binary (its terminal client) with `args`, without the
/// environment's `FACEBANK_SERVER` or `FACEBANK_COLLECTION`.
pub async fn run_facebank(args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_facebank"));
    command
        .args(args)
        .env_remove("FACEBANK_SERVER")
        .env_remove("FACEBANK_COLLECTION");
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// The bytes of a test photo, e.g. `faces/deepface_angelina/1.jpg`.
pub fn photo(relative: &str) -> Vec<u8> {
    std::fs::read(data_path(relative)).unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

pub fn image(relative: &str) -> Option<Image> {
    Some(Image {
        content: photo(relative).into(),
    })
}

pub fn image_bytes(bytes: Vec<u8>) -> Option<Image> {
    Some(Image {
        content: bytes.into(),
    })
}

/// The `ErrorInfo` reason of a failed call.
pub fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

/// A registration of a new person from encoded images.
pub fn new_person_request(
    person: pb::Person,
    images: Vec<Vec<u8>>,
    selection: pb::FaceSelection,
) -> pb::RegisterFacesRequest {
    pb::RegisterFacesRequest {
        target: Some(pb::register_faces_request::Target::NewPerson(person)),
        images: images
            .into_iter()
            .map(|b| Image { content: b.into() })
            .collect(),
        face_selection: selection as i32,
    }
}

/// A registration of more faces for an existing person, from test photos.
pub fn existing_person_request(person_id: &str, photos: &[&str]) -> pb::RegisterFacesRequest {
    pb::RegisterFacesRequest {
        target: Some(pb::register_faces_request::Target::PersonId(
            person_id.to_string(),
        )),
        images: photos.iter().map(|p| image(p).unwrap()).collect(),
        face_selection: pb::FaceSelection::Single as i32,
    }
}

pub fn named(name: &str) -> pb::Person {
    pb::Person {
        name: name.to_string(),
        ..Default::default()
    }
}

/// Registers a new person named `name` from the given photos.
pub async fn register(
    server: &TestServer,
    name: &str,
    photos: &[&str],
) -> pb::RegisterFacesResponse {
    let images = photos.iter().map(|p| photo(p)).collect();
    server
        .client()
        .register_faces(new_person_request(
            named(name),
            images,
            pb::FaceSelection::Single,
        ))
        .await
        .unwrap_or_else(|s| panic!("registering {name}: {s:?}"))
        .into_inner()
}

pub async fn recognize(server: &TestServer, photo: &str) -> pb::RecognizeResponse {
    recognize_bytes(server, common_photo(photo)).await
}

fn common_photo(relative: &str) -> Vec<u8> {
    photo(relative)
}

pub async fn recognize_bytes(server: &TestServer, bytes: Vec<u8>) -> pb::RecognizeResponse {
    server
        .client()
        .recognize(pb::RecognizeRequest {
            collection: String::new(),
            image: image_bytes(bytes),
            max_faces: 0,
            top_k: 3,
            min_similarity: None,
        })
        .await
        .unwrap_or_else(|s| panic!("recognize: {s:?}"))
        .into_inner()
}

/// The name of the best match of the largest face, if any.
pub fn best_match(reply: &pb::RecognizeResponse) -> Option<String> {
    let face = reply.faces.first()?;
    face.matches
        .first()
        .and_then(|m| m.person.as_ref())
        .map(|p| p.name.clone())
}

/// Creates a person with no faces; the stored record.
pub async fn create_person(server: &TestServer, person: pb::Person) -> pb::Person {
    server
        .client()
        .create_person(pb::CreatePersonRequest {
            person: Some(person),
        })
        .await
        .expect("CreatePerson")
        .into_inner()
        .person
        .expect("a created person")
}

/// The registered faces of a person.
pub async fn faces_of(server: &TestServer, person_id: &str) -> Vec<pb::Face> {
    server
        .client()
        .list_faces(pb::ListFacesRequest {
            person_id: person_id.to_string(),
        })
        .await
        .expect("ListFaces")
        .into_inner()
        .faces
}

/// Every stored person (one page is enough for the tests).
pub async fn persons(server: &TestServer) -> Vec<pb::Person> {
    server
        .client()
        .list_persons(pb::ListPersonsRequest::default())
        .await
        .expect("ListPersons")
        .into_inner()
        .persons
}

/// The MySQL/MariaDB server the tests' databases live on
/// (`FACEBANK_TEST_MYSQL_URL`, default the machine's own server).
pub fn mysql_server_url() -> String {
    std::env::var("FACEBANK_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A database on the test MySQL server for the server whose data directory is
/// `data_dir`: the same one each time, so a restarted server finds its records.
/// Databases of data directories that no longer exist (finished tests) are
/// dropped first; `scripts/test` drops the rest at the end.
pub async fn test_database(data_dir: &Path) -> String {
    test_database_on(&mysql_server_url(), data_dir).await
}

/// [`test_database`] on the server at `server` (`mysql://user@host:port`).
pub async fn test_database_on(server: &str, data_dir: &Path) -> String {
    use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl, SimpleAsyncConnection};
    use sha2::Digest;

    let path = std::path::absolute(data_dir).unwrap().display().to_string();
    let digest = sha2::Sha256::digest(path.as_bytes());
    let name = format!(
        "facebank_test_{}",
        digest[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mut conn = AsyncMysqlConnection::establish(server)
        .await
        .unwrap_or_else(|e| panic!("the test MySQL server {server} answers: {e}"));

    #[derive(diesel::QueryableByName)]
    struct Schema {
        #[diesel(sql_type = diesel::sql_types::Text)]
        schema_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        schema_comment: String,
    }
    let schemas: Vec<Schema> = diesel::sql_query(
        "SELECT SCHEMA_NAME AS schema_name, SCHEMA_COMMENT AS schema_comment \
         FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'facebank\\_test\\_%'",
    )
    .load(&mut conn)
    .await
    .unwrap();
    for schema in schemas {
        if schema.schema_name != name && !Path::new(&schema.schema_comment).exists() {
            let _ = conn
                .batch_execute(&format!("DROP DATABASE IF EXISTS `{}`", schema.schema_name))
                .await;
        }
    }
    conn.batch_execute(&format!(
        "CREATE DATABASE IF NOT EXISTS `{name}` COMMENT '{}'",
        path.replace('\\', "\\\\").replace('\'', "''")
    ))
    .await
    .unwrap();
    format!("{server}/{name}")
}

/// The state of one health entry; `None` while it is unset.
pub async fn health(server: &TestServer, entry: &str) -> Option<ServingStatus> {
    let reply = HealthClient::new(server.channel().await)
        .check(HealthCheckRequest {
            service: entry.into(),
        })
        .await;
    match reply {
        Ok(reply) => Some(ServingStatus::try_from(reply.into_inner().status).unwrap()),
        Err(status) if status.code() == tonic::Code::NotFound => None,
        Err(status) => panic!("health check of {entry:?}: {status:?}"),
    }
}

/// Polls a health entry until it reads `wanted` (the watchers check every
/// `health_interval_ms`); fails the test after 20 s.
pub async fn wait_for_health(server: &TestServer, entry: &str, wanted: ServingStatus) {
    for _ in 0..200 {
        if health(server, entry).await == Some(wanted) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the health entry {entry:?} never became {wanted:?}");
}

/// A private MariaDB server run by `scripts/mariadb.sh`, for tests that stop
/// it under a running facebank.
#[derive(Debug, Clone, Copy)]
pub struct Mariadb {
    pub port: u16,
}

impl Mariadb {
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    pub fn start(&self) {
        run_script("mariadb.sh", "start", &[("MARIADB_PORT", self.port)]);
    }

    pub fn stop(&self) {
        run_script("mariadb.sh", "stop", &[("MARIADB_PORT", self.port)]);
    }
}

/// A real Triton Inference Server run by `scripts/triton.sh` on loopback ports.
#[derive(Debug, Clone, Copy)]
pub struct Triton {
    pub grpc_port: u16,
    pub http_port: u16,
}

impl Triton {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// Starts the server unless it is already up (the script is idempotent);
    /// the first start installs it, which takes a minute or two.
    pub fn start(&self) {
        self.script("start");
    }

    pub fn stop(&self) {
        self.script("stop");
    }

    fn script(&self, action: &str) {
        run_script(
            "triton.sh",
            action,
            &[
                ("TRITON_GRPC_PORT", self.grpc_port),
                ("TRITON_HTTP_PORT", self.http_port),
            ],
        );
    }
}

/// The Triton server the tests share, started on first use.
pub fn shared_triton() -> Triton {
    static STARTED: std::sync::OnceLock<Triton> = std::sync::OnceLock::new();
    *STARTED.get_or_init(|| {
        let triton = Triton {
            grpc_port: 18001,
            http_port: 18000,
        };
        triton.start();
        triton
    })
}

/// A real Milvus standalone server run by `scripts/milvus.sh` on a loopback
/// port.
#[derive(Debug, Clone, Copy)]
pub struct Milvus {
    pub port: u16,
}

impl Milvus {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A collection name no other test uses.
    pub fn new_collection_name() -> String {
        format!("test_{}", uuid::Uuid::now_v7().simple())
    }

    /// Starts the server unless it is already up (on a fresh data directory);
    /// the first start installs it.
    pub fn start(&self) {
        self.script("start");
    }

    pub fn stop(&self) {
        self.script("stop");
    }

    fn script(&self, action: &str) {
        run_script("milvus.sh", action, &[("MILVUS_PORT", self.port)]);
    }
}

/// The Milvus server the tests share, started on first use.
pub fn shared_milvus() -> Milvus {
    static STARTED: std::sync::OnceLock<Milvus> = std::sync::OnceLock::new();
    *STARTED.get_or_init(|| {
        let milvus = Milvus { port: 19531 };
        milvus.start();
        milvus
    })
}

/// Runs `scripts/NAME ACTION` with the given ports in its environment, and
/// fails the test with its output unless it succeeds.
fn run_script(name: &str, action: &str, ports: &[(&str, u16)]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name);
    let mut command = std::process::Command::new("bash");
    command.arg(script).arg(action);
    for (variable, port) in ports {
        command.env(variable, port.to_string());
    }
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("scripts/{name} cannot run: {e}"));
    assert!(
        output.status.success(),
        "scripts/{name} {action} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
