// File: learner/data/stream.cc
//
// Si-Blurry procedure. It follows the reference sampler of the Si-Blurry benchmark
// (KHU-AGI/Si-Blurry, utils/online_sampler.py, class OnlineSampler with varing_NM=True, the MVP
// paper's code), with the deviations marked (*):
//
//   1. Shuffle the distinct classes. The first floor(N*C) are disjoint, the rest blurry.
//      (*) The reference also rounds both counts down to a multiple of T and silently drops the
//          remaining classes; here every class is kept, so every sample is in the stream.
//   2. Split the disjoint classes over the T tasks at T-1 sorted uniform cut points, and the
//      blurry classes likewise: random, non-uniform class counts per task (a task may get none of
//      one kind). (*) Cut points are drawn in [0, n] rather than [0, n) so the split is symmetric,
//      and a task left with no class at all takes one random class from a task that has two or
//      more, so every task has at least one class (hence T <= C is required).
//   3. Every sample goes to the task of its class (its "home" task).
//   4. floor(M * number of blurry-class samples) blurry samples leave their home task for another.
//      (*) The reference takes, per task, the first k_t blurry samples in dataset order (k_t from
//          random cuts), pools them, shuffles and deals them back with the same counts, so some
//          return to their own task and the realised leakage is below M. Here the moved samples
//          are a uniform random subset of all blurry samples and each goes to a uniformly chosen
//          task other than its home, so exactly that many samples leak (none when T == 1).
//   5. Shuffle the samples inside each task; the stream is the tasks in order.
#include "learner/data/stream.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace perennial {
namespace {

// Tolerance for floor(ratio * count): 0.29 * 100 is 28.999999999999996 in binary floating point.
constexpr double kFloorSlack = 1e-9;

int64_t FloorRatio(double ratio, int64_t count) {
  return static_cast<int64_t>(std::floor(ratio * static_cast<double>(count) + kFloorSlack));
}

bool IsRatio(double r) { return r >= 0.0 && r <= 1.0; }  // false for NaN too

// Distinct labels, sorted. Fails on negative labels.
StatusOr<std::vector<int32_t>> DistinctClasses(const std::vector<int32_t>& labels) {
  std::vector<int32_t> classes(labels);
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  if (!classes.empty() && classes.front() < 0) {
    return InvalidArgumentError("stream order: labels must be >= 0, found " +
                                std::to_string(classes.front()));
  }
  return classes;
}

Status CheckTasks(int num_tasks, size_t num_classes) {
  if (num_tasks < 1) {
    return InvalidArgumentError("stream order: num_tasks must be >= 1, got " +
                                std::to_string(num_tasks));
  }
  if (static_cast<size_t>(num_tasks) > num_classes) {
    return InvalidArgumentError("stream order: num_tasks (" + std::to_string(num_tasks) +
                                ") exceeds the number of classes (" + std::to_string(num_classes) +
                                ")");
  }
  return OkStatus();
}

// n split into `parts` non-negative counts at parts-1 sorted uniform cut points in [0, n].
std::vector<int64_t> RandomComposition(int64_t n, int parts, StreamRng& rng) {
  std::vector<int64_t> cuts;
  cuts.reserve(parts + 1);
  cuts.push_back(0);
  for (int i = 0; i + 1 < parts; ++i) {
    cuts.push_back(static_cast<int64_t>(rng.Uniform(static_cast<uint64_t>(n) + 1)));
  }
  cuts.push_back(n);
  std::sort(cuts.begin() + 1, cuts.end() - 1);
  std::vector<int64_t> counts(parts);
  for (int i = 0; i < parts; ++i) counts[i] = cuts[i + 1] - cuts[i];
  return counts;
}

// Gives every task with no class one class taken from a random task holding two or more. The
// moved class is disjoint or blurry in proportion to the donor's counts. Requires sum >= tasks.
void FillEmptyTasks(std::vector<int64_t>& disjoint, std::vector<int64_t>& blurry, StreamRng& rng) {
  const size_t tasks = disjoint.size();
  for (size_t e = 0; e < tasks; ++e) {
    if (disjoint[e] + blurry[e] > 0) continue;
    std::vector<size_t> donors;
    for (size_t j = 0; j < tasks; ++j) {
      if (disjoint[j] + blurry[j] >= 2) donors.push_back(j);
    }
    const size_t j = donors[rng.Uniform(donors.size())];
    if (rng.Uniform(static_cast<uint64_t>(disjoint[j] + blurry[j])) <
        static_cast<uint64_t>(disjoint[j])) {
      --disjoint[j];
      ++disjoint[e];
    } else {
      --blurry[j];
      ++blurry[e];
    }
  }
}

// Position of `label` in `sorted_classes` (the distinct labels, sorted), so that per-class tables
// have num_classes entries whatever the label values.
int32_t RankOf(int32_t label, const std::vector<int32_t>& sorted_classes) {
  return static_cast<int32_t>(
      std::lower_bound(sorted_classes.begin(), sorted_classes.end(), label) -
      sorted_classes.begin());
}

std::vector<int32_t> LabelRanks(const std::vector<int32_t>& labels,
                                const std::vector<int32_t>& sorted_classes) {
  std::vector<int32_t> ranks(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) ranks[i] = RankOf(labels[i], sorted_classes);
  return ranks;
}

// Slices order[begin, ...) into per-task groups of the given sizes (each group sorted) and records
// each class's task in `home` (indexed by class rank).
std::vector<std::vector<int32_t>> SliceClasses(const std::vector<int32_t>& order, size_t begin,
                                               const std::vector<int64_t>& counts,
                                               const std::vector<int32_t>& sorted_classes,
                                               std::vector<int>& home) {
  std::vector<std::vector<int32_t>> groups(counts.size());
  size_t pos = begin;
  for (size_t t = 0; t < counts.size(); ++t) {
    for (int64_t k = 0; k < counts[t]; ++k, ++pos) {
      groups[t].push_back(order[pos]);
      home[RankOf(order[pos], sorted_classes)] = static_cast<int>(t);
    }
    std::sort(groups[t].begin(), groups[t].end());
  }
  return groups;
}

// Builds the order from each sample's task: per task the indices in dataset order, shuffled.
void FillIndices(const std::vector<int>& sample_task, int num_tasks, StreamRng& rng,
                 StreamOrder& order) {
  std::vector<std::vector<int64_t>> per_task(num_tasks);
  for (size_t i = 0; i < sample_task.size(); ++i) {
    per_task[sample_task[i]].push_back(static_cast<int64_t>(i));
  }
  order.indices.clear();
  order.indices.reserve(sample_task.size());
  order.task_boundaries.clear();
  for (auto& task : per_task) {
    rng.Shuffle(task);
    order.task_boundaries.push_back(static_cast<int64_t>(order.indices.size()));
    order.indices.insert(order.indices.end(), task.begin(), task.end());
  }
}

// Moves floor(ratio * #blurry samples) random blurry samples to a random task other than their own.
void LeakBlurrySamples(const std::vector<int32_t>& ranks, const std::vector<bool>& is_blurry,
                       double ratio, int num_tasks, StreamRng& rng, std::vector<int>& sample_task) {
  if (num_tasks < 2) return;
  std::vector<int64_t> blurry_samples;
  for (size_t i = 0; i < ranks.size(); ++i) {
    if (is_blurry[ranks[i]]) blurry_samples.push_back(static_cast<int64_t>(i));
  }
  const int64_t n = static_cast<int64_t>(blurry_samples.size());
  const int64_t leaked = std::min(n, FloorRatio(ratio, n));
  for (int64_t k = 0; k < leaked; ++k) {
    // Partial Fisher-Yates: blurry_samples[0, k] is a uniform random k+1-subset.
    const int64_t j = k + static_cast<int64_t>(rng.Uniform(static_cast<uint64_t>(n - k)));
    std::swap(blurry_samples[k], blurry_samples[j]);
    const int64_t sample = blurry_samples[k];
    const int home = sample_task[sample];
    const int other = static_cast<int>(rng.Uniform(static_cast<uint64_t>(num_tasks - 1)));
    sample_task[sample] = other < home ? other : other + 1;
  }
}

}  // namespace

