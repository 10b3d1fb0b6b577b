#include "server/pause_budget.h"

#include <gtest/gtest.h>

namespace perennial {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1000);

absl::Time At(int ms) { return kT0 + absl::Milliseconds(ms); }

TEST(PauseBudgetTest, OneThreadSpendsTheBudgetAcrossItsWaits) {
  PauseBudget budget;
  budget.Reset(absl::Milliseconds(100));
  ASSERT_EQ(budget.BeginWait(At(0)), At(100));
  EXPECT_EQ(budget.EndWait(At(30)), absl::Milliseconds(30));
  EXPECT_EQ(budget.left(), absl::Milliseconds(70));
  // The next wait may last what is left, from whenever it starts.
  ASSERT_EQ(budget.BeginWait(At(50)), At(120));
  EXPECT_EQ(budget.EndWait(At(120)), absl::Milliseconds(70));
  EXPECT_EQ(budget.BeginWait(At(130)), std::nullopt);
}

TEST(PauseBudgetTest, OverlappingWaitsShareOneDeadlineAndAreChargedOnce) {
  PauseBudget budget;
  budget.Reset(absl::Milliseconds(100));
  ASSERT_EQ(budget.BeginWait(At(0)), At(100));   // the learner thread
  ASSERT_EQ(budget.BeginWait(At(40)), At(100));  // a helper joins: same deadline, not At(140)
  EXPECT_EQ(budget.EndWait(At(60)), absl::ZeroDuration());  // the window is still open
  EXPECT_EQ(budget.EndWait(At(80)), absl::Milliseconds(80));
  EXPECT_EQ(budget.left(), absl::Milliseconds(20));
}

TEST(PauseBudgetTest, NoWaitJoinsAWindowPastItsDeadline) {
  PauseBudget budget;
  budget.Reset(absl::Milliseconds(100));
  ASSERT_TRUE(budget.BeginWait(At(0)).has_value());
  EXPECT_EQ(budget.BeginWait(At(100)), std::nullopt);
  // A late wake-up is charged as paused: the step stood still that long.
  EXPECT_EQ(budget.EndWait(At(105)), absl::Milliseconds(105));
  EXPECT_EQ(budget.BeginWait(At(110)), std::nullopt);
}

TEST(PauseBudgetTest, ResetGivesTheNextStepAFreshBudget) {
  PauseBudget budget;
  budget.Reset(absl::Milliseconds(10));
  ASSERT_TRUE(budget.BeginWait(At(0)).has_value());
  budget.EndWait(At(10));
  EXPECT_EQ(budget.BeginWait(At(20)), std::nullopt);
  budget.Reset(absl::Milliseconds(10));
  EXPECT_EQ(budget.BeginWait(At(30)), At(40));
  budget.EndWait(At(31));
}

TEST(PauseBudgetTest, ZeroBudgetNeverWaits) {
  PauseBudget budget;
  budget.Reset(absl::ZeroDuration());
  EXPECT_EQ(budget.BeginWait(At(0)), std::nullopt);
}

}  // namespace
}  // namespace perennial
