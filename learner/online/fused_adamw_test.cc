#include "learner/online/fused_adamw.h"

#include <gtest/gtest.h>

#include "learner/online/adamw_state.h"

namespace perennial {
namespace {

std::vector<torch::Tensor> MakeParams() {
  torch::manual_seed(3);
  std::vector<torch::Tensor> params;
  for (auto shape : {std::vector<int64_t>{8, 64}, {64, 8}, {300000}}) {
    params.push_back(torch::randn(shape).requires_grad_());
  }
  return params;
}

std::vector<torch::Tensor> Copies(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> out;
  for (const auto& p : params) out.push_back(p.detach().clone().requires_grad_());
  return out;
}

class FusedAdamWTest : public ::testing::TestWithParam<FusedAdamW::Kernel> {};

// Five steps against torch::optim::AdamW with the same gradients; the last parameter gets its
// first gradient only at step 3, so its step count (and bias correction) differs from the rest.
TEST_P(FusedAdamWTest, MatchesLibTorchAdamW) {
  const auto options =
      torch::optim::AdamWOptions(1e-2).betas({0.8, 0.99}).eps(1e-6).weight_decay(0.05);
  std::vector<torch::Tensor> fused_params = MakeParams();
  std::vector<torch::Tensor> reference_params = Copies(fused_params);
  FusedAdamW fused(fused_params, options, GetParam());
  torch::optim::AdamW reference(reference_params, options);
  for (int step = 1; step <= 5; ++step) {
    fused.zero_grad();
    reference.zero_grad();
    for (size_t i = 0; i < fused_params.size(); ++i) {
      if (i == 2 && step < 3) continue;
      const torch::Tensor grad = torch::randn(fused_params[i].sizes());
      fused_params[i].mutable_grad() = grad.clone();
      reference_params[i].mutable_grad() = grad.clone();
    }
    fused.step();
    reference.step();
  }
  NamedTensorList fused_state, reference_state;
  for (size_t i = 0; i < fused_params.size(); ++i) {
    EXPECT_TRUE(torch::allclose(fused_params[i], reference_params[i], 1e-5, 1e-6)) << i;
  }
  auto named = [&](const std::vector<torch::Tensor>& params) {
    NamedTensorList out;
    for (size_t i = 0; i < params.size(); ++i) out.emplace_back(std::to_string(i), params[i]);
    return out;
  };
  AppendAdamWState(fused, named(fused_params), "", &fused_state);
  AppendAdamWState(reference, named(reference_params), "", &reference_state);
  ASSERT_EQ(fused_state.size(), reference_state.size());
  for (size_t i = 0; i < fused_state.size(); ++i) {
    EXPECT_EQ(fused_state[i].first, reference_state[i].first);
    EXPECT_TRUE(torch::allclose(fused_state[i].second, reference_state[i].second, 1e-5, 1e-7))
        << fused_state[i].first;
  }
  EXPECT_EQ(fused_state[0].second.item<int64_t>(), 5);
  EXPECT_EQ(fused_state.back().first, "2.exp_avg_sq");
  EXPECT_EQ(fused_state[fused_state.size() - 3].second.item<int64_t>(), 3);
}

INSTANTIATE_TEST_SUITE_P(Kernels, FusedAdamWTest,
                         ::testing::Values(FusedAdamW::Kernel::kAuto, FusedAdamW::Kernel::kOnePass,
                                           FusedAdamW::Kernel::kMultiTensor));

TEST(FusedAdamWOptionsTest, RejectsAmsgrad) {
  EXPECT_THROW(FusedAdamW(MakeParams(), torch::optim::AdamWOptions(1e-3).amsgrad(true)),
               c10::Error);
}

TEST(FusedAdamWOptionsTest, OnePassRejectsNonContiguousParameters) {
  torch::Tensor p = torch::randn({16, 8}).t().requires_grad_();
  FusedAdamW optimizer({p}, torch::optim::AdamWOptions(1e-3), FusedAdamW::Kernel::kOnePass);
  p.mutable_grad() = torch::ones({8, 16});
  EXPECT_THROW(optimizer.step(), c10::Error);
}

}  // namespace
}  // namespace perennial
