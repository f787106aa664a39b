// proto/: wire compatibility with TensorFlow's schema (numbers, a real TF1 .meta file) and
// graph/tensor_proto's conversions.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "graph/tensor_proto.h"
#include "proto/attr_value.pb.h"
#include "proto/checkpoint_state.pb.h"
#include "proto/graph.pb.h"
#include "proto/meta_graph.pb.h"
#include "proto/node_def.pb.h"
#include "proto/saver.pb.h"
#include "proto/tensor_bundle.pb.h"
#include "proto/tensor_slice.pb.h"
#include "proto/variable.pb.h"
#include "tests/test_util.h"

namespace fg {
namespace {

namespace fs = std::filesystem;

using testing::expect_error;
using testing::slurp;

fs::path fixture_dir() { return testing::fixture_dir("tf1-mnist-mlp"); }

int field_number(const google::protobuf::Descriptor* d, const std::string& name) {
  const auto* f = d->FindFieldByName(name);
  return f ? f->number() : -1;
}

// ---- the schema's numbers are TensorFlow's ----------------------------------------------------

TEST(ProtoSchema, DataTypeValues) {
  EXPECT_EQ(tensorflow::DT_INVALID, 0);
  EXPECT_EQ(tensorflow::DT_FLOAT, 1);
  EXPECT_EQ(tensorflow::DT_DOUBLE, 2);
  EXPECT_EQ(tensorflow::DT_INT32, 3);
  EXPECT_EQ(tensorflow::DT_UINT8, 4);
  EXPECT_EQ(tensorflow::DT_STRING, 7);
  EXPECT_EQ(tensorflow::DT_INT64, 9);
  EXPECT_EQ(tensorflow::DT_BOOL, 10);
  EXPECT_EQ(tensorflow::DT_BFLOAT16, 14);
  EXPECT_EQ(tensorflow::DT_HALF, 19);
  EXPECT_EQ(tensorflow::DT_RESOURCE, 20);
  EXPECT_EQ(tensorflow::DT_UINT64, 23);
  EXPECT_EQ(tensorflow::DT_FLOAT_REF, 101);
  EXPECT_EQ(tensorflow::DT_INT32_REF, 103);
  EXPECT_EQ(tensorflow::DT_BOOL_REF, 110);
  EXPECT_EQ(tensorflow::DT_UINT64_REF, 123);
  // flowgraph's DType enum is numbered the same way.
  for (DType d : {f32, f64, i32, i64, u8, boolean}) EXPECT_EQ(dtype_to_proto(d), static_cast<int>(d));
}

TEST(ProtoSchema, FieldNumbers) {
  using namespace tensorflow;
  using tensorflow::AttrValue;  // not fg's, which test_util.h brings in
  using tensorflow::OpDef;
  const auto* t = TensorProto::descriptor();
  const std::vector<std::pair<std::string, int>> tensor_fields = {
      {"dtype", 1},        {"tensor_shape", 2}, {"version_number", 3}, {"tensor_content", 4},
      {"float_val", 5},    {"double_val", 6},   {"int_val", 7},        {"string_val", 8},
      {"scomplex_val", 9}, {"int64_val", 10},   {"bool_val", 11},      {"dcomplex_val", 12},
      {"half_val", 13},    {"resource_handle_val", 14}, {"variant_val", 15}, {"uint32_val", 16},
      {"uint64_val", 17}};
  for (const auto& [name, num] : tensor_fields) EXPECT_EQ(field_number(t, name), num) << name;

  const auto* a = AttrValue::descriptor();
  for (const auto& [name, num] : std::vector<std::pair<std::string, int>>{
           {"list", 1}, {"s", 2}, {"i", 3}, {"f", 4}, {"b", 5}, {"type", 6}, {"shape", 7}, {"tensor", 8},
           {"placeholder", 9}, {"func", 10}})
    EXPECT_EQ(field_number(a, name), num) << name;
  EXPECT_EQ(field_number(AttrValue::ListValue::descriptor(), "func"), 9);
  EXPECT_EQ(field_number(AttrValue::ListValue::descriptor(), "s"), 2);

  EXPECT_EQ(field_number(TensorShapeProto::descriptor(), "dim"), 2);
  EXPECT_EQ(field_number(TensorShapeProto::descriptor(), "unknown_rank"), 3);
  EXPECT_EQ(field_number(NodeDef::descriptor(), "attr"), 5);
  EXPECT_EQ(field_number(NodeDef::descriptor(), "device"), 4);
  EXPECT_EQ(field_number(GraphDef::descriptor(), "node"), 1);
  EXPECT_EQ(field_number(GraphDef::descriptor(), "version"), 3);
  EXPECT_EQ(field_number(GraphDef::descriptor(), "versions"), 4);
  EXPECT_EQ(field_number(VersionDef::descriptor(), "bad_consumers"), 3);
  EXPECT_EQ(field_number(MetaGraphDef::descriptor(), "collection_def"), 4);
  EXPECT_EQ(field_number(MetaGraphDef::descriptor(), "asset_file_def"), 6);
  EXPECT_EQ(field_number(MetaGraphDef::MetaInfoDef::descriptor(), "stripped_op_list"), 2);
  EXPECT_EQ(field_number(MetaGraphDef::MetaInfoDef::descriptor(), "stripped_default_attrs"), 7);
  EXPECT_EQ(field_number(CollectionDef::descriptor(), "any_list"), 5);
  EXPECT_EQ(field_number(TensorInfo::descriptor(), "coo_sparse"), 4);
  EXPECT_EQ(field_number(SignatureDef::descriptor(), "method_name"), 3);
  EXPECT_EQ(field_number(SaverDef::descriptor(), "version"), 7);
  EXPECT_EQ(SaverDef::V2, 2);
  EXPECT_EQ(field_number(VariableDef::descriptor(), "initial_value_name"), 6);
  EXPECT_EQ(field_number(VariableDef::descriptor(), "trainable"), 7);
  EXPECT_EQ(field_number(OpDef::descriptor(), "is_stateful"), 17);
  EXPECT_EQ(field_number(OpDef::ArgDef::descriptor(), "is_ref"), 16);
  EXPECT_EQ(field_number(OpDef::AttrDef::descriptor(), "allowed_values"), 7);
  EXPECT_EQ(field_number(BundleEntryProto::descriptor(), "crc32c"), 6);
  EXPECT_EQ(BundleEntryProto::descriptor()->FindFieldByName("crc32c")->type(),
            google::protobuf::FieldDescriptor::TYPE_FIXED32);
  EXPECT_EQ(field_number(BundleEntryProto::descriptor(), "slices"), 7);
  EXPECT_EQ(field_number(BundleHeaderProto::descriptor(), "version"), 3);
  EXPECT_EQ(BundleHeaderProto::BIG, 1);
  EXPECT_EQ(field_number(TensorSliceProto::Extent::descriptor(), "length"), 2);
  EXPECT_EQ(field_number(CheckpointState::descriptor(), "all_model_checkpoint_paths"), 2);
}

// ---- a real TensorFlow 1.10 meta graph ---------------------------------------------------------

// True when no message reachable from `m` holds fields our schema does not know.
void collect_unknown(const google::protobuf::Message& m, const std::string& path, std::vector<std::string>* out) {
  const auto* refl = m.GetReflection();
  if (!refl->GetUnknownFields(m).empty()) out->push_back(path);
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  refl->ListFields(m, &fields);
  for (const auto* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < refl->FieldSize(m, f); ++i)
        collect_unknown(refl->GetRepeatedMessage(m, f, i), path + "." + f->name(), out);
    } else {
      collect_unknown(refl->GetMessage(m, f), path + "." + f->name(), out);
    }
  }
}

