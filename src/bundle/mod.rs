//! Deployment bundles: an engine with its calibration table, build report and ONNX model, plus a
//! `manifest.json` that says which TensorRT version and GPU the engine was built for and the
//! sha256 and size of every file.
//!
//! An engine only runs on the exact TensorRT version (major.minor.patch), the platform (CPU
//! architecture and OS) and the GPU compute capability it was built for, unless it was built
//! version-compatible (later TensorRT too) or hardware-compatible (any Ampere+ GPU), TensorRT >= 8.6.
//! [`verify_bundle`] checks all of that, and every file's integrity, before TensorRT ever sees
//! the engine. When it refuses, the table in the bundle is what lets the
//! target rebuild the engine (tables are portable across GPUs when TensorRT major.minor match).
//!
//! | what | item |
//! |---|---|
//! | the manifest | [`Manifest`], [`BundleFile`], [`GpuInfo`] |
//! | what to put in a bundle | [`BundleSources`] |
//! | where the engine is to run | [`Target`], [`Target::current`] |
//! | make / check a bundle | [`create_bundle`], [`verify_bundle`] -> [`Verification`] |
//! | what a runtime really did with the engine | [`try_load`] -> [`RuntimeLoad`], [`Verification::load_here`] |

//!
//! | file | what |
//! |---|---|
//! | `manifest.rs` | the manifest, its files, the target, digests |
//! | `create.rs` | [`create_bundle`] |
//! | `load.rs` | [`try_load`], [`RuntimeLoad`] |
//! | `verify.rs` | [`verify_bundle`], [`Refusal`], [`RebuildPlan`] |

mod create;
mod load;
mod manifest;
mod verify;

