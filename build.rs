//! Turns the TensorRT header version that `tensorrt-sys` found (its `links` metadata) into cfgs:
//! `trt_major = "8"`, `trt_minor = "5"`, and `trt_ge_8_6` / `trt_ge_10` for version-dependent code.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(trt_major, values(\"8\", \"9\", \"10\"))");
    println!("cargo::rustc-check-cfg=cfg(trt_minor, values(any()))");
    println!("cargo::rustc-check-cfg=cfg(trt_ge_8_6)");
    println!("cargo::rustc-check-cfg=cfg(trt_ge_10)");
    let num = |key: &str| -> u32 {
        std::env::var(format!("DEP_TENSORRT_{key}"))
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("tensorrt-sys did not report DEP_TENSORRT_{key}"))
    };
    let (major, minor) = (num("MAJOR"), num("MINOR"));
    println!("cargo::rustc-cfg=trt_major=\"{major}\"");
    println!("cargo::rustc-cfg=trt_minor=\"{minor}\"");
    if (major, minor) >= (8, 6) {
        println!("cargo::rustc-cfg=trt_ge_8_6");
    }
    if major >= 10 {
        println!("cargo::rustc-cfg=trt_ge_10");
    }
}
