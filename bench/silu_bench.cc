// silu_bench: the CPU SiLU (cpu_silu.h: one AVX-512 pass where the CPU has it) beside ATen's
// silu and silu_backward it replaced, on the MLP activations of QuickGELU models: ViT-B/32's
// image tower at batch 16 ([800, 3072]) and ViT-B/16's ([3152, 3072]). One JSON line per dtype
// and shape, each figure the median of --iterations calls after ten untimed ones:
//   {"name": "cpu_silu", "dtype": "bf16", "rows": 800, "cols": 3072, "threads": 2,
//    "kernel": "avx512", "forward_us": ..., "aten_forward_us": ..., "backward_us": ...,
//    "aten_backward_us": ..., "forward_speedup": ..., "backward_speedup": ...,
//    "backward_gb_per_s": ...}
// (backward_gb_per_s: the bytes the backward reads and writes, x, grad and its result.)
// Usage: silu_bench [--iterations N] [--threads N]
#include <torch/torch.h>

#include "bench/bench_util.h"
#include "learner/model/cpu_silu.h"

namespace perennial {
namespace {

void Report(int64_t rows, int64_t cols, torch::ScalarType dtype, int iterations) {
  torch::manual_seed(1);
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({rows, cols}).to(dtype);
  const torch::Tensor grad = torch::randn({rows, cols}).to(dtype);
  auto median_us = [&](const std::function<torch::Tensor()>& op) {
    return 1e3 * bench::TimeIt([&] { (void)op(); }, 10, iterations).median_ms;
  };
  const double forward = median_us([&] { return SiluForward(x); });
  const double aten_forward = median_us([&] { return at::silu(x); });
  const double backward = median_us([&] { return SiluBackward(grad, x); });
  const double aten_backward = median_us([&] { return at::silu_backward(grad, x); });
  const double backward_bytes = 3.0 * static_cast<double>(x.numel()) * x.element_size();
  bench::PrintRecord(
      "cpu_silu",
      {bench::Str("dtype", dtype == torch::kBFloat16 ? "bf16" : "fp32"), bench::Num("rows", rows),
       bench::Num("cols", cols), bench::Num("threads", torch::get_num_threads()),
       bench::Str("kernel", SiluKernel(x)), bench::Num("forward_us", forward),
       bench::Num("aten_forward_us", aten_forward), bench::Num("backward_us", backward),
       bench::Num("aten_backward_us", aten_backward),
       bench::Num("forward_speedup", aten_forward / forward),
       bench::Num("backward_speedup", aten_backward / backward),
       bench::Num("backward_gb_per_s", backward_bytes / backward * 1e-3)});
}

}  // namespace
}  // namespace perennial

int main(int argc, char** argv) {
  return perennial::bench::RunKernelBench(
      argc, argv, "silu_bench",
      "CPU SiLU forward and backward, perennial's against ATen's; one JSON line per dtype and "
      "shape (rows, cols).",
      {{800, 3072}, {3152, 3072}}, perennial::Report);
}
