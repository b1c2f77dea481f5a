//! Generates the ONNX message types from `proto/onnx.proto` with prost, compiling the schema
//! with protox (a protobuf compiler written in Rust), so no `protoc` is needed.

fn main() {
    const PROTO: &str = "proto/onnx.proto";
    println!("cargo:rerun-if-changed={PROTO}");
    let descriptors = match protox::compile([PROTO], ["proto"]) {
        Ok(descriptors) => descriptors,
        Err(e) => panic!("cannot compile the ONNX schema {PROTO}: {e}"),
    };
    if let Err(e) = prost_build::Config::new().compile_fds(descriptors) {
        panic!("cannot generate Rust types from the ONNX schema {PROTO}: {e}");
    }
}
