#include "ops/random.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <random>
#include <variant>

#include "core/parallel.h"
#include "core/random.h"
#include "graph/op_registry.h"
#include "ops/register.h"
#include "ops/array.h"
#include "ops/internal/register.h"
#include "ops/math.h"

namespace fg {

namespace {

// TF1's tf.get_seed as the builder stores it: with neither a graph nor an op seed the attrs stay
// 0/0, which the kernel reads as "fresh entropy on every call"; seeds that were set but resolve to
// 0/0 move off that value (TF uses (0, 2^31 - 1)) so they stay deterministic.
std::pair<int64_t, int64_t> op_seeds(Graph& g, std::optional<int64_t> seed) {
  if (!g.seed() && !seed) return {0, 0};
  auto s = resolve_seeds(g.seed(), seed, g.num_operations());
  if (s.first == 0 && s.second == 0) s.second = std::numeric_limits<int32_t>::max();
  return s;
}

enum class Dist { kUniform, kNormal, kTruncatedNormal };

// tf.random_uniform / tf.random_normal / tf.truncated_normal, node for node:
//   <name>/shape, <name>/min|mean, <name>/max|stddev, <name>/<RandomOp>, [<name>/sub,] <name>/mul,
//   and the result "<name>" (an Add).
// `shape` is a static shape (becomes the Const "<name>/shape") or an int32 shape tensor.
Output random_tensor(Graph& g, Dist dist, const std::variant<Shape, Output>& shape_arg, double a, double b,
                     DType dtype, std::optional<int64_t> seed, const std::string& name) {
  const char* default_name = dist == Dist::kUniform ? "random_uniform"
                             : dist == Dist::kNormal ? "random_normal" : "truncated_normal";
  const char* op_type = dist == Dist::kUniform ? "RandomUniform"
                        : dist == Dist::kNormal ? "RandomStandardNormal" : "TruncatedNormal";
  const std::string who = name.empty() ? default_name : name;
  register_ops();  // a random op can start a graph
  FG_CHECK(is_floating(dtype), InvalidArgument, who, ": dtype must be float32 or float64, got ", dtype_name(dtype));
  // The static shape's Const is int32 when every dim fits, int64 otherwise (as TF converts it).
  Tensor dims;
  if (const Shape* shape = std::get_if<Shape>(&shape_arg)) {
    FG_CHECK(shape->is_fully_defined(), InvalidArgument, who, ": shape must be fully defined, got ", *shape);
    const std::vector<int64_t> d = shape->dim_vector();
    if (std::all_of(d.begin(), d.end(), [](int64_t v) { return v <= std::numeric_limits<int32_t>::max(); }))
      dims = Tensor::from_vector(std::vector<int32_t>(d.begin(), d.end()), Shape{shape->rank()});
    else
      dims = Tensor::from_vector(d, Shape{shape->rank()});
  }

  const std::string full = g.unique_name(who, /*mark_as_used=*/false);
  Output scaled, offset;
  {
    auto scope = g.name_scope(full + "/");
    const Output* given = std::get_if<Output>(&shape_arg);
    const Output shape_t =
        given ? *given : constant(g, dims, "shape");
    const bool uniform = dist == Dist::kUniform;
    offset = scalar_constant(g, a, dtype, uniform ? "min" : "mean");
    const Output second = scalar_constant(g, b, dtype, uniform ? "max" : "stddev");
    // The op seed defaults to this op's index, so it is resolved right before the op is created.
    const auto [seed1, seed2] = op_seeds(g, seed);
    const Output rnd = OpBuilder(g, op_type, op_type)
                           .input(shape_t).attr("dtype", dtype).attr("seed", seed1).attr("seed2", seed2)
                           .build_output();
    const Output range = uniform ? subtract(second, offset, "sub") : second;
    scaled = multiply(rnd, range, "mul");
  }
  return OpBuilder(g, "Add", full + "/").input(scaled).input(offset).build_output();
}

void random_shape(InferenceContext& c) { c.set_output(0, shape_from_shape_input(c, 0)); }

Shape read_shape(const Tensor& t) {
  FG_CHECK(t.rank() == 1, InvalidArgument, "shape must be a vector of int32 or int64, got a tensor of shape ",
           t.shape());
  std::vector<int64_t> dims;
  if (t.dtype() == DType::kInt32) for (int32_t d : t.flat<int32_t>()) dims.push_back(d);
  else if (t.dtype() == DType::kInt64) for (int64_t d : t.flat<int64_t>()) dims.push_back(d);
  else throw InvalidArgument(str_cat("shape must be int32 or int64, got ", dtype_name(t.dtype())));
  return shape_from_dims(dims, "shape");
}

// Where a kernel call draws from: the Philox key and the first block reserved for it.
struct Stream {
  uint64_t seed, seed2, base;
};

// Reserves `blocks` Philox blocks on the node's counter: successive runs continue the sequence, so
// each run draws new numbers and a fixed (seed, seed2) replays the same tensors in every session.
Stream reserve(KernelContext& ctx, uint64_t blocks) {
  uint64_t seed = static_cast<uint64_t>(ctx.attr<int64_t>("seed"));
  uint64_t seed2 = static_cast<uint64_t>(ctx.attr<int64_t>("seed2"));
  if (seed == 0 && seed2 == 0) {
    std::random_device rd;
    seed = (static_cast<uint64_t>(rd()) << 32) | rd();
    seed2 = (static_cast<uint64_t>(rd()) << 32) | rd();
  }
  return {seed, seed2, ctx.counter().fetch_add(blocks, std::memory_order_relaxed)};
}

// Values per Philox block (four uint32): one uint32 per float, two per double.
template <typename T>
inline constexpr int kPerBlock = sizeof(T) == 4 ? 4 : 2;

template <typename T>
void uniform_block(const PhiloxRandom::Result& r, T* out) {
  if constexpr (sizeof(T) == 4) {
    for (int j = 0; j < 4; ++j) out[j] = uint32_to_unit_float(r[j]);
  } else {
    out[0] = uint32s_to_unit_double(r[0], r[1]);
    out[1] = uint32s_to_unit_double(r[2], r[3]);
  }
}

// Box-Muller, as TF's BoxMullerFloat/Double: u1 is kept off 0 so log() stays finite.
template <typename T>
void box_muller(T u1, T u2, T* out) {
  const T eps = T(1.0e-7);
  if (u1 < eps) u1 = eps;
  const T v = T(2 * std::numbers::pi) * u2;
  const T radius = std::sqrt(T(-2) * std::log(u1));
  out[0] = std::sin(v) * radius;
  out[1] = std::cos(v) * radius;
}

template <typename T>
void normal_block(const PhiloxRandom::Result& r, T* out) {
  if constexpr (sizeof(T) == 4) {
    box_muller(uint32_to_unit_float(r[0]), uint32_to_unit_float(r[1]), out);
    box_muller(uint32_to_unit_float(r[2]), uint32_to_unit_float(r[3]), out + 2);
  } else {
    box_muller(uint32s_to_unit_double(r[0], r[1]), uint32s_to_unit_double(r[2], r[3]), out);
  }
}

// Output elements [b * per, (b + 1) * per) come from block base + b alone, so any split of the
// blocks among threads gives the same tensor.
template <typename T, typename BlockFn>
void fill_blocks(KernelContext& ctx, Tensor& out, BlockFn block_fn) {
  constexpr int64_t per = kPerBlock<T>;
  const int64_t n = out.num_elements();
  const int64_t blocks = (n + per - 1) / per;
  const Stream s = reserve(ctx, static_cast<uint64_t>(blocks));
  T* o = out.data<T>();
  parallel_for(blocks, per * 8, [&](int64_t b0, int64_t b1) {
    PhiloxRandom gen(s.seed, s.seed2);
    gen.skip(s.base + static_cast<uint64_t>(b0));
    T buf[per];
    for (int64_t b = b0; b < b1; ++b) {
      block_fn(gen(), buf);
      const int64_t i0 = b * per;
      std::copy_n(buf, std::min(per, n - i0), o + i0);
    }
  });
}

// Philox blocks reserved per group of kPerBlock truncated-normal values. A group needs ~1.05 blocks
// on average (95.45% of normals lie within 2 sigma); running past 16 has probability < 1e-40, and
// would only borrow from the next group's blocks.
inline constexpr int64_t kTruncatedBlocksPerGroup = 16;

template <typename T>
void fill_truncated_normal(KernelContext& ctx, Tensor& out) {
  constexpr int64_t per = kPerBlock<T>;
  const int64_t n = out.num_elements();
  const int64_t groups = (n + per - 1) / per;
  const Stream s = reserve(ctx, static_cast<uint64_t>(groups * kTruncatedBlocksPerGroup));
  T* o = out.data<T>();
  parallel_for(groups, per * 12, [&](int64_t g0, int64_t g1) {
    T buf[per];
    for (int64_t g = g0; g < g1; ++g) {
      PhiloxRandom gen(s.seed, s.seed2);
      gen.skip(s.base + static_cast<uint64_t>(g * kTruncatedBlocksPerGroup));
      int64_t i = g * per;
      const int64_t end = std::min(i + per, n);
      while (i < end) {
        normal_block(gen(), buf);
        // TF's rule: resample anything at or beyond 2 standard deviations.
        for (int64_t j = 0; j < per && i < end; ++j)
          if (std::abs(buf[j]) < T(2)) o[i++] = buf[j];
      }
    }
  });
}

template <Dist kDist>
void random_kernel(KernelContext& ctx) {
  const DType dtype = ctx.attr<DType>("dtype");
  Tensor out = Tensor::empty(dtype, read_shape(ctx.input(0)));
  dispatch_float(dtype, "random op", [&]<typename T>() {
    if constexpr (kDist == Dist::kUniform) fill_blocks<T>(ctx, out, uniform_block<T>);
    else if constexpr (kDist == Dist::kNormal) fill_blocks<T>(ctx, out, normal_block<T>);
    else fill_truncated_normal<T>(ctx, out);
  });
  ctx.set_output(0, out);
}

void register_random_op(OpRegistry& r, const char* type, Kernel kernel) {
  r.add(type).input("shape", "T").output("output", "dtype")
      .attr("seed", int64_t{0}).attr("seed2", int64_t{0}).attr("dtype")
      .type_attr("dtype", kFloatTypes).type_attr("T", {DType::kInt32, DType::kInt64})
      .shape(random_shape).kernel_fn(kernel).not_differentiable("random values").set_stateful();
}

}  // namespace

Output random_uniform(Graph& g, const Shape& shape, double minval, double maxval, DType dtype,
                      std::optional<int64_t> seed, const std::string& name) {
  return random_tensor(g, Dist::kUniform, shape, minval, maxval, dtype, seed, name);
}

Output random_normal(Graph& g, const Shape& shape, double mean, double stddev, DType dtype,
                     std::optional<int64_t> seed, const std::string& name) {
  return random_tensor(g, Dist::kNormal, shape, mean, stddev, dtype, seed, name);
}

Output truncated_normal(Graph& g, const Shape& shape, double mean, double stddev, DType dtype,
                        std::optional<int64_t> seed, const std::string& name) {
  return random_tensor(g, Dist::kTruncatedNormal, shape, mean, stddev, dtype, seed, name);
}

Output random_uniform(const Output& shape, double minval, double maxval, DType dtype, std::optional<int64_t> seed,
                      const std::string& name) {
  return random_tensor(*shape.graph(), Dist::kUniform, shape, minval, maxval, dtype, seed, name);
}

void register_random_ops(OpRegistry& r) {
  register_random_op(r, "RandomUniform", random_kernel<Dist::kUniform>);
  register_random_op(r, "RandomStandardNormal", random_kernel<Dist::kNormal>);
  register_random_op(r, "TruncatedNormal", random_kernel<Dist::kTruncatedNormal>);
}

}  // namespace fg
