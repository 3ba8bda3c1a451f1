//! facebank's configuration: one typed struct, loaded in layers (built-in
//! defaults, then an optional TOML file, then `FACEBANK_*` environment
//! variables, then command-line flags).

use std::{net::SocketAddr, path::PathBuf};

use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use serde::{Deserialize, Serialize};

/// The environment prefix; `FACEBANK_DETECTOR__LONGEST_SIDE=800` sets
/// `detector.longest_side`.
pub const ENV_PREFIX: &str = "FACEBANK_";
/// Names an optional TOML file with the same keys.
pub const ENV_CONFIG_FILE: &str = "FACEBANK_CONFIG";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the gRPC server.
    pub listen: SocketAddr,
    /// Where the embedded database lives.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub models: ModelsConfig,
    pub images: ImageLimits,
    pub detector: DetectorConfig,
    pub quality: QualityConfig,
    pub recognition: RecognitionConfig,
    pub inference: InferenceConfig,
    pub triton: TritonConfig,
    pub streaming: StreamingConfig,
    pub gateway: GatewayConfig,
    pub redis: RedisConfig,
    pub milvus: MilvusConfig,
}

/// Where person and face records live: MySQL or MariaDB when `url` is set,
/// otherwise the SQLite file in `data_dir`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// e.g. `mysql://facebank:secret@127.0.0.1:3306/facebank`. Empty: SQLite.
    pub url: String,
    /// Connections in the pool.
    pub pool_size: u32,
    /// How long a call waits for a connection, in milliseconds; past it the
    /// call fails with UNAVAILABLE.
    pub timeout_ms: u64,
    /// Apply pending migrations at start (`facebank migrate` does it on
    /// demand). SQLite is always migrated at start.
    pub migrate_on_start: bool,
    /// How often the server is checked for the health service (entry
    /// `mysql`), in milliseconds.
    pub health_interval_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: String::new(),
            pool_size: 16,
            timeout_ms: 3000,
            migrate_on_start: true,
            health_interval_ms: 2000,
        }
    }
}

/// Milvus as the vector index. Off unless `url` is set (the exact in-process
/// index is the default).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MilvusConfig {
    /// The proxy's gRPC address, e.g. `http://127.0.0.1:19530`. Empty: the
    /// in-process index.
    pub url: String,
    /// The start of the Milvus collections' names: each facebank collection
    /// has one, named `<prefix>_<collection>`.
    pub collection_prefix: String,
    /// Deadline of one call, in milliseconds.
    pub timeout_ms: u64,
    /// Attempts after the first when a call fails, within the deadline.
    pub retries: u32,
    /// HNSW parameters of a new collection's index: links per node and the
    /// candidate list while building...
    pub hnsw_m: u32,
    pub hnsw_ef_construction: u32,
    /// ...and the candidate list while searching (at least `top_k`).
    pub hnsw_ef: usize,
    /// How often Milvus is checked for the health service, in milliseconds.
    pub health_interval_ms: u64,
}

impl Default for MilvusConfig {
    fn default() -> Self {
        MilvusConfig {
            url: String::new(),
            collection_prefix: "facebank".into(),
            timeout_ms: 5000,
            retries: 2,
            hnsw_m: 16,
            hnsw_ef_construction: 200,
            hnsw_ef: 64,
            health_interval_ms: 2000,
        }
    }
}

/// Redis in front of person reads. Off unless `url` is set; when it is down,
/// reads go to the database.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// e.g. `redis://127.0.0.1:6379/0`. Empty: no cache.
    pub url: String,
    /// Prepended to every key, so several deployments can share one server.
    pub key_prefix: String,
    /// How long a cached person lives, in seconds.
    pub ttl_s: u64,
    /// Connections in the pool.
    pub pool_size: u32,
    /// Deadline of one cache exchange (connecting included), in milliseconds;
    /// past it the read goes to the database.
    pub timeout_ms: u64,
    /// How often the server is checked for facebank's health service
    /// (entry `redis`), in milliseconds.
    pub health_interval_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: String::new(),
            key_prefix: "facebank:".into(),
            ttl_s: 300,
            pool_size: 16,
            timeout_ms: 250,
            health_interval_ms: 2000,
        }
    }
}

/// The REST gateway (JSON over HTTP), off unless `listen` is set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address of the gateway's HTTP server, e.g. `127.0.0.1:8080`.
    pub listen: Option<SocketAddr>,
}

