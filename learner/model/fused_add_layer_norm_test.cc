#include "learner/model/fused_add_layer_norm.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>

namespace perennial {
namespace {

// The fused op's contract is "the same as x + branch, then layer_norm": forward and the
// gradients of x and branch, measured against ATen's ops in fp32 on the same inputs.
struct Reference {
  torch::Tensor sum, normed, grad_x, grad_branch;
};

// A loss that reads both outputs, so that the backward sees both gradients.
torch::Tensor LossOf(const torch::Tensor& sum, const torch::Tensor& normed,
                     const torch::Tensor& weights) {
  return (sum.to(torch::kFloat32) * weights).sum() + (normed.to(torch::kFloat32).pow(2)).sum();
}

Reference RunAten(const torch::Tensor& x, const torch::Tensor& branch, const torch::Tensor& gamma,
                  const torch::Tensor& beta, const torch::Tensor& weights) {
  torch::Tensor xs = x.detach().requires_grad_(), bs = branch.detach().requires_grad_();
  torch::Tensor sum = xs + bs;
  torch::Tensor normed =
      torch::layer_norm(sum, {x.size(-1)}, gamma.to(x.dtype()), beta.to(x.dtype()), 1e-5);
  LossOf(sum, normed, weights).backward();
  return {sum.detach(), normed.detach(), xs.grad(), bs.grad()};
}

double MaxError(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat32).cpu() - b.to(torch::kFloat32).cpu()).abs().max().item<double>();
}

TEST(FusedAddLayerNorm, LeavesCpuTensorsToTheCaller) {
  const torch::Tensor x = torch::randn({4, 64}), gamma = torch::ones({64}),
                      beta = torch::zeros({64});
  EXPECT_FALSE(FusedAddLayerNorm(x, x, gamma, beta, 1e-5).has_value());
}

TEST(FusedAddLayerNorm, DeclinesWhatTheKernelsDoNotTake) {
  if (!torch::cuda::is_available() || !FusedCudaKernelsBuilt()) GTEST_SKIP() << "no CUDA kernels";
  const auto cuda = torch::TensorOptions().device(torch::kCUDA).dtype(torch::kBFloat16);
  const torch::Tensor y = torch::randn({4, 64}, cuda);
  const torch::Tensor g = torch::ones({64}).cuda(), b = torch::zeros({64}).cuda();
  EXPECT_TRUE(FusedAddLayerNorm(y, y, g, b, 1e-5).has_value());
  EXPECT_FALSE(FusedAddLayerNorm(y, torch::Tensor(), g, b, 1e-5).has_value()) << "no branch";
  const torch::Tensor odd = torch::randn({4, 60}, cuda);
  EXPECT_FALSE(FusedAddLayerNorm(odd, odd, g.narrow(0, 0, 60), b.narrow(0, 0, 60), 1e-5))
      << "60 bf16 elements are not whole 16-byte vectors";
  const torch::Tensor strided = torch::randn({64, 4}, cuda).t();
  EXPECT_FALSE(FusedAddLayerNorm(strided, strided, g, b, 1e-5)) << "not contiguous";
  EXPECT_FALSE(FusedAddLayerNorm(y, y, g.clone().requires_grad_(), b, 1e-5)) << "gamma trains";
}

class FusedAddLayerNormOnCuda
    : public ::testing::TestWithParam<std::tuple<torch::ScalarType, int64_t>> {};

TEST_P(FusedAddLayerNormOnCuda, MatchesAtenForwardAndBackward) {
  if (!torch::cuda::is_available() || !FusedCudaKernelsBuilt()) GTEST_SKIP() << "no CUDA kernels";
  const auto [dtype, width] = GetParam();
  torch::manual_seed(7);
  const auto options = torch::TensorOptions().device(torch::kCUDA).dtype(dtype);
  // Rows off the mean and scale LayerNorm removes, as a residual stream has them.
  const torch::Tensor x = (torch::randn({3, 37, width}) * 4 + 1).to(options);
  const torch::Tensor branch = torch::randn({3, 37, width}).to(options);
  const torch::Tensor gamma = (1 + 0.1 * torch::randn({width})).cuda();
  const torch::Tensor beta = (0.1 * torch::randn({width})).cuda();
  const torch::Tensor weights = torch::randn({3, 37, width}).cuda();
  const Reference want =
      RunAten(x.to(torch::kFloat32), branch.to(torch::kFloat32), gamma, beta, weights);

  torch::Tensor xs = x.detach().requires_grad_(), bs = branch.detach().requires_grad_();
  std::optional<AddLayerNormOutput> got = FusedAddLayerNorm(xs, bs, gamma, beta, 1e-5);
  ASSERT_TRUE(got.has_value());
  LossOf(got->sum, got->normed, weights).backward();

  // bf16 keeps 8 bits of mantissa: 2^-8 relative, on values of magnitude ~4 (sum) and ~3
  // (normed); the gradients are O(10).
  const double tolerance = dtype == torch::kFloat32 ? 1e-4 : dtype == torch::kFloat16 ? 1e-2 : 8e-2;
  EXPECT_LT(MaxError(got->sum, want.sum), tolerance * 4);
  EXPECT_LT(MaxError(got->normed, want.normed), tolerance * 4);
  EXPECT_LT(MaxError(xs.grad(), want.grad_x), tolerance * 16);
  EXPECT_LT(MaxError(bs.grad(), want.grad_branch), tolerance * 16);
  EXPECT_EQ(MaxError(xs.grad(), bs.grad()), 0.0) << "the add passes one gradient to both";
}

INSTANTIATE_TEST_SUITE_P(
    DtypesAndWidths, FusedAddLayerNormOnCuda,
    ::testing::Combine(::testing::Values(torch::kFloat32, torch::kFloat16, torch::kBFloat16),
                       // ViT-B's and the text tower's widths, one that leaves lanes idle, and
                       // the widest bf16 row the kernels take.
                       ::testing::Values(int64_t{768}, int64_t{512}, int64_t{96}, int64_t{1024})));

}  // namespace
}  // namespace perennial
