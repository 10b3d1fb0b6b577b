// storage_bench: acknowledged-append throughput of the sample log (storage/), the figure behind
// "Ingest acks are durable and group-committed" (DESIGN.md §5).
//
// Appends 28x28 grayscale raw samples (each with a unique idempotency key, so the dedup lookup is
// paid) from several threads through Store::AppendSamples with synced writes, and prints one JSON
// line per configuration:
//   {"name": "storage_append", "threads": 4, "batch": 1, "samples": ..., "seconds": ...,
//    "samples_per_s": ..., "goal": 5000}
// Usage: storage_bench [--threads N] [--samples_per_thread N] [--dir PATH]
// The database lives in a fresh temporary directory (or PATH) and is deleted afterwards.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "storage/store.h"
#include "storage/test_util.h"

namespace perennial {
namespace {

// Sample `index` of writer `thread`, keyed uniquely across writers.
v1::Sample MakeSample(int thread, int index) {
  return MakeTestSample(index, "bench/" + std::to_string(thread) + "/" + std::to_string(index));
}

// Returns false on any storage error (printed).
bool RunOne(const std::string& dir, int threads, int samples_per_thread, int batch) {
  std::error_code error;
  std::filesystem::remove_all(dir, error);
  StoreOptions options;
  options.dir = dir;
  options.base_model_id = "storage-bench";
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  if (!store.ok()) {
    std::fprintf(stderr, "storage_bench: %s\n", store.status().ToString().c_str());
    return false;
  }
  // Samples are built before the clock starts: only appends are timed.
  std::vector<std::vector<std::vector<v1::Sample>>> work(threads);
  for (int t = 0; t < threads; ++t) {
    for (int i = 0; i < samples_per_thread; i += batch) {
      std::vector<v1::Sample>& call = work[t].emplace_back();
      for (int j = i; j < std::min(i + batch, samples_per_thread); ++j) {
        call.push_back(MakeSample(t, j));
      }
    }
  }
  std::vector<int> failures(threads, 0);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (std::vector<v1::Sample>& call : work[t]) {
        if (!(*store)->AppendSamples(std::move(call)).ok()) ++failures[t];
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const uint64_t total = (*store)->LastSeq();
  store->reset();
  std::filesystem::remove_all(dir, error);
  int failed = 0;
  for (int f : failures) failed += f;
  std::printf(
      "{\"name\": \"storage_append\", \"threads\": %d, \"batch\": %d, \"samples\": %llu, "
      "\"failed_calls\": %d, \"seconds\": %.3f, \"samples_per_s\": %.0f, \"goal\": 5000}\n",
      threads, batch, static_cast<unsigned long long>(total), failed, seconds,
      static_cast<double>(total) / seconds);
  std::fflush(stdout);
  return failed == 0 && total == static_cast<uint64_t>(threads) * samples_per_thread;
}

constexpr char kUsage[] =
    "usage: storage_bench [--threads N (4)] [--samples_per_thread N (2000)] [--dir PATH]\n"
    "Synced sample-log appends per second from N writer threads, without gRPC: one sample per\n"
    "call, then 16 per call. One JSON line each, with the ingest goal (5,000/s) beside it.\n"
    "The database lives in a fresh temporary directory (or PATH), deleted afterwards.\n";

int Main(int argc, char** argv) {
  int threads = 4;
  int samples_per_thread = 2000;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    const bool takes_value =
        flag == "--threads" || flag == "--samples_per_thread" || flag == "--dir";
    if (!takes_value || i + 1 == argc) {
      std::fprintf(stderr, "storage_bench: %s %s\n%s",
                   takes_value ? "no value for" : "unknown flag", argv[i], kUsage);
      return 2;
    }
    const char* value = argv[++i];
    if (flag == "--threads") {
      threads = std::max(1, std::atoi(value));
    } else if (flag == "--samples_per_thread") {
      samples_per_thread = std::max(1, std::atoi(value));
    } else {
      dir = value;
    }
  }
  // The bench deletes its directory before each run and afterwards: never one that holds files.
  std::error_code exists_error;
  if (!dir.empty() && std::filesystem::exists(dir, exists_error) &&
      !std::filesystem::is_empty(dir, exists_error)) {
    std::fprintf(stderr,
                 "storage_bench: --dir %s is not empty; give a new or empty directory (the bench "
                 "deletes it afterwards)\n",
                 dir.c_str());
    return 2;
  }
  // The default: a fresh directory under $TMPDIR, removed on exit.
  const TempDir temp("storage-bench");
  if (dir.empty()) dir = temp.path();
  if (dir.empty()) {
    std::fprintf(stderr, "storage_bench: could not create a temporary directory\n");
    return 1;
  }
  bool ok = true;
  // One sample per call (a client streaming single samples) and 16 per call (batched clients).
  for (int batch : {1, 16}) ok = RunOne(dir, threads, samples_per_thread, batch) && ok;
  std::error_code error;
  std::filesystem::remove_all(dir, error);
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace perennial

int main(int argc, char** argv) { return perennial::Main(argc, argv); }
