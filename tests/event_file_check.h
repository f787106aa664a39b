// An event-file reader for tests, independent of flowgraph's: its own bit-at-a-time CRC-32C, its
// own protobuf wire decoding, and TensorFlow's field numbers written out here, so that a file
// passing it is framed and numbered as TensorFlow's readers (TensorBoard) expect, whatever
// summary/record_io and proto/event.proto say.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace fg::testing {

inline uint32_t crc32c_bitwise(const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// TFRecord's masking: rotate right by 15 bits, add a constant.
inline uint32_t masked_crc32c(const void* data, size_t n) {
  const uint32_t c = crc32c_bitwise(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

struct WireField {
  uint32_t number = 0;
  int wire_type = 0;     // 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
  uint64_t scalar = 0;   // varint, fixed64 or fixed32 bits
  std::string bytes;     // length-delimited payload
};

inline uint64_t read_varint(const std::string& s, size_t& pos) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= s.size()) throw std::runtime_error("varint runs past the end");
    const auto b = static_cast<unsigned char>(s[pos++]);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  throw std::runtime_error("varint longer than 10 bytes");
}

inline uint64_t read_fixed(const std::string& s, size_t& pos, int bytes) {
  if (pos + bytes > s.size()) throw std::runtime_error("fixed field runs past the end");
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[pos + i]);
  pos += bytes;
  return v;
}

// Every field of one serialized message, in order; throws on malformed input.
inline std::vector<WireField> decode_wire(const std::string& s) {
  std::vector<WireField> fields;
  size_t pos = 0;
  while (pos < s.size()) {
    const uint64_t key = read_varint(s, pos);
    WireField f;
    f.number = static_cast<uint32_t>(key >> 3);
    f.wire_type = static_cast<int>(key & 7);
    switch (f.wire_type) {
      case 0: f.scalar = read_varint(s, pos); break;
      case 1: f.scalar = read_fixed(s, pos, 8); break;
      case 5: f.scalar = read_fixed(s, pos, 4); break;
      case 2: {
        const uint64_t n = read_varint(s, pos);
        if (n > s.size() - pos) throw std::runtime_error("length-delimited field runs past the end");
        f.bytes = s.substr(pos, n);
        pos += n;
        break;
      }
      default: throw std::runtime_error("unknown wire type " + std::to_string(f.wire_type));
    }
    fields.push_back(std::move(f));
  }
  return fields;
}

inline double as_double(uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

inline float as_float(uint64_t bits) {
  const auto b = static_cast<uint32_t>(bits);
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

// Summary.Value by TF's numbers: tag 1, simple_value 2, histo 5, tensor 8, metadata 9.
struct CheckedValue {
  std::string tag;
  bool has_simple_value = false;
  float simple_value = 0;
  std::string histo;     // serialized HistogramProto, when set
  std::string tensor;    // serialized TensorProto, when set
  std::string metadata;  // serialized SummaryMetadata, when set
};

// Event by TF's numbers: wall_time 1, step 2, file_version 3, graph_def 4, summary 5,
// session_log 7, meta_graph_def 9.
struct CheckedEvent {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version, graph_def, meta_graph_def, session_log;
  bool has_summary = false;
  std::vector<CheckedValue> values;
};

inline CheckedValue decode_value(const std::string& bytes) {
  CheckedValue v;
  for (const auto& f : decode_wire(bytes)) {
    if (f.number == 1 && f.wire_type == 2) v.tag = f.bytes;
    else if (f.number == 2 && f.wire_type == 5) v.has_simple_value = true, v.simple_value = as_float(f.scalar);
    else if (f.number == 5 && f.wire_type == 2) v.histo = f.bytes;
    else if (f.number == 8 && f.wire_type == 2) v.tensor = f.bytes;
    else if (f.number == 9 && f.wire_type == 2) v.metadata = f.bytes;
    else throw std::runtime_error("Summary.Value field " + std::to_string(f.number) + " unexpected");
  }
  return v;
}

inline CheckedEvent decode_event(const std::string& bytes) {
  CheckedEvent e;
  for (const auto& f : decode_wire(bytes)) {
    if (f.number == 1 && f.wire_type == 1) e.wall_time = as_double(f.scalar);
    else if (f.number == 2 && f.wire_type == 0) e.step = static_cast<int64_t>(f.scalar);
    else if (f.number == 3 && f.wire_type == 2) e.file_version = f.bytes;
    else if (f.number == 4 && f.wire_type == 2) e.graph_def = f.bytes;
    else if (f.number == 7 && f.wire_type == 2) e.session_log = f.bytes;
    else if (f.number == 9 && f.wire_type == 2) e.meta_graph_def = f.bytes;
    else if (f.number == 5 && f.wire_type == 2) {
      e.has_summary = true;
      for (const auto& sf : decode_wire(f.bytes)) {
        if (sf.number != 1 || sf.wire_type != 2) throw std::runtime_error("Summary field " + std::to_string(sf.number));
        e.values.push_back(decode_value(sf.bytes));
      }
    } else {
      throw std::runtime_error("Event field " + std::to_string(f.number) + " unexpected");
    }
  }
  return e;
}

// Reads every record of an event file, checking both crcs of each and that the file ends on a
// record boundary; any problem is a test failure naming the offset.
inline std::vector<CheckedEvent> read_event_file_independently(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string file{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::vector<CheckedEvent> events;
  size_t pos = 0;
  while (pos < file.size()) {
    if (file.size() - pos < 12) {
      ADD_FAILURE() << path << ": " << file.size() - pos << " trailing bytes at offset " << pos;
      break;
    }
    size_t p = pos;
    const uint64_t length = read_fixed(file, p, 8);
    const auto length_crc = static_cast<uint32_t>(read_fixed(file, p, 4));
    if (length_crc != masked_crc32c(file.data() + pos, 8)) {
      ADD_FAILURE() << path << ": bad length crc at offset " << pos;
      break;
    }
    if (length > file.size() - p || file.size() - p - length < 4) {
      ADD_FAILURE() << path << ": record at offset " << pos << " runs past the end";
      break;
    }
    const std::string data = file.substr(p, length);
    p += length;
    const auto data_crc = static_cast<uint32_t>(read_fixed(file, p, 4));
    if (data_crc != masked_crc32c(data.data(), data.size())) {
      ADD_FAILURE() << path << ": bad data crc at offset " << pos;
      break;
    }
    try {
      events.push_back(decode_event(data));
    } catch (const std::exception& e) {
      ADD_FAILURE() << path << ": record at offset " << pos << " is not an Event: " << e.what();
      break;
    }
    pos = p;
  }
  return events;
}

}  // namespace fg::testing