class FixtureMeta : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(fixture_dir())) GTEST_SKIP() << "no fixture at " << fixture_dir();
    bytes_ = slurp(fixture_dir() / "my_model_final.ckpt.meta");
    ASSERT_TRUE(meta_.ParseFromString(bytes_));
  }
  const tensorflow::NodeDef* node(const std::string& name) const {
    for (const auto& n : meta_.graph_def().node())
      if (n.name() == name) return &n;
    return nullptr;
  }
  std::string bytes_;
  tensorflow::MetaGraphDef meta_;
};

TEST_F(FixtureMeta, ParsesCompletely) {
  std::vector<std::string> unknown;
  collect_unknown(meta_, "MetaGraphDef", &unknown);
  EXPECT_TRUE(unknown.empty()) << "unknown fields at " << unknown.front();
  // Every byte is accounted for: re-serializing gives a file of the same size (TF wrote map
  // entries in its own order, so the bytes differ) that parses back to an equal message.
  const std::string again = meta_.SerializeAsString();
  EXPECT_EQ(again.size(), bytes_.size());
  tensorflow::MetaGraphDef reparsed;
  ASSERT_TRUE(reparsed.ParseFromString(again));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(reparsed, meta_));
}

TEST_F(FixtureMeta, GraphNodesAndVersions) {
  const auto& info = meta_.meta_info_def();
  EXPECT_EQ(info.tensorflow_version(), "1.10.1");
  EXPECT_EQ(meta_.graph_def().versions().producer(), 26);
  std::set<std::string> ops;
  for (const auto& op : info.stripped_op_list().op()) ops.insert(op.name());
  for (const char* want : {"Add", "MatMul", "VariableV2", "InTopKV2", "SaveV2", "RestoreV2"}) EXPECT_TRUE(ops.count(want)) << want;

  for (const char* want : {"X", "y", "dnn/hidden1/kernel", "dnn/hidden1/kernel/Assign", "dnn/hidden1/kernel/read",
                           "dnn/outputs/add", "eval/Mean", "save/Const", "save/restore_all"})
    EXPECT_NE(node(want), nullptr) << want;

  const auto* kernel = node("dnn/hidden1/kernel");
  ASSERT_NE(kernel, nullptr);
  EXPECT_EQ(kernel->op(), "VariableV2");
  EXPECT_EQ(dtype_from_proto(kernel->attr().at("dtype").type(), kernel->name()), f32);
  EXPECT_EQ(shape_from_proto(kernel->attr().at("shape").shape()), (Shape{784, 300}));
  // _output_shapes carries the reference type's shape.
  ASSERT_EQ(kernel->attr().at("_output_shapes").list().shape_size(), 1);

  const auto* x = node("X");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(shape_from_proto(x->attr().at("shape").shape()), (Shape{-1, 784}));
  const auto* y = node("y");
  ASSERT_NE(y, nullptr);
  EXPECT_FALSE(shape_from_proto(y->attr().at("shape").shape()).known_rank());

  const auto* read = node("dnn/hidden1/kernel/read");
  ASSERT_NE(read, nullptr);
  ASSERT_EQ(read->input_size(), 1);
  EXPECT_EQ(read->input(0), "dnn/hidden1/kernel");

  // A scalar Const in float_val, and a vector Const in tensor_content.
  const auto* lr = node("train/GradientDescent/learning_rate");
  ASSERT_NE(lr, nullptr);
  const Tensor lr_value = tensor_from_proto(lr->attr().at("value").tensor(), lr->name());
  EXPECT_EQ(lr_value.shape(), Shape{});
  EXPECT_FLOAT_EQ(lr_value.scalar<float>(), 0.01f);
  const auto* shape_const = node("dnn/hidden1/truncated_normal/shape");
  ASSERT_NE(shape_const, nullptr);
  const Tensor dims = tensor_from_proto(shape_const->attr().at("value").tensor(), shape_const->name());
  EXPECT_EQ(dims.to_vector<int32_t>(), (std::vector<int32_t>{784, 300}));
  // The saver's string Const: the checkpoint prefix TF's Saver was built with.
  const Tensor prefix = tensor_from_proto(node("save/Const")->attr().at("value").tensor(), "save/Const");
  EXPECT_EQ(prefix.dtype(), string_dtype);
  EXPECT_EQ(prefix.shape(), Shape{});
  EXPECT_EQ(prefix.scalar<std::string>(), "model");
}

