// Status and Result: errors are values.
//
// Every fallible call returns Status or Result<T> (= std::expected<T, Status>). A Status carries a
// code from a small, closed set, a human message, and (for I/O failures) the errno that caused it
// so that adapters can pass it through unchanged (ENOSPC stays ENOSPC). Messages never contain
// secrets. Each adapter (HTTP, FUSE, CLI) maps StatusCode to its wire form in exactly one
// exhaustive switch.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace pgcmk {

enum class StatusCode {
  kOk,
  kInvalidArgument,     // the caller's input is malformed or out of range
  kNotFound,            // the named thing does not exist
  kAlreadyExists,       // the named thing exists and must not
  kConflict,            // the thing is in a state that forbids the operation (e.g. soft-deleted)
  kUnauthenticated,     // no or invalid credentials
  kPermissionDenied,    // authenticated but not allowed
  kFailedPrecondition,  // a requirement is not met (e.g. key disabled, wrong key for a volume)
  kResourceExhausted,   // out of space, too large, rate limited
  kUnavailable,         // a dependency cannot be reached right now; retrying may help
  kDeadlineExceeded,    // timed out
  kDataLoss,            // stored data is corrupt or fails authentication
  kUnimplemented,       // not supported (by design or yet)
  kIoError,             // an operating-system call failed; see Status::sys_errno()
  kInternal,            // a bug: an invariant does not hold
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message, int sys_errno = 0)
      : code_(code), message_(std::move(message)), errno_(sys_errno) {}

  // Lets `return Err(...)` (and so PGCMK_RETURN_IF_ERROR / PGCMK_ASSIGN_OR_RETURN) work in
  // functions returning Status as well as in those returning Result<T>.
  Status(std::unexpected<Status> error)  // NOLINT(google-explicit-constructor)
      : Status(std::move(error).error()) {}

  static Status Ok() { return {}; }
  // An I/O failure: message names the operation and the path; errno is kept for pass-through.
  static Status FromErrno(int sys_errno, std::string_view what);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  int sys_errno() const { return errno_; }

  // "NotFound: key 'k1' not found" — for logs and CLI output.
  std::string ToString() const;

  // Prefixes context: Status("open failed").WithContext("mount") -> "mount: open failed".
  Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  int errno_ = 0;
};

template <typename T>
using Result = std::expected<T, Status>;

// Shorthand for `return std::unexpected(Status(...))`.
inline std::unexpected<Status> Err(StatusCode code, std::string message, int sys_errno = 0) {
  return std::unexpected(Status(code, std::move(message), sys_errno));
}
inline std::unexpected<Status> Err(Status status) { return std::unexpected(std::move(status)); }

}  // namespace pgcmk

// Propagates a non-OK Status from an expression returning Status, out of a function returning
// either Status or Result<T>.
#define PGCMK_RETURN_IF_ERROR(expr)                                         \
  do {                                                                      \
    ::pgcmk::Status pgcmk_status_ = (expr);                                 \
    if (!pgcmk_status_.ok()) return ::pgcmk::Err(std::move(pgcmk_status_)); \
  } while (0)

#define PGCMK_CONCAT_INNER_(a, b) a##b
#define PGCMK_CONCAT_(a, b) PGCMK_CONCAT_INNER_(a, b)
// PGCMK_ASSIGN_OR_RETURN(auto x, F()); returns the error from a function returning Status or
// Result<T>.
#define PGCMK_ASSIGN_OR_RETURN(lhs, expr) \
  PGCMK_ASSIGN_OR_RETURN_IMPL_(PGCMK_CONCAT_(pgcmk_result_, __LINE__), lhs, expr)
#define PGCMK_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)                 \
  auto tmp = (expr);                                                 \
  if (!tmp.has_value()) return ::pgcmk::Err(std::move(tmp).error()); \
  lhs = std::move(tmp).value()
