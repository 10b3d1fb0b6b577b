#include "learner/base/helper_thread.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "learner/base/yield_point.h"

namespace perennial {
namespace {

TEST(HelperThreadTest, RunsTasksOnOneOtherThreadWithItsThreadCount) {
  HelperThread helper(/*intra_op_threads=*/1);
  std::thread::id first, second;
  int threads = 0;
  helper.Start([&] { first = std::this_thread::get_id(); }).Wait();
  helper
      .Start([&] {
        second = std::this_thread::get_id();
        threads = at::get_num_threads();
      })
      .Wait();
  EXPECT_NE(first, std::this_thread::get_id());
  EXPECT_EQ(first, second);
  EXPECT_EQ(threads, 1);
}

TEST(HelperThreadTest, TaskRunsWhileTheCallerWorks) {
  HelperThread helper;
  std::atomic<bool> caller_working{false}, seen_by_task{false};
  HelperThread::Task task = helper.Start([&] {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!caller_working.load() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::yield();
    }
    seen_by_task = caller_working.load();
  });
  caller_working = true;  // a task run inline by Start() would have given up before this
  task.Wait();
  EXPECT_TRUE(seen_by_task.load());
}

TEST(HelperThreadTest, WaitRethrowsWhatTheTaskThrew) {
  HelperThread helper;
  HelperThread::Task task = helper.Start([] { throw std::runtime_error("teacher failed"); });
  EXPECT_THROW(
      {
        try {
          task.Wait();
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "teacher failed");
          throw;
        }
      },
      std::runtime_error);
  bool ran = false;
  helper.Start([&] { ran = true; }).Wait();  // the helper is still usable, the error cleared
  EXPECT_TRUE(ran);
}

TEST(HelperThreadTest, DroppedTaskIsWaitedForAndItsErrorDropped) {
  HelperThread helper;
  std::atomic<bool> done{false};
  {
    HelperThread::Task task = helper.Start([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      done = true;
      throw std::runtime_error("dropped");
    });
  }
  EXPECT_TRUE(done.load());
}

TEST(HelperThreadTest, TaskYieldsThroughTheStartingThreadsHook) {
  HelperThread helper;
  std::atomic<int> yields{0};
  {
    const ScopedYieldHook hook([&] { ++yields; });
    helper.Start([] { YieldPoint(); }).Wait();
  }
  EXPECT_EQ(yields.load(), 1);
  helper.Start([] { YieldPoint(); }).Wait();  // started without a hook: no yield
  EXPECT_EQ(yields.load(), 1);
}

}  // namespace
}  // namespace perennial
