// Batch normalization: TF's FusedBatchNorm and its gradient op, and tf.nn.batch_normalization
// built from primitives.
#include <algorithm>
#include <cmath>

#include "core/allocator.h"
#include "core/parallel.h"
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/internal/kernel_util.h"
#include "ops/internal/register.h"
#include "ops/math.h"
#include "ops/nn.h"

namespace fg {

namespace nn {

FusedBatchNormResult fused_batch_norm(const Output& x, const Output& scale, const Output& offset, const Output& mean,
                                      const Output& variance, double epsilon, bool is_training, const std::string& name) {
  FG_CHECK(x && scale && offset, InvalidArgument, "fused_batch_norm: x, scale and offset are required");
  Graph& g = *x.graph();
  Output m = mean, v = variance;
  if (!m || !v) {
    FG_CHECK(is_training, InvalidArgument, "fused_batch_norm '", name,
             "': mean and variance are required when is_training is false");
    // What TF's wrapper feeds for absent statistics; the training kernel never reads them.
    if (!m) m = constant(g, Tensor(x.dtype(), {0}), "Const");
    if (!v) v = constant(g, Tensor(x.dtype(), {0}), "Const");
  }
  // TF's wrapper raises epsilon to cuDNN's minimum on every device, so graphs agree across devices.
  const double eps = std::max(epsilon, 1.001e-5);
  Operation* op = OpBuilder(x, "FusedBatchNorm", name).input(x).input(scale).input(offset).input(m).input(v)
                      .attr("epsilon", static_cast<float>(eps)).attr("data_format", std::string("NHWC"))
                      .attr("is_training", is_training).build();
  return {op->output(0), op->output(1), op->output(2), op};
}

Output batch_normalization(const Output& x, const Output& mean, const Output& variance, const Output& offset,
                           const Output& scale, double variance_epsilon, const std::string& name) {
  FG_CHECK(x && mean && variance, InvalidArgument, "batch_normalization: x, mean and variance are required");
  Graph& g = *x.graph();
  auto scope = g.name_scope(name.empty() ? "batchnorm" : name);
  // Python's `variance + eps` puts the converted constant inside the add's scope: "batchnorm/add/y".
  const std::string add_name = g.unique_name("add", /*mark_as_used=*/false);
  Output eps;
  {
    auto inner = g.name_scope(add_name + "/");
    eps = scalar_constant(g, variance_epsilon, variance.dtype(), "y");
  }
  Output inv = rsqrt(add(variance, eps, add_name + "/"));
  if (scale) inv = inv * scale;
  // Sequenced as TF1 builds them, so the generated names (mul_1, mul_2, sub, add_1) match.
  const Output scaled = x * inv;
  const Output shift = offset ? offset - mean * inv : -(mean * inv);
  return scaled + shift;
}

}  // namespace nn

namespace {

// -- FusedBatchNorm and FusedBatchNormGrad. x is viewed as [rows, C]: N for [N, C], N*H*W for NHWC.
//
// Statistics are accumulated in double, shifted by the first row, in one pass (accurate for
// |mean| >> std, where E[x^2] - E[x]^2 in float would cancel to noise); one more pass normalizes.
// Gradients take one pass for sum(dy) and sum(dy * (x - mean)), one for dx.

// Channels of a rank-2 or rank-4 channels-last tensor; fails otherwise.
int64_t batch_norm_channels(const Tensor& x, const char* op, const char* what) {
  FG_CHECK(x.rank() == 2 || x.rank() == 4, InvalidArgument, op, ": ", what,
           " must be 2-D [N, C] or 4-D NHWC [N, H, W, C], got shape ", x.shape());
  return x.dim(-1);
}

void check_per_channel(const Tensor& t, int64_t channels, const Shape& x_shape, const char* op, const char* what) {
  FG_CHECK(t.rank() == 1 && t.dim(0) == channels, InvalidArgument, op, ": ", what, " must have shape [", channels,
           "] to match the channels of x ", x_shape, ", got shape ", t.shape());
}

// Tiles for the per-channel sums: sizes depend on the shape alone (never on the thread count).
// Columns come in chunks of up to kStatChunkCols, a tile holds about kStatTileElems elements, and
// at most kStatMaxRowBlocks row blocks bound the partial sums' memory at 128 doubles per channel.
inline constexpr int64_t kStatChunkCols = 1024;
inline constexpr int64_t kStatTileElems = 16384;
inline constexpr int64_t kStatMaxRowBlocks = 64;

// sum_a[c], sum_b[c] over the rows of a [rows, cols] layout, where row_terms(r, c0, c1, a, b) adds
// row r's terms for columns [c0, c1) into a[c], b[c]. The rows are cut into blocks and the columns
// into chunks; every (block, chunk) tile accumulates into its block's own partial row, and the
// partials are added in block order: the same bits for any number of threads.
template <typename RowTerms>
void channel_sums(int64_t rows, int64_t cols, RowTerms&& row_terms, double* sum_a, double* sum_b) {
  const int64_t chunk = std::max<int64_t>(1, std::min(cols, kStatChunkCols));
  const int64_t chunks = (cols + chunk - 1) / chunk;
  const int64_t block_rows =
      std::max({int64_t{1}, kStatTileElems / chunk, (rows + kStatMaxRowBlocks - 1) / kStatMaxRowBlocks});
  const int64_t blocks = (rows + block_rows - 1) / block_rows;
  ScratchArray<double> partial(2 * blocks * cols, 0.0);
  parallel_for(blocks * chunks, block_rows * chunk * 2, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / chunks, c0 = (t % chunks) * chunk, c1 = std::min(cols, c0 + chunk);
      double* a = partial.data() + 2 * b * cols;
      for (int64_t r = b * block_rows, r1 = std::min(rows, r + block_rows); r < r1; ++r)
        row_terms(r, c0, c1, a, a + cols);
    }
  });
  parallel_for(cols, blocks * 2, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double a = 0, b = 0;
      for (int64_t k = 0; k < blocks; ++k) {
        a += partial[2 * k * cols + c];
        b += partial[(2 * k + 1) * cols + c];
      }
      sum_a[c] = a;
      sum_b[c] = b;
    }
  });
}

