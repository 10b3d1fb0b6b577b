// thin_products_bench: a LoRA map's rank-8 products on the CPU, perennial's passes over the
// wide operand (CpuThinPass, cpu_thin_products.h) beside the ATen products they replace, for the
// backward's pair (gt = s g B and B's gradient s g^T t, ATen as lora_linear.cc ran them before
// session 26: mm(g, s B) and mm((s t)^T, g)) and for each product alone (the forward's
// t = x A^T; A's gradient gt^T x), in fp32 (ATen: OpenBLAS) and bf16 (ATen: oneDNN). One JSON
// line per dtype, shape and product, each figure the median of --iterations calls after ten
// untimed ones (bench::TimeIt):
//   {"name": "thin_products", "product": "backward_pair", "dtype": "fp32", "rows": 800,
//    "cols": 3072, "threads": 1, "pass_us": ..., "aten_us": ..., "speedup": ...,
//    "pass_gflop_per_s": ...}
// Shapes: the default model's image tower (16 images x 65 positions; widths 128 and 512) and
// ViT-B/32's (16 x 50 positions; widths 768, 2304 and 3072).
// Usage: thin_products_bench [--iterations N] [--threads N]
#include <torch/torch.h>

#include <cstdio>
#include <functional>

#include "bench/bench_util.h"
#include "learner/model/cpu_thin_products.h"

namespace perennial {
namespace {

constexpr double kScale = 2.0;

struct Product {
  const char* name;
  int flops_per_element;  // per element of m: 2 per rank-8 output value per product
  std::function<void()> pass, aten;
};

void Report(int64_t rows, int64_t cols, torch::ScalarType dtype, int iterations) {
  torch::manual_seed(1);
  const torch::Tensor m = torch::randn({rows, cols}).to(dtype);
  const torch::Tensor b = torch::randn({cols, 8}).to(dtype), t = torch::randn({rows, 8}).to(dtype);
  const torch::Tensor a = torch::randn({8, cols}).to(dtype);
  const Product products[] = {
      {"backward_pair", 32, [&] { (void)CpuThinPass(m, b, t, kScale); },
       [&] {
         (void)torch::mm(m, b.mul(kScale));
         (void)torch::mm(t.mul(kScale).t(), m).t();
       }},
      {"m_times_b", 16, [&] { (void)CpuThinPass(m, a.t(), torch::Tensor(), 1.0); },
       [&] { (void)torch::mm(m, a.t()); }},
      {"m_transposed_times_t", 16, [&] { (void)CpuThinPass(m, torch::Tensor(), t, 1.0); },
       [&] { (void)torch::mm(t.t(), m); }},
  };
  if (!CpuThinPass(m, b, t, kScale)) {
    std::fprintf(stderr, "thin_products_bench: no %s pass on this CPU (it takes %s); skipped\n",
                 dtype == torch::kBFloat16 ? "bf16" : "fp32",
                 dtype == torch::kBFloat16 ? "AVX-512 BF16 on an AMD CPU" : "AVX-512");
    return;
  }
  for (const Product& p : products) {
    const double pass_us = 1e3 * bench::TimeIt(p.pass, 10, iterations).median_ms;
    const double aten_us = 1e3 * bench::TimeIt(p.aten, 10, iterations).median_ms;
    std::printf(
        "{\"name\": \"thin_products\", \"product\": \"%s\", \"dtype\": \"%s\", \"rows\": %lld, "
        "\"cols\": %lld, \"threads\": %d, \"pass_us\": %.1f, \"aten_us\": %.1f, "
        "\"speedup\": %.2f, \"pass_gflop_per_s\": %.1f}\n",
        p.name, dtype == torch::kBFloat16 ? "bf16" : "fp32", static_cast<long long>(rows),
        static_cast<long long>(cols), torch::get_num_threads(), pass_us, aten_us, aten_us / pass_us,
        p.flops_per_element * rows * cols / pass_us * 1e-3);
    std::fflush(stdout);
  }
}

}  // namespace
}  // namespace perennial

int main(int argc, char** argv) {
  return perennial::bench::RunKernelBench(
      argc, argv, "thin_products_bench",
      "A LoRA map's rank-8 CPU products, perennial's passes beside ATen's; one JSON line per "
      "dtype, shape and product.",
      {{1040, 128}, {1040, 512}, {800, 768}, {800, 2304}, {800, 3072}}, perennial::Report);
}
