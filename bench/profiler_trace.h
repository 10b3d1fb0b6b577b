// File: bench/profiler_trace.h
//
// A Chrome trace of a few calls of a benchmark step, for bench/trace_summary.py to say where a
// step's time goes: with LibTorch 2.x, Kineto's (CPU ops and, on CUDA, every kernel with its
// duration); with 1.x (Debian's has no Kineto), the legacy profiler's CPU ops. Nsight Systems
// is not always at hand on a GPU machine; this needs only the LibTorch the bench links.
#ifndef PERENNIAL_BENCH_PROFILER_TRACE_H_
#define PERENNIAL_BENCH_PROFILER_TRACE_H_

#include <functional>
#include <string>

namespace perennial::bench {

// Runs `step` `calls` times under the profiler and writes the trace to `path` (JSON, Chrome's
// trace-event format). Synchronises CUDA before and after. Returns "" on success, else what went
// wrong (e.g. a LibTorch 2.x built without Kineto).
std::string WriteProfilerTrace(const std::function<void()>& step, int calls,
                               const std::string& path);

// `path` with `tag` inserted before its extension ("t.json", "sit" -> "t.sit.json"; "t" ->
// "t.sit"), for a run that writes one trace per figure.
std::string TaggedTracePath(const std::string& path, const std::string& tag);

// Writes a trace of 3 calls of `step` to TaggedTracePath(path, tag) and says on stderr where (or
// what went wrong), prefixed with `reporter` ("clip bench"). False when it could not.
bool WriteTaggedTrace(const std::function<void()>& step, const std::string& path,
                      const std::string& tag, const std::string& reporter);

}  // namespace perennial::bench

#endif  // PERENNIAL_BENCH_PROFILER_TRACE_H_