// Per-channel mean and biased variance of x [rows, cols].
template <typename T>
void batch_moments(const T* x, int64_t rows, int64_t cols, double* mean, double* var) {
  ScratchArray<double> s1(cols, 0.0), s2(cols, 0.0);
  if (rows > 0) {
    // Shifting by a sample (the first row) keeps the one-pass sums small: no cancellation.
    channel_sums(rows, cols, [&](int64_t r, int64_t c0, int64_t c1, double* __restrict a, double* __restrict b) {
      const T* xr = x + r * cols;
      for (int64_t c = c0; c < c1; ++c) {
        const double d = static_cast<double>(xr[c]) - static_cast<double>(x[c]);
        a[c] += d;
        b[c] += d * d;
      }
    }, s1.data(), s2.data());
  }
  const double n = static_cast<double>(rows);
  for (int64_t c = 0; c < cols; ++c) {
    const double shift = rows > 0 ? static_cast<double>(x[c]) : 0.0, m = s1[c] / n;
    mean[c] = shift + m;
    var[c] = std::max(0.0, s2[c] / n - m * m);
  }
}

// y = (x - mean) * (scale * inv_std) + offset, channels innermost.
template <typename T>
void batch_norm_apply(const T* x, int64_t rows, int64_t cols, const T* m, const T* k, const T* offset, T* y) {
  parallel_for(rows, cols * 3, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;
      for (int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - m[c]) * k[c] + offset[c];
    }
  });
}

template <typename T>
Tensor channel_tensor(const ScratchArray<double>& v) {
  Tensor t = Tensor::empty(dtype_of<T>(), {static_cast<int64_t>(v.size())});
  std::transform(v.begin(), v.end(), t.data<T>(), [](double d) { return static_cast<T>(d); });
  return t;
}

template <typename T>
ScratchArray<double> channel_values(const Tensor& t) {
  const T* p = t.data<T>();
  ScratchArray<double> v(t.num_elements());
  std::copy(p, p + t.num_elements(), v.begin());
  return v;
}