TEST_F(FixtureMeta, SaverAndCollections) {
  const auto& saver = meta_.saver_def();
  EXPECT_EQ(saver.filename_tensor_name(), "save/Const:0");
  EXPECT_EQ(saver.save_tensor_name(), "save/control_dependency:0");
  EXPECT_EQ(saver.restore_op_name(), "save/restore_all");
  EXPECT_EQ(saver.max_to_keep(), 5);
  EXPECT_EQ(saver.version(), tensorflow::SaverDef::V2);

  const auto& cols = meta_.collection_def();
  ASSERT_TRUE(cols.count("train_op"));
  ASSERT_EQ(cols.at("train_op").kind_case(), tensorflow::CollectionDef::kNodeList);
  EXPECT_EQ(cols.at("train_op").node_list().value(0), "train/GradientDescent");
  for (const char* key : {"variables", "trainable_variables"}) {
    ASSERT_TRUE(cols.count(key)) << key;
    const auto& list = cols.at(key).bytes_list();
    ASSERT_EQ(list.value_size(), 6) << key;
    tensorflow::VariableDef v;
    ASSERT_TRUE(v.ParseFromString(list.value(0)));
    EXPECT_EQ(v.variable_name(), "dnn/hidden1/kernel:0");
    EXPECT_EQ(v.initializer_name(), "dnn/hidden1/kernel/Assign");
    EXPECT_EQ(v.snapshot_name(), "dnn/hidden1/kernel/read:0");
    EXPECT_EQ(v.initial_value_name(), "dnn/hidden1/truncated_normal:0");
    EXPECT_TRUE(v.trainable());
    EXPECT_FALSE(v.is_resource());
  }
}

