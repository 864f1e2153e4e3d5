#include "export/onnx_graph.h"

#include <fmt/format.h>

#include "resnet/error.h"

namespace resnet::onnx_export {
namespace {

void set_type(onnx::ValueInfoProto& info, const std::vector<int64_t>& dims, const std::string& batch_param) {
  onnx::TypeProto_Tensor* type = info.mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto_DataType_FLOAT);
  onnx::TensorShapeProto* shape = type->mutable_shape();
  for (size_t i = 0; i < dims.size(); ++i) {
    onnx::TensorShapeProto_Dimension* dim = shape->add_dim();
    if (i == 0 && !batch_param.empty()) {
      dim->set_dim_param(batch_param);
    } else {
      dim->set_dim_value(dims[i]);
    }
  }
}

onnx::AttributeProto& add_attribute(onnx::NodeProto& node, const std::string& name,
                                    onnx::AttributeProto_AttributeType type) {
  onnx::AttributeProto* attribute = node.add_attribute();
  attribute->set_name(name);
  attribute->set_type(type);
  return *attribute;
}

}  // namespace

void OnnxGraph::add_input(const std::string& name, const std::vector<int64_t>& dims,
                          const std::string& batch_param) {
  used_[name] = 1;
  onnx::ValueInfoProto* input = graph_.add_input();
  input->set_name(name);
  set_type(*input, dims, batch_param);
}

void OnnxGraph::add_output(const std::string& name, const std::vector<int64_t>& dims,
                           const std::string& batch_param) {
  onnx::ValueInfoProto* output = graph_.add_output();
  output->set_name(name);
  set_type(*output, dims, batch_param);
}

std::string OnnxGraph::add_initializer(const std::string& name, const Tensor& tensor) {
  if (tensor.dtype() != DType::f32) {
    throw InternalError(fmt::format("onnx export: {} is not float32", name));
  }
  if (used_[name]++ != 0) throw InternalError(fmt::format("onnx export: initializer {} named twice", name));
  onnx::TensorProto* init = graph_.add_initializer();
  init->set_name(name);
  init->set_data_type(onnx::TensorProto_DataType_FLOAT);
  for (int64_t d : tensor.shape()) init->add_dims(d);
  // raw_data: little-endian float32, as the host holds them (x86).
  init->set_raw_data(tensor.f32(), static_cast<size_t>(tensor.numel()) * sizeof(float));
  return name;
}

std::string OnnxGraph::constant_i64(const std::string& name, const std::vector<int64_t>& values) {
  onnx::NodeProto& node = add_node("Constant", name, {});
  onnx::AttributeProto& value = add_attribute(node, "value", onnx::AttributeProto_AttributeType_TENSOR);
  onnx::TensorProto* tensor = value.mutable_t();
  tensor->set_data_type(onnx::TensorProto_DataType_INT64);
  tensor->add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) tensor->add_int64_data(v);
  return output_of(node);
}

std::string OnnxGraph::constant_f32(const std::string& name, const std::vector<float>& values) {
  onnx::NodeProto& node = add_node("Constant", name, {});
  onnx::AttributeProto& value = add_attribute(node, "value", onnx::AttributeProto_AttributeType_TENSOR);
  onnx::TensorProto* tensor = value.mutable_t();
  tensor->set_data_type(onnx::TensorProto_DataType_FLOAT);
  tensor->add_dims(static_cast<int64_t>(values.size()));
  for (float v : values) tensor->add_float_data(v);
  return output_of(node);
}

onnx::NodeProto& OnnxGraph::add_node(const std::string& op_type, const std::string& name,
                                     const std::vector<std::string>& inputs) {
  onnx::NodeProto* node = graph_.add_node();
  const std::string unique_name = unique(name);
  node->set_op_type(op_type);
  node->set_name(unique_name);
  for (const std::string& input : inputs) node->add_input(input);
  node->add_output(unique_name);
  return *node;
}

void OnnxGraph::rename_output(const std::string& from, const std::string& to) {
  for (int i = graph_.node_size() - 1; i >= 0; --i) {
    onnx::NodeProto* node = graph_.mutable_node(i);
    if (node->output(0) != from) continue;
    node->set_output(0, to);
    return;
  }
  throw InternalError(fmt::format("onnx export: no node produces {}", from));
}

std::string OnnxGraph::unique(const std::string& name) {
  const int seen = used_[name]++;
  return seen == 0 ? name : fmt::format("{}_{}", name, seen);
}

void set_ints(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& values) {
  onnx::AttributeProto& attribute = add_attribute(node, name, onnx::AttributeProto_AttributeType_INTS);
  for (int64_t v : values) attribute.add_ints(v);
}

void set_int(onnx::NodeProto& node, const std::string& name, int64_t value) {
  add_attribute(node, name, onnx::AttributeProto_AttributeType_INT).set_i(value);
}

void set_float(onnx::NodeProto& node, const std::string& name, float value) {
  add_attribute(node, name, onnx::AttributeProto_AttributeType_FLOAT).set_f(value);
}

void set_string(onnx::NodeProto& node, const std::string& name, const std::string& value) {
  add_attribute(node, name, onnx::AttributeProto_AttributeType_STRING).set_s(value);
}

}  // namespace resnet::onnx_export
