// Shared by the fuzz harnesses: a scratch directory per process, file writing, the allocation
// limit, and the rule every harness enforces: hostile input may raise an fg::Error (of any code)
// and nothing else. Any other exception, a crash or a sanitizer report is a finding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

namespace fg::fuzz {

// Called once per process: keeps tensors small (FG_MAX_TENSOR_BYTES, default 16 MiB here), so a
// crafted size is refused by the limit rather than eating the fuzzer's memory budget.
void init();
// A directory of this process's own, created on first use.
const std::string& scratch_dir();
// Writes `bytes` to `path` (replacing it).
void write_file(const std::string& path, std::string_view bytes);

// Reads the framing structure-aware harnesses use: a byte, a little-endian u16, a chunk of a
// length given by a u16 before it; past the end, zeros and empty chunks.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  uint8_t u8() { return p_ < end_ ? *p_++ : 0; }
  uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
  std::string_view chunk() {
    const size_t n = std::min<size_t>(u16(), static_cast<size_t>(end_ - p_));
    std::string_view s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }
  std::string_view rest() {
    std::string_view s(reinterpret_cast<const char*>(p_), static_cast<size_t>(end_ - p_));
    p_ = end_;
    return s;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

// A small checkpoint of every dtype (and an empty tensor) written at `prefix`: the fixed half of
// the checkpoint harnesses (its .data under a fuzzed .index, its .index over fuzzed data).
void write_base_checkpoint(const std::string& prefix);
// Reads every tensor of the checkpoint at `prefix` (what a restore does).
void read_checkpoint(const std::string& prefix);
std::string read_file(const std::string& path);
// A broken invariant: prints `what` and the error behind it, then traps, so libFuzzer keeps the input
// and its log says why.
[[noreturn]] void fail(const char* what, const std::exception& e);

// The framing's writer, for seeds.
void put_u8(std::string& out, uint8_t v);
void put_u16(std::string& out, uint16_t v);
void put_chunk(std::string& out, std::string_view bytes);  // at most 65535 bytes

}  // namespace fg::fuzz

// Every harness defines this (libFuzzer's entry point); fg::Error is caught inside.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
