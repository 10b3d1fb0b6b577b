// File: bench/bench_util.h
//
// Shared by the benchmark suites: timing loops, peak memory, and the JSON-line output format
// (one object per figure with "name" and the figure's unit, plus the goal it is compared with).
#ifndef PERENNIAL_BENCH_BENCH_UTIL_H_
#define PERENNIAL_BENCH_BENCH_UTIL_H_

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "learner/model/clip_model.h"

namespace perennial::bench {

struct Field;

// How a suite runs its model: shared by every suite's options.
struct RunOptions {
  // Images per step. Default: 16.
  int batch = 16;
  // LibTorch intra-op threads. Default: 2.
  int threads = 2;
  // "cpu" or "cuda". Default: cpu.
  std::string device = "cpu";
  // ModelOptions::onednn_linear, to measure what it buys. Default: true.
  bool onednn_linear = true;
  // Compute dtype of the frozen weights: "fp32", "bf16" or "fp16" (LoRA stays fp32).
  // Default: fp32.
  std::string dtype = "fp32";
  // ModelOptions::share_text_prefix: the text tower runs a prefix all texts share once.
  // Default: unset (the model's default: on for the CPU, off on GPUs).
  std::optional<bool> share_text_prefix;
  // ModelOptions::fused_kernels: perennial's own CUDA kernels where the build has them.
  // Default: on.
  bool fused_kernels = true;
  // ModelOptions::fused_lora_grad: the LoRA backward's one pass over g (CUDA). Default: on.
  bool fused_lora_grad = true;
  // ModelOptions::qkv_grads_apart: q, k and v leave the q/k/v map apart (CUDA). Default: on.
  bool qkv_grads_apart = true;
  // CUDA attention kernel (attention_backend.h): "auto" or the one kernel allowed. Default: auto.
  std::string attention = "auto";
};

// Sets LibTorch's thread count and returns the ModelOptions `run` asks for (an unknown dtype,
// which main() rejects first, falls back to fp32).
ModelOptions ApplyRunOptions(const RunOptions& run);
// The fields every model figure carries: batch, threads, device, dtype, peak RSS, CPU runtime,
// the attention kernel, text-prefix sharing and q/k/v gradients apart when they were set on the
// command line, and whether the fused CUDA kernels ran, on CUDA.
std::vector<Field> RunFields(const RunOptions& run);

struct Timing {
  double mean_ms = 0;
  double min_ms = 0;
  // Half the iterations took at most this long: steadier than the mean on a shared machine,
  // but blind to periodic costs (the learner's snapshot every 10 steps), which the mean keeps.
  double median_ms = 0;
  int iterations = 0;
  // Peak GPU memory allocated during the timed iterations; negative off CUDA.
  double device_peak_mib = -1;
};

// Runs `fn` `warmup` times untimed, then `iterations` times timed. On a CUDA `device` each
// timing waits for the GPU to finish the work `fn` queued (kernels run asynchronously).
Timing TimeIt(const std::function<void()>& fn, int warmup, int iterations,
              const torch::Device& device = torch::kCPU);

// Peak resident set size of this process so far, in MiB.
double PeakRssMiB();
// Current resident set size, in MiB.
double CurrentRssMiB();

// A JSON value: number or string. Enough for flat benchmark records.
struct Field {
  std::string key;
  std::string json;  // already-encoded JSON value
};
Field Num(const std::string& key, double value);
Field Str(const std::string& key, const std::string& value);

// Prints {"name": name, fields...} on one line to stdout and flushes.
void PrintRecord(const std::string& name, const std::vector<Field>& fields);

// One figure of a one-kernel CPU benchmark: rows x cols in `dtype`, timed `iterations` times.
using KernelReport =
    std::function<void(int64_t rows, int64_t cols, torch::ScalarType dtype, int iterations)>;

// main() of the one-kernel CPU benchmarks (layer_norm_bench, thin_products_bench,
// attention_bench): tunes the CPU runtime as the service does (TuneCpuRuntime), reads
// --iterations N (timed calls per figure; default 200) and --threads N (LibTorch intra-op
// threads; default 1), each at least 1, sets the threads and runs `report` for each of `shapes`
// (rows, cols) in fp32, then in bf16. Returns the exit code: 0 after the reports or for --help /
// -h, 2 for anything else (both with the usage line, built from `name` and those flags, and
// `description` printed to stderr).
int RunKernelBench(int argc, char** argv, const char* name, const char* description,
                   const std::vector<std::pair<int64_t, int64_t>>& shapes,
                   const KernelReport& report);

}  // namespace perennial::bench

#endif  // PERENNIAL_BENCH_BENCH_UTIL_H_
