#include "learner/base/yield_point.h"

#include <gtest/gtest.h>

#include <thread>

namespace perennial {
namespace {

TEST(YieldPointTest, CallsTheHookOfItsScope) {
  int calls = 0;
  {
    ScopedYieldHook hook([&] { ++calls; });
    YieldPoint();
    YieldPoint();
  }
  YieldPoint();  // the scope ended: no hook
  EXPECT_EQ(calls, 2);
}

TEST(YieldPointTest, NestedScopeRestoresTheOuterHook) {
  int outer = 0, inner = 0;
  ScopedYieldHook outer_hook([&] { ++outer; });
  {
    ScopedYieldHook inner_hook([&] { ++inner; });
    YieldPoint();
  }
  YieldPoint();
  EXPECT_EQ(inner, 1);
  EXPECT_EQ(outer, 1);
}

TEST(YieldPointTest, HooksArePerThread) {
  int calls = 0;
  ScopedYieldHook hook([&] { ++calls; });
  std::thread other([] { YieldPoint(); });  // another thread: no hook there
  other.join();
  EXPECT_EQ(calls, 0);
  YieldPoint();
  EXPECT_EQ(calls, 1);
}

TEST(YieldPointTest, EmptyHookMeansNone) {
  int calls = 0;
  ScopedYieldHook outer([&] { ++calls; });
  {
    ScopedYieldHook none{std::function<void()>()};
    YieldPoint();
  }
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace perennial
