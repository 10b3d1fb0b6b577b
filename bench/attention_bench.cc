// attention_bench: the CPU attention (CpuAttention, cpu_attention.h: per-head SmallGemm calls,
// AVX-512 where the CPU has it) beside ATen's math path it replaced for bf16 and that LibTorch 1.x
// offers (matmul, softmax, matmul), forward and backward, for 16 sequences of the given positions
// and heads of 64 values. One JSON line per dtype and shape, each figure the median of
// --iterations calls after ten untimed ones (bench::TimeIt):
//   {"name": "cpu_attention", "dtype": "fp32", "positions": 65, "heads": 2, "threads": 1,
//    "kernel": "avx512", "forward_us": ..., "aten_forward_us": ..., "step_us": ...,
//    "aten_step_us": ..., "step_speedup": ..., "step_gflop_per_s": ...}
// (step: forward and backward). Shapes: the default model's image tower (65 positions, 2 heads),
// ViT-B/32's (50, 12) and ViT-B/16's (197, 12).
// Usage: attention_bench [--iterations N] [--threads N]
#include <torch/torch.h>

#include <cmath>
#include <cstdio>

#include "bench/bench_util.h"
#include "learner/model/cpu_attention.h"
#include "learner/model/cpu_small_gemm.h"

namespace perennial {
namespace {

constexpr int64_t kSequences = 16, kHeadDim = 64;

torch::Tensor AtenAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            double scale) {
  const torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
  return torch::matmul(torch::softmax(scores, -1, torch::kFloat32).to(v.scalar_type()), v);
}

void Report(int64_t positions, int64_t heads, torch::ScalarType dtype, int iterations) {
  torch::manual_seed(1);
  // q, k, v as a projection leaves them, [N, L, H, D], seen as [N, H, L, D].
  torch::Tensor leaves[3];
  for (torch::Tensor& leaf : leaves) {
    leaf = torch::randn({kSequences, positions, heads, kHeadDim}).to(dtype).requires_grad_(true);
  }
  auto part = [&](int64_t i) { return leaves[i].transpose(1, 2); };
  const double scale = 1.0 / std::sqrt(static_cast<double>(kHeadDim));
  const torch::Tensor upstream = torch::randn({kSequences, heads, positions, kHeadDim}).to(dtype);
  auto ours = [&] { return CpuAttention(part(0), part(1), part(2), scale, /*causal=*/false); };
  auto aten = [&] { return AtenAttention(part(0), part(1), part(2), scale); };
  auto forward_us = [&](const std::function<torch::Tensor()>& attention) {
    torch::NoGradGuard no_grad;
    return 1e3 * bench::TimeIt([&] { (void)attention(); }, 10, iterations).median_ms;
  };
  auto step_us = [&](const std::function<torch::Tensor()>& attention) {
    return 1e3 * bench::TimeIt([&] { attention().backward(upstream); }, 10, iterations).median_ms;
  };
  const double ours_forward = forward_us(ours), aten_forward = forward_us(aten);
  const double ours_step = step_us(ours), aten_step = step_us(aten);
  // Two products forward, four backward, each 2 L^2 D per head.
  const double step_flops = 6 * 2.0 * kSequences * heads * positions * positions * kHeadDim;
  bench::PrintRecord(
      "cpu_attention",
      {bench::Str("dtype", dtype == torch::kBFloat16 ? "bf16" : "fp32"),
       bench::Num("positions", positions), bench::Num("heads", heads),
       bench::Num("threads", torch::get_num_threads()), bench::Str("kernel", SmallGemmKernel()),
       bench::Num("forward_us", ours_forward), bench::Num("aten_forward_us", aten_forward),
       bench::Num("step_us", ours_step), bench::Num("aten_step_us", aten_step),
       bench::Num("step_speedup", aten_step / ours_step),
       bench::Num("step_gflop_per_s", step_flops / ours_step * 1e-3)});
}

}  // namespace
}  // namespace perennial

int main(int argc, char** argv) {
  return perennial::bench::RunKernelBench(
      argc, argv, "attention_bench",
      "CPU attention forward and backward, perennial's against ATen's math path; one JSON line "
      "per dtype and shape (positions, heads).",
      {{65, 2}, {50, 12}, {197, 12}}, perennial::Report);
}
