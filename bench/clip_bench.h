// File: bench/clip_bench.h
//
// The "clip" suite: zero-shot inference and one SIT training step on a CLIP architecture with
// random weights, the figures the performance issue compares with PyTorch eager.
#ifndef PERENNIAL_BENCH_CLIP_BENCH_H_
#define PERENNIAL_BENCH_CLIP_BENCH_H_

#include <string>

#include "bench/bench_util.h"

namespace perennial::bench {

struct ClipBenchOptions {
  // Architecture name understood by NamedClipConfig(). Default: ViT-B/32.
  std::string architecture = "ViT-B/32";
  // Timed iterations per figure (after 2 warm-up iterations). Default: 5.
  int iterations = 5;
  // Dense peak of the device in TFLOP/s for the dtype run, to report MFU against; 0 = no MFU.
  // Default: 0 (e.g. 989 for an H100/H200 SXM in bf16, by NVIDIA's datasheet).
  double peak_tflops = 0;
  // SIT step on CPU: the image tower's work split across this many threads (the learner's
  // image_parts, sharded_image_encoder.h). Default: 1.
  int image_parts = 1;
  // CUDA: also time the SIT step with the image tower replayed from CUDA graphs
  // (graphed_image_tower.h), as clip_sit_step_graphed_<arch>. Default: false.
  bool cuda_graph = false;
  // Where to write profiler traces (profiler_trace.h) of 3 SIT steps and of 3 inference steps,
  // "sit" and "infer" inserted before the extension ("t.json" -> "t.sit.json", "t.infer.json");
  // "" = none. Default: "".
  std::string trace_path;
  // Batch, threads, device, dtype, oneDNN.
  RunOptions run;
};

// Prints one JSON line per figure (clip_infer_<arch>, clip_sit_step_<arch>). Returns 0, or
// non-zero with a message on stderr when the setup fails.
int RunClipBench(const ClipBenchOptions& options);

}  // namespace perennial::bench

#endif  // PERENNIAL_BENCH_CLIP_BENCH_H_
