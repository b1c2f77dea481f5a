//! What a build needs to calibrate, checked before TensorRT starts: the inputs' shapes, the
//! calibration profile, and the calibration table (TensorRT would silently recalibrate on a
//! table it rejects, or build without the scales it lacks).

use trt_calib_table::{CalibrationTable, TableError};

use crate::calibrator::{CalibrationAlgorithm, CalibrationInput, Calibrator, TableMode};
use crate::config::{BuildConfig, Profile};
use crate::error::{Error, Result};
use crate::network::Network;

/// Network inputs with concrete shapes for calibration (dynamic dims from the calibration
/// profile, else the first profile's OPT shape).
pub(crate) fn inputs(network: &Network, config: &BuildConfig) -> Result<Vec<CalibrationInput>> {
    let settings = config.settings();
    network
        .inputs()?
        .into_iter()
        .map(|t| {
            let shape: Vec<i64> = if t.shape.iter().any(|&d| d < 0) {
                settings
                    .calibration_profile
                    .as_ref()
                    .and_then(|p| p.opt_shape(&t.name))
                    .or_else(|| settings.profiles.first().and_then(|p| p.opt_shape(&t.name)))
                    .map(<[i64]>::to_vec)
                    .ok_or_else(|| Error::Shape {
                        name: t.name.clone(),
                        message: format!(
                            "dynamic shape {:?}: give a calibration profile (or an optimization profile) for it",
                            t.shape
                        ),
                    })?
            } else {
                t.shape.clone()
            };
            Ok(CalibrationInput {
                name: t.name,
                shape: shape.iter().map(|&d| d.max(0) as usize).collect(),
                dtype: t.dtype,
            })
        })
        .collect()
}

/// The profile TensorRT calibrates with: the configured one, or for a dynamic network one fixed
/// profile at the calibration inputs' shapes (`None`: a static network needs none).
pub(crate) fn profile(
    network: &Network,
    config: &BuildConfig,
    inputs: &[CalibrationInput],
) -> Result<Option<Profile>> {
    if let Some(p) = &config.settings().calibration_profile {
        return Ok(Some(p.clone()));
    }
    let dynamic = network
        .inputs()?
        .iter()
        .any(|i| i.shape.iter().any(|&d| d < 0));
    if !dynamic {
        return Ok(None);
    }
    let shapes: Vec<(String, Vec<i64>)> = inputs
        .iter()
        .map(|i| (i.name.clone(), i.shape.iter().map(|&d| d as i64).collect()))
        .collect();
    let fixed: Vec<(&str, &[i64])> = shapes
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_slice()))
        .collect();
    Ok(Some(Profile::fixed(&fixed)))
}

/// The parsed table of a build; errors name the configured table file.
pub(crate) fn parse_table(config: &BuildConfig, bytes: &[u8]) -> Result<CalibrationTable> {
    CalibrationTable::parse(bytes).map_err(|source| {
        Error::Table(TableError::Parse {
            path: config
                .calibration_table()
                .map(|p| p.path.clone())
                .unwrap_or_default(),
            source,
        })
    })
}

/// The calibration algorithm a table was made by, for the calibrator that replays it.
pub(crate) fn table_algorithm(config: &BuildConfig, bytes: &[u8]) -> Result<CalibrationAlgorithm> {
    let table = parse_table(config, bytes)?;
    CalibrationAlgorithm::from_table_algorithm(table.algorithm).ok_or_else(|| {
        Error::Calibration(format!(
            "{}: tables made by {} cannot be used (only EntropyCalibration2 and MinMaxCalibration are supported)",
            table_path(config),
            table.algorithm
        ))
    })
}

fn table_path(config: &BuildConfig) -> String {
    config
        .calibration_table()
        .map(|p| p.path.display().to_string())
        .unwrap_or_default()
}

/// Reads and checks the table named by the config, before TensorRT sees it: its version against
/// the loaded TensorRT, its algorithm against the calibrator's, and that it knows every network
/// input. `None`: no table to use (none named, recalibrating, or not written yet).
pub(crate) fn read_checked_table(
    lib: trt_calib_table::TrtVersion,
    network: &Network,
    config: &BuildConfig,
    calibrator: Option<&dyn Calibrator>,
) -> Result<Option<Vec<u8>>> {
    let Some(policy) = config.calibration_table() else {
        return Ok(None);
    };
    if policy.mode == TableMode::Recalibrate {
        return Ok(None);
    }
    let bytes = match std::fs::read(&policy.path) {
        Ok(b) => b,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound && policy.mode == TableMode::ReadWrite =>
        {
            return Ok(None)
        }
        Err(e) => return Err(Error::io(&policy.path, e)),
    };
    let table = parse_table(config, &bytes)?;
    let path = policy.path.display();
    if let Err(why) = trt_calib_table::check(&table, lib) {
        return Err(Error::Calibration(format!("{path}: {why}")));
    }
    if let Some(c) = calibrator {
        let want = c.algorithm().table_algorithm();
        if table.algorithm != want {
            return Err(Error::Calibration(format!(
                "{path}: the table was made by {} but the calibrator is {want}; TensorRT would reject it and \
                 recalibrate. Use the same algorithm, or TableMode::Recalibrate.",
                table.algorithm
            )));
        }
    }
    // TensorRT 8.5.3 does not refuse another network's table: it builds without the
    // missing scales (measured). A table must at least know every network input.
    let missing: Vec<String> = network
        .inputs()?
        .into_iter()
        .filter(|t| table.get(&t.name).is_none())
        .map(|t| t.name)
        .collect();
    if !missing.is_empty() {
        return Err(Error::Calibration(format!(
            "{path}: the table has no scale for the network input(s) {}: it was made for another network. \
             TensorRT would build with it anyway, without those scales. Use this network's table, \
             or calibrate again (TableMode::Recalibrate).",
            missing.join(", ")
        )));
    }
    Ok(Some(bytes))
}

/// The calibrator of table-only builds: any request for data means TensorRT rejected the table.
pub(crate) struct NoData;

impl Calibrator for NoData {
    fn next_batch(&mut self, _batch: &mut crate::calibrator::CalibrationBatch<'_>) -> Result<bool> {
        Err(Error::Calibration(
            "no calibration data: the build may only use the calibration table".into(),
        ))
    }
}
