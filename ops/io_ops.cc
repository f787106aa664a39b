#include "ops/io_ops.h"

#include <unistd.h>

#include <cstdio>
#include <limits>

#include "graph/op_registry.h"
#include "ops/checkpoint_files.h"
#include "ops/internal/register.h"
#include "ops/register.h"
#include "ops/tensor_bundle.h"

namespace fg {

// ---- builders

Operation* save_v2(const Output& prefix, const Output& tensor_names, const Output& shape_and_slices,
                   const std::vector<Output>& tensors, const std::string& name) {
  return OpBuilder(prefix, "SaveV2", name).input(prefix).input(tensor_names).input(shape_and_slices)
      .input_list(tensors).build();
}

std::vector<Output> restore_v2(const Output& prefix, const Output& tensor_names, const Output& shape_and_slices,
                               const std::vector<DType>& dtypes, const std::string& name) {
  Operation* op = OpBuilder(prefix, "RestoreV2", name).input(prefix).input(tensor_names).input(shape_and_slices)
                      .attr("dtypes", dtypes).build();
  std::vector<Output> r;
  for (int i = 0; i < op->num_outputs(); ++i) r.push_back(op->output(i));
  return r;
}

Operation* merge_v2_checkpoints(const Output& checkpoint_prefixes, const Output& destination_prefix,
                                bool delete_old_dirs, const std::string& name) {
  return OpBuilder(checkpoint_prefixes, "MergeV2Checkpoints", name).input(checkpoint_prefixes)
      .input(destination_prefix).attr("delete_old_dirs", delete_old_dirs).build();
}

Output sharded_filename(const Output& basename, const Output& shard, const Output& num_shards, const std::string& name) {
  return OpBuilder(basename, "ShardedFilename", name).input(basename).input(shard).input(num_shards).build_output();
}

Output sharded_filespec(const Output& basename, const Output& num_shards, const std::string& name) {
  return OpBuilder(basename, "ShardedFilespec", name).input(basename).input(num_shards).build_output();
}

Output string_join(const std::vector<Output>& inputs, const std::string& separator, const std::string& name) {
  FG_CHECK(!inputs.empty(), InvalidArgument, "string_join: no inputs");
  return OpBuilder(inputs[0], "StringJoin", name).input_list(inputs).attr("separator", separator).build_output();
}

// ---- shapes, kernels

namespace {

// A scalar (or, as TF's kernels accept, a one-element tensor) string input.
std::string scalar_string(const Tensor& t, const char* what) {
  FG_CHECK(t.num_elements() == 1, InvalidArgument, "Input ", what, " should have a single element, got ",
           t.num_elements(), " instead.");
  return std::string(t.str(0));
}

int32_t scalar_int(const Tensor& t, const char* what) {
  FG_CHECK(t.num_elements() == 1, InvalidArgument, "Input ", what, " must be a scalar, got shape ", t.shape());
  return t.data<int32_t>()[0];
}

// Rank checks a shape function can make from static shapes (unknown ones pass).
void expect_rank(InferenceContext& c, int i, int rank, const char* what) {
  const Shape& s = c.input_shape(i);
  if (s.known_rank() && s.rank() != rank) c.fail(str_cat(what, " must have rank ", rank, ", got shape ", s));
}

void expect_length(InferenceContext& c, int i, int64_t n, const char* what) {
  expect_rank(c, i, 1, what);
  const Shape& s = c.input_shape(i);
  if (s.known_rank() && s.dim(0) >= 0 && s.dim(0) != n)
    c.fail(str_cat(what, " has ", s.dim(0), " elements for ", n, " tensors"));
}

// TF's ValidateInputs of SaveV2 / RestoreV2.
void check_names(const Tensor& prefix, const Tensor& names, const Tensor& slices, int64_t num_tensors) {
  FG_CHECK(prefix.num_elements() == 1, InvalidArgument, "Input prefix should have a single element, got ",
           prefix.num_elements(), " instead.");
  FG_CHECK(names.rank() == 1 && slices.rank() == 1, InvalidArgument,
           "Input tensor_names and shape_and_slices should be an 1-D tensors, got ", names.shape(), " and ",
           slices.shape(), " instead.");
  FG_CHECK(names.num_elements() == slices.num_elements(), InvalidArgument,
           "tensor_names and shape_and_slices have different number of elements: ", names.num_elements(), " vs. ",
           slices.num_elements());
  FG_CHECK(names.num_elements() == num_tensors, InvalidArgument, "Got ", names.num_elements(),
           " tensor names but ", num_tensors, " tensors.");
  for (int64_t i = 0; i < num_tensors; ++i)
    FG_CHECK(slices.str(i).empty(), Unimplemented, "tensor '", names.str(i), "' has shape_and_slice '",
             slices.str(i), "': flowgraph saves and restores whole tensors only (no partitioned variables)");
}

void save_v2_shape(InferenceContext& c) {
  const int64_t n = c.num_inputs() - 3;
  expect_rank(c, 0, 0, "prefix");
  expect_length(c, 1, n, "tensor_names");
  expect_length(c, 2, n, "shape_and_slices");
}

void save_v2_kernel(KernelContext& ctx) {
  const int64_t n = ctx.num_inputs() - 3;
  check_names(ctx.input(0), ctx.input(1), ctx.input(2), n);
  train::BundleWriter w(std::string(ctx.input(0).str(0)));
  for (int64_t i = 0; i < n; ++i) w.add(std::string(ctx.input(1).str(i)), ctx.input(static_cast<int>(3 + i)));
  w.finish();
}

void restore_v2_shape(InferenceContext& c) {
  const int64_t n = static_cast<int64_t>(c.attr<std::vector<DType>>("dtypes").size());
  expect_rank(c, 0, 0, "prefix");
  expect_length(c, 1, n, "tensor_names");
  expect_length(c, 2, n, "shape_and_slices");
  for (int64_t i = 0; i < n; ++i) c.set_output(static_cast<int>(i), Shape::unknown());
}

void restore_v2_kernel(KernelContext& ctx) {
  const auto& dtypes = ctx.attr<std::vector<DType>>("dtypes");
  const int64_t n = static_cast<int64_t>(dtypes.size());
  check_names(ctx.input(0), ctx.input(1), ctx.input(2), n);
  const std::string prefix(ctx.input(0).str(0));
  train::internal::try_recover_directory(train::internal::dir_of(prefix));  // as train::Saver::restore
  const train::BundleReader r(prefix);
  // All read before any output is set: a missing or mistyped tensor fails the run whole.
  std::vector<Tensor> values;
  for (int64_t i = 0; i < n; ++i) {
    const std::string key(ctx.input(1).str(i));
    FG_CHECK(r.contains(key), NotFound, "Key ", key, " not found in checkpoint ", prefix);
    const DType got = r.dtype_and_shape(key).first;
    FG_CHECK(got == dtypes[i], InvalidArgument, "Expected to restore a tensor of type ", dtype_name(dtypes[i]),
             ", got a tensor of type ", dtype_name(got), " instead: tensor_name = ", key);
    values.push_back(r.read(key));
  }
  for (int64_t i = 0; i < n; ++i) ctx.set_output(static_cast<int>(i), std::move(values[i]));
}

void merge_shape(InferenceContext& c) {
  expect_rank(c, 0, 1, "checkpoint_prefixes");
  expect_rank(c, 1, 0, "destination_prefix");
}

void merge_kernel(KernelContext& ctx) {
  const Tensor& in = ctx.input(0);
  FG_CHECK(in.rank() == 1, InvalidArgument, "Input checkpoint_prefixes should be a vector, got shape ", in.shape());
  const std::string dest = scalar_string(ctx.input(1), "destination_prefix");
  const std::vector<std::string> prefixes = in.to_vector<std::string>();
  train::merge_bundles(prefixes, dest);
  if (ctx.attr<bool>("delete_old_dirs")) {
    // As TF: each input's directory, unless it is the destination's; only an empty one goes.
    const std::string dest_dir = train::internal::dir_of(dest);
    for (const std::string& p : prefixes) {
      const std::string dir = train::internal::dir_of(p);
      if (dir != dest_dir) ::rmdir(dir.c_str());
    }
  }
}

void scalar_output_shape(InferenceContext& c) {
  for (int i = 0; i < c.num_inputs(); ++i) expect_rank(c, i, 0, "every input");
  c.set_output(0, Shape{});
}

void sharded_filename_kernel(KernelContext& ctx) {
  const std::string base = scalar_string(ctx.input(0), "basename");
  const int32_t shard = scalar_int(ctx.input(1), "shard"), num = scalar_int(ctx.input(2), "num_shards");
  char suffix[48];
  std::snprintf(suffix, sizeof suffix, "-%05d-of-%05d", shard, num);
  ctx.set_output(0, Tensor(base + suffix));
}

void sharded_filespec_kernel(KernelContext& ctx) {
  const std::string base = scalar_string(ctx.input(0), "basename");
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "-\?\?\?\?\?-of-%05d", scalar_int(ctx.input(1), "num_shards"));
  ctx.set_output(0, Tensor(base + suffix));
}

// Scalars broadcast; every other input has one shape, the output's.
void string_join_shape(InferenceContext& c) {
  Shape out{};
  for (int i = 0; i < c.num_inputs(); ++i) {
    const Shape& s = c.input_shape(i);
    if (!s.known_rank()) return c.set_output(0, Shape::unknown());
    if (s.rank() == 0) continue;
    out = out.rank() == 0 ? s : out.merge_with(s, str_cat("StringJoin '", c.op().name(), "'"));
  }
  c.set_output(0, out);
}

void string_join_kernel(KernelContext& ctx) {
  const std::string& sep = ctx.attr<std::string>("separator");
  const int n = ctx.num_inputs();
  Shape shape{};
  for (int i = 0; i < n; ++i) {
    const Tensor& t = ctx.input(i);
    if (t.rank() == 0) continue;
    FG_CHECK(shape.rank() == 0 || shape == t.shape(), InvalidArgument, "Input shapes do not match: ", shape,
             " vs. ", t.shape());
    shape = t.shape();
  }
  const int64_t m = shape.num_elements();
  // Each input's bytes, times m for a broadcast scalar; the separators; all checked by the writer.
  int64_t chars = 0;
  bool overflow = false;
  for (int i = 0; i < n; ++i) {
    const Tensor& t = ctx.input(i);
    int64_t c = 0;
    for (int64_t k = 0; k < t.num_elements(); ++k) c += static_cast<int64_t>(t.str(k).size());
    if (t.rank() == 0) overflow |= __builtin_mul_overflow(c, m, &c);
    overflow |= __builtin_add_overflow(chars, c, &chars);
  }
  int64_t seps;
  overflow |= __builtin_mul_overflow(static_cast<int64_t>(sep.size()) * (n - 1), m, &seps);
  overflow |= __builtin_add_overflow(chars, seps, &chars);
  StringTensorWriter w(shape, overflow ? std::numeric_limits<int64_t>::max() : chars);
  std::string joined;
  for (int64_t k = 0; k < m; ++k) {
    joined.clear();
    for (int i = 0; i < n; ++i) {
      if (i > 0) joined += sep;
      const Tensor& t = ctx.input(i);
      joined += t.str(t.rank() == 0 ? 0 : k);
    }
    w.append(joined);
  }
  ctx.set_output(0, std::move(w).finish());
}

}  // namespace

