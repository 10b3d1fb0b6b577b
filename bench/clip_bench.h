// File: bench/clip_bench.h
//
// The "clip" suite: zero-shot inference and one SIT training step on a CLIP architecture with
// random weights, the figures the performance issue compares with PyTorch eager.
#ifndef PERENNIAL_BENCH_CLIP_BENCH_H_
#define PERENNIAL_BENCH_CLIP_BENCH_H_

#include <string>

namespace perennial::bench {

struct ClipBenchOptions {
  // Architecture name understood by NamedClipConfig(). Default: ViT-B/32.
  std::string architecture = "ViT-B/32";
  // Images per step. Default: 16.
  int batch = 16;
  // LibTorch intra-op threads. Default: 2.
  int threads = 2;
  // Timed iterations per figure (after 2 warm-up iterations). Default: 5.
  int iterations = 5;
  // "cpu" or "cuda". Default: cpu.
  std::string device = "cpu";
  // ModelOptions::onednn_linear, to measure what it buys. Default: true.
  bool onednn_linear = true;
  // Compute dtype of the frozen weights: "fp32", "bf16" or "fp16" (LoRA stays fp32). Default: fp32.
  std::string dtype = "fp32";
};

// Prints one JSON line per figure (clip_infer_<arch>, clip_sit_step_<arch>). Returns 0, or
// non-zero with a message on stderr when the setup fails.
int RunClipBench(const ClipBenchOptions& options);

}  // namespace perennial::bench

#endif  // PERENNIAL_BENCH_CLIP_BENCH_H_
