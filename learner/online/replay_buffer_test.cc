#include "learner/online/replay_buffer.h"

#include <gtest/gtest.h>

#include <set>

namespace perennial {
namespace {

// Row i is filled with the value i, so a stored row tells which sample it was.
torch::Tensor Rows(int64_t first, int64_t n) {
  return torch::arange(first, first + n, torch::kFloat)
      .view({n, 1, 1, 1})
      .expand({n, 3, 2, 2})
      .contiguous();
}

std::vector<int64_t> Labels(int64_t first, int64_t n) {
  std::vector<int64_t> out;
  for (int64_t i = first; i < first + n; ++i) out.push_back(i);
  return out;
}

TEST(ReplayBufferTest, FillsThenKeepsCapacity) {
  ReplayBuffer buffer(4, 9);
  buffer.Add(Rows(0, 3), Labels(0, 3));
  EXPECT_EQ(buffer.size(), 3);
  buffer.Add(Rows(3, 17), Labels(3, 17));
  EXPECT_EQ(buffer.size(), 4);
  EXPECT_EQ(buffer.seen(), 20);
  // Every stored row still matches its label (pixels and labels move together).
  auto [pixels, labels] = buffer.Sample(4, 1);
  ASSERT_EQ(labels.size(), 4u);
  for (size_t i = 0; i < labels.size(); ++i) {
    EXPECT_EQ(pixels[static_cast<int64_t>(i)][0][0][0].item<float>(),
              static_cast<float>(labels[i]));
  }
  EXPECT_EQ(std::set<int64_t>(labels.begin(), labels.end()).size(), 4u);
}

TEST(ReplayBufferTest, ReservoirIsRoughlyUniform) {
  // After 40 offers each sample is kept with probability 10/40: over 200 seeds, the first and
  // the last 20 samples should be kept about equally often (expected 1000 each).
  int first_half = 0, second_half = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    ReplayBuffer buffer(10, seed);
    buffer.Add(Rows(0, 40), Labels(0, 40));
    auto [pixels, labels] = buffer.Sample(10, seed);
    for (int64_t l : labels) (l < 20 ? first_half : second_half)++;
  }
  EXPECT_EQ(first_half + second_half, 2000);
  EXPECT_NEAR(first_half, 1000, 120);
}

TEST(ReplayBufferTest, DeterministicAndRestorable) {
  ReplayBuffer a(5, 3), b(5, 3);
  a.Add(Rows(0, 12), Labels(0, 12));
  b.Add(Rows(0, 12), Labels(0, 12));
  EXPECT_EQ(a.Sample(5, 7).second, b.Sample(5, 7).second);

  std::vector<std::pair<std::string, torch::Tensor>> saved;
  a.AppendNamedTensors("replay.", &saved);
  ReplayBuffer c(5, 3);
  ASSERT_TRUE(c.RestoreFromNamedTensors("replay.", saved).ok());
  EXPECT_EQ(c.seen(), 12);
  EXPECT_EQ(c.Sample(5, 7).second, a.Sample(5, 7).second);
  // Both continue identically.
  a.Add(Rows(12, 9), Labels(12, 9));
  c.Add(Rows(12, 9), Labels(12, 9));
  EXPECT_EQ(c.Sample(5, 8).second, a.Sample(5, 8).second);
  EXPECT_TRUE(torch::equal(c.Sample(5, 8).first, a.Sample(5, 8).first));
}

TEST(ReplayBufferTest, RestoreRejectsBadState) {
  ReplayBuffer small(2, 1);
  std::vector<std::pair<std::string, torch::Tensor>> saved;
  ReplayBuffer big(4, 1);
  big.Add(Rows(0, 4), Labels(0, 4));
  big.AppendNamedTensors("r.", &saved);
  EXPECT_FALSE(small.RestoreFromNamedTensors("r.", saved).ok());
  EXPECT_FALSE(small.RestoreFromNamedTensors("x.", saved).ok());
}

TEST(ReplayBufferTest, EmptyBufferSamplesNothing) {
  ReplayBuffer buffer(0, 1);
  buffer.Add(Rows(0, 3), Labels(0, 3));
  EXPECT_EQ(buffer.size(), 0);
  EXPECT_FALSE(buffer.Sample(4, 1).first.defined());
}

}  // namespace
}  // namespace perennial
