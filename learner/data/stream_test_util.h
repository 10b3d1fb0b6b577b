// File: learner/data/stream_test_util.h
//
// Test-only helpers for checking StreamOrder properties (used by stream_test.cc and
// fashion_mnist_test.cc). Not part of any library.
#ifndef PERENNIAL_LEARNER_DATA_STREAM_TEST_UTIL_H_
#define PERENNIAL_LEARNER_DATA_STREAM_TEST_UTIL_H_

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "learner/data/stream.h"

namespace perennial {

// Expects `indices` to hold each of 0..size-1 exactly once.
inline void ExpectPermutation(const std::vector<int64_t>& indices, size_t size) {
  ASSERT_EQ(indices.size(), size);
  std::vector<bool> seen(size, false);
  for (int64_t i : indices) {
    ASSERT_GE(i, 0);
    ASSERT_LT(static_cast<size_t>(i), size);
    ASSERT_FALSE(seen[i]) << "index " << i << " appears twice";
    seen[i] = true;
  }
}

// Task of each position in order.indices.
inline std::vector<int> TaskOfPosition(const StreamOrder& order) {
  std::vector<int> task(order.indices.size());
  for (int t = 0; t < order.num_tasks(); ++t) {
    for (int64_t k = 0; k < order.TaskSize(t); ++k) task[order.task_boundaries[t] + k] = t;
  }
  return task;
}

// For each class, the set of tasks in which any of its samples appear.
inline std::map<int32_t, std::set<int>> TasksOfClass(const StreamOrder& order,
                                                     const std::vector<int32_t>& labels) {
  std::map<int32_t, std::set<int>> tasks_of;
  const std::vector<int> task = TaskOfPosition(order);
  for (size_t p = 0; p < order.indices.size(); ++p) {
    tasks_of[labels[order.indices[p]]].insert(task[p]);
  }
  return tasks_of;
}

struct LeakageCount {
  int64_t blurry_samples = 0;  // samples of blurry classes
  int64_t leaked = 0;          // of those, how many sit outside their class's home task
};

inline LeakageCount CountLeakage(const StreamOrder& order, const std::vector<int32_t>& labels) {
  std::map<int32_t, int> home;
  for (int t = 0; t < static_cast<int>(order.task_blurry_classes.size()); ++t) {
    for (int32_t c : order.task_blurry_classes[t]) home[c] = t;
  }
  LeakageCount count;
  const std::vector<int> task = TaskOfPosition(order);
  for (size_t p = 0; p < order.indices.size(); ++p) {
    auto it = home.find(labels[order.indices[p]]);
    if (it == home.end()) continue;
    ++count.blurry_samples;
    if (task[p] != it->second) ++count.leaked;
  }
  return count;
}

// FNV-1a 64 over the indices, then the task boundaries (little-endian bytes of each int64).
inline uint64_t OrderHash(const StreamOrder& order) {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](int64_t v) {
    for (int b = 0; b < 8; ++b) {
      h ^= (static_cast<uint64_t>(v) >> (8 * b)) & 0xff;
      h *= 1099511628211ULL;
    }
  };
  for (int64_t i : order.indices) mix(i);
  for (int64_t b : order.task_boundaries) mix(b);
  return h;
}

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_DATA_STREAM_TEST_UTIL_H_