// Normalizes x (input 0) with `mean` and `var` into output 0 (in x's buffer when possible).
template <typename T>
void batch_norm_forward(KernelContext& ctx, const double* mean, const double* var, double epsilon,
                        ScratchArray<double>& inv_std) {
  const Tensor& x = ctx.input(0);
  const int64_t cols = x.dim(-1), rows = cols == 0 ? 0 : x.num_elements() / cols;
  const T* scale = ctx.input(1).data<T>();
  ScratchArray<T> mean_t(cols), mult(cols);
  for (int64_t c = 0; c < cols; ++c) {
    inv_std[c] = 1.0 / std::sqrt(var[c] + epsilon);
    mean_t[c] = static_cast<T>(mean[c]);
    mult[c] = static_cast<T>(static_cast<double>(scale[c]) * inv_std[c]);
  }
  // The statistics are complete before y is written, so y may take x's buffer.
  Tensor y = ctx.forward_input_or_allocate(0, x.dtype(), x.shape());
  batch_norm_apply(x.data<T>(), rows, cols, mean_t.data(), mult.data(), ctx.input(2).data<T>(), y.data<T>());
  ctx.set_output(0, y);
}

// Checks the forward ops' inputs; returns C.
int64_t check_batch_norm_inputs(KernelContext& ctx, const char* op, bool need_statistics) {
  const Tensor& x = ctx.input(0);
  const int64_t channels = batch_norm_channels(x, op, "x");
  check_per_channel(ctx.input(1), channels, x.shape(), op, "scale");
  check_per_channel(ctx.input(2), channels, x.shape(), op, "offset");
  if (need_statistics) {
    check_per_channel(ctx.input(3), channels, x.shape(), op, "mean");
    check_per_channel(ctx.input(4), channels, x.shape(), op, "variance");
  }
  return channels;
}

// TF1's CPU FusedBatchNorm. Training: y from the batch mean and biased variance; batch_variance
// is the unbiased variance (TF's estimate for moving averages); reserve_space_1/2 = mean and
// *biased* variance, what FusedBatchNormGrad normalizes with. Inference: the given mean and
// variance everywhere.
void fused_batch_norm_kernel(KernelContext& ctx) {
  check_data_format(ctx.attr<std::string>("data_format"));
  const bool training = ctx.attr<bool>("is_training");
  const double epsilon = ctx.attr<float>("epsilon");
  const Tensor& x = ctx.input(0);
  const int64_t cols = check_batch_norm_inputs(ctx, "FusedBatchNorm", !training);
  const int64_t rows = cols == 0 ? 0 : x.num_elements() / cols;
  dispatch_float(x.dtype(), "FusedBatchNorm", [&]<typename T>() {
    ScratchArray<double> inv_std(cols);
    if (!training) {
      batch_norm_forward<T>(ctx, channel_values<T>(ctx.input(3)).data(), channel_values<T>(ctx.input(4)).data(), epsilon,
                            inv_std);
      for (int i : {1, 2}) ctx.set_output(i, ctx.input(i + 2));
      for (int i : {3, 4}) ctx.set_output(i, ctx.input(i));
      return;
    }
    ScratchArray<double> mean(cols), var(cols);
    batch_moments(x.data<T>(), rows, cols, mean.data(), var.data());
    // Bessel's correction; TF floors the divisor at 1 so a single row gives its biased variance.
    const double bessel = static_cast<double>(rows) / static_cast<double>(std::max<int64_t>(rows - 1, 1));
    ScratchArray<double> unbiased(cols);
    for (int64_t c = 0; c < cols; ++c) unbiased[c] = var[c] * bessel;
    ctx.set_output(1, channel_tensor<T>(mean));
    ctx.set_output(2, channel_tensor<T>(unbiased));
    ctx.set_output(3, channel_tensor<T>(mean));
    ctx.set_output(4, channel_tensor<T>(var));
    batch_norm_forward<T>(ctx, mean.data(), var.data(), epsilon, inv_std);
  });
}

