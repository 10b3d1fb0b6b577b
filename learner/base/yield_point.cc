#include "learner/base/yield_point.h"

#include <utility>

namespace perennial {
namespace {

thread_local const std::function<void()>* current_hook = nullptr;

}  // namespace

void YieldPoint() {
  if (current_hook != nullptr) (*current_hook)();
}

std::function<void()> CurrentYieldHook() {
  return current_hook != nullptr ? *current_hook : std::function<void()>();
}

ScopedYieldHook::ScopedYieldHook(std::function<void()> hook)
    : hook_(std::move(hook)), previous_(current_hook) {
  current_hook = hook_ ? &hook_ : nullptr;
}

ScopedYieldHook::~ScopedYieldHook() { current_hook = previous_; }

}  // namespace perennial
