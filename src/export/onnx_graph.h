// OnnxGraph: builds an onnx::GraphProto (Debian's libonnx-dev classes) a node at a time. Values are named by
// the module path that produces them, made unique (a block's one `relu` module runs two or three times);
// weights become initializers under the names given (the state_dict keys); small shape operands (Slice's
// steps, Pad's pads, Resize's scales) are Constant nodes, so that the initializers are exactly the weights.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "resnet/tensor.h"

namespace resnet::onnx_export {

class OnnxGraph {
 public:
  explicit OnnxGraph(onnx::GraphProto& graph) : graph_(graph) {}

  // A graph input/output: float32 of `dims`; a dimension given as `batch_param` (non-empty) is symbolic.
  void add_input(const std::string& name, const std::vector<int64_t>& dims, const std::string& batch_param);
  void add_output(const std::string& name, const std::vector<int64_t>& dims, const std::string& batch_param);

  // A float32 initializer holding `tensor` (f32, any shape, copied), named `name`; returns the name.
  std::string add_initializer(const std::string& name, const Tensor& tensor);
  // A Constant node's output: int64 [values.size()] / float32 [values.size()].
  std::string constant_i64(const std::string& name, const std::vector<int64_t>& values);
  std::string constant_f32(const std::string& name, const std::vector<float>& values);

  // A node of `op_type` named `name`, reading `inputs` (an empty string: an optional input left out); returns
  // its one output's value name (`name`, made unique). Attributes are set on the returned node.
  onnx::NodeProto& add_node(const std::string& op_type, const std::string& name,
                            const std::vector<std::string>& inputs);
  static const std::string& output_of(const onnx::NodeProto& node) { return node.output(0); }

  // Renames value `from` (produced by the last node that outputs it) to `to`: the graph's output name.
  void rename_output(const std::string& from, const std::string& to);

 private:
  std::string unique(const std::string& name);

  onnx::GraphProto& graph_;
  std::map<std::string, int> used_;  // value name -> how many times asked for
};

// Attributes.
void set_ints(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& values);
void set_int(onnx::NodeProto& node, const std::string& name, int64_t value);
void set_float(onnx::NodeProto& node, const std::string& name, float value);
void set_string(onnx::NodeProto& node, const std::string& name, const std::string& value);

}  // namespace resnet::onnx_export
