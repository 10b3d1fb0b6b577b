// lora_grad_bench: on CUDA, what one ViT-B/16 LoRA map's thin products cost that perennial's
// one-pass kernels take (fused_lora_grad.h), beside ATen's ops and beside a plain read of the
// tensor they stream (ATen's sum), the bound a one-pass kernel can approach:
// - lora_grad_pass: the backward's two products of the output gradient g (gt = s g B and
//   gb = s g^T t): ATen's two GEMMs against FusedLoraGradPass through each LoraGradPassPipeline;
//   with "silu": 1, fc1's case, SiLU's backward in front (ATen's silu_backward first, against
//   FusedSiluLoraGradPass);
// - silu_thin_product: the forward's SiLU of fc1's output u and fc2's t = SiLU(u) A^T (ATen's
//   silu and a GEMM, against FusedSiluThinProduct).
// One JSON line per shape and method, each the median of --iterations timed calls after five
// untimed ones (bench::TimeIt, waiting for the GPU each time), per call:
//   {"name": "lora_grad_pass", "rows": 100864, "cols": 3072, "silu": 0, "method": "async_copy",
//    "us": ..., "gb_per_s": ..., "dtype": "bf16"}
// gb_per_s counts the full passes over the [rows, cols] tensors that the method must make at
// least (g; with SiLU's backward also its input and the gradient written; forward: u and h)
// over the call's time.
// Shapes: batch --batch of 197 positions; cols 768 (attention out and fc2), 2304 (q/k/v as one
// map), 3072 (fc1).
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
  // Full passes over the [rows, cols] tensor that the method must make at least: the figure's
  // GB/s counts these.
  int passes = 1;
};

const std::pair<const char*, LoraGradPassPipeline> kPipelines[] = {
    {"staged", LoraGradPassPipeline::kStaged},
    {"prefetch", LoraGradPassPipeline::kPrefetch},
    {"async_copy", LoraGradPassPipeline::kAsyncCopy}};

// The methods for one shape: g [rows, cols], with SiLU's input when `silu`.
std::vector<Method> MethodsFor(const torch::Tensor& g, const torch::Tensor& silu_input,
                               const torch::Tensor& b, const torch::Tensor& t) {
  const bool silu = silu_input.defined();
  const int passes = silu ? 3 : 1;  // with SiLU: read g and its input, write the gradient
  std::vector<Method> methods;
  methods.push_back({"read_g_once", [g] { (void)g.sum(); }});
  methods.push_back({"aten",
                     [=] {
                       const torch::Tensor grad = silu ? at::silu_backward(g, silu_input) : g;
                       (void)torch::mm(grad, b).mul_(kScale);
                       (void)torch::mm(grad.t(), t).mul_(kScale);
                     },
                     passes});
  for (const auto& [name, pipeline] : kPipelines) {
    methods.push_back({name,
                       [=] {
                         const auto pass =
                             silu ? FusedSiluLoraGradPass(g, silu_input, b, t, kScale, pipeline)
                                  : FusedLoraGradPass(g, b, t, kScale, pipeline);
                         TORCH_CHECK(pass.has_value(), "the fused pass declined its inputs");
                       },
                       passes});
  }
  return methods;
}

// The forward's methods for u [rows, cols] and the next map's A [8, cols]: SiLU and the thin
// product of its output (read u, write h).
std::vector<Method> ForwardMethods(const torch::Tensor& u, const torch::Tensor& a) {
  std::vector<Method> methods;
  methods.push_back({"read_u_once", [u] { (void)u.sum(); }});
  methods.push_back({"aten", [=] { (void)torch::mm(torch::silu(u), a.t()); }, 2});
  for (const auto& [name, pipeline] : kPipelines) {
    methods.push_back({name,
                       [=] {
                         TORCH_CHECK(FusedSiluThinProduct(u, a, pipeline).has_value(),
                                     "the fused pass declined its inputs");
                       },
                       2});
  }
  return methods;
}

// Times each method (the median of `iterations` timed calls after five untimed ones) and prints
// one `name` line per method, with `fields` first.
void TimeAndPrint(const std::string& name, const std::vector<bench::Field>& fields,
                  double bytes_per_pass, const std::vector<Method>& methods, int iterations) {
  for (const Method& method : methods) {
    const auto calls = [&] {
      for (int i = 0; i < kCallsPerTiming; ++i) method.call();
    };
    const bench::Timing timing = bench::TimeIt(calls, 5, iterations, torch::kCUDA);
    const double us = timing.median_ms * 1000 / kCallsPerTiming;
    std::vector<bench::Field> line = fields;
    line.push_back(bench::Str("method", method.name));
    line.push_back(bench::Num("us", us));
    line.push_back(bench::Num("gb_per_s", method.passes * bytes_per_pass / (us * 1e3)));
    line.push_back(bench::Str("dtype", "bf16"));
    bench::PrintRecord(name, line);
  }
}

void Report(int64_t rows, int64_t cols, bool silu, int iterations) {
  torch::manual_seed(3);
  const auto options = torch::TensorOptions().device(torch::kCUDA).dtype(torch::kBFloat16);
  const torch::Tensor g = torch::randn({rows, cols}, options);
  const torch::Tensor silu_input = silu ? torch::randn({rows, cols}, options) : torch::Tensor();
  const torch::Tensor b = torch::randn({cols, 8}, options), t = torch::randn({rows, 8}, options);
  TimeAndPrint("lora_grad_pass",
               {bench::Num("rows", static_cast<double>(rows)),
                bench::Num("cols", static_cast<double>(cols)), bench::Num("silu", silu)},
               static_cast<double>(g.numel()) * g.element_size(), MethodsFor(g, silu_input, b, t),
               iterations);
}

void ReportForward(int64_t rows, int64_t cols, int iterations) {
  torch::manual_seed(4);
  const auto options = torch::TensorOptions().device(torch::kCUDA).dtype(torch::kBFloat16);
  const torch::Tensor u = torch::randn({rows, cols}, options);
  const torch::Tensor a = torch::randn({8, cols}, options);
  TimeAndPrint("silu_thin_product",
               {bench::Num("rows", static_cast<double>(rows)),
                bench::Num("cols", static_cast<double>(cols))},
               static_cast<double>(u.numel()) * u.element_size(), ForwardMethods(u, a), iterations);
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
  ReportForward(rows, 3072, iterations);
  return 0;
}

}  // namespace
}  // namespace perennial

int main(int argc, char** argv) { return perennial::Main(argc, argv); }
