// TensorProto parsing: a TensorProto's bytes -> tensor_from_proto -> tensor_to_proto -> back.
#include "core/errors.h"
#include "graph/tensor_proto.h"
#include "proto/tensor.pb.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fg::fuzz::init();
  tensorflow::TensorProto p;
  if (!p.ParseFromArray(data, static_cast<int>(size))) return 0;
  try {
    const fg::Tensor t = fg::tensor_from_proto(p, "fuzz");
    const fg::Tensor back = fg::tensor_from_proto(fg::tensor_to_proto(t), "fuzz round trip");
    // What was read must survive a round trip unchanged (NaN payloads compare bytewise).
    if (!back.equals(t)) __builtin_trap();
  } catch (const fg::Error&) {
  }
  return 0;
}
