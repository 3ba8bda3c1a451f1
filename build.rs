//! Compiles the protobuf API with a pure-Rust protobuf compiler (no system
//! `protoc`) and writes the descriptor set that server reflection serves.

use std::{env, path::PathBuf};

use protox::prost::Message;

const PROTOS: &[&str] = &["proto/facebank/v1/facebank.proto"];
/// The inference protocol of a Triton server, for the client side only.
const KSERVE: &str = "proto/kserve/grpc_service.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS.iter().chain([&KSERVE]) {
        println!("cargo:rerun-if-changed={proto}");
    }

    let descriptors = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    std::fs::write(
        out_dir.join("facebank_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .bytes(".")
        .compile_fds(descriptors)?;

    tonic_prost_build::configure()
        .build_server(false)
        .bytes(".")
        .compile_fds(protox::compile([KSERVE], ["proto"])?)?;
    Ok(())
}
