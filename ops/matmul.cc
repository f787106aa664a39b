// MatMul, BiasAdd and BiasAddGrad: a dense layer's ops, and the fusion of its product with the
// bias (ops/internal/dense_fusion.h fuses the activations).
#include <algorithm>

#include "core/allocator.h"
#include "core/eigen.h"
#include "core/gemm.h"
#include "core/parallel.h"
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/internal/dense_fusion.h"
#include "ops/internal/kernel_util.h"
#include "ops/internal/register.h"
#include "ops/math.h"
#include "ops/nn.h"

namespace fg {

Output matmul(const Output& a, const Output& b, const MatMulOptions& options) {
  graph_of(a, "MatMul");
  return OpBuilder(a, "MatMul", options.name)
      .input(a).input(b).attr("transpose_a", options.transpose_a).attr("transpose_b", options.transpose_b)
      .build_output();
}

namespace nn {

Output bias_add(const Output& value, const Output& bias, const std::string& name) {
  graph_of(value, "BiasAdd");
  return OpBuilder(value, "BiasAdd", name).input(value).input(bias).attr("data_format", std::string("NHWC"))
      .build_output();
}

}  // namespace nn

MatMulDims matmul_dims(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  FG_CHECK(a.rank() == 2 && b.rank() == 2, InvalidArgument, "In[0] and In[1] must be matrices, got ", a.shape(),
           " and ", b.shape());
  const int64_t m = a.dim(ta ? 1 : 0), k = a.dim(ta ? 0 : 1), k2 = b.dim(tb ? 1 : 0), n = b.dim(tb ? 0 : 1);
  FG_CHECK(k == k2, InvalidArgument, "Matrix size-incompatible: In[0]: ", a.shape(), ", In[1]: ", b.shape(),
           " (transpose_a=", ta, ", transpose_b=", tb, ")");
  return {m, k, n};
}

bool is_float_matmul(const Operation& consumer, const Operation& producer) {
  return is_floating(producer.output_dtype(0)) && consumer.output_dtype(0) == producer.output_dtype(0);
}

void check_bias(const Tensor& bias, const Shape& value) {
  FG_CHECK(bias.rank() == 1, InvalidArgument, "Biases must be 1D: ", bias.shape());
  FG_CHECK(bias.dim(0) == value.dim(-1), InvalidArgument,
           "Must provide as many biases as the last dimension of the input tensor: ", bias.shape(), " vs. ", value);
}

namespace {

Output bias_add_grad_op(const Output& out_backprop, const std::string& data_format) {
  return OpBuilder(out_backprop, "BiasAddGrad", "BiasAddGrad")
      .input(out_backprop).attr("data_format", data_format).build_output();
}

// ---- MatMul

void matmul_shape(InferenceContext& c) {
  Shape s[2] = {c.input_shape(0), c.input_shape(1)};
  for (int i = 0; i < 2; ++i) {
    if (!s[i].known_rank()) s[i] = Shape{-1, -1};
    if (s[i].rank() != 2)
      c.fail(str_cat("Shape must be rank 2 but is rank ", s[i].rank(), " for input ", i, " with shape ", s[i]));
  }
  const bool ta = c.attr<bool>("transpose_a"), tb = c.attr<bool>("transpose_b");
  const int64_t m = s[0].dim(ta ? 1 : 0), k1 = s[0].dim(ta ? 0 : 1);
  const int64_t k2 = s[1].dim(tb ? 1 : 0), n = s[1].dim(tb ? 0 : 1);
  if (k1 >= 0 && k2 >= 0 && k1 != k2)
    c.fail(str_cat("Dimensions must be equal, but are ", k1, " and ", k2, " for inputs with shapes ", c.input_shape(0),
                   " and ", c.input_shape(1), " (transpose_a=", ta, ", transpose_b=", tb, ")"));
  c.set_output(0, Shape{m, n});
}

void matmul_kernel(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const bool ta = ctx.attr<bool>("transpose_a"), tb = ctx.attr<bool>("transpose_b");
  // Named variables, not a structured binding: lambdas below capture them (clang before 16 cannot).
  const MatMulDims dims = matmul_dims(a, b, ta, tb);
  const int64_t m = dims.m, k = dims.k, n = dims.n;
  Tensor out = Tensor::empty(a.dtype(), {m, n});
  dispatch<TypeSet::kSigned>(a.dtype(), ctx.op_name().c_str(), [&]<typename T>() {
    gemm<T>(ta, tb, m, n, k, T(1), a.data<T>(), a.dim(1), b.data<T>(), b.dim(1), T(0), out.data<T>(), n);
  });
  ctx.set_output(0, out);
}

// TF's _MatMulGrad, case by case.
std::vector<Output> matmul_grad(GradContext& c) {
  const Output a = c.input(0), b = c.input(1), g = c.grad(0);
  const bool ta = c.op().attr<bool>("transpose_a"), tb = c.op().attr<bool>("transpose_b");
  if (!ta && !tb) return {matmul(g, b, {.transpose_b = true}), matmul(a, g, {.transpose_a = true})};
  if (!ta && tb) return {matmul(g, b), matmul(g, a, {.transpose_a = true})};
  if (ta && !tb) return {matmul(b, g, {.transpose_b = true}), matmul(a, g)};
  return {matmul(b, g, {.transpose_a = true, .transpose_b = true}),
          matmul(g, a, {.transpose_a = true, .transpose_b = true})};
}

// ---- BiasAdd, BiasAddGrad

void bias_add_shape(InferenceContext& c) {
  check_data_format(c.attr<std::string>("data_format"));
  const Shape& v = c.input_shape(0);
  const Shape& b = c.input_shape(1);
  if (b.known_rank() && b.rank() != 1) c.fail(str_cat("bias must be 1-D, got shape ", b));
  if (!v.known_rank()) return c.set_output(0, v);
  if (v.rank() < 2) c.fail(str_cat("value must be at least rank 2, got shape ", v));
  Shape out = v;
  if (b.known_rank()) {
    out.set_dim(v.rank() - 1, merge_dim(v.dim(-1), b.dim(0), [&] {
      c.fail(str_cat("Dimensions must be equal, but are ", v.dim(-1), " and ", b.dim(0), " with input shapes: ", v,
                     ", ", b, "."));
    }));
  }
  c.set_output(0, out);
}

void bias_add_kernel(KernelContext& ctx) {
  check_data_format(ctx.attr<std::string>("data_format"));
  const Tensor& value = ctx.input(0);
  const Tensor& bias = ctx.input(1);
  FG_CHECK(value.rank() >= 2, InvalidArgument, "Input tensor must be at least 2D: ", value.shape());
  const int64_t cols = value.dim(-1);
  check_bias(bias, value.shape());
  Tensor out = ctx.forward_input_or_allocate(0, value.dtype(), value.shape());
  dispatch_numeric(value.dtype(), "BiasAdd", [&]<typename T>() {
    const T* v = value.data<T>();
    const T* b = bias.data<T>();
    T* o = out.data<T>();
    const int64_t rows = cols == 0 ? 0 : value.num_elements() / cols;
    parallel_for(rows, cols, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* vr = v + r * cols;
        T* orow = o + r * cols;
        for (int64_t c = 0; c < cols; ++c) orow[c] = static_cast<T>(vr[c] + b[c]);
      }
    });
  });
  ctx.set_output(0, out);
}

