//! Calibration tables (TensorRT's "calibration cache") on disk.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What to do with a calibration table file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TablePolicy {
    /// The table file.
    pub path: PathBuf,
    /// Whether the file is read, required or replaced.
    pub mode: TableMode,
}

/// How a build treats its calibration table file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TableMode {
    /// Use the table when it exists (and fail if TensorRT rejects it); otherwise calibrate and write it.
    #[default]
    ReadWrite,
    /// The table must exist and be usable: never calibrate.
    Require,
    /// Ignore an existing table, calibrate, and overwrite it.
    Recalibrate,
}

impl TablePolicy {
    /// [`TableMode::ReadWrite`]: use the table at `path` if there is one, else calibrate and
    /// write it.
    pub fn read_write(path: impl Into<PathBuf>) -> Self {
        TablePolicy {
            path: path.into(),
            mode: TableMode::ReadWrite,
        }
    }

    /// [`TableMode::Require`]: build from the table at `path`, never calibrate.
    pub fn require(path: impl Into<PathBuf>) -> Self {
        TablePolicy {
            path: path.into(),
            mode: TableMode::Require,
        }
    }

    /// [`TableMode::Recalibrate`]: calibrate and replace the table at `path`.
    pub fn recalibrate(path: impl Into<PathBuf>) -> Self {
        TablePolicy {
            path: path.into(),
            mode: TableMode::Recalibrate,
        }
    }
}

/// [`trt_calib_table::write_atomic`] with the crate's error, naming `path`: readers see the old
/// file or the new one, and an existing file keeps its permissions.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    trt_calib_table::write_atomic(path, bytes).map_err(|e| Error::io(path, e))
}

/// Writes a table that a successful build calibrated to the policy's path (atomically), unless
/// the policy only reads. Called once the whole build succeeded, never from a callback.
pub(crate) fn save_table(policy: Option<&TablePolicy>, table: Option<&[u8]>) -> Result<bool> {
    match (policy, table) {
        (Some(policy), Some(bytes)) if policy.mode != TableMode::Require => {
            write_atomic(&policy.path, bytes)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn an_existing_files_permissions_survive_trt_write_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.engine");
        std::fs::write(&path, b"old plan").unwrap();
        // Neither the 0644 of new files nor the temporary file's own 0600.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        crate::write_atomic(&path, b"new plan").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new plan");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "temporary files left: {names:?}");

        let e = crate::write_atomic(dir.path().join("no-such-dir/x"), b"x").unwrap_err();
        assert!(e.to_string().contains("no-such-dir/x"), "{e}");
    }
}
