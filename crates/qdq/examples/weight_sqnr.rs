//! The per-channel INT8 SQNR of every Conv/Gemm/MatMul weight of a model, worst first.
//!
//!     cargo run -p trt-qdq --example weight_sqnr -- model.onnx
fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: weight_sqnr MODEL.onnx");
    let model = trt_qdq::load_model(&path).expect("an ONNX model");
    let mut v: Vec<(String, f64)> = trt_qdq::weight_sqnr_db(&model).into_iter().collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1));
    for (node, db) in v {
        println!("{db:7.1} dB  {node}");
    }
}
