//! Calibration tables (TensorRT's "calibration cache") on disk.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// What to do with a calibration table file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachePolicy {
    pub path: PathBuf,
    pub mode: CacheMode,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CacheMode {
    /// Use the table when it exists (and fail if TensorRT rejects it); otherwise calibrate and write it.
    #[default]
    ReadWrite,
    /// The table must exist and be usable: never calibrate.
    Require,
    /// Ignore an existing table, calibrate, and overwrite it.
    Recalibrate,
}

impl CachePolicy {
    pub fn read_write(path: impl Into<PathBuf>) -> Self {
        CachePolicy {
            path: path.into(),
            mode: CacheMode::ReadWrite,
        }
    }
    pub fn require(path: impl Into<PathBuf>) -> Self {
        CachePolicy {
            path: path.into(),
            mode: CacheMode::Require,
        }
    }
    pub fn recalibrate(path: impl Into<PathBuf>) -> Self {
        CachePolicy {
            path: path.into(),
            mode: CacheMode::Recalibrate,
        }
    }
}

/// Writes a file atomically: a temporary file in the same directory, then a rename.
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Writes a table that a successful build calibrated to the policy's path (atomically), unless
/// the policy only reads. Called once the whole build succeeded, never from a callback.
pub(crate) fn save_table(policy: Option<&CachePolicy>, table: Option<&[u8]>) -> Result<bool> {
    match (policy, table) {
        (Some(policy), Some(bytes)) if policy.mode != CacheMode::Require => {
            write_atomic(&policy.path, bytes)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}
