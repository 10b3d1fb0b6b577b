#include "learner/base/trace_phase.h"

namespace perennial {

void TracePhase::Begin(const char* name) {
  span_.emplace(at::RecordScope::USER_SCOPE);
  // Inactive (no profiler, or not sampled): before() would return at once anyway; the check
  // skips building its empty argument list.
  if (span_->isActive()) span_->before(name, c10::ArrayRef<const c10::IValue>{});
}

}  // namespace perennial
