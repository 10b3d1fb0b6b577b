// File: learner/model/yield_point.h
//
// Cooperative preemption inside a forward/backward pass. A training step of the online learner
// takes ~70-250 ms on two CPU cores; a query that arrives during it would otherwise wait for the
// whole step (or run beside it, both slowed by sharing the cores). A caller that wants to give
// way installs a function with ScopedYieldPoint for the duration of the step; the transformer
// calls YieldPoint() between blocks of the forward pass and, through gradient hooks, between
// blocks of the backward pass, and the function may block there (e.g. until queued queries have
// run). The step's result is unchanged: yielding only moves time.
//
// Thread-safety: the installed function is per thread. LibTorch runs a CPU backward pass on the
// thread that calls backward(), so its hooks see the function; a CUDA backward runs on LibTorch's
// device threads, where YieldPoint() does nothing (a GPU step does not hold the CPU cores).
#ifndef PERENNIAL_LEARNER_MODEL_YIELD_POINT_H_
#define PERENNIAL_LEARNER_MODEL_YIELD_POINT_H_

#include <functional>

namespace perennial {

// Installs `yield` (may be empty: no yielding) for this thread until destruction; nests.
class ScopedYieldPoint {
 public:
  explicit ScopedYieldPoint(const std::function<void()>* yield);
  ~ScopedYieldPoint();
  ScopedYieldPoint(const ScopedYieldPoint&) = delete;
  ScopedYieldPoint& operator=(const ScopedYieldPoint&) = delete;

 private:
  const std::function<void()>* previous_;
};

// Whether this thread has a yield function installed.
bool YieldPointInstalled();

// Calls this thread's installed yield function, if any.
void YieldPoint();

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_YIELD_POINT_H_
