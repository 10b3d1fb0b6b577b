#include "clients/cli/batch_limit.h"

#include <gtest/gtest.h>

#include <vector>

namespace perennial::cli {
namespace {

using Ends = std::vector<size_t>;

TEST(BatchEnds, NoItemsNoBatches) { EXPECT_EQ(BatchEnds({}, BatchLimit{}), Ends{}); }

TEST(BatchEnds, SplitsByCount) {
  const std::vector<size_t> sizes(10, 1);
  EXPECT_EQ(BatchEnds(sizes, BatchLimit{4, 1000}), (Ends{4, 8, 10}));
  EXPECT_EQ(BatchEnds(sizes, BatchLimit{10, 1000}), (Ends{10}));
}

TEST(BatchEnds, SplitsByBytesWithTheLimitItselfAllowed) {
  EXPECT_EQ(BatchEnds({40, 60, 1, 50, 50}, BatchLimit{64, 100}), (Ends{2, 4, 5}));
}

TEST(BatchEnds, AnItemOverTheByteLimitGoesAlone) {
  EXPECT_EQ(BatchEnds({10, 500, 10, 10}, BatchLimit{64, 100}), (Ends{1, 2, 4}));
  EXPECT_EQ(BatchEnds({500}, BatchLimit{64, 100}), (Ends{1}));
}

TEST(BatchLimit, AdmitsTheFirstItemWhateverItsSize) {
  const BatchLimit limit{2, 100};
  EXPECT_TRUE(limit.Admits(0, 0, 1000));
  EXPECT_TRUE(limit.Admits(1, 50, 50));
  EXPECT_FALSE(limit.Admits(1, 50, 51));
  EXPECT_FALSE(limit.Admits(2, 0, 0));
}

}  // namespace
}  // namespace perennial::cli
