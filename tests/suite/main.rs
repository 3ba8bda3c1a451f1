//! The integration tests: real gRPC servers on loopback ports, real photos,
//! and the real Triton, Milvus, MariaDB and Redis servers the scripts start.
//! One test binary holds every suite (one link instead of one per suite);
//! each module is a suite, selected by its path:
//! `cargo test --release --test suite -- cache::`.

mod common;

mod bad_input;
mod cache;
mod collections;
mod detection;
mod discovery;
mod milvus;
mod mysql;
mod persistence;
mod persons;
mod recognition;
mod streaming;
mod triton;
mod verification;