/// NVIDIA Triton Inference Server (KServe v2 gRPC). Setting `url` runs the
/// models there instead of in process; the pre- and post-processing stay the
/// same.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TritonConfig {
    /// The server's gRPC address, e.g. `http://triton:8001` (plain HTTP/2;
    /// put TLS in a sidecar). Empty: in-process inference.
    pub url: String,
    /// Model names in Triton's model repository.
    pub detector_model: String,
    pub recogniser_model: String,
    /// Model version to call; empty lets the server's version policy choose.
    pub model_version: String,
    /// Deadline of one inference call, in milliseconds.
    pub timeout_ms: u64,
    /// Inference calls in flight to the server at once; others wait.
    pub max_concurrency: usize,
    /// Attempts after the first when the server answers UNAVAILABLE, with
    /// doubling back-off from `retry_backoff_ms`.
    pub retries: u32,
    pub retry_backoff_ms: u64,
    /// Faces sent in one recogniser call; larger batches are split. At most the
    /// model's `max_batch_size`.
    pub max_batch_size: usize,
    /// How often the server's health is checked for facebank's own health
    /// service, in milliseconds.
    pub health_interval_ms: u64,
}

impl Default for TritonConfig {
    fn default() -> Self {
        TritonConfig {
            url: String::new(),
            detector_model: "retinaface_mnv2".into(),
            recogniser_model: "dlib_face_recognition_resnet_v1".into(),
            model_version: String::new(),
            timeout_ms: 10_000,
            max_concurrency: 64,
            retries: 2,
            retry_backoff_ms: 50,
            max_batch_size: 64,
            health_interval_ms: 2000,
        }
    }
}

/// Limits and tracking of the streaming calls.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StreamingConfig {
    /// Frames one clip or live stream may carry.
    pub max_frames: u64,
    /// Seconds one stream may last.
    pub max_duration_secs: u64,
    /// Images one streamed registration may carry.
    pub max_images: usize,
    /// Least box overlap (IoU) for a face to continue a track.
    pub track_min_iou: f32,
    /// Frames a track may go unseen and still be re-attached.
    pub track_max_gap: u64,
    /// Least embedding similarity to re-attach a face to a track or keep it on
    /// one.
    pub track_min_similarity: f32,
    /// A tracked, identified face is embedded again every this many frames...
    pub recheck_interval: u64,
    /// ...or sooner when its box overlaps the box of its last embedding by less
    /// than this.
    pub recheck_min_iou: f32,
}

impl Default for StreamingConfig {
    fn default() -> Self {
        StreamingConfig {
            max_frames: 100_000,
            max_duration_secs: 3600,
            max_images: 1000,
            track_min_iou: 0.3,
            track_max_gap: 30,
            track_min_similarity: 0.85,
            recheck_interval: 10,
            recheck_min_iou: 0.6,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// RetinaFace ONNX file.
    pub detector: PathBuf,
    /// dlib ResNet ONNX file.
    pub recogniser: PathBuf,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ImageLimits {
    /// Largest encoded image accepted, in bytes.
    pub max_bytes: usize,
    /// Largest decoded image accepted, in pixels (width times height).
    pub max_pixels: u64,
    /// Largest gRPC message accepted, in bytes (a registration may carry
    /// several images).
    pub max_request_bytes: usize,
    /// Decoded images held in memory at once, across all requests; others
    /// wait. 0 means two per CPU core.
    pub max_in_flight: usize,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// The image is resized so that its longest side is this many pixels.
    pub longest_side: u32,
    /// Faces scoring below this are not reported at all.
    pub score_threshold: f32,
    /// Overlap (intersection over union) above which the weaker of two boxes is
    /// dropped.
    pub nms_iou: f32,
}

/// Gates applied to a face before it is registered.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QualityConfig {
    /// Shorter side of the face box, in pixels of the original image.
    pub min_face_size: f32,
    pub min_detection_score: f32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RecognitionConfig {
    /// Cosine similarity at or above which two faces are taken to be the same
    /// person. Calibrated on labelled photos; see the README.
    pub threshold: f32,
    /// Largest `top_k` a caller may ask for.
    pub max_top_k: u32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct InferenceConfig {
    /// How many model runs may execute at once on the blocking pool; 0 means one
    /// per CPU core.
    pub max_concurrency: usize,
    /// Threads one model run may use. More than 1 lowers the latency of a lone
    /// request but competes with concurrent ones; 1 gives the best throughput.
    pub threads_per_run: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: ([127, 0, 0, 1], 50051).into(),
            data_dir: PathBuf::from("data"),
            database: DatabaseConfig::default(),
            models: ModelsConfig::default(),
            images: ImageLimits::default(),
            detector: DetectorConfig::default(),
            quality: QualityConfig::default(),
            recognition: RecognitionConfig::default(),
            inference: InferenceConfig::default(),
            triton: TritonConfig::default(),
            streaming: StreamingConfig::default(),
            gateway: GatewayConfig::default(),
            redis: RedisConfig::default(),
            milvus: MilvusConfig::default(),
        }
    }
}

impl Config {
    /// This configuration with the passwords in its URLs masked, for logs.
    pub fn redacted(&self) -> Config {
        let mut config = self.clone();
        for url in [
            &mut config.database.url,
            &mut config.redis.url,
            &mut config.milvus.url,
        ] {
            *url = redact_url(url);
        }
        config
    }
}

/// `scheme://user:secret@host` becomes `scheme://user:***@host`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            if user.len() == userinfo.len() {
                return url.to_string();
            }
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => url.to_string(),
    }
}