void register_io_ops(OpRegistry& r) {
  r.add("SaveV2").input("prefix", DType::kString).input("tensor_names", DType::kString)
      .input("shape_and_slices", DType::kString).type_list_input("tensors", "dtypes").attr("dtypes")
      .shape(save_v2_shape).kernel_fn(save_v2_kernel).set_stateful().not_differentiable("writes a file");
  r.add("RestoreV2").input("prefix", DType::kString).input("tensor_names", DType::kString)
      .input("shape_and_slices", DType::kString).type_list_output("tensors", "dtypes").attr("dtypes")
      .shape(restore_v2_shape).kernel_fn(restore_v2_kernel).set_stateful().not_differentiable("reads a file");
  r.add("MergeV2Checkpoints").input("checkpoint_prefixes", DType::kString)
      .input("destination_prefix", DType::kString).attr("delete_old_dirs", true).shape(merge_shape)
      .kernel_fn(merge_kernel).set_stateful().not_differentiable("moves files");
  r.add("ShardedFilename").input("basename", DType::kString).input("shard", DType::kInt32)
      .input("num_shards", DType::kInt32).output("filename", DType::kString).shape(scalar_output_shape)
      .kernel_fn(sharded_filename_kernel).not_differentiable("a string output");
  r.add("ShardedFilespec").input("basename", DType::kString).input("num_shards", DType::kInt32)
      .output("filename", DType::kString).shape(scalar_output_shape).kernel_fn(sharded_filespec_kernel)
      .not_differentiable("a string output");
  r.add("StringJoin").list_input("inputs", "string", "N").output("output", DType::kString).attr("N")
      .attr("separator", std::string()).shape(string_join_shape).kernel_fn(string_join_kernel)
      .not_differentiable("a string output");
}

}  // namespace fg
