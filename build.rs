//! Compiles `proto/` with protox (a pure-Rust protobuf compiler, so no system `protoc` is needed)
//! and writes the descriptor set that the reflection service serves. Also compiles the bench-only
//! echo service of `proto/bench/`.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/quyhoach/v1/quyhoach.proto",
        "proto/quyhoach/v1/bundle.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(files, ["proto"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(
        out.join("quyhoach_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    // The benchmark's bare echo service (its baseline for push throughput); kept out of the
    // descriptor set that reflection serves.
    let bench = protox::compile(["proto/bench/echo.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(bench)?;
    Ok(())
}
