// Conversions between flowgraph values and TensorFlow's protos (core/ knows no protos).
//
//   tensorflow::TensorProto p = tensor_to_proto(Tensor::from_vector<float>({1, 2, 3}));
//   Tensor t = tensor_from_proto(node.attr().at("value").tensor(), node.name());
//   Shape s = shape_from_proto(attr.shape());              // [?,784], <unknown>
//   DType d = dtype_from_proto(tensorflow::DT_FLOAT_REF, "dnn/hidden1/kernel");  // f32
//
// Errors name `who` (a node, attr or file) so a bad graph says where it is bad.
#pragma once
#include <string>

#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "proto/tensor.pb.h"
#include "proto/tensor_shape.pb.h"
#include "proto/types.pb.h"

namespace fg {

// Reference types (DT_FLOAT_REF) map to their base type; types flowgraph has no kernels for
// (DT_HALF, DT_COMPLEX64, ...) throw Unimplemented naming `who` and the type.
DType dtype_from_proto(tensorflow::DataType t, const std::string& who);
tensorflow::DataType dtype_to_proto(DType t);
// "DT_FLOAT", "DT_FLOAT_REF", or "DT_<number>" for values outside TF's enum.
std::string proto_dtype_name(int t);

// Unknown rank and -1 dims carry over; other negative dims are InvalidArgument.
Shape shape_from_proto(const tensorflow::TensorShapeProto& p, const std::string& who = "TensorShapeProto");
tensorflow::TensorShapeProto shape_to_proto(const Shape& s);

// Like TF's make_tensor_proto: raw tensor_content when there is more than one element,
// the typed *_val field otherwise (bool always uses bool_val).
tensorflow::TensorProto tensor_to_proto(const Tensor& t);
// Accepts tensor_content or the typed *_val field; as in TF, fewer values than elements are
// padded with the last value (or zeros if there are none). Anything inconsistent is
// InvalidArgument naming `who`.
Tensor tensor_from_proto(const tensorflow::TensorProto& p, const std::string& who);

}  // namespace fg
