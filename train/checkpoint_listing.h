// What TF's inspect_checkpoint prints about a V2 checkpoint (tools/inspect_checkpoint uses it).
//
//   std::cout << train::format_checkpoint_listing("/tmp/model.ckpt");
//   // dnn/hidden1/bias (DT_FLOAT) [300]
//   // dnn/hidden1/kernel (DT_FLOAT) [784,300]
//   std::cout << train::format_checkpoint_tensor("/tmp/model.ckpt", "dnn/hidden1/bias", 5);
#pragma once
#include <cstdint>
#include <string>

namespace fg::train {

// One "name (DT_FLOAT) [784,300]" line per tensor, sorted by name (TF's BundleReader::DebugString).
std::string format_checkpoint_listing(const std::string& prefix);
// "tensor_name:  <name>", its dtype and shape, up to max_values values, min/max/mean/std.
std::string format_checkpoint_tensor(const std::string& prefix, const std::string& name,
                                     int64_t max_values = 20);

}  // namespace fg::train
