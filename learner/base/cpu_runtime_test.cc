#include "learner/base/cpu_runtime.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <set>
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

// The thread count must hold through ATen's lazy per-thread init at the first parallel op, which
// resets it to the global count unless it already ran.
TEST(CpuRuntimeTest, IntraOpThreadsOfANewThreadHoldThroughItsFirstParallelOp) {
  torch::set_num_threads(2);
  if (at::get_num_threads() < 2) GTEST_SKIP() << "LibTorch runs one thread here";
  std::set<std::thread::id> workers;
  bool ok = false;
  std::thread([&] {
    ok = SetCallingThreadIntraOpThreads(1);
    std::mutex mu;
    at::parallel_for(0, 1 << 20, 1, [&](int64_t, int64_t) {
      std::lock_guard<std::mutex> lock(mu);
      workers.insert(std::this_thread::get_id());
    });
  }).join();
  // Debian's LibTorch (what the tests build against) runs its CPU ops on OpenMP.
  ASSERT_TRUE(ok) << "omp_set_num_threads or at::get_num_threads not found";
  EXPECT_EQ(workers.size(), 1u);
}

// Built with perennial_openmp (CMake found OpenMP and LibTorch uses it), at::parallel_for in
// perennial's own code splits its range between the intra-op threads, as ATen's ops do; compiled
// without OpenMP it ran everything on the calling thread (before session 28).
TEST(CpuRuntimeTest, ParallelForInPerennialCodeUsesTheIntraOpThreads) {
#if !PERENNIAL_EXPECT_OPENMP
  GTEST_SKIP() << "built without perennial_openmp";
#else
  torch::set_num_threads(2);
  if (at::get_num_threads() < 2) GTEST_SKIP() << "LibTorch runs one thread here";
  std::set<std::thread::id> workers;
  std::mutex mu;
  at::parallel_for(0, 1 << 20, 1, [&](int64_t, int64_t) {
    std::lock_guard<std::mutex> lock(mu);
    workers.insert(std::this_thread::get_id());
  });
  EXPECT_EQ(workers.size(), 2u);
#endif
}

TEST(CpuRuntimeTest, AutoDtypeIsBf16WhereTheHardwareMultipliesIt) {
  EXPECT_EQ(ResolveAutoDtype("auto", "cuda"), "bf16");
  EXPECT_EQ(ResolveAutoDtype("auto", "cuda:1"), "bf16");
  EXPECT_EQ(ResolveAutoDtype("auto", "cpu"), CpuHasBf16Dot() ? "bf16" : "fp32");
  EXPECT_EQ(ResolveAutoDtype("fp32", "cuda"), "fp32");  // explicit choices stay
  EXPECT_EQ(ResolveAutoDtype("fp8", "cpu"), "fp8");     // left for the parser to reject
}

// Built with tcmalloc (CMake found it), the process's malloc is tcmalloc's, not glibc's: the
// library stayed linked and its malloc interposes glibc's.
TEST(CpuRuntimeTest, SummaryNamesTheMallocInUse) {
  const std::string summary = CpuRuntimeSummary();
#if PERENNIAL_EXPECT_TCMALLOC
  EXPECT_NE(summary.find("malloc=tcmalloc"), std::string::npos) << summary;
#else
  EXPECT_NE(summary.find("malloc="), std::string::npos) << summary;
#endif
}

TEST(CpuRuntimeTest, RejectsIncrementsOutsideOneToNineteen) {
  std::thread([] {
    EXPECT_FALSE(LowerCallingThreadPriority(0));
    EXPECT_FALSE(LowerCallingThreadPriority(20));
    EXPECT_FALSE(LowerCallingThreadPriority(-3));
  }).join();
}

// A live 64 MiB block shows in allocated_bytes and leaves it when freed, whichever malloc runs.
TEST(CpuRuntimeTest, HeapUsageCountsALiveBlock) {
  constexpr uint64_t kBytes = 64 << 20;
  const HeapUsage before = ReadHeapUsage();
  char* volatile block = static_cast<char*>(std::malloc(kBytes));
  ASSERT_NE(block, nullptr);
  for (uint64_t i = 0; i < kBytes; i += 4096) block[i] = 1;
  const HeapUsage during = ReadHeapUsage();
  std::free(block);
  const HeapUsage after = ReadHeapUsage();
  EXPECT_GE(during.allocated_bytes, before.allocated_bytes + kBytes);
  EXPECT_LE(after.allocated_bytes + kBytes, during.allocated_bytes);
}

// What a freed 64 MiB block leaves in the allocator goes back to the kernel.
TEST(CpuRuntimeTest, ReleasingFreeMemoryShrinksWhatTheAllocatorKeeps) {
  constexpr uint64_t kBytes = 64 << 20;
  char* volatile block = static_cast<char*>(std::malloc(kBytes));
  ASSERT_NE(block, nullptr);
  for (uint64_t i = 0; i < kBytes; i += 4096) block[i] = 1;
  std::free(block);
  const HeapUsage kept = ReadHeapUsage();
  const uint64_t released = ReleaseFreeHeapMemory();
  const HeapUsage after = ReadHeapUsage();
  EXPECT_LE(after.free_bytes, kept.free_bytes);
  EXPECT_LE(released, kept.free_bytes);
#if PERENNIAL_EXPECT_TCMALLOC
  // tcmalloc keeps a freed large block in its page heap until asked.
  EXPECT_GE(kept.free_bytes, kBytes);
  EXPECT_GE(released, kBytes);
#endif
}

}  // namespace
}  // namespace perennial
