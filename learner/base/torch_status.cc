#include "learner/base/torch_status.h"

#include <c10/util/Exception.h>

#include <new>
#include <stdexcept>

namespace perennial {

Status StatusFromCurrentException(std::string_view context, StatusCode code) {
  std::string what;
  try {
    throw;
  } catch (const c10::Error& e) {
    // what_without_backtrace() keeps the message and drops the frames LibTorch appends.
    what = e.what_without_backtrace();
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kResourceExhausted, std::string(context) + ": out of memory");
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  const size_t newline = what.find('\n');
  if (newline != std::string::npos) what.resize(newline);
  return Status(code, std::string(context) + ": " + what);
}

}  // namespace perennial