int64_t StreamOrder::TaskSize(int t) const {
  const int64_t end =
      t + 1 < num_tasks() ? task_boundaries[t + 1] : static_cast<int64_t>(indices.size());
  return end - task_boundaries[t];
}

StreamRng::StreamRng(uint64_t seed) : engine_(seed) {}

uint64_t StreamRng::Uniform(uint64_t n) {
  // Rejecting draws below 2^64 mod n leaves a range that is a multiple of n.
  const uint64_t threshold = (0 - n) % n;
  for (;;) {
    const uint64_t r = engine_();
    if (r >= threshold) return r % n;
  }
}

StatusOr<StreamOrder> SiBlurryOrder(const std::vector<int32_t>& labels,
                                    const SiBlurryOptions& options) {
  if (!IsRatio(options.disjoint_class_ratio) || !IsRatio(options.blurry_sample_ratio)) {
    return InvalidArgumentError(
        "Si-Blurry: disjoint_class_ratio (N) and blurry_sample_ratio (M) must be in [0, 1], got "
        "N=" +
        std::to_string(options.disjoint_class_ratio) +
        " M=" + std::to_string(options.blurry_sample_ratio));
  }
  PERENNIAL_ASSIGN_OR_RETURN(std::vector<int32_t> classes, DistinctClasses(labels));
  PERENNIAL_RETURN_IF_ERROR(CheckTasks(options.num_tasks, classes.size()));
  const int num_tasks = options.num_tasks;
  const int64_t num_classes = static_cast<int64_t>(classes.size());

  const std::vector<int32_t> ranks = LabelRanks(labels, classes);

  StreamRng rng(options.seed);
  std::vector<int32_t> class_order(classes);
  rng.Shuffle(class_order);
  const int64_t num_disjoint = FloorRatio(options.disjoint_class_ratio, num_classes);
  std::vector<int64_t> disjoint_counts = RandomComposition(num_disjoint, num_tasks, rng);
  std::vector<int64_t> blurry_counts =
      RandomComposition(num_classes - num_disjoint, num_tasks, rng);
  FillEmptyTasks(disjoint_counts, blurry_counts, rng);

  std::vector<int> home(classes.size(), -1);
  StreamOrder order;
  order.task_disjoint_classes = SliceClasses(class_order, 0, disjoint_counts, classes, home);
  order.task_blurry_classes = SliceClasses(class_order, num_disjoint, blurry_counts, classes, home);
  std::vector<bool> is_blurry(classes.size(), false);
  for (int64_t c = num_disjoint; c < num_classes; ++c) {
    order.blurry_classes.push_back(class_order[c]);
    is_blurry[RankOf(class_order[c], classes)] = true;
  }
  std::sort(order.blurry_classes.begin(), order.blurry_classes.end());

  std::vector<int> sample_task(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) sample_task[i] = home[ranks[i]];
  LeakBlurrySamples(ranks, is_blurry, options.blurry_sample_ratio, num_tasks, rng, sample_task);
  FillIndices(sample_task, num_tasks, rng, order);
  return order;
}

