// Result<T>: a value or an Error, shaped like std::expected (has_value(), value(), error())
// so a later switch to the standard type is mechanical. Library code returns these and does
// not log; the caller that handles an error logs it once. Errors carry a small fixed Code, the
// errno that caused them (0 if none) and a message that grows context at each hop:
//   "prepare 'web-1': write memory.max: Device or resource busy".
// Not thread-aware; values are moved around like any other value type.
#pragma once

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace berth {

enum class Code {
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kFailedPrecondition,
  kUnavailable,
  kInternal,
};

const char* code_name(Code c);

struct Error {
  Code code = Code::kInternal;
  int sys_errno = 0;
  std::string message;

  // Returns a copy whose message is prefixed with `context: `.
  Error wrap(const std::string& context) const& {
    return Error{code, sys_errno, context + ": " + message};
  }
  Error wrap(const std::string& context) && {
    message = context + ": " + message;
    return std::move(*this);
  }
};

inline Error make_error(Code code, std::string message) { return Error{code, 0, std::move(message)}; }

// An error from errno: "what: strerror(errno)". The code follows the errno where it is obvious.
Error errno_error(int err, const std::string& what);
inline Error errno_error(const std::string& what) { return errno_error(errno, what); }

struct Ok {};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

  T value_or(T fallback) const& { return has_value() ? value() : std::move(fallback); }

 private:
  std::variant<T, Error> v_;
};

using Status = Result<Ok>;
inline Status ok() { return Ok{}; }

#define BERTH_CONCAT_INNER_(a, b) a##b
#define BERTH_CONCAT_(a, b) BERTH_CONCAT_INNER_(a, b)

// Returns the error of a Status/Result expression from the enclosing function.
#define BERTH_CHECK(expr)                                           \
  do {                                                              \
    auto berth_check_r_ = (expr);                                   \
    if (!berth_check_r_.has_value()) return std::move(berth_check_r_).error(); \
  } while (0)

// Same, prefixing the message with a context string.
#define BERTH_CHECK_CTX(expr, ctx)                                  \
  do {                                                              \
    auto berth_check_r_ = (expr);                                   \
    if (!berth_check_r_.has_value()) return std::move(berth_check_r_).error().wrap(ctx); \
  } while (0)

// BERTH_TRY(auto x, expr): declares x from a Result on success, returns its error otherwise.
#define BERTH_TRY(decl, expr) BERTH_TRY_IMPL_(BERTH_CONCAT_(berth_try_, __LINE__), decl, expr, )
#define BERTH_TRY_CTX(decl, expr, ctx) \
  BERTH_TRY_IMPL_(BERTH_CONCAT_(berth_try_, __LINE__), decl, expr, .wrap(ctx))
#define BERTH_TRY_IMPL_(tmp, decl, expr, wrapper)           \
  auto tmp = (expr);                                        \
  if (!tmp.has_value()) return std::move(tmp).error() wrapper; \
  decl = std::move(tmp).value()

}  // namespace berth
