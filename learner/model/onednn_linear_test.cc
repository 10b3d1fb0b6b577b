#include "learner/model/onednn_linear.h"

#include <gtest/gtest.h>

namespace perennial {
namespace {

class OneDnnLinearTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!OneDnnAvailable()) GTEST_SKIP() << "this LibTorch has no oneDNN";
    torch::manual_seed(3);
  }
};

TEST_F(OneDnnLinearTest, ForwardMatchesTorchLinear) {
  const torch::Tensor w = torch::randn({48, 32}), b = torch::randn({48});
  const torch::Tensor x = torch::randn({4, 5, 32});
  const PackedLinear packed = PackLinear(w, b, /*for_backward=*/false);
  ASSERT_TRUE(packed.defined());
  EXPECT_FALSE(packed.weight_t.defined());
  const torch::Tensor y = OneDnnLinear(x, packed);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{4, 5, 48}));
  EXPECT_TRUE(torch::allclose(y, torch::linear(x, w, b), 1e-5, 1e-5));
  EXPECT_TRUE(
      torch::allclose(OneDnnLinear(x, PackLinear(w, {}, false)), torch::linear(x, w), 1e-5, 1e-5));
}

TEST_F(OneDnnLinearTest, GradientOfXMatchesTorchLinear) {
  const torch::Tensor w = torch::randn({24, 16}), b = torch::randn({24});
  const torch::Tensor x = torch::randn({6, 16}, torch::requires_grad());
  const torch::Tensor upstream = torch::randn({6, 24});
  OneDnnLinear(x, PackLinear(w, b, /*for_backward=*/true)).backward(upstream);
  const torch::Tensor ours = x.grad().clone();
  x.mutable_grad().reset();
  torch::linear(x, w, b).backward(upstream);
  EXPECT_TRUE(torch::allclose(ours, x.grad(), 1e-5, 1e-5));
}

// A bf16 model's weights pack too; its products and x's gradient agree with ATen's bf16 ops.
TEST_F(OneDnnLinearTest, Bf16ForwardAndGradientMatchTorchLinear) {
  if (!OneDnnAvailable(torch::kBFloat16)) GTEST_SKIP() << "no bf16 products in this build";
  const torch::Tensor w = torch::randn({24, 64}).to(torch::kBFloat16);
  const torch::Tensor b = torch::randn({24}).to(torch::kBFloat16);
  const PackedLinear packed = PackLinear(w, b, /*for_backward=*/true);
  ASSERT_TRUE(packed.defined());
  const torch::Tensor x = torch::randn({6, 64}).to(torch::kBFloat16).requires_grad_();
  EXPECT_TRUE(packed.Serves(x, 1));
  EXPECT_FALSE(packed.Serves(x.to(torch::kFloat32), 1));
  EXPECT_FALSE(packed.Serves(x, 2));
  const torch::Tensor upstream = torch::randn({6, 24}).to(torch::kBFloat16);
  const torch::Tensor y = OneDnnLinear(x, packed);
  EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
  y.backward(upstream);
  const torch::Tensor ours = x.grad().clone();
  x.mutable_grad().reset();
  const torch::Tensor reference = torch::linear(x, w, b);
  reference.backward(upstream);
  EXPECT_TRUE(torch::allclose(y.to(torch::kFloat32), reference.to(torch::kFloat32), 2e-2, 2e-2));
  EXPECT_TRUE(torch::allclose(ours.to(torch::kFloat32), x.grad().to(torch::kFloat32), 2e-2, 2e-2));
}

TEST_F(OneDnnLinearTest, RefusesWhatItCannotServe) {
  EXPECT_FALSE(PackLinear(torch::randn({4, 4}, torch::requires_grad()), {}, true).defined());
  EXPECT_FALSE(PackLinear(torch::randn({4, 4}).to(torch::kFloat64), {}, true).defined());
  EXPECT_FALSE(PackLinear(torch::randn({4}), {}, true).defined());
  // x needs a gradient but W^T was not packed: an error, not a silently missing gradient.
  const PackedLinear forward_only = PackLinear(torch::randn({4, 4}), {}, false);
  EXPECT_THROW(OneDnnLinear(torch::randn({2, 4}, torch::requires_grad()), forward_only),
               c10::Error);
}

}  // namespace
}  // namespace perennial
