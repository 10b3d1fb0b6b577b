// File: learner/base/trace_phase.h
//
// Named phases of a long operation (a training step) in LibTorch's profiler traces, so that
// `perennial-bench --trace` and bench/trace_summary.py can say which part of a step the time went
// to, not only which op. Free when no profiler runs (one thread-local check per phase).
//
//   TracePhase phase("perennial::step::image_forward");
//   ...
//   phase.Next("perennial::step::backward");   // ends image_forward, starts backward
//
// Names must be string literals (the profiler keeps the pointer). A phase covers the ops its
// thread runs while it is open: work handed to other threads (a helper thread, LibTorch's CUDA
// autograd threads) is not inside it.
#ifndef PERENNIAL_LEARNER_BASE_TRACE_PHASE_H_
#define PERENNIAL_LEARNER_BASE_TRACE_PHASE_H_

#include <ATen/record_function.h>

#include <optional>

namespace perennial {

class TracePhase {
 public:
  explicit TracePhase(const char* name) { Begin(name); }
  TracePhase(const TracePhase&) = delete;
  TracePhase& operator=(const TracePhase&) = delete;

  // Ends the open phase and opens `name`.
  void Next(const char* name) {
    span_.reset();
    Begin(name);
  }
  // Ends the open phase early (the destructor ends it otherwise).
  void End() { span_.reset(); }

 private:
  void Begin(const char* name);

  std::optional<at::RecordFunction> span_;
};

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_BASE_TRACE_PHASE_H_
