#include "core/errors.h"

namespace fg {

void throw_error(Code code, const std::string& msg) {
  switch (code) {
    case Code::kInvalidArgument: throw InvalidArgument(msg);
    case Code::kNotFound: throw NotFound(msg);
    case Code::kAlreadyExists: throw AlreadyExists(msg);
    case Code::kResourceExhausted: throw ResourceExhausted(msg);
    case Code::kFailedPrecondition: throw FailedPrecondition(msg);
    case Code::kOutOfRange: throw OutOfRange(msg);
    case Code::kUnimplemented: throw Unimplemented(msg);
    case Code::kDataLoss: throw DataLoss(msg);
    default: throw Internal(msg);
  }
}

}  // namespace fg
