// layer_norm_bench: what one residual add + LayerNorm costs on the CPU, fused
// (FusedAddLayerNorm, add_layer_norm_cpu.h) beside the unfused ops the transformer ran before
// session 23 (x + branch, then LayerNorm in fp32 between casts: to(fp32), layer_norm,
// to(dtype)), forward alone and forward + backward (both outputs' gradients, as a block's
// residual stream has them). One JSON line per shape and dtype, each figure the median of
// --iterations calls after ten untimed ones (bench::TimeIt):
//   {"name": "add_layer_norm", "dtype": "bf16", "rows": 1040, "width": 128, "threads": 1,
//    "fused_forward_us": ..., "unfused_forward_us": ..., "fused_forward_backward_us": ...,
//    "unfused_forward_backward_us": ..., "speedup_forward_backward": ...}
// Shapes: the default model's image tower (16 images x 65 positions, width 128) and text tower
// (160 rows), and ViT-B/32's image tower (16 x 50 positions, width 768).
// Usage: layer_norm_bench [--iterations N] [--threads N]
#include <torch/torch.h>

#include <cstdio>
#include <functional>

#include "bench/bench_util.h"
#include "learner/model/fused_add_layer_norm.h"

namespace perennial {
namespace {

struct Inputs {
  torch::Tensor x, branch, gamma, beta, grad_sum, grad_normed;
};

Inputs MakeInputs(int64_t rows, int64_t width, torch::ScalarType dtype) {
  torch::manual_seed(1);
  const auto like = [&](double scale) { return (torch::randn({rows, width}) * scale).to(dtype); };
  return {like(3).requires_grad_(),
          like(1).requires_grad_(),
          1 + 0.1 * torch::randn({width}),
          0.1 * torch::randn({width}),
          like(1),
          like(1)};
}

// One call: the sum and LayerNorm(sum), then, with `backward`, both outputs' gradients.
using AddNorm = std::function<std::pair<torch::Tensor, torch::Tensor>(const Inputs&)>;

void Step(const AddNorm& add_norm, Inputs& in, bool backward) {
  auto [sum, normed] = add_norm(in);
  if (!backward) return;
  torch::autograd::backward({sum, normed}, {in.grad_sum, in.grad_normed});
  in.x.mutable_grad().reset();
  in.branch.mutable_grad().reset();
}

void Report(int64_t rows, int64_t width, torch::ScalarType dtype, int iterations) {
  Inputs in = MakeInputs(rows, width, dtype);
  const AddNorm fused = [](const Inputs& i) {
    AddLayerNormOutput out = *FusedAddLayerNorm(i.x, i.branch, i.gamma, i.beta, 1e-5);
    return std::make_pair(out.sum, out.normed);
  };
  const AddNorm unfused = [](const Inputs& i) {
    torch::Tensor sum = i.x + i.branch;
    torch::Tensor normed =
        torch::layer_norm(sum.to(torch::kFloat), {sum.size(-1)}, i.gamma, i.beta, 1e-5)
            .to(sum.scalar_type());
    return std::make_pair(sum, normed);
  };
  double us[2][2];  // [fused, unfused][forward, forward + backward]
  const AddNorm* ways[2] = {&fused, &unfused};
  for (int w = 0; w < 2; ++w) {
    for (int b = 0; b < 2; ++b) {
      us[w][b] = 1e3 * bench::TimeIt([&] { Step(*ways[w], in, b == 1); }, 10, iterations).median_ms;
    }
  }
  std::printf(
      "{\"name\": \"add_layer_norm\", \"dtype\": \"%s\", \"rows\": %lld, \"width\": %lld, "
      "\"threads\": %d, \"fused_forward_us\": %.1f, \"unfused_forward_us\": %.1f, "
      "\"fused_forward_backward_us\": %.1f, \"unfused_forward_backward_us\": %.1f, "
      "\"speedup_forward_backward\": %.2f}\n",
      dtype == torch::kBFloat16 ? "bf16" : "fp32", static_cast<long long>(rows),
      static_cast<long long>(width), torch::get_num_threads(), us[0][0], us[1][0], us[0][1],
      us[1][1], us[1][1] / us[0][1]);
  std::fflush(stdout);
}

}  // namespace
}  // namespace perennial

int main(int argc, char** argv) {
  return perennial::bench::RunKernelBench(
      argc, argv, "layer_norm_bench",
      "The residual add + LayerNorm on the CPU, fused and unfused; one JSON line per shape "
      "and dtype.",
      {{1040, 128}, {160, 128}, {800, 768}}, perennial::Report);
}
