#include "server/stream_evaluator.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "learner/base/torch_status.h"
#include "learner/eval/anytime_metrics.h"
#include "learner/model/zero_shot.h"

namespace perennial {
namespace {

constexpr char kEvalCount[] = "eval/count";
constexpr char kBestAccPrefix[] = "eval/best_acc/";
// Prequential accuracy forgets with this time constant, in samples.
constexpr double kPrequentialMemorySamples = 200;

double Lookup(const std::map<std::string, double>& map, const std::string& key, double fallback) {
  auto it = map.find(key);
  return it == map.end() ? fallback : it->second;
}

}  // namespace

StreamEvaluator::StreamEvaluator(const ClipModel* model, const Tokenizer* tokenizer,
                                 std::vector<std::string> templates, StreamEvaluatorOptions options)
    : model_(model),
      tokenizer_(tokenizer),
      templates_(std::move(templates)),
      options_(options),
      reservoir_rng_(options.seed) {}

void StreamEvaluator::AddEvalSample(const torch::Tensor& pixels, const std::string& label) {
  if (std::optional<size_t> slot = OfferEvalSample()) SetEvalSample(*slot, pixels, label);
}

std::optional<size_t> StreamEvaluator::OfferEvalSample() {
  if (options_.max_eval_samples == 0) return std::nullopt;
  ++eval_offered_;
  if (eval_offered_ <= options_.max_eval_samples) return eval_offered_ - 1;
  const uint64_t slot = reservoir_rng_() % eval_offered_;
  if (slot < options_.max_eval_samples) return slot;
  return std::nullopt;
}

void StreamEvaluator::SetEvalSample(size_t slot, const torch::Tensor& pixels,
                                    const std::string& label) {
  torch::Tensor stored = pixels.to(torch::kCPU, torch::kHalf).contiguous();
  if (slot < eval_labels_.size()) {
    eval_pixels_[slot] = std::move(stored);
    eval_labels_[slot] = label;
    return;
  }
  eval_pixels_.push_back(std::move(stored));
  eval_labels_.push_back(label);
}

void StreamEvaluator::SetProbes(std::shared_ptr<const std::vector<ProbeTask>> probes) {
  probes_ = std::move(probes);
  for (auto it = metrics_.begin(); it != metrics_.end();) {
    it = absl::StartsWith(it->first, "zs_") ? metrics_.erase(it) : std::next(it);
  }
}

bool StreamEvaluator::Due(int64_t samples_trained) const {
  if (options_.eval_every_samples <= 0) return false;
  const bool has_work = !eval_labels_.empty() || (probes_ != nullptr && !probes_->empty());
  return has_work && samples_trained - last_eval_samples_ >= options_.eval_every_samples;
}

absl::Status StreamEvaluator::Evaluate(const Adapters* adapters,
                                       const std::vector<std::string>& seen_labels,
                                       int64_t samples_trained) {
  last_eval_samples_ = samples_trained;
  absl::Status anytime = EvaluateAnytime(adapters, seen_labels);
  absl::Status probes = EvaluateProbes(adapters);
  return anytime.ok() ? probes : anytime;
}

absl::StatusOr<torch::Tensor> StreamEvaluator::Predict(
    const Adapters* adapters, const torch::Tensor& pixels, const std::vector<std::string>& labels,
    const std::vector<std::string>& templates) const {
  absl::StatusOr<torch::Tensor> classes =
      ClassEmbeddings(*model_, *tokenizer_, labels, templates, adapters);
  if (!classes.ok()) return classes.status();
  return CatchTorch("evaluating", [&]() -> absl::StatusOr<torch::Tensor> {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> predictions;
    for (int64_t start = 0; start < pixels.size(0); start += options_.eval_batch_size) {
      torch::Tensor chunk = pixels.slice(0, start, start + options_.eval_batch_size)
                                .to(model_->device(), torch::kFloat);
      torch::Tensor features = model_->EncodeImage(chunk, adapters, false);
      predictions.push_back(ScoreZeroShot(*model_, features, *classes).logits.argmax(-1).cpu());
    }
    return torch::cat(predictions);
  });
}

absl::Status StreamEvaluator::EvaluateAnytime(const Adapters* adapters,
                                              const std::vector<std::string>& seen_labels) {
  std::unordered_map<std::string, int64_t> class_of;
  for (size_t i = 0; i < seen_labels.size(); ++i) class_of.emplace(seen_labels[i], i);
  std::vector<torch::Tensor> rows;
  std::vector<int64_t> truth;
  for (size_t i = 0; i < eval_labels_.size(); ++i) {
    auto it = class_of.find(eval_labels_[i]);
    if (it == class_of.end()) continue;
    rows.push_back(eval_pixels_[i]);
    truth.push_back(it->second);
  }
  if (rows.empty()) return absl::OkStatus();
  absl::StatusOr<torch::Tensor> predicted =
      Predict(adapters, torch::stack(rows), seen_labels, templates_);
  if (!predicted.ok()) return predicted.status();
  const torch::Tensor& p = *predicted;
  std::vector<int64_t> predicted_ids(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + p.numel());
  const int num_classes = static_cast<int>(seen_labels.size());
  const ClassCounts counts = CountPredictions(predicted_ids, truth, num_classes);
  const double accuracy = Accuracy(counts);
  const std::vector<double> per_class = PerClassAccuracy(counts);

  const double n = Lookup(metrics_, kEvalCount, 0);
  metrics_["a_auc"] = (Lookup(metrics_, "a_auc", 0) * n + accuracy) / (n + 1);
  metrics_[kEvalCount] = n + 1;
  metrics_["anytime_acc"] = accuracy;
  metrics_["a_last"] = accuracy;

  double drop_sum = 0;
  int dropped_classes = 0;
  for (int c = 0; c < num_classes; ++c) {
    if (counts.total[c] == 0) continue;
    double& best = metrics_[absl::StrCat(kBestAccPrefix, seen_labels[c])];
    best = std::max(best, per_class[c]);
    if (best <= 0) continue;
    drop_sum += best - per_class[c];
    ++dropped_classes;
  }
  metrics_["forgetting"] = dropped_classes > 0 ? drop_sum / dropped_classes : 0.0;
  return absl::OkStatus();
}

absl::Status StreamEvaluator::EvaluateProbes(const Adapters* adapters) {
  if (probes_ == nullptr) return absl::OkStatus();
  for (const ProbeTask& probe : *probes_) {
    if (probe.targets.empty()) continue;
    absl::StatusOr<torch::Tensor> predicted =
        Predict(adapters, probe.pixels, probe.labels, probe.templates);
    if (!predicted.ok()) {
      return absl::Status(predicted.status().code(),
                          absl::StrCat("probe '", probe.name, "': ", predicted.status().message()));
    }
    const int64_t* ids = predicted->data_ptr<int64_t>();
    int64_t correct = 0;
    for (size_t i = 0; i < probe.targets.size(); ++i) correct += ids[i] == probe.targets[i];
    const double accuracy = static_cast<double>(correct) / probe.targets.size();
    metrics_["zs_acc/" + probe.name] = accuracy;
    metrics_["zs_base_acc/" + probe.name] = probe.base_accuracy;
    metrics_["zs_retention/" + probe.name] = Retention(accuracy, probe.base_accuracy);
  }
  return absl::OkStatus();
}

void StreamEvaluator::AddPrequential(int64_t correct, int64_t count) {
  if (count <= 0) return;
  const double batch_accuracy = static_cast<double>(correct) / count;
  auto it = metrics_.find("prequential_acc");
  if (it == metrics_.end()) {
    metrics_["prequential_acc"] = batch_accuracy;
    return;
  }
  const double weight = 1.0 - std::pow(1.0 - 1.0 / kPrequentialMemorySamples, count);
  it->second += weight * (batch_accuracy - it->second);
}

void StreamEvaluator::RestoreMetrics(const std::map<std::string, double>& metrics) {
  metrics_ = metrics;
  // Probe metrics belong to the probe set of this process (SetProbes), not the checkpoint's.
  if (probes_ == nullptr) {
    for (auto it = metrics_.begin(); it != metrics_.end();) {
      it = absl::StartsWith(it->first, "zs_") ? metrics_.erase(it) : std::next(it);
    }
  }
}

}  // namespace perennial
