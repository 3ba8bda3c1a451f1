//! How callers reach facebank: gRPC, and the REST gateway derived from it.

pub mod grpc;
pub mod rest;
