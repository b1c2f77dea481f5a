//! What an engine's inputs and outputs are, and the checks of names and shapes against them.

use crate::error::{Error, Result};
use crate::network::DataType;

/// Whether an I/O tensor is read or written by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum IoMode {
    /// Read by the engine: you give its data.
    Input,
    /// Written by the engine: its result.
    Output,
}

/// An engine input or output.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IoTensor {
    /// The tensor's name in the network (what inputs and outputs are given and bound by).
    pub name: String,
    /// Input or output.
    pub mode: IoMode,
    /// The shape the engine declares; `-1` marks a dynamic dimension.
    pub shape: Vec<i64>,
    /// The element type the engine reads or writes.
    pub dtype: DataType,
}

/// The index of tensor `name` of the engine, of either mode; an unknown name is an error
/// listing every tensor.
pub(super) fn find(io: &[IoTensor], name: &str) -> Result<usize> {
    io.iter()
        .position(|t| t.name == name)
        .ok_or_else(|| Error::UnknownTensor {
            name: name.into(),
            what: "engine",
            known: io.iter().map(|t| t.name.clone()).collect(),
        })
}

/// The index of tensor `name` of the engine, with the right mode.
pub(super) fn io_index(io: &[IoTensor], name: &str, mode: IoMode) -> Result<usize> {
    match io.iter().position(|t| t.name == name) {
        Some(i) if io[i].mode == mode => Ok(i),
        Some(_) => Err(Error::Shape {
            name: name.into(),
            message: format!("is not an {mode:?} tensor"),
        }),
        None => Err(Error::UnknownTensor {
            name: name.into(),
            what: "engine",
            known: io
                .iter()
                .filter(|t| t.mode == mode)
                .map(|t| t.name.clone())
                .collect(),
        }),
    }
}

/// Checks `shape` against an input's declared shape (rank, and every fixed dimension).
pub(super) fn check_declared(t: &IoTensor, shape: &[usize]) -> Result<()> {
    let declared = &t.shape;
    if declared.len() != shape.len()
        || declared
            .iter()
            .zip(shape)
            .any(|(&d, &s)| d >= 0 && d as usize != s)
    {
        return Err(Error::Shape {
            name: t.name.clone(),
            message: format!("shape {shape:?} does not match the engine's {declared:?}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(name: &str, mode: IoMode, shape: &[i64], dtype: DataType) -> IoTensor {
        IoTensor {
            name: name.into(),
            mode,
            shape: shape.to_vec(),
            dtype,
        }
    }

    #[test]
    fn names_modes_and_declared_shapes_are_checked() {
        let tensors = [
            io("ids", IoMode::Input, &[-1, 4], DataType::Int32),
            io("x", IoMode::Input, &[2, 4], DataType::Float),
            io("y", IoMode::Output, &[-1, 4], DataType::Float),
        ];
        assert_eq!(io_index(&tensors, "x", IoMode::Input).unwrap(), 1);
        assert_eq!(find(&tensors, "y").unwrap(), 2);
        assert_eq!(
            find(&tensors, "z").unwrap_err().to_string(),
            "unknown tensor `z`; the engine has: ids, x, y"
        );
        assert_eq!(
            io_index(&tensors, "y", IoMode::Input)
                .unwrap_err()
                .to_string(),
            "tensor `y`: is not an Input tensor"
        );
        assert_eq!(
            io_index(&tensors, "z", IoMode::Input)
                .unwrap_err()
                .to_string(),
            "unknown tensor `z`; the engine has: ids, x"
        );
        assert!(check_declared(&tensors[0], &[7, 4]).is_ok());
        assert_eq!(
            check_declared(&tensors[1], &[2, 5])
                .unwrap_err()
                .to_string(),
            "tensor `x`: shape [2, 5] does not match the engine's [2, 4]"
        );
        assert!(matches!(
            check_declared(&tensors[1], &[2, 4, 1]),
            Err(Error::Shape { .. })
        ));
    }
}
