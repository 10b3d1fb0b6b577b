// File: learner/base/torch_status.h
//
// The one converter from LibTorch exceptions (c10::Error and friends) to perennial::Status.
// learner/ calls LibTorch; anything LibTorch throws is caught at the edge of the learner function
// that a caller outside learner/ sees, and becomes a Status that says what was being done.
#ifndef PERENNIAL_LEARNER_BASE_TORCH_STATUS_H_
#define PERENNIAL_LEARNER_BASE_TORCH_STATUS_H_

#include <exception>
#include <string>
#include <string_view>
#include <type_traits>

#include "learner/base/status.h"

namespace perennial {

// Turns the exception currently being handled into a Status "<context>: <what>". Call only
// inside a catch block. c10::Error messages are shortened to their first line (no C++ backtrace).
Status StatusFromCurrentException(std::string_view context,
                                  StatusCode code = StatusCode::kInternal);

// Runs `fn` (returning Status or StatusOr<T>) and converts any exception it throws.
//   return CatchTorch("encoding images", [&]() -> StatusOr<torch::Tensor> { ... });
template <typename Fn>
auto CatchTorch(std::string_view context, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (...) {
    return StatusFromCurrentException(context);
  }
}

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_BASE_TORCH_STATUS_H_
