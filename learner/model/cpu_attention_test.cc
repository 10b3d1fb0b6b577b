#include "learner/model/cpu_attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace perennial {
namespace {

// The textbook formula, differentiated by autograd.
torch::Tensor Reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        double scale, bool causal) {
  torch::Tensor scores = torch::matmul(q, k.transpose(1, 2)) * scale;
  if (causal) {
    const int64_t l = q.size(1);
    scores = scores.masked_fill(torch::ones({l, l}, torch::kBool).triu(1),
                                -std::numeric_limits<float>::infinity());
  }
  return torch::matmul(torch::softmax(scores, -1), v);
}

class CpuAttentionTest : public ::testing::TestWithParam<bool> {};

TEST_P(CpuAttentionTest, MatchesTheReferenceForwardAndGradients) {
  const bool causal = GetParam();
  torch::manual_seed(5);
  const double scale = 1.0 / std::sqrt(8.0);
  torch::Tensor inputs[2][3];
  for (int i = 0; i < 3; ++i) {
    inputs[0][i] = torch::randn({6, 7, 8}, torch::requires_grad());
    inputs[1][i] = inputs[0][i].detach().clone().requires_grad_(true);
  }
  const torch::Tensor upstream = torch::randn({6, 7, 8});
  const torch::Tensor ours = CpuAttention(inputs[0][0], inputs[0][1], inputs[0][2], scale, causal);
  const torch::Tensor reference =
      Reference(inputs[1][0], inputs[1][1], inputs[1][2], scale, causal);
  EXPECT_TRUE(torch::allclose(ours, reference, 1e-5, 1e-6));
  ours.backward(upstream);
  reference.backward(upstream);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(torch::allclose(inputs[0][i].grad(), inputs[1][i].grad(), 1e-4, 1e-6))
        << "input " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Masks, CpuAttentionTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Causal" : "Full"; });

// Fewer queries than keys, and a mask per sequence shared by its heads (3 sequences x 2 heads),
// as the text tower's prompt suffixes and read rows use it.
TEST(CpuAttentionHiddenTest, MatchesTheReferenceWithOneMaskPerSequence) {
  torch::manual_seed(6);
  const double scale = 1.0 / std::sqrt(8.0);
  const int64_t sequences = 3, heads = 2, lq = 4, lk = 9;
  torch::Tensor hidden = torch::rand({sequences, lq, lk}) < 0.4;
  hidden.select(2, 0).fill_(false);  // every query sees a key
  torch::Tensor inputs[2][3];
  for (int i = 0; i < 3; ++i) {
    inputs[0][i] = torch::randn({sequences * heads, i == 0 ? lq : lk, 8}, torch::requires_grad());
    inputs[1][i] = inputs[0][i].detach().clone().requires_grad_(true);
  }
  const torch::Tensor ours =
      CpuAttention(inputs[0][0], inputs[0][1], inputs[0][2], scale, /*causal=*/false, hidden);
  torch::Tensor scores = torch::matmul(inputs[1][0], inputs[1][1].transpose(1, 2)) * scale;
  scores = scores.masked_fill(hidden.repeat_interleave(heads, 0),
                              -std::numeric_limits<float>::infinity());
  const torch::Tensor reference = torch::matmul(torch::softmax(scores, -1), inputs[1][2]);
  ASSERT_EQ(ours.sizes(), reference.sizes());
  EXPECT_TRUE(torch::allclose(ours, reference, 1e-5, 1e-6));
  const torch::Tensor upstream = torch::randn(ours.sizes());
  ours.backward(upstream);
  reference.backward(upstream);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(torch::allclose(inputs[0][i].grad(), inputs[1][i].grad(), 1e-4, 1e-6))
        << "input " << i;
  }
}

TEST(CpuAttentionHiddenTest, RejectsMasksThatDoNotFit) {
  const torch::Tensor q = torch::randn({4, 2, 8}), k = torch::randn({4, 3, 8});
  const torch::Tensor masks[] = {
      torch::zeros({3, 2, 3}, torch::kBool),   // 4 heads in 3 groups
      torch::zeros({2, 3, 2}, torch::kBool),   // queries and keys swapped
      torch::zeros({2, 2, 3}, torch::kFloat),  // not bool
  };
  for (const torch::Tensor& mask : masks) {
    EXPECT_THROW(CpuAttention(q, k, k, 1.0, false, mask), c10::Error) << mask.sizes();
  }
  EXPECT_THROW(CpuAttention(q, k, k, 1.0, /*causal=*/true), c10::Error);  // 2 queries, 3 keys
  EXPECT_THROW(CpuAttention(q, k, k, 1.0, true, torch::zeros({2, 2, 3}, torch::kBool)), c10::Error);
}

}  // namespace
}  // namespace perennial
