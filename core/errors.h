// Exceptions with TensorFlow's status codes.
//
//   try { sess.run(...); } catch (const fg::InvalidArgument& e) { std::cerr << e.what(); }
//
// Every message names the op or file involved, what was expected and what came.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace fg {

enum class Code { kInvalidArgument = 3, kNotFound = 5, kAlreadyExists = 6, kResourceExhausted = 8,
                  kFailedPrecondition = 9, kOutOfRange = 11, kUnimplemented = 12, kInternal = 13, kDataLoss = 15 };

class Error : public std::runtime_error {
 public:
  Error(Code code, const std::string& msg) : std::runtime_error(msg), code_(code) {}
  Code code() const { return code_; }

 private:
  Code code_;
};

#define FG_DEFINE_ERROR(Name)                                                   \
  class Name : public Error {                                                   \
   public:                                                                      \
    explicit Name(const std::string& msg) : Error(Code::k##Name, msg) {}        \
  };
FG_DEFINE_ERROR(InvalidArgument)
FG_DEFINE_ERROR(NotFound)
FG_DEFINE_ERROR(AlreadyExists)
FG_DEFINE_ERROR(ResourceExhausted)
FG_DEFINE_ERROR(FailedPrecondition)
FG_DEFINE_ERROR(OutOfRange)
FG_DEFINE_ERROR(Unimplemented)
FG_DEFINE_ERROR(Internal)
FG_DEFINE_ERROR(DataLoss)
#undef FG_DEFINE_ERROR

// Throws an error of the same code as `code` with message `msg` (to add context to a caught
// error without losing its type).
[[noreturn]] void throw_error(Code code, const std::string& msg);

// Concatenates anything streamable: str_cat("op '", name, "' expects ", n, " inputs").
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

// FG_CHECK(cond, ErrorType, message parts...) throws ErrorType(str_cat(parts...)) when cond fails.
#define FG_CHECK(cond, ErrorType, ...) \
  do {                                 \
    if (!(cond)) throw ::fg::ErrorType(::fg::str_cat(__VA_ARGS__)); \
  } while (0)

}  // namespace fg