// Column sums: elements per row block (narrow rows), and the width from which threads split the
// columns instead. See column_sums.
inline constexpr int64_t kColumnSumBlock = 8192;
inline constexpr int64_t kWideColumns = 256;

// out[c] = sum over rows of x[r, c], cache-friendly and parallel, and the same bits on every thread
// count: each column's additions happen in an order fixed by the shape alone.
//  - Wide rows: each thread owns a range of columns and streams that segment of every row.
//  - Narrow rows: the rows are cut into blocks whose size depends only on the shape, each block
//    streams its rows into a partial-sum row, and the partials are added in block order (which
//    also keeps float error low for tall inputs).
template <typename T>
void column_sums(const T* x, int64_t rows, int64_t cols, T* out) {
  auto sum_rows = [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1, T* acc) {
    if (c1 <= c0) return;
    std::fill(acc + c0, acc + c1, T(0));
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * cols;
      for (int64_t c = c0; c < c1; ++c) acc[c] = static_cast<T>(acc[c] + xr[c]);
    }
  };
  if (cols >= kWideColumns) {
    parallel_for(cols, rows, [&](int64_t c0, int64_t c1) { sum_rows(0, rows, c0, c1, out); });
    return;
  }
  const int64_t block_rows = std::max<int64_t>(1, kColumnSumBlock / std::max<int64_t>(cols, 1));
  const int64_t blocks = (rows + block_rows - 1) / block_rows;
  if (blocks <= 1) return sum_rows(0, rows, 0, cols, out);
  ScratchArray<T> partial(blocks * cols);
  parallel_for(blocks, block_rows * cols, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      sum_rows(b * block_rows, std::min(rows, (b + 1) * block_rows), 0, cols, partial.data() + b * cols);
  });
  parallel_for(cols, blocks, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      T s = T(0);
      for (int64_t b = 0; b < blocks; ++b) s = static_cast<T>(s + partial[b * cols + c]);
      out[c] = s;
    }
  });
}

