// File: learner/data/stream.h
//
// Stream orders over a labeled dataset: the order in which an online learner sees the samples.
// Each order is a pure function of (labels, options, seed):
//
//   SiBlurryOrder          stochastic blurry task boundaries (Moon et al., "Online Continual
//                          Learning on Hierarchical Label Expansion", ICCV 2023, the MVP paper;
//                          used by the SIT paper in ../shared/papers/).
//   ClassIncrementalOrder  disjoint tasks, classes split evenly.
//   IidOrder               one task, uniformly shuffled.
//
// Reproducibility: the order is defined by THIS implementation, not by the standard library. All
// randomness comes from std::mt19937_64 (whose output sequence the C++ standard fixes) through
// this file's own uniform integer draw and Fisher-Yates shuffle, so a seed gives the same stream
// with libstdc++, libc++ and MSVC. (std::uniform_int_distribution and std::shuffle are avoided on
// purpose: their results differ between standard libraries.) Changing the procedure changes every
// stream; stream_test.cc pins a hash of one so that such a change cannot go unnoticed.
//
// Thread-safety: all functions are pure and may be called concurrently.
#ifndef PERENNIAL_LEARNER_DATA_STREAM_H_
#define PERENNIAL_LEARNER_DATA_STREAM_H_

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "learner/base/status.h"

namespace perennial {

// A sample order split into tasks. Task t holds indices[task_boundaries[t] .. task_boundaries[t+1])
// (the last task runs to indices.size()). Indices refer to the dataset the labels came from.
struct StreamOrder {
  // Every dataset index exactly once.
  std::vector<int64_t> indices;
  // Start offset of each task in `indices`; task_boundaries[0] == 0, non-decreasing.
  std::vector<int64_t> task_boundaries;
  // Per task, the disjoint classes first seen (and only ever seen) in that task, sorted.
  std::vector<std::vector<int32_t>> task_disjoint_classes;
  // Per task, the blurry classes whose home is that task (most of their samples are there), sorted.
  // Empty per task for orders without blurry classes.
  std::vector<std::vector<int32_t>> task_blurry_classes;
  // All blurry classes, sorted (the union of task_blurry_classes).
  std::vector<int32_t> blurry_classes;

  int num_tasks() const { return static_cast<int>(task_boundaries.size()); }
  // Number of samples in task t (0 <= t < num_tasks()).
  int64_t TaskSize(int t) const;
};

struct SiBlurryOptions {
  // Number of tasks T. Must be >= 1 and <= the number of distinct classes (every task gets at least
  // one class of its own). Default: 5.
  int num_tasks = 5;
  // N: fraction of classes that are disjoint (each appears in exactly one task); the number of
  // disjoint classes is floor(N * num_classes). In [0, 1]. Default: 0.5.
  double disjoint_class_ratio = 0.5;
  // M: fraction of the blurry classes' samples that leave their home task for another task; the
  // number moved is floor(M * number of blurry-class samples). In [0, 1]. Default: 0.1.
  double blurry_sample_ratio = 0.1;
  // Seed of the std::mt19937_64 that drives every random choice. Default: 1.
  uint64_t seed = 1;
};

// The Si-Blurry order (see stream.cc for the procedure and where it follows the reference code).
// labels[i] is the class of sample i; labels must be >= 0. Errors: InvalidArgumentError for
// num_tasks < 1, ratios outside [0, 1] (or NaN), negative labels, or more tasks than classes.
StatusOr<StreamOrder> SiBlurryOrder(const std::vector<int32_t>& labels,
                                    const SiBlurryOptions& options);

// Class-incremental order: the distinct classes in a random order, split into num_tasks contiguous
// groups whose sizes differ by at most one (the first num_classes % num_tasks tasks get the extra
// class); each task holds all samples of its classes, shuffled. Errors as for SiBlurryOrder.
StatusOr<StreamOrder> ClassIncrementalOrder(const std::vector<int32_t>& labels, int num_tasks,
                                            uint64_t seed);

// One task with all indices 0..size-1 uniformly shuffled (no class information). size <= 0 gives an
// empty order with a single empty task.
StreamOrder IidOrder(int64_t size, uint64_t seed);

// Deterministic random helpers the orders are built from, exposed for tests and for other
// reproducible samplers (e.g. replay buffers) that must not depend on the standard library.
class StreamRng {
 public:
  explicit StreamRng(uint64_t seed);
  // Uniform integer in [0, n); n must be > 0. Unbiased (rejection sampling on 64-bit draws).
  uint64_t Uniform(uint64_t n);
  // Fisher-Yates shuffle of v (descending, swapping v[i] with v[Uniform(i + 1)]).
  template <typename T>
  void Shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) {
      size_t j = static_cast<size_t>(Uniform(i));
      if (j != i - 1) std::swap(v[i - 1], v[j]);
    }
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_DATA_STREAM_H_