impl Default for ModelsConfig {
    fn default() -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
        ModelsConfig {
            detector: dir.join("retinaface_mnv2.onnx"),
            recogniser: dir.join("dlib_face_recognition_resnet_v1.onnx"),
        }
    }
}

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits {
            max_bytes: 20 * 1024 * 1024,
            max_pixels: 40_000_000,
            max_request_bytes: 64 * 1024 * 1024,
            max_in_flight: 0,
        }
    }
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            longest_side: 640,
            score_threshold: 0.8,
            nms_iou: 0.4,
        }
    }
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            min_face_size: 40.0,
            min_detection_score: 0.9,
        }
    }
}

impl Default for RecognitionConfig {
    fn default() -> Self {
        RecognitionConfig {
            threshold: DEFAULT_THRESHOLD,
            max_top_k: 100,
        }
    }
}

/// See "Match threshold" in the README for how this was chosen.
pub const DEFAULT_THRESHOLD: f32 = 0.92;

impl Default for InferenceConfig {
    fn default() -> Self {
        InferenceConfig {
            max_concurrency: 0,
            threads_per_run: 1,
        }
    }
}

impl Config {
    /// Defaults, then the file named by `FACEBANK_CONFIG` (if any), then the
    /// environment.
    pub fn load() -> anyhow::Result<Config> {
        let config: Config = Self::figment().extract()?;
        config.validate()?;
        Ok(config)
    }

