#include "bench/bench_util.h"

#include <sys/resource.h>
#include <torch/cuda.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "bench/device_memory.h"
#include "learner/base/cpu_runtime.h"
#include "learner/model/fused_add_layer_norm.h"

namespace perennial::bench {

ModelOptions ApplyRunOptions(const RunOptions& run) {
  torch::set_num_threads(run.threads);
  ModelOptions options;
  options.device = torch::Device(run.device);
  options.onednn_linear = run.onednn_linear;
  options.share_text_prefix = run.share_text_prefix;
  options.fused_kernels = run.fused_kernels;
  options.fused_lora_grad = run.fused_lora_grad;
  options.qkv_grads_apart = run.qkv_grads_apart;
  const StatusOr<torch::ScalarType> dtype = ParseComputeDtype(run.dtype);
  options.dtype = dtype.ok() ? *dtype : torch::kFloat32;
  return options;
}

std::vector<Field> RunFields(const RunOptions& run) {
  std::vector<Field> fields = {Num("batch", run.batch),           Num("threads", run.threads),
                               Str("device", run.device),         Str("dtype", run.dtype),
                               Num("peak_rss_mib", PeakRssMiB()), Str("cpu", CpuRuntimeSummary())};
  if (run.attention != "auto") fields.push_back(Str("attention", run.attention));
  if (run.share_text_prefix) fields.push_back(Num("share_text_prefix", *run.share_text_prefix));
  if (run.device != "cpu") {
    if (!run.qkv_grads_apart) fields.push_back(Num("qkv_grads_apart", 0));
    fields.push_back(Num("fused_kernels", run.fused_kernels && FusedCudaKernelsBuilt()));
    if (!run.fused_lora_grad) fields.push_back(Num("fused_lora_grad", 0));
  } else if (!run.fused_kernels) {
    fields.push_back(Num("fused_kernels", 0));  // the CPU's add + LayerNorm kernels off
  }
  return fields;
}

namespace {

void WaitForDevice(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

}  // namespace

Timing TimeIt(const std::function<void()>& fn, int warmup, int iterations,
              const torch::Device& device) {
  for (int i = 0; i < warmup; ++i) fn();
  WaitForDevice(device);
  ResetDevicePeakMemory(device);
  Timing t;
  t.iterations = iterations;
  t.min_ms = 1e300;
  double total = 0;
  std::vector<double> times;
  for (int i = 0; i < iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    WaitForDevice(device);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    total += ms;
    t.min_ms = std::min(t.min_ms, ms);
    times.push_back(ms);
  }
  t.mean_ms = iterations > 0 ? total / iterations : 0;
  t.device_peak_mib = DevicePeakMemoryMiB(device);
  if (!times.empty()) {
    std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
    t.median_ms = times[times.size() / 2];
  }
  return t;
}

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // ru_maxrss is in KiB on Linux
}

double CurrentRssMiB() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024.0) / 1024.0;
}

Field Num(const std::string& key, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.6g", value);
  return {key, buffer};
}

Field Str(const std::string& key, const std::string& value) {
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return {key, quoted + "\""};
}

void PrintRecord(const std::string& name, const std::vector<Field>& fields) {
  std::ostringstream out;
  out << "{\"name\": " << Str("", name).json;
  for (const Field& f : fields) out << ", \"" << f.key << "\": " << f.json;
  out << "}";
  std::cout << out.str() << std::endl;
}

int RunKernelBench(int argc, char** argv, const char* name, const char* description,
                   const std::vector<std::pair<int64_t, int64_t>>& shapes,
                   const KernelReport& report) {
  TuneCpuRuntime();
  constexpr int kDefaultIterations = 200, kDefaultThreads = 1;
  int iterations = kDefaultIterations, threads = kDefaultThreads;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if ((flag == "--iterations" || flag == "--threads") && i + 1 < argc) {
      (flag == "--iterations" ? iterations : threads) = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--iterations N (%d)] [--threads N (%d)]\n%s\n", name,
                   kDefaultIterations, kDefaultThreads, description);
      return flag == "--help" || flag == "-h" ? 0 : 2;
    }
  }
  torch::set_num_threads(threads);
  for (torch::ScalarType dtype : {torch::kFloat, torch::kBFloat16}) {
    for (const auto& [rows, cols] : shapes) report(rows, cols, dtype, iterations);
  }
  return 0;
}

}  // namespace perennial::bench
