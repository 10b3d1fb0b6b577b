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

TEST(FusedAddLayerNorm, DeclinesWhatTheCpuKernelsDoNotTake) {
  const torch::Tensor x = torch::randn({4, 64}), gamma = torch::ones({64}),
                      beta = torch::zeros({64});
  EXPECT_TRUE(FusedAddLayerNorm(x, x, gamma, beta, 1e-5).has_value());
  EXPECT_TRUE(FusedAddLayerNorm(x, torch::Tensor(), gamma, beta, 1e-5).has_value()) << "no add";
  const torch::Tensor fp64 = x.to(torch::kDouble), fp16 = x.to(torch::kHalf);
  EXPECT_FALSE(FusedAddLayerNorm(fp64, fp64, gamma, beta, 1e-5)) << "fp64";
  EXPECT_FALSE(FusedAddLayerNorm(fp16, fp16, gamma, beta, 1e-5)) << "fp16";
  const torch::Tensor strided = torch::randn({64, 4}).t();
  EXPECT_FALSE(FusedAddLayerNorm(strided, strided, gamma, beta, 1e-5)) << "not contiguous";
  EXPECT_FALSE(FusedAddLayerNorm(x, x.to(torch::kBFloat16), gamma, beta, 1e-5)) << "dtypes";
  EXPECT_FALSE(FusedAddLayerNorm(x, x, gamma.clone().requires_grad_(), beta, 1e-5))
      << "gamma trains";
  const torch::Tensor wide = torch::randn({2, 4097});
  EXPECT_FALSE(FusedAddLayerNorm(wide, wide, torch::ones({4097}), torch::zeros({4097}), 1e-5))
      << "wider than a staged row";
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

// Runs the fused op on `device` against ATen's ops in fp32 on the same inputs.
void ExpectMatchesAten(torch::Device device, torch::ScalarType dtype, int64_t width) {
  torch::manual_seed(7);
  const auto options = torch::TensorOptions().device(device).dtype(dtype);
  // Rows off the mean and scale LayerNorm removes, as a residual stream has them.
  const torch::Tensor x = (torch::randn({3, 37, width}) * 4 + 1).to(options);
  const torch::Tensor branch = torch::randn({3, 37, width}).to(options);
  const torch::Tensor gamma = (1 + 0.1 * torch::randn({width})).to(device);
  const torch::Tensor beta = (0.1 * torch::randn({width})).to(device);
  const torch::Tensor weights = torch::randn({3, 37, width}).to(device);
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

class FusedAddLayerNormOnCuda
    : public ::testing::TestWithParam<std::tuple<torch::ScalarType, int64_t>> {};

TEST_P(FusedAddLayerNormOnCuda, MatchesAtenForwardAndBackward) {
  if (!torch::cuda::is_available() || !FusedCudaKernelsBuilt()) GTEST_SKIP() << "no CUDA kernels";
  const auto [dtype, width] = GetParam();
  ExpectMatchesAten(torch::kCUDA, dtype, width);
}

INSTANTIATE_TEST_SUITE_P(
    DtypesAndWidths, FusedAddLayerNormOnCuda,
    ::testing::Combine(::testing::Values(torch::kFloat32, torch::kFloat16, torch::kBFloat16),
                       // ViT-B's and the text tower's widths, one that leaves lanes idle, and
                       // the widest bf16 row the kernels take.
                       ::testing::Values(int64_t{768}, int64_t{512}, int64_t{96}, int64_t{1024})));

class FusedAddLayerNormOnCpu
    : public ::testing::TestWithParam<std::tuple<torch::ScalarType, int64_t>> {};

TEST_P(FusedAddLayerNormOnCpu, MatchesAtenForwardAndBackward) {
  const auto [dtype, width] = GetParam();
  ExpectMatchesAten(torch::kCPU, dtype, width);
}

INSTANTIATE_TEST_SUITE_P(
    DtypesAndWidths, FusedAddLayerNormOnCpu,
    ::testing::Combine(::testing::Values(torch::kFloat32, torch::kBFloat16),
                       // The default model's width, ViT-B's, widths that are no multiple of the
                       // kernels' 16 lanes, and a single element (normed is beta).
                       ::testing::Values(int64_t{128}, int64_t{768}, int64_t{130}, int64_t{7},
                                         int64_t{1})));

// In bf16 the CPU computes what the transformer's unfused CPU path computed (add in bf16, then
// LayerNorm in fp32 with fp32 weights, rounded to bf16 once): the same bf16 values, up to fp32
// rounding of the statistics flipping a rare last bit.
TEST(FusedAddLayerNormOnCpu, Bf16MatchesTheFp32LayerNormItReplaces) {
  torch::manual_seed(9);
  const torch::Tensor x = (torch::randn({64, 128}) * 3 + 2).to(torch::kBFloat16);
  const torch::Tensor branch = torch::randn({64, 128}).to(torch::kBFloat16);
  const torch::Tensor gamma = 1 + 0.1 * torch::randn({128}), beta = 0.1 * torch::randn({128});
  const torch::Tensor sum = x + branch;
  const torch::Tensor want =
      torch::layer_norm(sum.to(torch::kFloat), {128}, gamma, beta, 1e-5).to(torch::kBFloat16);
  std::optional<AddLayerNormOutput> got = FusedAddLayerNorm(x, branch, gamma, beta, 1e-5);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(torch::equal(got->sum, sum));
  EXPECT_GT(got->normed.eq(want).to(torch::kDouble).mean().item<double>(), 0.995);
  EXPECT_LT(MaxError(got->normed, want), 0.02);  // one bf16 step at |normed| < 4
}

// Without a branch the op is LayerNorm alone: the sum is x itself, and x gets LayerNorm's
// gradient only.
TEST(FusedAddLayerNormOnCpu, WithoutBranchIsLayerNorm) {
  for (torch::ScalarType dtype : {torch::kFloat32, torch::kBFloat16}) {
    torch::manual_seed(3);
    const torch::Tensor x = (torch::randn({5, 11, 96}) * 2 - 1).to(dtype).requires_grad_();
    const torch::Tensor gamma = 1 + 0.1 * torch::randn({96}), beta = 0.1 * torch::randn({96});
    const torch::Tensor upstream = torch::randn({5, 11, 96});
    std::optional<AddLayerNormOutput> got =
        FusedAddLayerNorm(x, torch::Tensor(), gamma, beta, 1e-5);
    ASSERT_TRUE(got.has_value());
    EXPECT_TRUE(got->sum.is_same(x));
    (got->normed.to(torch::kFloat) * upstream).sum().backward();

    const torch::Tensor xf = x.detach().to(torch::kFloat).requires_grad_();
    const torch::Tensor want = torch::layer_norm(xf, {96}, gamma, beta, 1e-5);
    (want * upstream).sum().backward();
    const double tolerance = dtype == torch::kFloat32 ? 1e-5 : 3e-2;
    EXPECT_LT(MaxError(got->normed, want), tolerance * 4) << dtype;
    EXPECT_LT(MaxError(x.grad(), xf.grad()), tolerance * 16) << dtype;
  }
}

}  // namespace
}  // namespace perennial