// dx, dscale, doffset from dy, x, scale, the mean x was centred on and inv_std = 1/sqrt(var + eps).
// Training (the statistics were x's own):
//   dx = scale inv_std / N (N dy - sum(dy) - xhat sum(dy xhat)),  xhat = (x - mean) inv_std;
// inference (the statistics were constants): dx = dy scale inv_std. In both modes
// dscale = sum(dy xhat), doffset = sum(dy). dx goes into dy's buffer when possible.
template <typename T>
void batch_norm_backward(KernelContext& ctx, const Tensor& mean_t, const double* inv_std, bool training) {
  const Tensor& dy = ctx.input(0);
  const Tensor& x = ctx.input(1);
  const int64_t cols = x.dim(-1), rows = cols == 0 ? 0 : x.num_elements() / cols;
  const T* g = dy.data<T>();
  const T* xp = x.data<T>();
  const T* mean = mean_t.data<T>();
  const T* scale = ctx.input(2).data<T>();
  ScratchArray<double> sum_dy(cols, 0.0), sum_dy_xc(cols, 0.0);
  channel_sums(rows, cols, [&](int64_t r, int64_t c0, int64_t c1, double* __restrict a, double* __restrict b) {
    const T* gr = g + r * cols;
    const T* xr = xp + r * cols;
    for (int64_t c = c0; c < c1; ++c) {
      const double d = static_cast<double>(gr[c]);
      a[c] += d;
      b[c] += d * (static_cast<double>(xr[c]) - static_cast<double>(mean[c]));
    }
  }, sum_dy.data(), sum_dy_xc.data());

  Tensor dscale = Tensor::empty(dtype_of<T>(), {cols});
  Tensor doffset = Tensor::empty(dtype_of<T>(), {cols});
  // Per channel: dx = k (dy - mean(dy) - (x - mean) q), q = inv_std^2 mean(dy (x - mean)).
  ScratchArray<T> k(cols), mean_dy(cols), q(cols);
  const double n = static_cast<double>(std::max<int64_t>(rows, 1));
  for (int64_t c = 0; c < cols; ++c) {
    dscale.data<T>()[c] = static_cast<T>(sum_dy_xc[c] * inv_std[c]);
    doffset.data<T>()[c] = static_cast<T>(sum_dy[c]);
    k[c] = static_cast<T>(static_cast<double>(scale[c]) * inv_std[c]);
    mean_dy[c] = training ? static_cast<T>(sum_dy[c] / n) : T(0);
    q[c] = training ? static_cast<T>(inv_std[c] * inv_std[c] * sum_dy_xc[c] / n) : T(0);
  }
  Tensor dx = ctx.forward_input_or_allocate(0, x.dtype(), x.shape());
  T* o = dx.data<T>();
  parallel_for(rows, cols * 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* gr = g + r * cols;
      const T* xr = xp + r * cols;
      T* orow = o + r * cols;
      if (training) {
        for (int64_t c = 0; c < cols; ++c) orow[c] = k[c] * (gr[c] - mean_dy[c] - (xr[c] - mean[c]) * q[c]);
      } else {
        for (int64_t c = 0; c < cols; ++c) orow[c] = gr[c] * k[c];
      }
    }
  });
  ctx.set_output(0, dx);
  ctx.set_output(1, dscale);
  ctx.set_output(2, doffset);
}

// Checks the gradient ops' inputs (dy, x, scale, two per-channel statistics); returns C.
int64_t check_batch_norm_grad_inputs(KernelContext& ctx, const char* op, const char* stat1, const char* stat2) {
  const Tensor& dy = ctx.input(0);
  const Tensor& x = ctx.input(1);
  const int64_t channels = batch_norm_channels(x, op, "x");
  FG_CHECK(dy.shape() == x.shape(), InvalidArgument, op, ": y_backprop and x must have the same shape, got ",
           dy.shape(), " and ", x.shape());
  check_per_channel(ctx.input(2), channels, x.shape(), op, "scale");
  check_per_channel(ctx.input(3), channels, x.shape(), op, stat1);
  check_per_channel(ctx.input(4), channels, x.shape(), op, stat2);
  return channels;
}

