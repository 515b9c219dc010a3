#include "common/result.hpp"

namespace berth {

const char* code_name(Code c) {
  switch (c) {
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kNotFound: return "not_found";
    case Code::kAlreadyExists: return "already_exists";
    case Code::kPermissionDenied: return "permission_denied";
    case Code::kFailedPrecondition: return "failed_precondition";
    case Code::kUnavailable: return "unavailable";
    case Code::kInternal: return "internal";
  }
  return "internal";
}

Error errno_error(int err, const std::string& what) {
  Code code = Code::kInternal;
  switch (err) {
    case ENOENT: case ESRCH: code = Code::kNotFound; break;
    case EEXIST: code = Code::kAlreadyExists; break;
    case EACCES: case EPERM: code = Code::kPermissionDenied; break;
    case EINVAL: case ENAMETOOLONG: case ELOOP: case EXDEV: code = Code::kInvalidArgument; break;
    case EBUSY: case ENOTEMPTY: code = Code::kFailedPrecondition; break;
    case EAGAIN: case ECONNREFUSED: case ETIMEDOUT: case ENOSPC: case EDQUOT: code = Code::kUnavailable; break;
    default: break;
  }
  return Error{code, err, what + ": " + std::strerror(err)};
}

}  // namespace berth
