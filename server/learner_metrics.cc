#include "server/learner_metrics.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace perennial {
namespace {

struct ScalarGauge {
  const char* status_name;  // key in LearnerProgress::metrics / GetStatus
  const char* metric_name;
  const char* help;
};

constexpr ScalarGauge kScalarGauges[] = {
    {"anytime_acc", "perennial_anytime_accuracy_ratio",
     "Accuracy on held-out (EVAL) samples of seen classes at the last evaluation."},
    {"a_auc", "perennial_a_auc_ratio", "Area under the anytime-accuracy curve (mean accuracy)."},
    {"a_last", "perennial_a_last_ratio", "Anytime accuracy at the latest evaluation."},
    {"forgetting", "perennial_forgetting_ratio",
     "Mean over seen classes of best-ever minus current accuracy."},
    {"prequential_acc", "perennial_prequential_accuracy_ratio",
     "Test-then-train accuracy on the stream, exponentially weighted over recent samples."},
};

prometheus::Family<prometheus::Gauge>* GaugeFamily(prometheus::Registry& registry, const char* name,
                                                   const char* help) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

}  // namespace

LearnerMetrics::LearnerMetrics(prometheus::Registry& registry) {
  steps_ = &prometheus::BuildCounter()
                .Name("perennial_learner_steps_total")
                .Help("Optimizer steps taken by the learner.")
                .Register(registry)
                .Add({});
  samples_ = &prometheus::BuildCounter()
                  .Name("perennial_learner_samples_trained_total")
                  .Help("Training samples learned from (the x-axis of the stream curves).")
                  .Register(registry)
                  .Add({});
  // 5 ms .. ~20 s, doubling.
  prometheus::Histogram::BucketBoundaries buckets;
  for (double b = 0.005; b < 25; b *= 2) buckets.push_back(b);
  step_duration_ = &prometheus::BuildHistogram()
                        .Name("perennial_learner_step_duration_seconds")
                        .Help(
                            "Wall time of one training batch (forward, backward, update), "
                            "including its pauses for queries.")
                        .Register(registry)
                        .Add({}, buckets);
  query_pause_seconds_ = &prometheus::BuildCounter()
                              .Name("perennial_learner_query_pause_seconds_total")
                              .Help(
                                  "Time the learner waited for queries to finish, between "
                                  "steps and paused within them.")
                              .Register(registry)
                              .Add({});
  input_wait_seconds_ = &prometheus::BuildCounter()
                             .Name("perennial_learner_input_wait_seconds_total")
                             .Help(
                                 "Time the learner waited for its next batch to be read from "
                                 "the log and decoded.")
                             .Register(registry)
                             .Add({});
  loss_ = GaugeFamily(registry, "perennial_learner_loss", "Loss of the last step by component.");
  lag_seconds_ = &GaugeFamily(registry, "perennial_learner_lag_seconds",
                              "Age of the oldest untrained sample; 0 when caught up.")
                      ->Add({});
  for (const ScalarGauge& gauge : kScalarGauges) {
    scalar_families_[gauge.status_name] = GaugeFamily(registry, gauge.metric_name, gauge.help);
  }
  zs_accuracy_ = GaugeFamily(registry, "perennial_zero_shot_accuracy_ratio",
                             "Zero-shot accuracy of the live model on a probe task.");
  zs_base_accuracy_ = GaugeFamily(registry, "perennial_zero_shot_base_accuracy_ratio",
                                  "Zero-shot accuracy of the base model on a probe task.");
  zs_retention_ = GaugeFamily(registry, "perennial_zero_shot_retention_ratio",
                              "Zero-shot accuracy now divided by the base model's, per probe.");
}

LearnerMetrics::~LearnerMetrics() = default;

void LearnerMetrics::AddQueryPause(absl::Duration pause) {
  query_pause_seconds_->Increment(absl::ToDoubleSeconds(pause));
}

void LearnerMetrics::AddInputWait(absl::Duration wait) {
  input_wait_seconds_->Increment(absl::ToDoubleSeconds(wait));
}

void LearnerMetrics::ObserveStep(const StepMetrics& step) {
  steps_->Increment(step.steps);
  samples_->Increment(step.samples);
  step_duration_->Observe(absl::ToDoubleSeconds(step.duration));
  if (step.steps == 0) return;
  loss_->Add({{"component", "total"}}).Set(step.loss);
  loss_->Add({{"component", "ce"}}).Set(step.ce_loss);
  loss_->Add({{"component", "kd"}}).Set(step.kd_loss);
}

void LearnerMetrics::SetLagSeconds(double seconds) { lag_seconds_->Set(seconds); }

prometheus::Gauge* LearnerMetrics::ProbeGauge(prometheus::Family<prometheus::Gauge>* family,
                                              const std::string& probe) {
  prometheus::Gauge*& gauge = probes_[{family, probe}];
  if (gauge == nullptr) gauge = &family->Add({{"probe", probe}});
  return gauge;
}

void LearnerMetrics::SetLearningGauges(const std::map<std::string, double>& metrics) {
  const std::pair<const char*, prometheus::Family<prometheus::Gauge>*> probe_prefixes[] = {
      {"zs_acc/", zs_accuracy_},
      {"zs_base_acc/", zs_base_accuracy_},
      {"zs_retention/", zs_retention_}};
  absl::MutexLock lock(&mu_);
  for (const auto& [name, value] : metrics) {
    auto scalar = scalar_families_.find(name);
    if (scalar != scalar_families_.end()) {
      prometheus::Gauge*& gauge = scalars_[name];
      if (gauge == nullptr) gauge = &scalar->second->Add({});
      gauge->Set(value);
      continue;
    }
    for (const auto& [prefix, family] : probe_prefixes) {
      if (absl::StartsWith(name, prefix)) {
        ProbeGauge(family, name.substr(std::char_traits<char>::length(prefix)))->Set(value);
      }
    }
  }
  // Drop series of probes that are gone.
  for (auto it = probes_.begin(); it != probes_.end();) {
    const char* prefix = it->first.first == zs_accuracy_        ? "zs_acc/"
                         : it->first.first == zs_base_accuracy_ ? "zs_base_acc/"
                                                                : "zs_retention/";
    if (metrics.count(prefix + it->first.second) == 0) {
      it->first.first->Remove(it->second);
      it = probes_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace perennial
