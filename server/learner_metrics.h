// File: server/learner_metrics.h
//
// The learner's Prometheus series (docs/metrics.md, "Learning" and "Zero-shot retention"),
// registered in the server's registry and pushed by the learner thread after each step and each
// evaluation:
//   perennial_learner_steps_total, perennial_learner_samples_trained_total     counters
//   perennial_learner_step_duration_seconds                                    histogram
//   perennial_learner_query_pause_seconds_total                                counter
//   perennial_learner_input_wait_seconds_total                                 counter
//   perennial_learner_loss{component="total"|"ce"|"kd"}                        gauge
//   perennial_learner_lag_seconds                                              gauge
//   perennial_anytime_accuracy_ratio, perennial_a_auc_ratio, perennial_a_last_ratio,
//   perennial_forgetting_ratio, perennial_prequential_accuracy_ratio           gauges
//   perennial_zero_shot_accuracy_ratio{probe}, perennial_zero_shot_base_accuracy_ratio{probe},
//   perennial_zero_shot_retention_ratio{probe}                                 gauges
// Gauges of an evaluation that has not run yet are absent rather than 0, so a dashboard never
// shows a fake "accuracy 0" right after a start.
//
// Thread-safety: every method may be called from any thread.
#ifndef PERENNIAL_SERVER_LEARNER_METRICS_H_
#define PERENNIAL_SERVER_LEARNER_METRICS_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/prometheus_fwd.h"

namespace perennial {

// The outcome of one training step, as the learner reports it.
struct StepMetrics {
  int samples = 0;  // training samples in the step's batch
  int steps = 0;    // optimizer steps taken for it (online_iters)
  absl::Duration duration;
  double loss = 0, ce_loss = 0, kd_loss = 0;
};

class LearnerMetrics {
 public:
  explicit LearnerMetrics(prometheus::Registry& registry);
  ~LearnerMetrics();
  LearnerMetrics(const LearnerMetrics&) = delete;
  LearnerMetrics& operator=(const LearnerMetrics&) = delete;

  void ObserveStep(const StepMetrics& step);
  // Time the learner waited for queries to finish (between steps and at yield points within).
  void AddQueryPause(absl::Duration pause);
  // Time the learner waited for its next batch to be read from the log and decoded.
  void AddInputWait(absl::Duration wait);
  // Age of the oldest untrained sample (0 when caught up).
  void SetLagSeconds(double seconds);
  // Sets the learning gauges present in `metrics` under their GetStatus names ("anytime_acc",
  // "a_auc", "a_last", "forgetting", "prequential_acc", "zs_acc/<probe>", "zs_base_acc/<probe>",
  // "zs_retention/<probe>"); names not in that list are ignored. Probe series whose probe is not
  // in `metrics` are removed (probes were replaced).
  void SetLearningGauges(const std::map<std::string, double>& metrics);

 private:
  prometheus::Gauge* ProbeGauge(prometheus::Family<prometheus::Gauge>* family,
                                const std::string& probe) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  prometheus::Counter* steps_ = nullptr;
  prometheus::Counter* samples_ = nullptr;
  prometheus::Histogram* step_duration_ = nullptr;
  prometheus::Counter* query_pause_seconds_ = nullptr;
  prometheus::Counter* input_wait_seconds_ = nullptr;
  prometheus::Family<prometheus::Gauge>* loss_ = nullptr;
  prometheus::Gauge* lag_seconds_ = nullptr;
  // Unlabelled learning gauges, created on first value (absent before).
  std::map<std::string, prometheus::Family<prometheus::Gauge>*> scalar_families_;
  prometheus::Family<prometheus::Gauge>* zs_accuracy_ = nullptr;
  prometheus::Family<prometheus::Gauge>* zs_base_accuracy_ = nullptr;
  prometheus::Family<prometheus::Gauge>* zs_retention_ = nullptr;

  absl::Mutex mu_;
  std::map<std::string, prometheus::Gauge*> scalars_ ABSL_GUARDED_BY(mu_);
  // (family, probe) -> gauge.
  std::map<std::pair<prometheus::Family<prometheus::Gauge>*, std::string>, prometheus::Gauge*>
      probes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_LEARNER_METRICS_H_
