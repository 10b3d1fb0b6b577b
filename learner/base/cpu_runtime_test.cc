#include "learner/base/cpu_runtime.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

namespace perennial {
namespace {

int CallingThreadNice() {
  return getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)));
}

// Lowering is per thread: the thread that asks is lowered, and threads it starts afterwards
// inherit the value (how the learner's OpenMP team gets it); the rest of the process is not.
TEST(CpuRuntimeTest, LowersOnlyTheCallingThreadAndItsLaterChildren) {
  const int process_nice = CallingThreadNice();
  int lowered = 0, child = 0;
  bool ok = false;
  std::thread([&] {
    ok = LowerCallingThreadPriority(5);
    lowered = CallingThreadNice();
    std::thread([&] { child = CallingThreadNice(); }).join();
  }).join();
  ASSERT_TRUE(ok);
  EXPECT_EQ(lowered, std::min(process_nice + 5, 19));
  EXPECT_EQ(child, lowered);
  EXPECT_EQ(CallingThreadNice(), process_nice);
}

TEST(CpuRuntimeTest, RejectsIncrementsOutsideOneToNineteen) {
  std::thread([] {
    EXPECT_FALSE(LowerCallingThreadPriority(0));
    EXPECT_FALSE(LowerCallingThreadPriority(20));
    EXPECT_FALSE(LowerCallingThreadPriority(-3));
  }).join();
}

}  // namespace
}  // namespace perennial