StatusOr<StreamOrder> ClassIncrementalOrder(const std::vector<int32_t>& labels, int num_tasks,
                                            uint64_t seed) {
  PERENNIAL_ASSIGN_OR_RETURN(std::vector<int32_t> classes, DistinctClasses(labels));
  PERENNIAL_RETURN_IF_ERROR(CheckTasks(num_tasks, classes.size()));
  const int64_t num_classes = static_cast<int64_t>(classes.size());

  const std::vector<int32_t> ranks = LabelRanks(labels, classes);

  StreamRng rng(seed);
  std::vector<int32_t> class_order(classes);
  rng.Shuffle(class_order);
  std::vector<int64_t> counts(num_tasks, num_classes / num_tasks);
  for (int64_t t = 0; t < num_classes % num_tasks; ++t) ++counts[t];
  std::vector<int> home(classes.size(), -1);
  StreamOrder order;
  order.task_disjoint_classes = SliceClasses(class_order, 0, counts, classes, home);
  order.task_blurry_classes.assign(num_tasks, {});

  std::vector<int> sample_task(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) sample_task[i] = home[ranks[i]];
  FillIndices(sample_task, num_tasks, rng, order);
  return order;
}

StreamOrder IidOrder(int64_t size, uint64_t seed) {
  StreamOrder order;
  order.indices.resize(static_cast<size_t>(std::max<int64_t>(size, 0)));
  for (size_t i = 0; i < order.indices.size(); ++i) order.indices[i] = static_cast<int64_t>(i);
  StreamRng rng(seed);
  rng.Shuffle(order.indices);
  order.task_boundaries = {0};
  order.task_disjoint_classes.assign(1, {});
  order.task_blurry_classes.assign(1, {});
  return order;
}

}  // namespace perennial
