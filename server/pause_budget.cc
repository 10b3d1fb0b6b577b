#include "server/pause_budget.h"

#include <algorithm>

namespace perennial {

void PauseBudget::Reset(absl::Duration budget) {
  absl::MutexLock lock(&mu_);
  left_ = budget;
}

std::optional<absl::Time> PauseBudget::BeginWait(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (waiting_ == 0) {
    if (left_ <= absl::ZeroDuration()) return std::nullopt;
    window_start_ = now;
    window_deadline_ = now + left_;
  } else if (now >= window_deadline_) {
    return std::nullopt;
  }
  ++waiting_;
  return window_deadline_;
}

absl::Duration PauseBudget::EndWait(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (--waiting_ > 0) return absl::ZeroDuration();
  // A wait may overrun its deadline by a scheduling delay; the step paid for that too.
  const absl::Duration window = std::max(now - window_start_, absl::ZeroDuration());
  left_ -= window;
  return window;
}

absl::Duration PauseBudget::left() const {
  absl::MutexLock lock(&mu_);
  return left_;
}

}  // namespace perennial
