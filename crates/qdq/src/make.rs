//! Small constructors for ONNX graphs: nodes, attributes, tensors, value infos, models.
//!
//! They fill the prost types of [`crate::onnx`]; tests and tools build graphs with them.

use crate::onnx::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

/// A node of the default domain.
pub fn node(
    op_type: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: Some(op_type.to_owned()),
        name: Some(name.to_owned()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

/// An integer attribute.
pub fn attr_int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    }
}

/// An integer-list attribute.
pub fn attr_ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(AttributeType::Ints as i32),
        ints: values.to_vec(),
        ..Default::default()
    }
}

/// A float32 tensor (initializer) with its values in `float_data`.
pub fn tensor_f32(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.to_owned()),
        dims: dims.to_vec(),
        data_type: Some(DataType::Float as i32),
        float_data: values.to_vec(),
        ..Default::default()
    }
}

/// An int8 tensor (initializer); int8 values travel in `int32_data`, as ONNX specifies.
pub fn tensor_i8(name: &str, dims: &[i64], values: &[i8]) -> TensorProto {
    TensorProto {
        name: Some(name.to_owned()),
        dims: dims.to_vec(),
        data_type: Some(DataType::Int8 as i32),
        int32_data: values.iter().map(|&v| i32::from(v)).collect(),
        ..Default::default()
    }
}

/// An int64 tensor (initializer), e.g. a Reshape's shape.
pub fn tensor_i64(name: &str, dims: &[i64], values: &[i64]) -> TensorProto {
    TensorProto {
        name: Some(name.to_owned()),
        dims: dims.to_vec(),
        data_type: Some(DataType::Int64 as i32),
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

/// A float32 graph input or output of a fixed shape.
pub fn value_info_f32(name: &str, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(d)),
            ..Default::default()
        })
        .collect();
    let tensor = type_proto::Tensor {
        elem_type: Some(DataType::Float as i32),
        shape: Some(TensorShapeProto { dim }),
    };
    ValueInfoProto {
        name: Some(name.to_owned()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(tensor)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A graph with float32 inputs and outputs given as `(name, shape)`.
pub fn graph(
    name: &str,
    node: Vec<NodeProto>,
    initializer: Vec<TensorProto>,
    inputs: &[(&str, &[i64])],
    outputs: &[(&str, &[i64])],
) -> GraphProto {
    GraphProto {
        name: Some(name.to_owned()),
        node,
        initializer,
        input: inputs.iter().map(|(n, d)| value_info_f32(n, d)).collect(),
        output: outputs.iter().map(|(n, d)| value_info_f32(n, d)).collect(),
        ..Default::default()
    }
}

/// A model of IR version 8 importing `opset` of the default domain.
pub fn model(graph: GraphProto, opset: i64) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        producer_name: Some("trt-qdq".to_owned()),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        graph: Some(graph),
        ..Default::default()
    }
}
