// File: server/stream_evaluator.h
//
// Anytime evaluation of the live learner inside the service (DESIGN.md §1 metrics, computed the
// way learner/eval/anytime_metrics.h defines them, without task boundaries):
//   - EVAL samples from the log are kept in a bounded held-out set (reservoir sampling once it is
//     full, seeded, so a replay of the same log keeps the same set);
//   - every `eval_every_samples` trained samples, the held-out samples whose label the learner has
//     seen are classified over all seen labels: anytime_acc; a_auc is the running mean of those
//     accuracies; a_last the latest; forgetting the mean over classes of (best accuracy the class
//     ever had - its accuracy now), classes with a best of 0 excluded (F_last's convention with
//     every evaluation as a "task end");
//   - zero-shot probes (AdminService.SetProbes) are classified with their own labels and
//     templates: zs_acc/<probe>, zs_base_acc/<probe>, zs_retention/<probe>.
// The metrics are named as GetStatus and checkpoints carry them; the running parts (a_auc's count,
// per-class best accuracies as "eval/best_acc/<label>") are part of the map so that a restart from
// a checkpoint continues the curves.
//
// Thread-safety: not thread-safe; the learner thread owns it.
#ifndef PERENNIAL_SERVER_STREAM_EVALUATOR_H_
#define PERENNIAL_SERVER_STREAM_EVALUATOR_H_

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "learner/model/clip_model.h"
#include "learner/model/pet.h"
#include "learner/model/tokenizer.h"
#include "server/learner_control.h"

namespace perennial {

struct StreamEvaluatorOptions {
  // Held-out EVAL samples kept in memory (preprocessed, fp16). Default: 500.
  size_t max_eval_samples = 500;
  // Trained samples between two anytime evaluations (0 disables them). Default: 1000.
  int64_t eval_every_samples = 1000;
  // Images per forward pass during evaluation (bounds activation memory). Default: 64.
  int64_t eval_batch_size = 64;
  // Seeds the reservoir. Default: 1.
  uint64_t seed = 1;
};

class StreamEvaluator {
 public:
  // `model` and `tokenizer` are borrowed. `templates` build the class texts of anytime evaluation
  // (the learner's templates).
  StreamEvaluator(const ClipModel* model, const Tokenizer* tokenizer,
                  std::vector<std::string> templates, StreamEvaluatorOptions options);

  // Offers one held-out sample: `pixels` [3, R, R] preprocessed. The same as OfferEvalSample(),
  // then SetEvalSample() with the slot it returns.
  void AddEvalSample(const torch::Tensor& pixels, const std::string& label);
  // The reservoir's decision for the next offered sample, taken before its image is decoded:
  // the slot it goes into, or nullopt when reservoir sampling drops it. The same seed and the same
  // number of offers choose the same slots, whichever way the samples are then filled in.
  std::optional<size_t> OfferEvalSample();
  // Puts a sample into `slot` (from OfferEvalSample()): replaces the sample there, or appends
  // when `slot` is past the end, so a slot left unfilled (an image that would not decode) leaves
  // no hole and a later offer fills it.
  void SetEvalSample(size_t slot, const torch::Tensor& pixels, const std::string& label);
  size_t eval_samples() const { return eval_labels_.size(); }
  // The held-out set's labels, slot by slot.
  const std::vector<std::string>& eval_labels() const { return eval_labels_; }

  void SetProbes(std::shared_ptr<const std::vector<ProbeTask>> probes);

  // Whether an evaluation is due once `samples_trained` samples have been trained on.
  bool Due(int64_t samples_trained) const;
  // Evaluates `adapters` (null: base) over the `seen_labels`, updates the running metrics, and
  // records `samples_trained` as the evaluation point. LibTorch failures become Status; the
  // metrics stay as they were then.
  absl::Status Evaluate(const Adapters* adapters, const std::vector<std::string>& seen_labels,
                        int64_t samples_trained);

  // Test-then-train hits of one training batch (exponentially weighted, ~200-sample memory).
  void AddPrequential(int64_t correct, int64_t count);

  // The current metrics (see the file comment), for GetStatus, checkpoints and /metrics.
  const std::map<std::string, double>& metrics() const { return metrics_; }
  // Continues from a checkpoint's metrics map (unknown keys are kept as they are).
  void RestoreMetrics(const std::map<std::string, double>& metrics);

 private:
  absl::Status EvaluateAnytime(const Adapters* adapters,
                               const std::vector<std::string>& seen_labels);
  absl::Status EvaluateProbes(const Adapters* adapters);
  // Index into `labels` of the best match of each row of `pixels` (batched forward passes).
  absl::StatusOr<torch::Tensor> Predict(const Adapters* adapters, const torch::Tensor& pixels,
                                        const std::vector<std::string>& labels,
                                        const std::vector<std::string>& templates) const;

  const ClipModel* model_;
  const Tokenizer* tokenizer_;
  const std::vector<std::string> templates_;
  const StreamEvaluatorOptions options_;

  std::vector<torch::Tensor> eval_pixels_;  // each [3, R, R] fp16
  std::vector<std::string> eval_labels_;
  uint64_t eval_offered_ = 0;
  std::mt19937_64 reservoir_rng_;

  std::shared_ptr<const std::vector<ProbeTask>> probes_;
  int64_t last_eval_samples_ = 0;
  std::map<std::string, double> metrics_;
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_STREAM_EVALUATOR_H_
