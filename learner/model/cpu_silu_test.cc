#include "learner/model/cpu_silu.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <string>

#include "learner/model/cpu_avx512.h"

namespace perennial {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

bool ExpectAvx512() {
#if PERENNIAL_HAVE_AVX512_CODE
  return avx512::CpuRunsAvx512();
#else
  return false;
#endif
}

torch::Tensor SiluInDouble(const torch::Tensor& x) {
  const torch::Tensor d = x.to(torch::kFloat64);
  return d / (1 + torch::exp(-d));
}

torch::Tensor SiluGradInDouble(const torch::Tensor& grad, const torch::Tensor& x) {
  const torch::Tensor d = x.to(torch::kFloat64), s = torch::sigmoid(d);
  return grad.to(torch::kFloat64) * s * (1 + d * (1 - s));
}

// Values over the range an MLP sees and beyond (exp(-x) over- and underflows past |x| ~ 88), with a
// length that leaves a partial vector at the end and splits across parallel_for's parts. n >= 12.
torch::Tensor Inputs(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  torch::Tensor x = torch::randn({n}) * 4;
  x.narrow(0, 0, 12).copy_(torch::tensor({0.0f, -0.0f, 1e-30f, -1e-30f, 20.0f, -20.0f, 88.0f,
                                          -88.0f, 95.0f, -95.0f, 200.0f, -200.0f}));
  return x;
}

class SiluTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(SiluTest, Fp32ForwardMatchesDouble) {
  const torch::Tensor x = Inputs(GetParam(), 1);
  const torch::Tensor ours = SiluForward(x);
  ASSERT_EQ(ours.scalar_type(), torch::kFloat);
  const torch::Tensor expected = SiluInDouble(x);
  EXPECT_TRUE(torch::allclose(ours.to(torch::kFloat64), expected, 2e-6, 1e-35))
      << (ours.to(torch::kFloat64) - expected).abs().max().item<double>();
  EXPECT_EQ(ours[9].item<float>(), 0.0f) << "silu(-95) underflows to (-)0";
  EXPECT_EQ(ours[10].item<float>(), 200.0f);
}

TEST_P(SiluTest, Fp32BackwardMatchesDouble) {
  const torch::Tensor x = Inputs(GetParam(), 2), grad = torch::randn({GetParam()});
  const torch::Tensor ours = SiluBackward(grad, x);
  const torch::Tensor expected = SiluGradInDouble(grad, x);
  // Absolute slack where s (1 + x (1 - s)) cancels (x near -1.28).
  EXPECT_TRUE(torch::allclose(ours.to(torch::kFloat64), expected, 1e-5, 1e-6))
      << (ours.to(torch::kFloat64) - expected).abs().max().item<double>();
}

// bf16 results are fp32 math rounded once: ATen's fp32 result rounded to bf16, up to ties and
// 1-ulp fp32 differences that round the other way (one bf16 step, rarely).
void ExpectBf16Close(const torch::Tensor& ours, const torch::Tensor& aten_fp32) {
  ASSERT_EQ(ours.scalar_type(), torch::kBFloat16);
  const torch::Tensor rounded = aten_fp32.to(torch::kBFloat16).to(torch::kFloat64);
  const torch::Tensor ours64 = ours.to(torch::kFloat64);
  const torch::Tensor step = rounded.abs() * std::ldexp(1.0, -7) + 1e-38;
  EXPECT_TRUE(((ours64 - rounded).abs() <= step).all().item<bool>())
      << (ours64 - rounded).abs().max().item<double>();
  const int64_t differ = ours64.ne(rounded).sum().item<int64_t>();
  EXPECT_LE(differ, 1 + ours.numel() / 1000);
}

TEST_P(SiluTest, Bf16ForwardAndBackwardRoundTheFp32Math) {
  const torch::Tensor x = Inputs(GetParam(), 3).to(torch::kBFloat16);
  const torch::Tensor grad = torch::randn({GetParam()}).to(torch::kBFloat16);
  const torch::Tensor x32 = x.to(torch::kFloat), grad32 = grad.to(torch::kFloat);
  ExpectBf16Close(SiluForward(x), at::silu(x32));
  ExpectBf16Close(SiluBackward(grad, x), at::silu_backward(grad32, x32));
}

INSTANTIATE_TEST_SUITE_P(Lengths, SiluTest, ::testing::Values(12, 15, 16, 17, 100003));

TEST(SiluEdgeTest, InfinitiesAndNaNAsATen) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (torch::ScalarType dtype : {torch::kFloat, torch::kBFloat16}) {
    const torch::Tensor x = torch::tensor({kInf, -kInf, nan}).to(dtype);
    const torch::Tensor ours = SiluForward(x).to(torch::kFloat);
    EXPECT_EQ(ours[0].item<float>(), kInf);
    EXPECT_TRUE(std::isnan(ours[1].item<float>())) << "-inf / inf, as ATen's x / (1 + exp(-x))";
    EXPECT_TRUE(std::isnan(ours[2].item<float>()));
  }
}

TEST(SiluEdgeTest, NonContiguousInputsGiveTheSameValues) {
  const torch::Tensor x = torch::randn({64, 48});
  const torch::Tensor grad = torch::randn({48, 64});
  EXPECT_TRUE(torch::equal(SiluForward(x.t()), SiluForward(x.t().contiguous())));
  EXPECT_TRUE(torch::equal(SiluBackward(grad, x.t()), SiluBackward(grad, x.t().contiguous())));
}

TEST(SiluEdgeTest, OtherDtypesRunATen) {
  const torch::Tensor x = torch::randn({33}, torch::kFloat64),
                      grad = torch::randn({33}, torch::kFloat64);
  EXPECT_STREQ(SiluKernel(x), "aten");
  EXPECT_TRUE(torch::equal(SiluForward(x), at::silu(x)));
  EXPECT_TRUE(torch::equal(SiluBackward(grad, x), at::silu_backward(grad, x)));
  EXPECT_STREQ(SiluKernel(x.to(torch::kFloat)), ExpectAvx512() ? "avx512" : "aten");
}

TEST(SiluAutogradTest, GradientIsSiluBackward) {
  for (torch::ScalarType dtype : {torch::kFloat, torch::kBFloat16, torch::kFloat64}) {
    const torch::Tensor x = torch::randn({7, 40}).to(dtype).requires_grad_(true);
    const torch::Tensor upstream = torch::randn({7, 40}).to(dtype);
    const torch::Tensor y = Silu(x);
    EXPECT_TRUE(torch::equal(y.detach(), SiluForward(x.detach()))) << dtype;
    y.backward(upstream);
    EXPECT_TRUE(torch::equal(x.grad(), SiluBackward(upstream, x.detach()))) << dtype;
  }
}

TEST(SiluAutogradTest, NoGradRecordsNothing) {
  const torch::Tensor x = torch::randn({5}).requires_grad_(true);
  torch::NoGradGuard no_grad;
  EXPECT_FALSE(Silu(x).requires_grad());
}

}  // namespace
}  // namespace perennial
