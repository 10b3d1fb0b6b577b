// File: learner/base/status.h
//
// perennial::Status and perennial::StatusOr<T>: the error type of every module boundary.
//
// In the full build these are exactly absl::Status / absl::StatusOr (so storage/ and server/ pass
// them through untouched). With PERENNIAL_MODEL_ONLY=ON, where a GPU machine has LibTorch but no
// Abseil, a minimal implementation with the same names and semantics stands in. Code in learner/
// spells the perennial:: names and uses only the subset both provide: the code enum, the
// *Error(message) factories, ok(), code(), message(), ToString(), and StatusOr's ok(), status(),
// value(), operator*, operator->.
#ifndef PERENNIAL_LEARNER_BASE_STATUS_H_
#define PERENNIAL_LEARNER_BASE_STATUS_H_

#if PERENNIAL_HAVE_ABSL

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace perennial {
using Status = absl::Status;
using StatusCode = absl::StatusCode;
template <typename T>
using StatusOr = absl::StatusOr<T>;
using absl::AbortedError;
using absl::AlreadyExistsError;
using absl::CancelledError;
using absl::DataLossError;
using absl::DeadlineExceededError;
using absl::FailedPreconditionError;
using absl::InternalError;
using absl::InvalidArgumentError;
using absl::NotFoundError;
using absl::OkStatus;
using absl::OutOfRangeError;
using absl::ResourceExhaustedError;
using absl::UnavailableError;
using absl::UnimplementedError;
}  // namespace perennial

#else  // !PERENNIAL_HAVE_ABSL

#include "learner/base/status_minimal.h"

#endif  // PERENNIAL_HAVE_ABSL

// Evaluates `expr` (a Status); returns it from the enclosing function if it is not OK.
#define PERENNIAL_RETURN_IF_ERROR(expr)                    \
  do {                                                     \
    ::perennial::Status perennial_status_ = (expr);        \
    if (!perennial_status_.ok()) return perennial_status_; \
  } while (0)

#define PERENNIAL_STATUS_CONCAT_INNER_(a, b) a##b
#define PERENNIAL_STATUS_CONCAT_(a, b) PERENNIAL_STATUS_CONCAT_INNER_(a, b)

// `PERENNIAL_ASSIGN_OR_RETURN(auto x, Foo());` evaluates Foo() (a StatusOr<T>); on error returns
// its status, otherwise moves the value into the declaration or lvalue `lhs`.
#define PERENNIAL_ASSIGN_OR_RETURN(lhs, expr) \
  PERENNIAL_ASSIGN_OR_RETURN_IMPL_(PERENNIAL_STATUS_CONCAT_(perennial_or_, __LINE__), lhs, expr)
#define PERENNIAL_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                     \
  if (!tmp.ok()) return tmp.status();                    \
  lhs = std::move(*tmp)

#endif  // PERENNIAL_LEARNER_BASE_STATUS_H_