TEST(ProtoSchema, UnknownFieldsSurvive) {
  // A GraphDef with a function library (field 2), which our schema leaves out.
  tensorflow::GraphDef g;
  g.add_node()->set_name("a");
  g.mutable_versions()->set_producer(26);
  std::string bytes = g.SerializeAsString();
  const std::string library = "\x12\x05\x0a\x03\x0a\x01\x66";  // library { function { signature {...} } }
  bytes += library;
  tensorflow::GraphDef parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_EQ(parsed.node(0).name(), "a");
  EXPECT_NE(parsed.SerializeAsString().find(library), std::string::npos);
}

// ---- tensor <-> TensorProto ---------------------------------------------------------------------

TEST(TensorProto, RoundTripsEveryDtype) {
  const std::vector<Tensor> tensors = {
      Tensor::from_vector<float>({1.5f, -2.f, 3.f, 4.f}, {2, 2}),
      Tensor::from_vector<double>({1e300, -0.5}, {2}),
      Tensor::from_vector<int32_t>({7, -8, 9}, {3, 1}),
      Tensor::from_vector<int64_t>({int64_t{1} << 40, -1}, {2}),
      Tensor::from_vector<uint8_t>({0, 128, 255}, {3}),
      Tensor::from_vector<bool>({true, false, true, true}, {2, 2}),
      Tensor(0.5f), Tensor(2.5), Tensor(int32_t{-3}), Tensor(int64_t{9}), Tensor(false),
      Tensor::from_vector<uint8_t>({200}, {1, 1}),
      Tensor(f32, {0}), Tensor(i64, {2, 0, 3}),
  };
  for (const Tensor& t : tensors) {
    SCOPED_TRACE(t.to_string());
    const tensorflow::TensorProto p = tensor_to_proto(t);
    EXPECT_EQ(p.dtype(), static_cast<int>(t.dtype()));
    EXPECT_EQ(shape_from_proto(p.tensor_shape()), t.shape());
    if (t.num_elements() > 1 && t.dtype() != boolean) {
      EXPECT_EQ(p.tensor_content().size(), t.num_bytes());
    } else {
      EXPECT_TRUE(p.tensor_content().empty());
    }
    tensorflow::TensorProto wire;
    ASSERT_TRUE(wire.ParseFromString(p.SerializeAsString()));
    EXPECT_TRUE(tensor_from_proto(wire, "t").equals(t));
  }
  // TF's encoding of a scalar float Const: dtype, empty shape, float_val.
  const auto p = tensor_to_proto(Tensor(0.01f));
  EXPECT_EQ(p.SerializeAsString(), std::string("\x08\x01\x12\x00\x2a\x04\x0a\xd7\x23\x3c", 10));
  expect_error([] { tensor_to_proto(Tensor()); }, Code::kInvalidArgument, {"tensor_to_proto"});
}

