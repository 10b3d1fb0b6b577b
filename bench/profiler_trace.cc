#include "bench/profiler_trace.h"

#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/torch.h>

#include <set>

namespace perennial::bench {

std::string WriteProfilerTrace(const std::function<void()>& step, int calls,
                               const std::string& path) {
  namespace profiler = torch::autograd::profiler;
  using torch::profiler::impl::ActivityType;
  const bool cuda = torch::cuda::is_available();
  std::set<ActivityType> activities{ActivityType::CPU};
  if (cuda) activities.insert(ActivityType::CUDA);
  // KINETO records ops and device activity; the bools (shapes, memory, stacks...) stay off so
  // that the profiled step runs as the timed one did.
  const torch::profiler::impl::ProfilerConfig config(torch::profiler::impl::ProfilerState::KINETO);
  try {
    if (cuda) torch::cuda::synchronize();
    profiler::prepareProfiler(config, activities);
    profiler::enableProfiler(config, activities);
    for (int i = 0; i < calls; ++i) step();
    if (cuda) torch::cuda::synchronize();
    std::unique_ptr<profiler::ProfilerResult> result = profiler::disableProfiler();
    result->save(path);
  } catch (const c10::Error& e) {
    return std::string("profiler trace: ") + e.what_without_backtrace();
  } catch (const std::exception& e) {
    return std::string("profiler trace: ") + e.what();
  }
  return "";
}

}  // namespace perennial::bench
