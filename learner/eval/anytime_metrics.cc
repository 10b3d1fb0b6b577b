#include "learner/eval/anytime_metrics.h"

#include <algorithm>

namespace perennial {

ClassCounts CountPredictions(const std::vector<int64_t>& predicted,
                             const std::vector<int64_t>& truth, int num_classes) {
  ClassCounts c;
  c.correct.assign(static_cast<size_t>(std::max(num_classes, 0)), 0);
  c.total.assign(c.correct.size(), 0);
  const size_t n = std::min(predicted.size(), truth.size());
  for (size_t i = 0; i < n; ++i) {
    const int64_t t = truth[i];
    if (t < 0 || t >= num_classes) continue;
    ++c.total[static_cast<size_t>(t)];
    if (predicted[i] == t) ++c.correct[static_cast<size_t>(t)];
  }
  return c;
}

double Accuracy(const ClassCounts& counts) {
  int64_t correct = 0, total = 0;
  for (size_t i = 0; i < counts.total.size(); ++i) {
    correct += counts.correct[i];
    total += counts.total[i];
  }
  return total > 0 ? static_cast<double>(correct) / total : 0.0;
}

std::vector<double> PerClassAccuracy(const ClassCounts& counts) {
  std::vector<double> out(counts.total.size(), 0.0);
  for (size_t i = 0; i < out.size(); ++i) {
    if (counts.total[i] > 0) out[i] = static_cast<double>(counts.correct[i]) / counts.total[i];
  }
  return out;
}

double AreaUnderAccuracyCurve(const std::vector<AccuracyPoint>& curve) {
  if (curve.empty()) return 0.0;
  double sum = 0;
  for (const AccuracyPoint& p : curve) sum += p.accuracy;
  return sum / static_cast<double>(curve.size());
}

double AverageAccuracy(const std::vector<double>& task_end_accuracy) {
  if (task_end_accuracy.empty()) return 0.0;
  double sum = 0;
  for (double a : task_end_accuracy) sum += a;
  return sum / static_cast<double>(task_end_accuracy.size());
}

double LastAccuracy(const std::vector<double>& task_end_accuracy) {
  return task_end_accuracy.empty() ? 0.0 : task_end_accuracy.back();
}

double LastForgetting(const std::vector<std::vector<double>>& acc) {
  if (acc.size() < 2) return 0.0;
  size_t num_classes = 0;
  for (const auto& row : acc) num_classes = std::max(num_classes, row.size());
  auto at = [&](size_t task, size_t j) { return j < acc[task].size() ? acc[task][j] : 0.0; };
  double sum = 0;
  int counted = 0;
  for (size_t j = 0; j < num_classes; ++j) {
    double best = 0;
    for (size_t t = 0; t + 1 < acc.size(); ++t) best = std::max(best, at(t, j));
    if (best > 0) {
      sum += best - at(acc.size() - 1, j);
      ++counted;
    }
  }
  return counted > 0 ? sum / counted : 0.0;
}

double Retention(double current, double base) { return base > 0 ? current / base : 0.0; }

bool EvalSchedule::Due(int64_t samples_seen, int64_t* point) {
  if (samples_seen < next_) return false;
  const int64_t reached = samples_seen / period_ * period_;
  if (point != nullptr) *point = reached;
  next_ = reached + period_;
  return true;
}

ContinualMetrics Summarize(const ContinualRecord& r) {
  ContinualMetrics m;
  m.a_auc = AreaUnderAccuracyCurve(r.curve);
  m.a_avg = AverageAccuracy(r.task_end_accuracy);
  m.a_last = LastAccuracy(r.task_end_accuracy);
  m.f_last = LastForgetting(r.task_end_class_accuracy);
  m.prequential = r.prequential_count > 0
                      ? static_cast<double>(r.prequential_correct) / r.prequential_count
                      : 0.0;
  int retained_probes = 0;
  for (const ZeroShotResult& z : r.zero_shot) {
    m.zero_shot_retention.push_back(Retention(z.accuracy, z.base_accuracy));
    m.mean_zero_shot_accuracy += z.accuracy;
    // Retention of a probe the base model scores 0 on is undefined: left out of the mean.
    if (z.base_accuracy > 0) {
      m.mean_zero_shot_retention += m.zero_shot_retention.back();
      ++retained_probes;
    }
  }
  if (!r.zero_shot.empty()) {
    m.mean_zero_shot_accuracy /= static_cast<double>(r.zero_shot.size());
  }
  if (retained_probes > 0) m.mean_zero_shot_retention /= retained_probes;
  m.samples_per_second = r.train_seconds > 0 ? r.samples_trained / r.train_seconds : 0.0;
  return m;
}

}  // namespace perennial
