#include "learner/model/fused_lora_grad.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <tuple>

#include "learner/model/fused_add_layer_norm.h"  // FusedCudaKernelsBuilt

namespace perennial {
namespace {

bool HaveKernels() { return torch::cuda::is_available() && FusedCudaKernelsBuilt(); }

// max |got - want| over max |want|, in fp32.
double RelativeError(const torch::Tensor& got, const torch::Tensor& want) {
  const torch::Tensor w = want.to(torch::kFloat32);
  return ((got.to(torch::kFloat32) - w).abs().max() / w.abs().max().clamp_min(1e-6)).item<double>();
}

// The LoRA scale the products are taken with: not a power of two, so that a missing or doubled
// scale shows.
constexpr double kScale = 1.5;

// RelativeError's bound for gt, which the pass rounds once to g's dtype after accumulating in
// fp32: half a unit in the last place of bf16 (8 significant bits) or fp16 (11), with room for
// the accumulation order.
double GtTolerance(torch::ScalarType dtype) { return dtype == torch::kBFloat16 ? 5e-3 : 1e-3; }

TEST(FusedLoraGradPass, LeavesCpuTensorsToTheCaller) {
  const auto bf16 = torch::TensorOptions().dtype(torch::kBFloat16);
  EXPECT_FALSE(FusedLoraGradPass(torch::randn({32, 64}, bf16), torch::randn({64, 8}, bf16),
                                 torch::randn({32, 8}, bf16), 1.0));
}

TEST(FusedSiluLoraGradPass, LeavesCpuTensorsToTheCaller) {
  const auto bf16 = torch::TensorOptions().dtype(torch::kBFloat16);
  EXPECT_FALSE(FusedSiluLoraGradPass(torch::randn({32, 64}, bf16), torch::randn({32, 64}, bf16),
                                     torch::randn({64, 8}, bf16), torch::randn({32, 8}, bf16),
                                     1.0));
}

TEST(FusedSiluThinProduct, LeavesCpuTensorsToTheCaller) {
  const auto bf16 = torch::TensorOptions().dtype(torch::kBFloat16);
  EXPECT_FALSE(FusedSiluThinProduct(torch::randn({32, 64}, bf16), torch::randn({8, 64}, bf16)));
}

TEST(FusedLoraGradPass, DeclinesWhatTheKernelDoesNotTake) {
  if (!HaveKernels()) GTEST_SKIP() << "no CUDA kernels";
  const auto bf16 = torch::TensorOptions().device(torch::kCUDA).dtype(torch::kBFloat16);
  const torch::Tensor g = torch::randn({32, 64}, bf16), b = torch::randn({64, 8}, bf16);
  const torch::Tensor t = torch::randn({32, 8}, bf16);
  EXPECT_TRUE(FusedLoraGradPass(g, b, t, 1.0));
  EXPECT_FALSE(
      FusedLoraGradPass(g.to(torch::kFloat32), b.to(torch::kFloat32), t.to(torch::kFloat32), 1.0))
      << "fp32";
  EXPECT_FALSE(FusedLoraGradPass(g, torch::randn({64, 4}, bf16), torch::randn({32, 4}, bf16), 1.0))
      << "rank 4";
  EXPECT_FALSE(FusedLoraGradPass(g.narrow(1, 0, 60), b.narrow(0, 0, 60), t, 1.0)) << "60 columns";
  EXPECT_FALSE(FusedLoraGradPass(torch::randn({64, 32}, bf16).t(), b, t, 1.0)) << "strided g";
}

// (rows, cols, dtype), pipeline: shapes of ViT-B/16's maps at a small batch, and edges of the
// kernel's tiling (bands of 256 rows, chunks of 64 columns), through each way the kernel moves
// g (every pipeline must give the same products).
using Shape = std::tuple<int64_t, int64_t, torch::ScalarType>;
class FusedLoraGradPassOnCuda
    : public ::testing::TestWithParam<std::tuple<Shape, LoraGradPassPipeline>> {};

TEST_P(FusedLoraGradPassOnCuda, MatchesTheProductsInFp32) {
  if (!HaveKernels()) GTEST_SKIP() << "no CUDA kernels";
  const auto [shape, pipeline] = GetParam();
  const auto [rows, cols, dtype] = shape;
  torch::manual_seed(11);
  const auto options = torch::TensorOptions().device(torch::kCUDA).dtype(dtype);
  const torch::Tensor g = torch::randn({rows, cols}, options);
  const torch::Tensor b = torch::randn({cols, 8}, options), t = torch::randn({rows, 8}, options);
  const std::optional<LoraGradProducts> got = FusedLoraGradPass(g, b, t, kScale, pipeline);
  ASSERT_TRUE(got.has_value());
  const torch::Tensor want_gt = kScale * torch::mm(g.to(torch::kFloat32), b.to(torch::kFloat32));
  const torch::Tensor want_gb =
      kScale * torch::mm(g.to(torch::kFloat32).t(), t.to(torch::kFloat32));
  ASSERT_EQ(got->gt.sizes(), want_gt.sizes());
  ASSERT_EQ(got->gb.sizes(), want_gb.sizes());
  EXPECT_EQ(got->gt.scalar_type(), dtype);
  EXPECT_EQ(got->gb.scalar_type(), torch::kFloat32);
  // Both accumulate exact products of the same 16-bit inputs in fp32: only the order differs.
  // Sums of n unit-variance terms have magnitude ~sqrt(n).
  EXPECT_LT(RelativeError(got->gt, want_gt), GtTolerance(dtype));
  EXPECT_LT(RelativeError(got->gb, want_gb), 1e-4);
}

// With SiLU's backward in front: the gradient it hands on is ATen's silu_backward (up to one
// rounding of the same fp32 formula), and the products are those of that gradient.
TEST_P(FusedLoraGradPassOnCuda, WithSiluMatchesAtenSiluBackwardAndTheProducts) {
  if (!HaveKernels()) GTEST_SKIP() << "no CUDA kernels";
  const auto [shape, pipeline] = GetParam();
  const auto [rows, cols, dtype] = shape;
  torch::manual_seed(12);
  const auto options = torch::TensorOptions().device(torch::kCUDA).dtype(dtype);
  const torch::Tensor silu_grad = torch::randn({rows, cols}, options);
  const torch::Tensor silu_input = 3 * torch::randn({rows, cols}, options);
  const torch::Tensor b = torch::randn({cols, 8}, options), t = torch::randn({rows, 8}, options);
  const std::optional<LoraGradProducts> got =
      FusedSiluLoraGradPass(silu_grad, silu_input, b, t, kScale, pipeline);
  ASSERT_TRUE(got.has_value());
  const torch::Tensor want_g = at::silu_backward(silu_grad, silu_input);
  ASSERT_EQ(got->g.scalar_type(), dtype);
  EXPECT_LT(RelativeError(got->g, want_g), 1e-2);
  const torch::Tensor g = got->g.to(torch::kFloat32);
  EXPECT_LT(RelativeError(got->gt, kScale * torch::mm(g, b.to(torch::kFloat32))),
            GtTolerance(dtype));
  EXPECT_LT(RelativeError(got->gb, kScale * torch::mm(g.t(), t.to(torch::kFloat32))), 1e-4);
  EXPECT_FALSE(
      FusedSiluLoraGradPass(silu_grad, torch::randn({rows, cols + 8}, options), b, t, kScale))
      << "a SiLU input of another shape";
}

// The forward's counterpart: SiLU of u (ATen's silu up to one rounding of the same formula) and
// the thin product of that.
TEST_P(FusedLoraGradPassOnCuda, SiluThinProductMatchesSiluAndTheProduct) {
  if (!HaveKernels()) GTEST_SKIP() << "no CUDA kernels";
  const auto [shape, pipeline] = GetParam();
  const auto [rows, cols, dtype] = shape;
  torch::manual_seed(13);
  const auto options = torch::TensorOptions().device(torch::kCUDA).dtype(dtype);
  const torch::Tensor u = 3 * torch::randn({rows, cols}, options);
  const torch::Tensor a = torch::randn({8, cols}, options);
  const std::optional<SiluThinProduct> got = FusedSiluThinProduct(u, a, pipeline);
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->h.sizes(), u.sizes());
  ASSERT_EQ(got->t.sizes(), (std::vector<int64_t>{rows, 8}));
  EXPECT_EQ(got->t.scalar_type(), dtype);
  EXPECT_LT(RelativeError(got->h, torch::silu(u)), 1e-2);
  const torch::Tensor want_t = torch::mm(got->h.to(torch::kFloat32), a.to(torch::kFloat32).t());
  EXPECT_LT(RelativeError(got->t, want_t), GtTolerance(dtype));
  EXPECT_FALSE(FusedSiluThinProduct(u, torch::randn({4, cols}, options), pipeline)) << "rank 4";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, FusedLoraGradPassOnCuda,
    ::testing::Combine(
        ::testing::Values(std::make_tuple(int64_t{197 * 4}, int64_t{768}, torch::kBFloat16),
                          std::make_tuple(int64_t{197 * 4}, int64_t{2304}, torch::kBFloat16),
                          std::make_tuple(int64_t{197 * 4}, int64_t{3072}, torch::kFloat16),
                          std::make_tuple(int64_t{256}, int64_t{64}, torch::kBFloat16),
                          std::make_tuple(int64_t{1}, int64_t{8}, torch::kBFloat16),
                          std::make_tuple(int64_t{300}, int64_t{520}, torch::kFloat16)),
        ::testing::Values(LoraGradPassPipeline::kStaged, LoraGradPassPipeline::kPrefetch,
                          LoraGradPassPipeline::kAsyncCopy)));

}  // namespace
}  // namespace perennial
