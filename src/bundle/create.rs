//! Making a bundle: copy the files, write the manifest, rename into place.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::manifest::{
    current_platform, file_digest, file_name, BundleFile, BundleSources, Manifest, Target,
    BUNDLE_FORMAT_VERSION, MANIFEST,
};
use crate::error::{Error, Result};

/// Copies the sources into `out_dir` and writes `manifest.json`. Atomic: the bundle is made in
/// a temporary directory next to `out_dir`, then renamed; an existing `out_dir` is an error
/// unless `overwrite` (then it is replaced, also by rename).
pub fn create_bundle(
    sources: &BundleSources,
    built_on: &Target,
    out_dir: impl AsRef<Path>,
    overwrite: bool,
) -> Result<Manifest> {
    let out_dir = out_dir.as_ref();
    if out_dir.exists() && !overwrite {
        return Err(Error::Invalid(format!(
            "{} already exists (create_bundle replaces it only when told to overwrite)",
            out_dir.display()
        )));
    }
    let parent = match out_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".trt-bundle-")
        .tempdir_in(&parent)
        .map_err(|e| Error::io(&parent, e))?;

    let roles: [(&str, Option<&PathBuf>); 4] = [
        ("engine", Some(&sources.engine)),
        ("table", sources.table.as_ref()),
        ("report", sources.report.as_ref()),
        ("onnx", sources.onnx.as_ref()),
    ];
    let mut files = BTreeMap::new();
    let mut names = std::collections::HashSet::new();
    for (role, src) in roles {
        let Some(src) = src else { continue };
        let name = file_name(src)?;
        if name == MANIFEST || !names.insert(name.clone()) {
            return Err(Error::Invalid(format!(
                "two bundle files would be named `{name}`; rename one"
            )));
        }
        let dst = tmp.path().join(&name);
        std::fs::copy(src, &dst).map_err(|e| Error::io(src, e))?;
        let (sha256, size) = file_digest(&dst)?;
        files.insert(
            role.to_string(),
            BundleFile {
                path: name,
                sha256,
                size,
            },
        );
    }
    let builder_flags = match &sources.report {
        Some(r) => Some(crate::report::BuildReport::load(r)?.flags),
        None => None,
    };
    // The compatibility modes the engine was built with come from its build report.
    let version_compatible = builder_flags
        .as_ref()
        .is_some_and(|f| f.settings.version_compatible);
    let hardware_compatibility = builder_flags
        .as_ref()
        .map(|f| f.settings.hardware_compatibility)
        .unwrap_or_default();
    let manifest = Manifest {
        trt_bundle: BUNDLE_FORMAT_VERSION,
        tensorrt_version: built_on.tensorrt,
        gpu: built_on.gpu.clone(),
        builder_flags,
        version_compatible,
        hardware_compatibility,
        platform: Some(current_platform()),
        files,
        loaded_by: sources.loaded_by.clone(),
    };
    let mut text = serde_json::to_string_pretty(&manifest).expect("manifest serializes");
    text.push('\n');
    crate::write_atomic(tmp.path().join(MANIFEST), text.as_bytes())?;

    let tmp = tmp.keep();
    if out_dir.exists() {
        // Replace: move the old one aside first, so a failure leaves one complete bundle.
        let old = parent.join(format!(".trt-bundle-old-{}", std::process::id()));
        std::fs::rename(out_dir, &old).map_err(|e| Error::io(out_dir, e))?;
        if let Err(e) = std::fs::rename(&tmp, out_dir) {
            let _ = std::fs::rename(&old, out_dir);
            return Err(Error::io(out_dir, e));
        }
        let _ = std::fs::remove_dir_all(&old);
    } else if let Err(e) = std::fs::rename(&tmp, out_dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(Error::io(out_dir, e));
    }
    Ok(manifest)
}