void fused_batch_norm_grad_kernel(KernelContext& ctx) {
  check_data_format(ctx.attr<std::string>("data_format"));
  const double epsilon = ctx.attr<float>("epsilon");
  const bool training = ctx.attr<bool>("is_training");
  const int64_t cols = check_batch_norm_grad_inputs(ctx, "FusedBatchNormGrad", "reserve_space_1", "reserve_space_2");
  dispatch_float(ctx.input(1).dtype(), "FusedBatchNormGrad", [&]<typename T>() {
    const T* var = ctx.input(4).data<T>();
    ScratchArray<double> inv_std(cols);
    for (int64_t c = 0; c < cols; ++c) inv_std[c] = 1.0 / std::sqrt(static_cast<double>(var[c]) + epsilon);
    batch_norm_backward<T>(ctx, ctx.input(3), inv_std.data(), training);
    // TF's CPU kernel leaves these empty; they exist for cuDNN.
    ctx.set_output(3, Tensor(dtype_of<T>(), {0}));
    ctx.set_output(4, Tensor(dtype_of<T>(), {0}));
  });
}

// Static checks shared by the shape functions: x rank 2 or 4; each listed input a vector of C
// (those marked may_be_empty can also be [0]: FusedBatchNorm's statistics when training).
struct ChannelArg {
  int input;
  const char* name;
  bool may_be_empty = false;
};

int64_t batch_norm_static_channels(InferenceContext& c, int x_input, std::initializer_list<ChannelArg> args) {
  const Shape& x = c.input_shape(x_input);
  if (x.known_rank() && x.rank() != 2 && x.rank() != 4)
    c.fail(str_cat("x must be 2-D [N, C] or 4-D NHWC [N, H, W, C], got shape ", x));
  int64_t channels = x.known_rank() ? x.dim(-1) : -1;
  for (const ChannelArg& a : args) {
    const Shape& s = c.input_shape(a.input);
    if (!s.known_rank()) continue;
    if (s.rank() != 1) c.fail(str_cat(a.name, " must be 1-D [C], got shape ", s));
    if (a.may_be_empty && s.dim(0) == 0) continue;
    channels = merge_dim(channels, s.dim(0), [&] {
      c.fail(str_cat(a.name, " has ", s.dim(0), " elements but x ", x, " has ", channels, " channels"));
    });
  }
  return channels;
}

void set_channel_outputs(InferenceContext& c, int first, int last, int64_t channels) {
  for (int i = first; i <= last; ++i) c.set_output(i, Shape{channels});
}

void fused_batch_norm_shape(InferenceContext& c) {
  check_data_format(c.attr<std::string>("data_format"));
  const bool empty_ok = c.attr<bool>("is_training");
  const int64_t channels = batch_norm_static_channels(
      c, 0, {{1, "scale"}, {2, "offset"}, {3, "mean", empty_ok}, {4, "variance", empty_ok}});
  Shape y = c.input_shape(0);
  if (y.known_rank()) y.set_dim(y.rank() - 1, channels);
  c.set_output(0, y);
  set_channel_outputs(c, 1, 4, channels);
}

// dx's shape: x's merged with y_backprop's, channels merged with the per-channel inputs.
Shape batch_norm_grad_shapes(InferenceContext& c, const char* stat1, const char* stat2, int64_t* channels) {
  Shape x = c.input_shape(1).merge_with(c.input_shape(0), str_cat(c.op().type(), " '", c.op().name(), "'"));
  *channels = batch_norm_static_channels(c, 1, {{2, "scale"}, {3, stat1}, {4, stat2}});
  if (x.known_rank() && x.rank() != 2 && x.rank() != 4)
    c.fail(str_cat("y_backprop must be 2-D [N, C] or 4-D NHWC [N, H, W, C], got shape ", x));
  if (x.known_rank()) x.set_dim(x.rank() - 1, *channels);
  return x;
}

void fused_batch_norm_grad_shape(InferenceContext& c) {
  check_data_format(c.attr<std::string>("data_format"));
  int64_t channels;
  c.set_output(0, batch_norm_grad_shapes(c, "reserve_space_1", "reserve_space_2", &channels));
  set_channel_outputs(c, 1, 2, channels);
  set_channel_outputs(c, 3, 4, 0);
}

