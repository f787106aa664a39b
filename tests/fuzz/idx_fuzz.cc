// The MNIST IDX reader: a file's bytes -> read_idx_images and read_idx_labels.
#include "core/errors.h"
#include "data/mnist.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fg::fuzz::init();
  const std::string path = fg::fuzz::scratch_dir() + "/images-idx-ubyte";
  fg::fuzz::write_file(path, std::string_view(reinterpret_cast<const char*>(data), size));
  for (auto read : {&fg::data::read_idx_images, &fg::data::read_idx_labels}) {
    try {
      const fg::Tensor t = read(path);
      // Whatever was read is exactly the file's data after its header.
      if (static_cast<size_t>(t.num_elements()) > size) __builtin_trap();
    } catch (const fg::Error&) {
    }
  }
  return 0;
}