TEST(TensorProto, TypedValuesFillLikeTensorFlow) {
  tensorflow::TensorProto p;
  p.set_dtype(tensorflow::DT_FLOAT);
  p.mutable_tensor_shape()->add_dim()->set_size(2);
  p.mutable_tensor_shape()->add_dim()->set_size(3);
  for (float v : {1.f, 2.f, 3.f, 4.f, 5.f, 6.f}) p.add_float_val(v);
  EXPECT_EQ(tensor_from_proto(p, "c").to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  p.clear_float_val();
  p.add_float_val(7.f);  // tf.constant(7.0, shape=[2, 3])
  EXPECT_EQ(tensor_from_proto(p, "c").to_vector<float>(), std::vector<float>(6, 7.f));
  p.add_float_val(8.f);  // fewer values than elements: the last one repeats
  EXPECT_EQ(tensor_from_proto(p, "c").to_vector<float>(), (std::vector<float>{7, 8, 8, 8, 8, 8}));
  p.clear_float_val();
  EXPECT_EQ(tensor_from_proto(p, "c").to_vector<float>(), std::vector<float>(6, 0.f));

  tensorflow::TensorProto b;
  b.set_dtype(tensorflow::DT_BOOL);
  b.mutable_tensor_shape()->add_dim()->set_size(3);
  b.add_bool_val(true);
  EXPECT_EQ(tensor_from_proto(b, "b").to_vector<bool>(), (std::vector<bool>{true, true, true}));

  tensorflow::TensorProto u;
  u.set_dtype(tensorflow::DT_UINT8);
  u.add_int_val(255);
  EXPECT_EQ(tensor_from_proto(u, "u").scalar<uint8_t>(), 255);

  tensorflow::TensorProto r;  // a reference dtype reads as its base type
  r.set_dtype(tensorflow::DT_INT64_REF);
  r.add_int64_val(-4);
  EXPECT_EQ(tensor_from_proto(r, "r").scalar<int64_t>(), -4);
}

TEST(TensorProto, MismatchesAreInvalidArgument) {
  tensorflow::TensorProto p;
  p.set_dtype(tensorflow::DT_FLOAT);
  p.mutable_tensor_shape()->add_dim()->set_size(2);
  p.set_tensor_content(std::string(7, '\0'));
  expect_error([&] { tensor_from_proto(p, "node/c"); }, Code::kInvalidArgument, {"node/c", "7 bytes", "8"});
  p.clear_tensor_content();
  for (int i = 0; i < 3; ++i) p.add_float_val(1.f);
  expect_error([&] { tensor_from_proto(p, "node/c"); }, Code::kInvalidArgument, {"node/c", "3 values"});
  p.clear_float_val();
  p.add_int_val(1);
  expect_error([&] { tensor_from_proto(p, "node/c"); }, Code::kInvalidArgument, {"node/c", "float_val"});
  p.clear_int_val();
  p.mutable_tensor_shape()->mutable_dim(0)->set_size(-1);
  expect_error([&] { tensor_from_proto(p, "node/c"); }, Code::kInvalidArgument, {"node/c", "fully defined"});
  p.mutable_tensor_shape()->mutable_dim(0)->set_size(-5);
  expect_error([&] { tensor_from_proto(p, "node/c"); }, Code::kInvalidArgument, {"node/c", "-5"});
  p.mutable_tensor_shape()->mutable_dim(0)->set_size(int64_t{1} << 40);
  p.mutable_tensor_shape()->add_dim()->set_size(int64_t{1} << 40);
  expect_error([&] { tensor_from_proto(p, "node/c"); }, Code::kInvalidArgument, {"node/c", "more than 2^63 - 1 elements"});

  tensorflow::TensorProto u;
  u.set_dtype(tensorflow::DT_UINT8);
  u.add_int_val(300);
  expect_error([&] { tensor_from_proto(u, "u8"); }, Code::kInvalidArgument, {"u8", "300"});

  tensorflow::TensorProto b;
  b.set_dtype(tensorflow::DT_BOOL);
  b.mutable_tensor_shape()->add_dim()->set_size(2);
  b.set_tensor_content(std::string("\x01\x02", 2));
  expect_error([&] { tensor_from_proto(b, "b"); }, Code::kInvalidArgument, {"b", "bool"});

  tensorflow::TensorProto none;
  expect_error([&] { tensor_from_proto(none, "unset"); }, Code::kInvalidArgument, {"unset", "DT_INVALID"});
  tensorflow::TensorProto half;
  half.set_dtype(tensorflow::DT_HALF);
  half.add_half_val(1);
  expect_error([&] { tensor_from_proto(half, "h"); }, Code::kUnimplemented, {"h", "DT_HALF"});
}

TEST(TensorProto, ShapesAndDtypes) {
  tensorflow::TensorShapeProto unknown;
  unknown.set_unknown_rank(true);
  EXPECT_FALSE(shape_from_proto(unknown).known_rank());
  EXPECT_TRUE(shape_to_proto(Shape::unknown()).unknown_rank());
  EXPECT_EQ(shape_to_proto(Shape::unknown()).dim_size(), 0);
  for (const Shape& s : {Shape{}, Shape{-1, 784}, Shape{0}, Shape{2, 3, 4}})
    EXPECT_EQ(shape_from_proto(shape_to_proto(s)), s);
  unknown.add_dim()->set_size(3);
  expect_error([&] { shape_from_proto(unknown, "attr shape"); }, Code::kInvalidArgument, {"attr shape", "unknown_rank"});

  const std::vector<std::pair<tensorflow::DataType, DType>> pairs = {
      {tensorflow::DT_FLOAT, f32}, {tensorflow::DT_DOUBLE, f64}, {tensorflow::DT_INT32, i32},
      {tensorflow::DT_INT64, i64}, {tensorflow::DT_UINT8, u8},   {tensorflow::DT_BOOL, boolean}};
  for (const auto& [tf, fg] : pairs) {
    EXPECT_EQ(dtype_from_proto(tf, "x"), fg);
    EXPECT_EQ(dtype_from_proto(static_cast<tensorflow::DataType>(tf + 100), "x"), fg);
    EXPECT_EQ(dtype_to_proto(fg), tf);
  }
  EXPECT_EQ(proto_dtype_name(tensorflow::DT_FLOAT_REF), "DT_FLOAT_REF");
  EXPECT_EQ(proto_dtype_name(999), "DT_<999>");
  expect_error([] { dtype_from_proto(tensorflow::DT_HALF, "dnn/h"); }, Code::kUnimplemented, {"dnn/h", "DT_HALF"});
  expect_error([] { dtype_from_proto(tensorflow::DT_RESOURCE_REF, "r"); }, Code::kUnimplemented, {"DT_RESOURCE_REF"});
}

}  // namespace
}  // namespace fg
