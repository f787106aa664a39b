#include "tests/fuzz/fuzz_util.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <sstream>

#include "core/allocator.h"
#include "core/errors.h"
#include "ops/tensor_bundle.h"

namespace fg::fuzz {

void init() {
  static const bool done = [] {
    // setenv rather than set_max_tensor_bytes alone, so that a child process sees it too.
    setenv("FG_MAX_TENSOR_BYTES", "16777216", /*overwrite=*/0);
    set_max_tensor_bytes(std::strtoll(std::getenv("FG_MAX_TENSOR_BYTES"), nullptr, 10));
    return true;
  }();
  (void)done;
}

void fail(const char* what, const std::exception& e) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n  %s\n", what, e.what());
  std::fflush(stderr);
  __builtin_trap();
}

const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::string templ = "/tmp/fg_fuzz_XXXXXX";
    if (const char* t = std::getenv("TMPDIR")) templ = std::string(t) + "/fg_fuzz_XXXXXX";
    FG_CHECK(::mkdtemp(templ.data()), Internal, "fuzz: cannot create a scratch directory from ", templ);
    return templ;
  }();
  return dir;
}

void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  FG_CHECK(f.good(), Internal, "fuzz: cannot write ", path);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  FG_CHECK(f, Internal, "fuzz: cannot read ", path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

void write_base_checkpoint(const std::string& prefix) {
  train::BundleWriter w(prefix);
  w.add("a/float", Tensor::from_vector<float>({1.5f, -2, 3, 4, 5, 6}, {2, 3}));
  w.add("b/double", Tensor(2.25));
  w.add("c/int32", Tensor::from_vector<int32_t>({7, -8, 9}));
  w.add("d/int64", Tensor::from_vector<int64_t>({int64_t{1} << 40, -1}, {1, 2}));
  w.add("e/uint8", Tensor::from_vector<uint8_t>({0, 255, 128, 1}, {2, 2}));
  w.add("f/bool", Tensor::from_vector<bool>({true, false, true}));
  w.add("g/empty", Tensor(f32, {0, 4}));
  w.finish();
}

void read_checkpoint(const std::string& prefix) {
  train::BundleReader r(prefix);
  for (const std::string& name : r.keys()) {
    try {
      r.dtype_and_shape(name);
      r.read(name);
    } catch (const Unimplemented&) {  // a dtype flowgraph has no Tensor for; the others are read
    }
  }
}

void put_u8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
void put_u16(std::string& out, uint16_t v) {
  put_u8(out, static_cast<uint8_t>(v));
  put_u8(out, static_cast<uint8_t>(v >> 8));
}
void put_chunk(std::string& out, std::string_view bytes) {
  FG_CHECK(bytes.size() <= 65535, Internal, "fuzz: a chunk of ", bytes.size(), " bytes does not fit the framing");
  put_u16(out, static_cast<uint16_t>(bytes.size()));
  out.append(bytes);
}

}  // namespace fg::fuzz
