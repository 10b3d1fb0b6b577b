// File: learner/eval/anytime_metrics.h
//
// Metrics of online continual learning, as the Si-Blurry / MVP reference code computes them
// (KHU-AGI/Si-Blurry, methods/_trainer.py):
//
//   anytime accuracy  accuracy on the test samples of the classes exposed so far, measured every
//                     eval_period stream samples (EvalSchedule);
//   A_auc             mean of the anytime accuracies (np.mean(eval_results["test_acc"])), i.e. the
//                     area under the accuracy-vs-samples curve divided by its length for evenly
//                     spaced evaluation points;
//   A_avg, A_last     mean and last of the accuracies measured at the end of each task;
//   F_last            per class j with max over the task ends before the last of acc_j > 0:
//                     that maximum minus acc_j at the last task end; averaged over those classes;
//   prequential       test-then-train accuracy on the stream itself;
//   retention         zero-shot accuracy now / that of the base model, per probe task.
//
// Accuracies are fractions in [0, 1]. Thread-safety: pure functions; EvalSchedule and
// PrequentialAccuracy are plain values.
#ifndef PERENNIAL_LEARNER_EVAL_ANYTIME_METRICS_H_
#define PERENNIAL_LEARNER_EVAL_ANYTIME_METRICS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace perennial {

// Hits per class of one evaluation; classes index both vectors.
struct ClassCounts {
  std::vector<int64_t> correct;
  std::vector<int64_t> total;
};

// Counts predictions against truth for classes 0..num_classes-1 (entries outside that range
// are ignored). Precondition: predicted.size() == truth.size().
ClassCounts CountPredictions(const std::vector<int64_t>& predicted,
                             const std::vector<int64_t>& truth, int num_classes);
// Sample-weighted accuracy: sum(correct) / sum(total); 0 when there are no samples.
double Accuracy(const ClassCounts& counts);
// correct / total per class; 0 for a class without samples (as the reference's cls_acc).
std::vector<double> PerClassAccuracy(const ClassCounts& counts);

struct AccuracyPoint {
  int64_t samples_seen = 0;
  double accuracy = 0;
};

// A_auc: mean accuracy of the curve's points; 0 for an empty curve.
double AreaUnderAccuracyCurve(const std::vector<AccuracyPoint>& curve);
// A_avg: mean of the task-end accuracies; 0 when empty.
double AverageAccuracy(const std::vector<double>& task_end_accuracy);
// A_last: the last task-end accuracy; 0 when empty.
double LastAccuracy(const std::vector<double>& task_end_accuracy);
// F_last from per-class accuracies at each task end ([task][class]; rows may be shorter than the
// last one when classes appeared later: missing entries count as 0). 0 with fewer than two task
// ends or when no class had a positive earlier accuracy.
double LastForgetting(const std::vector<std::vector<double>>& task_end_class_accuracy);

// Zero-shot retention: current / base; 0 when base <= 0.
double Retention(double current, double base);

// When to run anytime evaluation: after the batch that brings the samples seen to or past the
// next multiple of `period` (one evaluation per crossing, labelled with that multiple).
class EvalSchedule {
 public:
  explicit EvalSchedule(int64_t period) : period_(period > 0 ? period : 1), next_(period_) {}
  // True if an evaluation is due at `samples_seen`; then *point is the multiple reached (the
  // largest one when a batch crosses several) and the schedule advances past it.
  bool Due(int64_t samples_seen, int64_t* point);

 private:
  int64_t period_;
  int64_t next_;
};

class PrequentialAccuracy {
 public:
  void Add(int64_t correct, int64_t count) {
    correct_ += correct;
    count_ += count;
  }
  int64_t correct() const { return correct_; }
  int64_t count() const { return count_; }
  // 0 before any sample.
  double value() const { return count_ > 0 ? static_cast<double>(correct_) / count_ : 0.0; }

 private:
  int64_t correct_ = 0;
  int64_t count_ = 0;
};

struct ZeroShotResult {
  std::string task;
  double base_accuracy = 0;
  double accuracy = 0;  // after learning
};

// Everything a run records; Summarize() turns it into the reported metrics.
struct ContinualRecord {
  std::vector<AccuracyPoint> curve;
  std::vector<double> task_end_accuracy;
  std::vector<std::vector<double>> task_end_class_accuracy;
  int64_t prequential_correct = 0;
  int64_t prequential_count = 0;
  std::vector<ZeroShotResult> zero_shot;
  int64_t samples_trained = 0;
  double train_seconds = 0;
};

struct ContinualMetrics {
  double a_auc = 0;
  double a_avg = 0;
  double a_last = 0;
  double f_last = 0;
  double prequential = 0;
  // Per probe task, in record order, and their mean over the probes the base model scores above
  // 0 on (0 without such probes).
  std::vector<double> zero_shot_retention;
  double mean_zero_shot_retention = 0;
  double mean_zero_shot_accuracy = 0;
  // Training throughput: samples_trained / train_seconds (0 when no time was recorded).
  double samples_per_second = 0;
};

ContinualMetrics Summarize(const ContinualRecord& record);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_EVAL_ANYTIME_METRICS_H_