// Gradients reaching the batch statistics outputs, as a dx term: d mean / dx = 1/N and
// d var / dx = 2 (x - mean) / D, D = N (biased) or max(N - 1, 1) (unbiased). TF drops these
// gradients; adding them keeps tf.gradients of anything built on the statistics correct.
Output batch_statistics_grad(const Operation& op, const Output& x, const Output& mean, const Output& g_mean,
                             const Output& g_var, bool unbiased) {
  FG_CHECK(x.shape().known_rank(), Unimplemented, op.type(), " '", op.name(),
           "': differentiating its batch statistics needs x of known rank");
  std::vector<int64_t> rows_axes(x.shape().rank() - 1);
  for (size_t i = 0; i < rows_axes.size(); ++i) rows_axes[i] = static_cast<int64_t>(i);
  const Output ones = ones_like(x);
  const Output n = reduce_sum(ones, rows_axes);  // [C], each entry the row count N
  Output dx;
  if (g_mean) dx = ones * (g_mean / n);
  if (g_var) {
    const Output divisor = unbiased ? maximum(n - 1.0, scalar_like(n, 1)) : n;
    const Output term = (2.0 * g_var / divisor) * (x - mean);
    dx = dx ? dx + term : term;
  }
  return dx;
}

Output add_if(const Output& a, const Output& b) { return !a ? b : !b ? a : a + b; }

// TF's _FusedBatchNormGrad: training normalizes with the batch statistics kept in the reserve
// spaces, inference with the population statistics (the inputs). No gradient for mean/variance.
std::vector<Output> fused_batch_norm_grad(GradContext& c) {
  const Operation& op = c.op();
  const bool training = op.attr<bool>("is_training");
  const Output x = c.input(0), scale = c.input(1);
  Output dx, dscale, doffset;
  if (c.grad(0)) {
    const Output dy = c.grad(0);
    const Output stat1 = training ? c.output(3) : c.input(3), stat2 = training ? c.output(4) : c.input(4);
    Operation* g = OpBuilder(dy, "FusedBatchNormGrad", "FusedBatchNormGrad").input(dy).input(x).input(scale)
                       .input(stat1).input(stat2).attr("epsilon", op.attr<float>("epsilon"))
                       .attr("data_format", op.attr<std::string>("data_format")).attr("is_training", training).build();
    dx = g->output(0);
    dscale = g->output(1);
    doffset = g->output(2);
  }
  // In inference mode the statistics outputs are the mean/variance inputs, which get no gradient.
  if (training && (c.grad(1) || c.grad(2)))
    dx = add_if(dx, batch_statistics_grad(op, x, c.output(3), c.grad(1), c.grad(2), /*unbiased=*/true));
  return {dx, dscale, doffset, Output(), Output()};
}

}  // namespace

void register_batch_norm_ops(OpRegistry& r) {
  // Float only, as TF's (the kernels accumulate in double all the same).
  r.add("FusedBatchNorm").input("x", "T").input("scale", "T").input("offset", "T").input("mean", "T")
      .input("variance", "T").output("y", "T").output("batch_mean", "T").output("batch_variance", "T")
      .output("reserve_space_1", "T").output("reserve_space_2", "T").attr("epsilon", 0.0001f)
      .attr("data_format", std::string("NHWC")).attr("is_training", true).type_attr("T", {DType::kFloat})
      .shape(fused_batch_norm_shape).kernel_fn(fused_batch_norm_kernel).gradient(fused_batch_norm_grad);
  r.add("FusedBatchNormGrad").input("y_backprop", "T").input("x", "T").input("scale", "T")
      .input("reserve_space_1", "T").input("reserve_space_2", "T").output("x_backprop", "T")
      .output("scale_backprop", "T").output("offset_backprop", "T").output("reserve_space_3", "T")
      .output("reserve_space_4", "T").attr("epsilon", 0.0001f).attr("data_format", std::string("NHWC"))
      .attr("is_training", true).type_attr("T", {DType::kFloat}).shape(fused_batch_norm_grad_shape)
      .kernel_fn(fused_batch_norm_grad_kernel).without_gradient("its second derivative is not implemented");
}

}  // namespace fg