void bias_add_grad_shape(InferenceContext& c) {
  check_data_format(c.attr<std::string>("data_format"));
  const Shape& s = c.input_shape(0);
  if (!s.known_rank()) return c.set_output(0, Shape{-1});
  if (s.rank() < 2) c.fail(str_cat("out_backprop must be at least rank 2, got shape ", s));
  c.set_output(0, Shape{s.dim(-1)});
}

void bias_add_grad_kernel(KernelContext& ctx) {
  check_data_format(ctx.attr<std::string>("data_format"));
  const Tensor& g = ctx.input(0);
  FG_CHECK(g.rank() >= 2, InvalidArgument, "Input tensor must be at least 2D: ", g.shape());
  const int64_t cols = g.dim(-1);
  const int64_t rows = cols == 0 ? 0 : g.num_elements() / cols;
  Tensor out = Tensor::empty(g.dtype(), {cols});
  dispatch_numeric(g.dtype(), "BiasAddGrad", [&]<typename T>() { column_sums(g.data<T>(), rows, cols, out.data<T>()); });
  ctx.set_output(0, out);
}

std::vector<Output> bias_add_grad(GradContext& c) {
  return {c.grad(0), bias_add_grad_op(c.grad(0), c.op().attr<std::string>("data_format"))};
}

// d BiasAddGrad / d out_backprop broadcasts the incoming [C] gradient over every row.
std::vector<Output> bias_add_grad_grad(GradContext& c) {
  const Output x = c.input(0);
  return {OpBuilder(x, "BiasAdd", "BiasAdd").input(zeros_like(x)).input(c.grad(0))
              .attr("data_format", c.op().attr<std::string>("data_format")).build_output()};
}

}  // namespace

void register_matmul_ops(OpRegistry& r) {
  r.add("MatMul").input("a", "T").input("b", "T").output("product", "T").attr("transpose_a", false)
      .attr("transpose_b", false).type_attr("T", {DType::kFloat, DType::kDouble, DType::kInt32}).shape(matmul_shape)
      .kernel_fn(matmul_kernel).gradient(matmul_grad);
  r.add("BiasAdd").input("value", "T").input("bias", "T").output("output", "T")
      .attr("data_format", std::string("NHWC")).type_attr("T", kNumericTypes)
      .shape(bias_add_shape).kernel_fn(bias_add_kernel).gradient(bias_add_grad);
  r.add_fusion({.consumer = "BiasAdd", .producer = "MatMul", .input = 0,
                .kernel = matmul_bias_add_kernel<NoActivation>, .applies = is_float_matmul});
  r.add("BiasAddGrad").input("out_backprop", "T").output("output", "T")
      .attr("data_format", std::string("NHWC")).type_attr("T", kNumericTypes)
      .shape(bias_add_grad_shape).kernel_fn(bias_add_grad_kernel).gradient(bias_add_grad_grad);
}

}  // namespace fg
