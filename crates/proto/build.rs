//! Compiles the `customerchain.v1` contracts with protox (a pure-Rust protobuf
//! compiler, so no system `protoc` is needed), generates prost messages and
//! tonic clients and servers, and writes the encoded descriptor set for gRPC
//! server reflection.

use std::{env, fs, io, path::PathBuf};

use prost::Message;

/// The root the `.proto` imports are relative to.
const PROTO_ROOT: &str = "../../proto";
/// The package directory under [`PROTO_ROOT`].
const PACKAGE_DIR: &str = "customerchain/v1";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");

    let files = proto_files()?;
    // protox brings the well-known types (google/protobuf/*.proto) itself.
    let fds = protox::compile(&files, [PROTO_ROOT])?;

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("customerchain_descriptor.bin"),
        fds.encode_to_vec(),
    )?;

    let mut config = tonic_prost_build::Config::new();
    // `prost::Name` impls let events be packed into `google.protobuf.Any` with
    // the standard "type.googleapis.com/" prefix and checked when unpacked.
    config
        .enable_type_names()
        .type_name_domain(["."], "type.googleapis.com");

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds_with_config(fds, config)?;
    Ok(())
}

/// Every `.proto` file of the package, relative to [`PROTO_ROOT`], sorted so
/// that the generated code does not depend on directory order.
fn proto_files() -> io::Result<Vec<String>> {
    let dir = PathBuf::from(PROTO_ROOT).join(PACKAGE_DIR);
    let mut files = Vec::new();
    for entry in fs::read_dir(&dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".proto") {
            files.push(format!("{PACKAGE_DIR}/{name}"));
        }
    }
    files.sort();
    Ok(files)
}
