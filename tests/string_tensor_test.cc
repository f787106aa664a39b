// String tensors (DT_STRING): building and reading them, TensorProto both ways, the ops that
// carry them in a Session, and the bounds that keep hostile ones from allocating without limit.
#include <gtest/gtest.h>

#include <limits>

#include "core/allocator.h"
#include "flowgraph.h"
#include "graph/graph_io.h"
#include "graph/op_registry.h"
#include "graph/tensor_proto.h"
#include "tests/test_util.h"

namespace fg {
namespace {

using testing::expect_error;

TEST(StringTensor, BuildsAndReadsElements) {
  const Tensor s("model.ckpt");
  EXPECT_EQ(s.dtype(), string_dtype);
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_EQ(s.scalar<std::string>(), "model.ckpt");
  EXPECT_EQ(Tensor(std::string("x")).scalar<std::string>(), "x");
  EXPECT_EQ(Tensor(std::string_view("yz")).scalar<std::string>(), "yz");

  const std::string with_nul("a\0b", 3);
  const Tensor v = Tensor::from_vector<std::string>({"", with_nul, "ccc", "d", "", "ffffff"}, {2, 3});
  EXPECT_EQ(v.num_elements(), 6);
  EXPECT_EQ(v.str(0), "");
  EXPECT_EQ(v.str(1), with_nul);
  EXPECT_EQ(v.str(5), "ffffff");
  EXPECT_EQ(v.to_vector<std::string>(), (std::vector<std::string>{"", with_nul, "ccc", "d", "", "ffffff"}));
  expect_error([&] { v.str(6); }, Code::kOutOfRange, {"index 6"});
  expect_error([&] { v.scalar<std::string>(); }, Code::kInvalidArgument, {"shape [2,3]"});
  expect_error([&] { Tensor(2.f).str(0); }, Code::kInvalidArgument, {"float32 accessed as string"});
  expect_error([&] { Tensor::from_vector<std::string>({"a"}, {2}); }, Code::kInvalidArgument, {"1 values"});

  // Zero-filled and empty() string tensors are empty strings.
  for (const Tensor& e : {Tensor(string_dtype, {3}), Tensor::empty(string_dtype, {3})})
    EXPECT_EQ(e.to_vector<std::string>(), (std::vector<std::string>{"", "", ""}));
}

TEST(StringTensor, CopiesReshapesComparesAndPrints) {
  const Tensor v = Tensor::from_vector<std::string>({"ab", "c", "", "def"}, {4});
  const Tensor c = v.clone();
  EXPECT_FALSE(c.shares_buffer_with(v));
  EXPECT_TRUE(c.equals(v));
  EXPECT_TRUE(v.reshaped({2, 2}).equals(Tensor::from_vector<std::string>({"ab", "c", "", "def"}, {2, 2})));
  // Same sizes, different bytes; and the same bytes split differently.
  EXPECT_FALSE(v.equals(Tensor::from_vector<std::string>({"ab", "c", "", "deg"}, {4})));
  EXPECT_FALSE(v.equals(Tensor::from_vector<std::string>({"a", "bc", "", "def"}, {4})));
  EXPECT_FALSE(v.equals(Tensor::from_vector<std::string>({"ab", "c", "", "defg"}, {4})));
  EXPECT_EQ(v.reshaped({2, 2}).to_string(), "[[\"ab\" \"c\"]\n [\"\" \"def\"]]");
}

// A string tensor's bytes are its buffer, so the allocator's one bound covers them: the offsets
// (8 bytes an element) and every string's bytes.
TEST(StringTensor, TheTensorLimitCountsStringBytes) {
  set_max_tensor_bytes(4096);
  EXPECT_NO_THROW(Tensor(std::string(3000, 'x')));
  expect_error([] { Tensor(std::string(5000, 'x')); }, Code::kResourceExhausted,
                    {"OOM when allocating tensor with shape[] and type string", "5008 bytes"});
  expect_error([] { Tensor::from_vector<std::string>(std::vector<std::string>(3, std::string(1500, 'y'))); },
                    Code::kResourceExhausted, {"shape[3] and type string"});
  expect_error([] { Tensor(string_dtype, {1000}); }, Code::kResourceExhausted, {"8000 bytes"});
  set_max_tensor_bytes(0);
  expect_error([] { StringTensorWriter w(Shape{int64_t{1} << 61}, 0); }, Code::kResourceExhausted,
                    {"type string"});
  expect_error([] { StringTensorWriter w(Shape{1}, std::numeric_limits<int64_t>::max()); },
                    Code::kResourceExhausted, {"overflow"});
  // A writer given more or fewer bytes than it declared refuses them.
  StringTensorWriter w(Shape{2}, 3);
  w.append("ab");
  expect_error([&] { w.append("cd"); }, Code::kInvalidArgument, {"does not fit"});
  expect_error([&] { std::move(w).finish(); }, Code::kInvalidArgument, {"1 elements of 2 bytes written"});
}

TEST(StringTensor, TensorProtoBothWays) {
  const Tensor v = Tensor::from_vector<std::string>({"save/Const", "", std::string("\xff\0", 2)}, {3});
  const tensorflow::TensorProto p = tensor_to_proto(v);
  EXPECT_EQ(p.dtype(), tensorflow::DT_STRING);
  EXPECT_TRUE(p.tensor_content().empty());  // TF keeps strings in string_val
  ASSERT_EQ(p.string_val_size(), 3);
  EXPECT_EQ(p.string_val(2), std::string("\xff\0", 2));
  EXPECT_TRUE(tensor_from_proto(p, "v").equals(v));
  EXPECT_EQ(tensor_to_proto(Tensor("s")).string_val(0), "s");

  // Fewer values than elements pad with the last, as TF does; none gives empty strings.
  tensorflow::TensorProto pad;
  pad.set_dtype(tensorflow::DT_STRING);
  pad.mutable_tensor_shape()->add_dim()->set_size(4);
  pad.add_string_val("a");
  pad.add_string_val("bc");
  EXPECT_EQ(tensor_from_proto(pad, "pad").to_vector<std::string>(), (std::vector<std::string>{"a", "bc", "bc", "bc"}));
  pad.clear_string_val();
  EXPECT_EQ(tensor_from_proto(pad, "pad").to_vector<std::string>(), (std::vector<std::string>{"", "", "", ""}));

  tensorflow::TensorProto bad = pad;
  bad.set_tensor_content("abcd");
  expect_error([&] { tensor_from_proto(bad, "raw"); }, Code::kInvalidArgument, {"raw", "tensor_content"});
  bad = pad;
  bad.add_float_val(1);
  expect_error([&] { tensor_from_proto(bad, "mixed"); }, Code::kInvalidArgument, {"mixed", "string_val"});
  bad = pad;
  for (int i = 0; i < 5; ++i) bad.add_string_val("x");
  expect_error([&] { tensor_from_proto(bad, "many"); }, Code::kInvalidArgument, {"many", "5 values"});
}

// A few bytes of proto must not make a huge tensor: a huge element count, or one long string
// padded into many elements, is refused from the sizes before anything is allocated.
TEST(StringTensor, HostileTensorProtosAreBoundedBeforeAllocating) {
  const AllocatorStats before = allocator_stats();
  tensorflow::TensorProto many;
  many.set_dtype(tensorflow::DT_STRING);
  many.mutable_tensor_shape()->add_dim()->set_size(int64_t{1} << 60);
  many.add_string_val("x");
  expect_error([&] { tensor_from_proto(many, "many"); }, Code::kResourceExhausted,
                    {"OOM when allocating tensor with shape[1152921504606846976] and type string"});
  tensorflow::TensorProto padded;
  padded.set_dtype(tensorflow::DT_STRING);
  padded.mutable_tensor_shape()->add_dim()->set_size(int64_t{1} << 40);
  padded.add_string_val(std::string(1 << 20, 'p'));  // 1 MiB, padded to 2^40 elements: 2^60 bytes
  expect_error([&] { tensor_from_proto(padded, "padded"); }, Code::kResourceExhausted, {"type string"});
  padded.mutable_tensor_shape()->mutable_dim(0)->set_size(int64_t{1} << 50);  // 2^70 bytes: overflows
  expect_error([&] { tensor_from_proto(padded, "padded"); }, Code::kResourceExhausted, {"type string"});
  EXPECT_EQ(allocator_stats().system_allocations, before.system_allocations);

  set_max_tensor_bytes(1 << 16);
  padded.mutable_tensor_shape()->mutable_dim(0)->set_size(2);  // 2 MiB of strings past a 64 KiB limit
  expect_error([&] { tensor_from_proto(padded, "padded"); }, Code::kResourceExhausted, {"type string"});
  set_max_tensor_bytes(0);
}

TEST(StringTensor, ConstPlaceholderIdentityAndDefaultsRunInASession) {
  Graph g;
  Output c = constant(g, Tensor::from_vector<std::string>({"a", "bc"}), "names");
  Output p = placeholder(g, string_dtype, {}, "filename");
  Output d = placeholder_with_default(g, Tensor("default.ckpt"), {}, "prefix");
  Output id = identity(p, "same");
  Output shaped = reshape(c, {2, 1});
  EXPECT_EQ(id.dtype(), string_dtype);
  EXPECT_EQ(c.shape(), Shape{2});
  Session sess(g);
  EXPECT_EQ(sess.run(c).to_vector<std::string>(), (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(sess.run({{p, "model-7"}}, id).scalar<std::string>(), "model-7");
  EXPECT_EQ(sess.run(d).scalar<std::string>(), "default.ckpt");
  EXPECT_EQ(sess.run({{d, std::string("fed")}}, d).scalar<std::string>(), "fed");
  EXPECT_EQ(sess.run(shaped).shape(), (Shape{2, 1}));
  EXPECT_EQ(sess.run(shape(c)).to_vector<int32_t>(), (std::vector<int32_t>{2}));
  expect_error([&] { sess.run(id); }, Code::kInvalidArgument,
                    {"You must feed a value for placeholder tensor 'filename' with dtype string"});
  expect_error([&] { sess.run({{p, Tensor(1.f)}}, id); }, Code::kInvalidArgument,
                    {"Cannot feed value of dtype float32", "which has dtype string"});
  // Ops whose kernels move fixed-size elements refuse strings when the graph is built.
  expect_error([&] { zeros_like(c); }, Code::kInvalidArgument, {"ZerosLike", "string"});
  expect_error([&] { expand_dims(c, 0) + c; }, Code::kInvalidArgument, {"string"});

  // Exported and imported again, the string nodes keep their values.
  Graph back;
  import_graph_def(back, g.to_graph_def(), {.prefix = ""});
  EXPECT_FALSE(back.get_operation_by_name("names")->def().opaque);
  Session sb(back);
  EXPECT_EQ(sb.run(back.get_tensor_by_name("names:0")).to_vector<std::string>(),
            (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(sb.run({{back.get_tensor_by_name("filename:0"), "f"}}, back.get_tensor_by_name("same:0"))
                .scalar<std::string>(),
            "f");
}

}  // namespace
}  // namespace fg
