// lora_grad_bench: on CUDA, what the backward of one ViT-B/16 LoRA map costs in the two products
// that read its output gradient g (gt = g B and gb = g^T t, fused_lora_grad.h): ATen's two
// GEMMs beside the fused pass through each LoraGradPassPipeline, and a plain read of g (ATen's
// sum) as the bound a one-pass kernel can approach. With --silu, fc1's case: SiLU's backward in
// front (ATen's silu_backward and the two GEMMs, against FusedSiluLoraGradPass).
// One JSON line per shape and method, each the median of --iterations timed calls after five
// untimed ones (bench::TimeIt, waiting for the GPU each time), per call:
//   {"name": "lora_grad_pass", "rows": 100864, "cols": 3072, "silu": 0, "method": "async_copy",
//    "us": ..., "g_gb_per_s": ..., "dtype": "bf16"}
// g_gb_per_s counts one read of g (and of SiLU's input, and one write of its gradient, with
// SiLU, except for read_g_once) over the call's time: what the method must move at least.
// Shapes: batch --batch of 197 positions; cols 768 (attention out and fc2), 2304 (q/k/v as one
// map), 3072 (fc1, with SiLU).
// Usage: lora_grad_bench [--batch N] [--iterations N]
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "learner/model/fused_add_layer_norm.h"  // FusedCudaKernelsBuilt
#include "learner/model/fused_lora_grad.h"

namespace perennial {
namespace {

constexpr int kCallsPerTiming = 5;  // so that the per-iteration wait is a small share
constexpr double kScale = 2.0;      // the LoRA scale, which both ways apply as the step does

struct Method {
  std::string name;
  std::function<void()> call;
};

// The methods for one shape: g [rows, cols], with SiLU's input when `silu`.
std::vector<Method> MethodsFor(const torch::Tensor& g, const torch::Tensor& silu_input,
                               const torch::Tensor& b, const torch::Tensor& t) {
  const bool silu = silu_input.defined();
  std::vector<Method> methods;
  methods.push_back({"read_g_once", [g] { (void)g.sum(); }});
  methods.push_back({"aten", [=] {
                       const torch::Tensor grad = silu ? at::silu_backward(g, silu_input) : g;
                       (void)torch::mm(grad, b).mul_(kScale);
                       (void)torch::mm(grad.t(), t).mul_(kScale);
                     }});
  const std::pair<const char*, LoraGradPassPipeline> pipelines[] = {
      {"staged", LoraGradPassPipeline::kStaged},
      {"prefetch", LoraGradPassPipeline::kPrefetch},
      {"async_copy", LoraGradPassPipeline::kAsyncCopy}};
  for (const auto& [name, pipeline] : pipelines) {
    methods.push_back({name, [=] {
                         const auto pass =
                             silu ? FusedSiluLoraGradPass(g, silu_input, b, t, kScale, pipeline)
                                  : FusedLoraGradPass(g, b, t, kScale, pipeline);
                         TORCH_CHECK(pass.has_value(), "the fused pass declined its inputs");
                       }});
  }
  return methods;
}

void Report(int64_t rows, int64_t cols, bool silu, int iterations) {
  torch::manual_seed(3);
  const auto options = torch::TensorOptions().device(torch::kCUDA).dtype(torch::kBFloat16);
  const torch::Tensor g = torch::randn({rows, cols}, options);
  const torch::Tensor silu_input = silu ? torch::randn({rows, cols}, options) : torch::Tensor();
  const torch::Tensor b = torch::randn({cols, 8}, options), t = torch::randn({rows, 8}, options);
  const double g_bytes = static_cast<double>(g.numel()) * g.element_size();
  for (const Method& method : MethodsFor(g, silu_input, b, t)) {
    const auto calls = [&] {
      for (int i = 0; i < kCallsPerTiming; ++i) method.call();
    };
    const bench::Timing timing = bench::TimeIt(calls, 5, iterations, torch::kCUDA);
    const double us = timing.median_ms * 1000 / kCallsPerTiming;
    const double passes = silu && method.name != "read_g_once" ? 3 : 1;
    bench::PrintRecord(
        "lora_grad_pass",
        {bench::Num("rows", static_cast<double>(rows)),
         bench::Num("cols", static_cast<double>(cols)), bench::Num("silu", silu),
         bench::Str("method", method.name), bench::Num("us", us),
         bench::Num("g_gb_per_s", passes * g_bytes / (us * 1e3)), bench::Str("dtype", "bf16")});
  }
}

int Main(int argc, char** argv) {
  int batch = 512, iterations = 20;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--batch" || arg == "--iterations") && i + 1 < argc) {
      (arg == "--batch" ? batch : iterations) = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: lora_grad_bench [--batch N (512)] [--iterations N (20)]\n"
                   "On CUDA: a ViT-B/16 LoRA map's backward products of its output gradient,\n"
                   "ATen's GEMMs beside each pipeline of the fused pass (fused_lora_grad.h).\n");
      return arg == "--help" || arg == "-h" ? 0 : 2;
    }
  }
  if (batch < 1 || iterations < 1) {
    std::fprintf(stderr, "lora_grad_bench: --batch and --iterations must be positive\n");
    return 2;
  }
  if (!torch::cuda::is_available() || !FusedCudaKernelsBuilt()) {
    std::fprintf(stderr, "lora_grad_bench: needs a CUDA device and a build with the kernels\n");
    return 1;
  }
  const int64_t rows = int64_t{batch} * 197;
  Report(rows, 768, false, iterations);
  Report(rows, 2304, false, iterations);
  Report(rows, 3072, false, iterations);
  Report(rows, 3072, true, iterations);
  return 0;
}

}  // namespace
}  // namespace perennial

int main(int argc, char** argv) { return perennial::Main(argc, argv); }
