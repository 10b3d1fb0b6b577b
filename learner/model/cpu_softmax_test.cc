#include "learner/model/cpu_softmax.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

namespace perennial {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

class SoftmaxRowsTest : public ::testing::TestWithParam<int64_t> {};

// Against softmax in double (to fp32 sums over 197 entries: ~1e-6 relative): scores of attention's
// size and far beyond (|x| up to ~150, where exp under- and overflows before the max is taken off),
// with hidden (-inf) entries.
TEST_P(SoftmaxRowsTest, MatchesATenWithHiddenEntries) {
  const int64_t cols = GetParam(), rows = 9;
  torch::manual_seed(cols);
  torch::Tensor x =
      torch::randn({rows, cols}) * torch::tensor({1.0f, 10.0f, 50.0f}).repeat(3).view({rows, 1});
  x.masked_fill_(torch::rand({rows, cols}) < 0.3, -kInf);
  x.select(1, 0).fill_(0.5f);  // every row sees one key
  const torch::Tensor expected = torch::softmax(x.to(torch::kFloat64), -1);
  torch::Tensor ours = x.clone();
  SoftmaxRowsInPlace(ours.data_ptr<float>(), rows, cols);
  EXPECT_TRUE(torch::allclose(ours.to(torch::kFloat64), expected, 1e-5, 1e-30))
      << (ours.to(torch::kFloat64) - expected).abs().max().item<double>();
  EXPECT_TRUE(ours.masked_select(x.isinf()).eq(0).all().item<bool>()) << "hidden entries are 0";
}

TEST_P(SoftmaxRowsTest, BackwardMatchesTheFormula) {
  const int64_t cols = GetParam(), rows = 5;
  torch::manual_seed(cols + 1);
  const torch::Tensor p = torch::softmax(torch::randn({rows, cols}), -1);
  const torch::Tensor grad = torch::randn({rows, cols});
  const torch::Tensor p64 = p.to(torch::kFloat64), g64 = grad.to(torch::kFloat64);
  const torch::Tensor expected = 0.125 * p64 * (g64 - (g64 * p64).sum(-1, true));
  torch::Tensor ours = grad.clone();
  SoftmaxBackwardRowsInPlace(p.data_ptr<float>(), ours.data_ptr<float>(), rows, cols, 0.125f);
  EXPECT_TRUE(torch::allclose(ours.to(torch::kFloat64), expected, 1e-5, 1e-7));
}

INSTANTIATE_TEST_SUITE_P(Widths, SoftmaxRowsTest, ::testing::Values(1, 7, 16, 17, 65, 197));

TEST(SoftmaxRowsEdgeTest, RowsThatSeeNothingOrNaNBecomeNaN) {
  float rows[2][5] = {{-kInf, -kInf, -kInf, -kInf, -kInf},
                      {0.0f, std::numeric_limits<float>::quiet_NaN(), 1.0f, 2.0f, 3.0f}};
  SoftmaxRowsInPlace(&rows[0][0], 2, 5);
  for (const auto& row : rows) {
    for (float value : row) EXPECT_TRUE(std::isnan(value));
  }
}

TEST(SoftmaxRowsEdgeTest, ExtremesStayFinite) {
  float row[4] = {88.0f, -88.0f, 0.0f, 87.9f};  // exp(88) alone would overflow
  SoftmaxRowsInPlace(row, 1, 4);
  const torch::Tensor expected = torch::softmax(torch::tensor({88.0, -88.0, 0.0, 87.9}), -1);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(row[i], expected[i].item<double>(), 1e-6) << i;
}

}  // namespace
}  // namespace perennial
