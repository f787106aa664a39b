// V2 checkpoint, raw .data bytes under a fixed, valid .index (sizes, crcs and bool bytes checked
// against what the data file really holds).
#include "core/errors.h"
#include "tests/fuzz/fuzz_util.h"
#include "ops/tensor_bundle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fg::fuzz::init();
  static const std::string prefix = [] {
    const std::string p = fg::fuzz::scratch_dir() + "/data/model";
    fg::fuzz::write_base_checkpoint(p);
    return p;
  }();
  fg::fuzz::write_file(fg::train::data_filename(prefix), std::string_view(reinterpret_cast<const char*>(data), size));
  try {
    fg::fuzz::read_checkpoint(prefix);
  } catch (const fg::Error&) {
  }
  return 0;
}
