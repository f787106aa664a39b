#include "train/checkpoint_listing.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "graph/tensor_proto.h"
#include "ops/tensor_bundle.h"

namespace fg::train {

namespace {

std::string shape_string(const tensorflow::TensorShapeProto& s) {
  std::string out = "[";
  for (int i = 0; i < s.dim_size(); ++i) out += str_cat(i ? "," : "", s.dim(i).size());
  return out + "]";
}

}  // namespace

std::string format_checkpoint_listing(const std::string& prefix) {
  BundleReader reader(prefix);
  std::string out;
  // TF's BundleReader::DebugString, which inspect_checkpoint prints; it too skips slice entries.
  for (const std::string& name : reader.keys()) {
    const auto& e = reader.entry(name);
    if (e.slices_size() > 0) continue;
    out += str_cat(name, " (", proto_dtype_name(e.dtype()), ") ", shape_string(e.shape()), "\n");
  }
  return out;
}

std::string format_checkpoint_tensor(const std::string& prefix, const std::string& name, int64_t max_values) {
  BundleReader reader(prefix);
  const Tensor t = reader.read(name);
  std::ostringstream os;
  os << "tensor_name:  " << name << "\n";
  os << "dtype: " << proto_dtype_name(static_cast<int>(t.dtype())) << "  shape: " << t.shape() << "\n";
  os << t.to_string(max_values) << "\n";
  const int64_t n = t.num_elements();
  if (n == 0) {
    os << "(no elements)\n";
    return os.str();
  }
  double mn = 0, mx = 0, sum = 0;
  dispatch_all(t.dtype(), "format_checkpoint_tensor", [&]<typename T>() {
    const T* p = t.data<T>();
    mn = mx = static_cast<double>(p[0]);
    for (int64_t i = 0; i < n; ++i) {
      const double v = static_cast<double>(p[i]);
      mn = std::min(mn, v);
      mx = std::max(mx, v);
      sum += v;
    }
  });
  const double mean = sum / static_cast<double>(n);
  double sq = 0;
  dispatch_all(t.dtype(), "format_checkpoint_tensor", [&]<typename T>() {
    const T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      const double d = static_cast<double>(p[i]) - mean;
      sq += d * d;
    }
  });
  os << "min: " << mn << "  max: " << mx << "  mean: " << mean
     << "  std: " << std::sqrt(sq / static_cast<double>(n)) << "  (" << n << " elements)\n";
  return os.str();
}

}  // namespace fg::train
