// File: learner/base/yield_point.h
//
// Cooperative preemption of a long computation at points it chooses. A training step of the
// learner runs for tens of milliseconds; a query that arrives meanwhile would otherwise share
// the CPU with it until it ends. The model calls YieldPoint() between transformer blocks (forward)
// and in each adapted linear map's backward; a thread that installed a hook (the server's learner
// thread) can wait there while queries run, so a query waits for one block instead of a step.
//
// Hooks are per thread: a forward pass on a thread without one (a query thread) never waits.
// A hook must not throw and must not run LibTorch ops of the interrupted computation.
#ifndef PERENNIAL_LEARNER_BASE_YIELD_POINT_H_
#define PERENNIAL_LEARNER_BASE_YIELD_POINT_H_

#include <functional>

namespace perennial {

// Calls the calling thread's hook, if one is installed. Costs one thread-local load otherwise.
void YieldPoint();

// A copy of the calling thread's hook (empty when none), for a helper thread that runs part of
// the caller's computation to install in turn (ScopedYieldHook), so that it yields as the caller
// does. The hook must then be safe to call from both threads at once.
std::function<void()> CurrentYieldHook();

// Installs `hook` as the calling thread's yield hook for the scope's lifetime, restoring the
// previous one (possibly none) when it ends. Must be destroyed on the thread that made it.
class ScopedYieldHook {
 public:
  explicit ScopedYieldHook(std::function<void()> hook);
  ~ScopedYieldHook();

  ScopedYieldHook(const ScopedYieldHook&) = delete;
  ScopedYieldHook& operator=(const ScopedYieldHook&) = delete;

 private:
  std::function<void()> hook_;
  const std::function<void()>* previous_;
};

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_BASE_YIELD_POINT_H_