    /// Refuses values that cannot work, naming the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        let checks: [(&str, bool); 33] = [
            (
                "recognition.threshold",
                (-1.0..=1.0).contains(&self.recognition.threshold),
            ),
            ("recognition.max_top_k", self.recognition.max_top_k >= 1),
            (
                "detector.longest_side",
                (32..=4096).contains(&self.detector.longest_side),
            ),
            (
                "detector.score_threshold",
                (0.0..=1.0).contains(&self.detector.score_threshold),
            ),
            (
                "detector.nms_iou",
                self.detector.nms_iou > 0.0 && self.detector.nms_iou <= 1.0,
            ),
            (
                "quality.min_detection_score",
                (0.0..=1.0).contains(&self.quality.min_detection_score),
            ),
            (
                "images.max_bytes",
                self.images.max_bytes > 0 && self.images.max_bytes <= self.images.max_request_bytes,
            ),
            ("images.max_pixels", self.images.max_pixels > 0),
            ("streaming.max_frames", self.streaming.max_frames > 0),
            (
                "streaming.recheck_interval",
                self.streaming.recheck_interval > 0,
            ),
            (
                "streaming.track_min_iou",
                (0.0..=1.0).contains(&self.streaming.track_min_iou),
            ),
            (
                "streaming.track_min_similarity",
                (-1.0..=1.0).contains(&self.streaming.track_min_similarity),
            ),
            ("triton.timeout_ms", self.triton.timeout_ms > 0),
            ("triton.max_concurrency", self.triton.max_concurrency > 0),
            ("triton.max_batch_size", self.triton.max_batch_size > 0),
            (
                "triton.health_interval_ms",
                self.triton.health_interval_ms > 0,
            ),
            ("gateway.listen", self.gateway.listen != Some(self.listen)),
            (
                "database.url",
                self.database.url.is_empty() || self.database.url.starts_with("mysql://"),
            ),
            ("database.pool_size", self.database.pool_size >= 1),
            ("database.timeout_ms", self.database.timeout_ms >= 1),
            (
                "database.health_interval_ms",
                self.database.health_interval_ms >= 1,
            ),
            ("redis.ttl_s", self.redis.ttl_s >= 1),
            ("redis.pool_size", self.redis.pool_size >= 1),
            ("redis.timeout_ms", self.redis.timeout_ms >= 1),
            (
                "redis.health_interval_ms",
                self.redis.health_interval_ms >= 1,
            ),
            ("milvus.timeout_ms", self.milvus.timeout_ms >= 1),
            ("milvus.hnsw_m", (2..=2048).contains(&self.milvus.hnsw_m)),
            ("milvus.hnsw_ef", self.milvus.hnsw_ef >= 1),
            (
                "milvus.health_interval_ms",
                self.milvus.health_interval_ms >= 1,
            ),
            (
                "milvus.collection_prefix",
                self.milvus
                    .collection_prefix
                    .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && self.milvus.collection_prefix.len() <= 190
                    && self
                        .milvus
                        .collection_prefix
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_'),
            ),
            (
                "milvus.url",
                self.milvus.url.is_empty()
                    || self.milvus.url.starts_with("http://")
                    || self.milvus.url.starts_with("https://"),
            ),
            (
                "redis.url",
                self.redis.url.is_empty()
                    || self.redis.url.starts_with("redis://")
                    || self.redis.url.starts_with("rediss://")
                    || self.redis.url.starts_with("redis+unix://")
                    || self.redis.url.starts_with("unix://"),
            ),
            (
                "triton.url",
                self.triton.url.is_empty() || self.triton.url.starts_with("http://"),
            ),
        ];
        match checks.iter().find(|(_, ok)| !ok) {
            Some((key, _)) => anyhow::bail!("the configuration value of {key} is out of range or malformed (see deploy/facebank.example.toml)"),
            None => Ok(()),
        }
    }

    pub fn figment() -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Ok(path) = std::env::var(ENV_CONFIG_FILE) {
            figment = figment.merge(Toml::file_exact(path));
        }
        // FACEBANK_SERVER belongs to the terminal client, not to the server.
        figment.merge(
            Env::prefixed(ENV_PREFIX)
                .ignore(&["CONFIG", "SERVER"])
                .split("__"),
        )
    }

    pub fn images_in_flight(&self) -> usize {
        match self.images.max_in_flight {
            0 => 2 * std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    pub fn inference_concurrency(&self) -> usize {
        match self.inference.max_concurrency {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_urls_hide_passwords() {
        assert_eq!(
            redact_url("mysql://facebank:s3cr@t@db:3306/facebank"),
            "mysql://facebank:***@db:3306/facebank"
        );
        assert_eq!(
            redact_url("redis://:pw@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
        assert_eq!(redact_url("mysql://root@db/x"), "mysql://root@db/x");
        assert_eq!(redact_url("http://milvus:19530"), "http://milvus:19530");
    }

    #[test]
    fn environment_overrides_the_file_which_overrides_the_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "facebank.toml",
                "data_dir = \"/srv/faces\"\n[recognition]\nthreshold = 0.95\n",
            )?;
            jail.set_env(ENV_CONFIG_FILE, "facebank.toml");
            jail.set_env("FACEBANK_RECOGNITION__THRESHOLD", "0.97");
            jail.set_env("FACEBANK_LISTEN", "0.0.0.0:6000");

            let config = Config::load().map_err(|e| e.to_string())?;

            assert_eq!(config.data_dir, PathBuf::from("/srv/faces"));
            assert_eq!(config.recognition.threshold, 0.97);
            assert_eq!(config.listen, "0.0.0.0:6000".parse().unwrap());
            assert_eq!(config.detector, DetectorConfig::default());
            Ok(())
        });
    }

    #[test]
    fn the_terminal_clients_server_variable_is_not_a_server_setting() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FACEBANK_SERVER", "http://127.0.0.1:50051");
            assert!(Config::load().is_ok());
            Ok(())
        });
    }

    #[test]
    fn values_out_of_range_are_refused_by_name() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FACEBANK_RECOGNITION__THRESHOLD", "5");
            let error = Config::load().unwrap_err().to_string();
            assert!(error.contains("recognition.threshold"), "{error}");
            Ok(())
        });
        for (key, value) in [
            ("milvus.url", "127.0.0.1:19530"),
            ("database.url", "postgres://db/facebank"),
            ("redis.url", "127.0.0.1:6379"),
        ] {
            figment::Jail::expect_with(|jail| {
                let variable = format!("FACEBANK_{}", key.to_uppercase().replace('.', "__"));
                jail.set_env(variable, value);
                let error = Config::load().unwrap_err().to_string();
                assert!(error.contains(key), "{error}");
                Ok(())
            });
        }
        let zero_side = Config {
            detector: DetectorConfig {
                longest_side: 0,
                ..DetectorConfig::default()
            },
            ..Config::default()
        };
        assert!(zero_side.validate().is_err());
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn an_unknown_key_is_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FACEBANK_RECOGNITION__THRESHOLT", "0.5");
            assert!(Config::load().is_err());
            Ok(())
        });
    }

    #[test]
    fn the_example_file_lists_the_defaults() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/facebank.example.toml");
        let config: Config = Figment::new()
            .merge(Toml::file_exact(example))
            .extract()
            .unwrap();

        let defaults = Config::default();
        assert_eq!(
            Config {
                models: defaults.models.clone(),
                ..config
            },
            defaults
        );
    }
}
