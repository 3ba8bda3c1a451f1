//! How callers reach facebank.

pub mod grpc;
