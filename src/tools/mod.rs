//! Commands for operators: calibration and benchmarks. They use the library
//! directly or through a real gRPC server; nothing here is on a request path.

pub mod bench;
pub mod calibrate;
pub mod client;
