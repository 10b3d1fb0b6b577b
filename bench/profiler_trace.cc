#include "bench/profiler_trace.h"

#include <torch/torch.h>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR < 2
#include <torch/csrc/autograd/profiler_legacy.h>
#else
#include <torch/csrc/autograd/profiler_kineto.h>
#endif

#include <fstream>
#include <iostream>
#include <set>

namespace perennial::bench {

std::string WriteProfilerTrace(const std::function<void()>& step, int calls,
                               const std::string& path) {
  // Checked first: the 1.x profiler's guard writes nothing, and says nothing, where it cannot open
  // the file.
  if (!std::ofstream(path)) return "profiler trace: cannot write " + path;
  const bool cuda = torch::cuda::is_available();
  try {
    if (cuda) torch::cuda::synchronize();
#if TORCH_VERSION_MAJOR < 2
    // Debian's LibTorch 1.13 is built without Kineto; the legacy profiler records the CPU ops
    // (its guard writes the trace when it goes out of scope).
    {
      torch::autograd::profiler::RecordProfile guard(path);
      for (int i = 0; i < calls; ++i) step();
      if (cuda) torch::cuda::synchronize();
    }
#else
    namespace profiler = torch::autograd::profiler;
    using torch::profiler::impl::ActivityType;
    std::set<ActivityType> activities{ActivityType::CPU};
    if (cuda) activities.insert(ActivityType::CUDA);
    // KINETO records ops and device activity; the bools (shapes, memory, stacks...) stay off so
    // that the profiled step runs as the timed one did.
    const torch::profiler::impl::ProfilerConfig config(
        torch::profiler::impl::ProfilerState::KINETO);
    profiler::prepareProfiler(config, activities);
    profiler::enableProfiler(config, activities);
    for (int i = 0; i < calls; ++i) step();
    if (cuda) torch::cuda::synchronize();
    profiler::disableProfiler()->save(path);
#endif
  } catch (const c10::Error& e) {
    return std::string("profiler trace: ") + e.what_without_backtrace();
  } catch (const std::exception& e) {
    return std::string("profiler trace: ") + e.what();
  }
  return "";
}

std::string TaggedTracePath(const std::string& path, const std::string& tag) {
  const size_t slash = path.rfind('/');
  const size_t dot = path.rfind('.');
  const bool has_extension =
      dot != std::string::npos && dot > 0 && (slash == std::string::npos || dot > slash + 1);
  if (!has_extension) return path + "." + tag;
  return path.substr(0, dot) + "." + tag + path.substr(dot);
}

bool WriteTaggedTrace(const std::function<void()>& step, const std::string& path,
                      const std::string& tag, const std::string& reporter) {
  const std::string tagged = TaggedTracePath(path, tag);
  const std::string error = WriteProfilerTrace(step, 3, tagged);
  std::cerr << reporter << ": "
            << (error.empty() ? "wrote a trace of 3 " + tag + " steps to " + tagged +
                                    " (summary: bench/trace_summary.py)"
                              : error)
            << std::endl;
  return error.empty();
}

}  // namespace perennial::bench
