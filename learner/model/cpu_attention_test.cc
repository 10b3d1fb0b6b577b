#include "learner/model/cpu_attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace perennial {
namespace {

// The textbook formula over [N, H, L, D] heads, differentiated by autograd; `hidden` is
// [N, Lq, Lk] or undefined.
torch::Tensor Reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        double scale, bool causal, const torch::Tensor& hidden = {}) {
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
  constexpr float kHidden = -std::numeric_limits<float>::infinity();
  if (causal) {
    const int64_t l = q.size(2);
    scores = scores.masked_fill(torch::ones({l, l}, torch::kBool).triu(1), kHidden);
  }
  if (hidden.defined()) scores = scores.masked_fill(hidden.unsqueeze(1), kHidden);
  return torch::matmul(torch::softmax(scores, -1), v);
}

class CpuAttentionTest : public ::testing::TestWithParam<bool> {};

TEST_P(CpuAttentionTest, MatchesTheReferenceForwardAndGradients) {
  const bool causal = GetParam();
  torch::manual_seed(5);
  // The default model's image tower: 65 positions, 64 per head.
  const int64_t n = 3, heads = 2, l = 65, d = 64;
  torch::Tensor leaves[2][3];
  for (int i = 0; i < 3; ++i) {
    leaves[0][i] = torch::randn({n, l, heads, d}, torch::requires_grad());
    leaves[1][i] = leaves[0][i].detach().clone().requires_grad_(true);
  }
  auto heads_of = [](const torch::Tensor& t) { return t.transpose(1, 2); };
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const torch::Tensor ours = CpuAttention(heads_of(leaves[0][0]), heads_of(leaves[0][1]),
                                          heads_of(leaves[0][2]), scale, causal);
  const torch::Tensor reference = Reference(heads_of(leaves[1][0]), heads_of(leaves[1][1]),
                                            heads_of(leaves[1][2]), scale, causal);
  EXPECT_TRUE(torch::allclose(ours, reference, 1e-5, 1e-6));
  EXPECT_TRUE(ours.transpose(1, 2).is_contiguous());  // the caller's reshape copies nothing
  const torch::Tensor upstream = torch::randn(ours.sizes());
  ours.backward(upstream);
  reference.backward(upstream);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(torch::allclose(leaves[0][i].grad(), leaves[1][i].grad(), 1e-4, 1e-5))
        << "input " << i << ": "
        << (leaves[0][i].grad() - leaves[1][i].grad()).abs().max().item<float>();
  }
}

INSTANTIATE_TEST_SUITE_P(Masks, CpuAttentionTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Causal" : "Full"; });

// bf16 in and out, fp32 inside: within bf16's rounding of the fp32 reference.
TEST(CpuAttentionBf16Test, ComputesInFp32AndReturnsBf16) {
  torch::manual_seed(7);
  const int64_t n = 2, heads = 2, l = 17, d = 16;
  const torch::Tensor leaf_q = torch::randn({n, l, heads, d}).to(torch::kBFloat16);
  const torch::Tensor leaf_k = torch::randn({n, l, heads, d}).to(torch::kBFloat16);
  const torch::Tensor leaf_v = torch::randn({n, l, heads, d}).to(torch::kBFloat16);
  torch::Tensor q = leaf_q.clone().requires_grad_(true), k = leaf_k.clone().requires_grad_(true),
                v = leaf_v.clone().requires_grad_(true);
  const torch::Tensor out =
      CpuAttention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), 0.25, /*causal=*/true);
  EXPECT_EQ(out.scalar_type(), torch::kBFloat16);
  const torch::Tensor reference = Reference(
      leaf_q.to(torch::kFloat32).transpose(1, 2), leaf_k.to(torch::kFloat32).transpose(1, 2),
      leaf_v.to(torch::kFloat32).transpose(1, 2), 0.25, /*causal=*/true);
  EXPECT_TRUE(torch::allclose(out.to(torch::kFloat32), reference, 1e-2, 1e-2));
  out.sum().backward();
  EXPECT_EQ(q.grad().scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(q.grad().isfinite().all().item<bool>());
}

// Fewer queries than keys, and a mask per sequence shared by its heads (3 sequences x 2 heads),
// as the text tower's prompt suffixes and read rows use it.
TEST(CpuAttentionHiddenTest, MatchesTheReferenceWithOneMaskPerSequence) {
  torch::manual_seed(6);
  const double scale = 1.0 / std::sqrt(8.0);
  const int64_t sequences = 3, heads = 2, lq = 4, lk = 9, d = 8;
  torch::Tensor hidden = torch::rand({sequences, lq, lk}) < 0.4;
  hidden.select(2, 0).fill_(false);  // every query sees a key
  torch::Tensor inputs[2][3];
  for (int i = 0; i < 3; ++i) {
    inputs[0][i] = torch::randn({sequences, heads, i == 0 ? lq : lk, d}, torch::requires_grad());
    inputs[1][i] = inputs[0][i].detach().clone().requires_grad_(true);
  }
  const torch::Tensor ours =
      CpuAttention(inputs[0][0], inputs[0][1], inputs[0][2], scale, /*causal=*/false, hidden);
  const torch::Tensor reference =
      Reference(inputs[1][0], inputs[1][1], inputs[1][2], scale, /*causal=*/false, hidden);
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

TEST(CpuAttentionHiddenTest, RejectsInputsThatDoNotFit) {
  const torch::Tensor q = torch::randn({2, 2, 2, 8}), k = torch::randn({2, 2, 3, 8});
  const torch::Tensor masks[] = {
      torch::zeros({3, 2, 3}, torch::kBool),   // 3 sequences, not 2
      torch::zeros({2, 3, 2}, torch::kBool),   // queries and keys swapped
      torch::zeros({2, 2, 3}, torch::kFloat),  // not bool
  };
  for (const torch::Tensor& mask : masks) {
    EXPECT_THROW(CpuAttention(q, k, k, 1.0, false, mask), c10::Error) << mask.sizes();
  }
  EXPECT_THROW(CpuAttention(q, k, k, 1.0, /*causal=*/true), c10::Error);  // 2 queries, 3 keys
  EXPECT_THROW(CpuAttention(q, k, k, 1.0, true, torch::zeros({2, 2, 3}, torch::kBool)), c10::Error);
  EXPECT_THROW(CpuAttention(q.view({4, 2, 8}), k, k, 1.0, false), c10::Error);  // not 4-D
  EXPECT_THROW(CpuAttention(q, k.to(torch::kBFloat16), k, 1.0, false), c10::Error);
}

}  // namespace
}  // namespace perennial