pub use create::create_bundle;
pub use load::{try_load, RuntimeLoad};
pub use manifest::{
    current_platform, file_digest, BundleFile, BundleSources, ComputeCapability, GpuInfo, Manifest,
    Target, TrtVersion, BUNDLE_FORMAT_VERSION, MANIFEST,
};
pub use verify::{verify_bundle, RebuildPlan, Refusal, Verification};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrator::CalibrationAlgorithm;
    use crate::config::Precision;
    use std::path::Path;

    fn target(v: &str, cc: &str) -> Target {
        Target {
            tensorrt: v.parse().unwrap(),
            gpu: GpuInfo {
                name: None,
                compute_capability: cc.parse().unwrap(),
            },
        }
    }

    fn sources(dir: &Path) -> BundleSources {
        std::fs::write(dir.join("model.engine"), vec![7u8; 1000]).unwrap();
        std::fs::write(
            dir.join("model.calib.cache"),
            "TRT-8503-EntropyCalibration2\ninput: 3d2020d2\n",
        )
        .unwrap();
        std::fs::write(dir.join("model.onnx"), b"not really onnx").unwrap();
        BundleSources {
            engine: dir.join("model.engine"),
            table: Some(dir.join("model.calib.cache")),
            report: None,
            onnx: Some(dir.join("model.onnx")),
            loaded_by: vec![],
        }
    }

    #[test]
    fn versions_parse() {
        assert_eq!(
            TrtVersion::parse_full("8.5.3.1").unwrap().to_string(),
            "8.5.3"
        );
        assert!(TrtVersion::parse_full("8.5").is_err());
        assert_eq!(
            "8.7".parse::<ComputeCapability>().unwrap(),
            ComputeCapability { major: 8, minor: 7 }
        );
        assert!("87".parse::<ComputeCapability>().is_err());
    }

    #[test]
    fn bundle_round_trip_then_tamper() {
        let src = tempfile::tempdir().unwrap();
        let out = src.path().join("bundle");
        let m = create_bundle(&sources(src.path()), &target("8.5.3", "9.0"), &out, false).unwrap();
        assert_eq!(m.files["engine"].size, 1000);
        assert_eq!(m.files.len(), 3);
        // Nothing left behind next to the bundle but the bundle.
        let leftovers: Vec<_> = std::fs::read_dir(src.path())
            .unwrap()
            .filter_map(|e| {
                let n = e.unwrap().file_name().into_string().unwrap();
                n.starts_with(".trt-bundle").then_some(n)
            })
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert!(create_bundle(&sources(src.path()), &target("8.5.3", "9.0"), &out, false).is_err());

        let v = verify_bundle(&out, "8.5.3".parse().unwrap(), "9.0".parse().unwrap()).unwrap();
        assert!(v.accepted(), "{:?}", v.refusals);
        assert_eq!(v.files_ok.len(), 3);

        let v = verify_bundle(&out, "8.5.2".parse().unwrap(), "8.7".parse().unwrap()).unwrap();
        assert_eq!(v.refusals.len(), 2);
        let plan = v.rebuild_plan().unwrap();
        assert_eq!(
            plan.table.as_deref(),
            Some(out.join("model.calib.cache").as_path())
        );
        assert_eq!(
            plan.model.as_deref(),
            Some(out.join("model.onnx").as_path())
        );
        assert_eq!(
            plan.table_written_by, None,
            "8.5.3 and 8.5.2 share their tables"
        );

        let engine = out.join("model.engine");
        let mut bytes = std::fs::read(&engine).unwrap();
        bytes[500] ^= 1;
        std::fs::write(&engine, &bytes).unwrap();
        let v = verify_bundle(&out, "8.5.3".parse().unwrap(), "9.0".parse().unwrap()).unwrap();
        assert_eq!(v.refusals.len(), 1);
        assert!(
            v.refusals[0].to_string().contains("model.engine"),
            "{}",
            v.refusals[0]
        );
        assert!(v.refusals[0].to_string().contains("sha256"));

        std::fs::write(&engine, &bytes[..999]).unwrap();
        let v = verify_bundle(&out, "8.5.3".parse().unwrap(), "9.0".parse().unwrap()).unwrap();
        assert!(
            v.refusals[0].to_string().contains("999 bytes"),
            "{}",
            v.refusals[0]
        );
    }

    #[test]
    fn advice_rebuilds_the_same_way() {
        let src = tempfile::tempdir().unwrap();
        let s = sources(src.path());
        std::fs::write(
            src.path().join("model.calib.cache"),
            "TRT-8503-MinMaxCalibration\ninput: 3d2020d2\n",
        )
        .unwrap();
        let out = src.path().join("bundle");
        create_bundle(&s, &target("8.5.3", "9.0"), &out, false).unwrap();
        rewrite_manifest(&out, |m| {
            m["builder_flags"] = serde_json::json!({
                "precision": "StrictInt8", "fallback": "Fp16",
                "excluded_layers": ["/_fc/Gemm"], "excluded_types": ["SOFTMAX"] });
        });
        let v = verify_bundle(&out, "8.5.2".parse().unwrap(), "9.0".parse().unwrap()).unwrap();
        let plan = v.rebuild_plan().unwrap();
        assert_eq!(plan.settings.precision, Precision::StrictInt8);
        assert_eq!(plan.settings.fallback, crate::Fallback::Fp16);
        assert_eq!(plan.settings.keep_out_of_int8.names, ["/_fc/Gemm"]);
        assert_eq!(plan.settings.keep_out_of_int8.types, ["SOFTMAX"]);
        assert_eq!(plan.algorithm, CalibrationAlgorithm::MinMax);
        // Another minor: the table is named, and so is the version that wrote it.
        let v = verify_bundle(&out, "8.6.1".parse().unwrap(), "9.0".parse().unwrap()).unwrap();
        assert_eq!(
            v.rebuild_plan().unwrap().table_written_by,
            Some("8.5.3".parse().unwrap())
        );
        // A corrupt file is no reason to rebuild.
        std::fs::write(out.join("model.engine"), b"x").unwrap();
        let v = verify_bundle(&out, "8.5.3".parse().unwrap(), "9.0".parse().unwrap()).unwrap();
        assert!(!v.accepted());
        assert_eq!(v.rebuild_plan(), None);
    }

    fn rewrite_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
        let path = dir.join(MANIFEST);
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut v);
        std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
    }

    #[test]
    fn compatible_engines_accept_later_versions_and_ampere_gpus() {
        let src = tempfile::tempdir().unwrap();
        let out = src.path().join("bundle");
        let m = create_bundle(&sources(src.path()), &target("8.6.1", "8.6"), &out, false).unwrap();
        assert_eq!(m.platform.as_deref(), Some(current_platform().as_str()));
        assert!(!m.version_compatible);
        let check = |v: &str, cc: &str| {
            verify_bundle(&out, v.parse().unwrap(), cc.parse().unwrap())
                .unwrap()
                .refusals
                .len()
        };
        // Plain engine: exact version and GPU only.
        assert_eq!(check("8.6.1", "8.6"), 0);
        assert_eq!(check("10.3.0", "8.6"), 1);
        assert_eq!(check("8.6.1", "8.7"), 1);

        rewrite_manifest(&out, |m| {
            m["version_compatible"] = true.into();
            m["hardware_compatibility"] = "AmperePlus".into();
        });
        assert_eq!(check("8.6.1", "8.6"), 0);
        assert_eq!(check("10.3.0", "9.0"), 0, "later TensorRT, later GPU");
        assert_eq!(check("8.6.0", "8.6"), 1, "an older TensorRT cannot run it");
        assert_eq!(check("8.6.1", "7.5"), 1, "Turing is not Ampere+");
    }

    #[test]
    fn a_file_that_cannot_be_read_is_a_refusal_not_an_error() {
        let src = tempfile::tempdir().unwrap();
        let out = src.path().join("bundle");
        create_bundle(&sources(src.path()), &target("8.5.3", "9.0"), &out, false).unwrap();
        // A directory where the table was, with the size the manifest expects: its metadata
        // reads, the file itself does not.
        let table = out.join("model.calib.cache");
        std::fs::remove_file(&table).unwrap();
        std::fs::create_dir(&table).unwrap();
        let size = std::fs::metadata(&table).unwrap().len();
        rewrite_manifest(&out, |m| m["files"]["table"]["size"] = size.into());
        let v = verify_bundle(&out, "8.5.3".parse().unwrap(), "9.0".parse().unwrap()).unwrap();
        assert_eq!(v.refusals.len(), 1, "{:?}", v.refusals);
        let shown = v.refusals[0].to_string();
        assert!(
            shown.contains("model.calib.cache") && shown.contains("the table cannot be read"),
            "{shown}"
        );
    }

    #[test]
    fn without_a_driver_the_gpu_cannot_be_read_and_that_is_an_error() {
        // SAFETY: only checks whether libcuda can be opened.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            let e = GpuInfo::of_device(0).unwrap_err().to_string();
            assert!(e.starts_with("no CUDA driver (libcuda.so) found"), "{e}");
        } else {
            let e = GpuInfo::of_device(1 << 20).unwrap_err().to_string();
            assert!(e.starts_with("CUDA device 1048576 does not exist"), "{e}");
        }
    }

    #[test]
    fn another_platform_is_refused_and_old_manifests_still_load() {
        let src = tempfile::tempdir().unwrap();
        let out = src.path().join("bundle");
        create_bundle(&sources(src.path()), &target("8.5.2", "8.7"), &out, false).unwrap();
        let other = if current_platform() == "aarch64-linux" {
            "x86_64-linux"
        } else {
            "aarch64-linux"
        };
        rewrite_manifest(&out, |m| m["platform"] = other.into());
        let v = verify_bundle(&out, "8.5.2".parse().unwrap(), "8.7".parse().unwrap()).unwrap();
        assert_eq!(v.refusals.len(), 1);
        assert!(matches!(v.refusals[0], Refusal::Platform { .. }));
        assert!(
            v.refusals[0].to_string().contains(other),
            "{}",
            v.refusals[0]
        );
        assert!(v.rebuild_plan().unwrap().table.is_some());

        // A manifest written before these fields existed.
        rewrite_manifest(&out, |m| {
            let o = m.as_object_mut().unwrap();
            o.remove("platform");
            o.remove("hardware_compatibility");
            o.remove("loaded_by");
        });
        let v = verify_bundle(&out, "8.5.2".parse().unwrap(), "8.7".parse().unwrap()).unwrap();
        assert!(v.accepted(), "{:?}", v.refusals);
        assert!(v.manifest.loaded_by.is_empty());
        assert_eq!(
            v.loaded_here, None,
            "verify_bundle alone never asks TensorRT"
        );
    }

    #[test]
    fn what_runtimes_did_is_recorded_and_a_refusal_by_the_target_is_a_refusal() {
        let src = tempfile::tempdir().unwrap();
        let out = src.path().join("bundle");
        let refused = RuntimeLoad {
            tensorrt: "10.16.1".parse().unwrap(),
            lean: true,
            loaded: false,
            error: Some("Failed due to an old deserialization call on a newer plan file".into()),
        };
        let loaded = RuntimeLoad {
            tensorrt: "8.6.0".parse().unwrap(),
            lean: false,
            loaded: true,
            error: None,
        };
        let mut s = sources(src.path());
        s.loaded_by = vec![loaded.clone(), refused.clone()];
        let m = create_bundle(&s, &target("8.6.0", "9.0"), &out, false).unwrap();
        assert_eq!(m.loaded_by, vec![loaded.clone(), refused.clone()]);
        let again = Manifest::load(&out).unwrap();
        assert_eq!(
            again.loaded_by, m.loaded_by,
            "round trip through manifest.json"
        );
        let text = std::fs::read_to_string(out.join(MANIFEST)).unwrap();
        assert!(text.contains("\"lean\": true"), "{text}");
        assert_eq!(loaded.to_string(), "TensorRT 8.6.0 loaded the engine");
        assert_eq!(
            refused.to_string(),
            "TensorRT 10.16.1 lean runtime refused the engine: Failed due to an old deserialization call on a newer plan file"
        );

        // The target's runtime refusing an otherwise fine bundle: a refusal with a rebuild plan.
        let mut v = verify_bundle(&out, "8.6.0".parse().unwrap(), "9.0".parse().unwrap()).unwrap();
        assert!(v.accepted());
        v.refusals.push(Refusal::NotLoadable { load: refused });
        assert!(v.refusals[0]
            .to_string()
            .contains("old deserialization call"));
        assert!(v.rebuild_plan().unwrap().table.is_some());
    }
}
