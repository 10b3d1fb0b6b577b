#include "learner/model/yield_point.h"

namespace perennial {
namespace {

thread_local const std::function<void()>* installed_yield = nullptr;

}  // namespace

ScopedYieldPoint::ScopedYieldPoint(const std::function<void()>* yield)
    : previous_(installed_yield) {
  installed_yield = (yield != nullptr && *yield) ? yield : nullptr;
}

ScopedYieldPoint::~ScopedYieldPoint() { installed_yield = previous_; }

bool YieldPointInstalled() { return installed_yield != nullptr; }

void YieldPoint() {
  if (installed_yield != nullptr) (*installed_yield)();
}

}  // namespace perennial
