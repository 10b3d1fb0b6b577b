#include "server/model_host.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "learner/base/torch_status.h"
#include "learner/model/zero_shot.h"

namespace perennial {
namespace {

// A label set's identity: each label and template with a length prefix (labels may contain any
// byte but control characters; the prefix makes the key unambiguous regardless).
std::string SetKey(const std::vector<std::string>& labels,
                   const std::vector<std::string>& templates) {
  std::string key = absl::StrCat(labels.size(), "|");
  for (const std::string& label : labels) absl::StrAppend(&key, label.size(), ":", label);
  absl::StrAppend(&key, "|");
  for (const std::string& t : templates) absl::StrAppend(&key, t.size(), ":", t);
  return key;
}

// Cache key: the version, then the set's key.
std::string CacheKey(uint64_t version, const std::string& set_key) {
  return absl::StrCat(version, "|", set_key);
}

}  // namespace

ModelHost::ModelHost(ClipModel model, Tokenizer tokenizer, std::string base_model_id,
                     ModelHostOptions options)
    : model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      base_model_id_(std::move(base_model_id)),
      options_(options) {
  auto base = std::make_shared<ServedModel>();
  base->version = 0;
  base->published_time = absl::Now();
  current_ = std::move(base);
}

PreprocessOptions ModelHost::preprocess_options() const {
  PreprocessOptions options;
  options.resolution = model_.config().image_resolution;
  return options;
}

int ModelHost::jpeg_draft_min_side() const {
  return options_.jpeg_draft ? JpegDraftMinSide(preprocess_options()) : 0;
}

std::shared_ptr<const ServedModel> ModelHost::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

uint64_t ModelHost::version() const {
  absl::MutexLock lock(&mu_);
  return current_->version;
}

absl::Status ModelHost::Publish(uint64_t version, std::shared_ptr<const Adapters> adapters) {
  auto refused = [version](uint64_t live) {
    return absl::FailedPreconditionError(absl::StrCat("cannot publish model version ", version,
                                                      ": version ", live,
                                                      " is already live and versions must grow"));
  };
  if (const uint64_t live = this->version(); version <= live) return refused(live);
  auto next = std::make_shared<ServedModel>();
  next->version = version;
  next->adapters = std::move(adapters);
  WarmLabelCache(*next);
  next->published_time = absl::Now();
  absl::MutexLock lock(&mu_);
  if (version <= current_->version) return refused(current_->version);
  current_ = std::move(next);
  return absl::OkStatus();
}

std::vector<ModelHost::RecentLabelSet> ModelHost::WarmCandidates() const {
  std::vector<RecentLabelSet> sets;
  const absl::Time oldest = absl::Now() - options_.warm_window;
  absl::MutexLock lock(&cache_mu_);
  for (const RecentLabelSet& set : recent_) {
    if (set.last_used < oldest) break;  // most recent first: the rest are older still
    if (set.labels.size() * set.templates.size() <= options_.warm_max_texts) sets.push_back(set);
  }
  return sets;
}

void ModelHost::WarmLabelCache(const ServedModel& next) {
  if (options_.label_cache_entries == 0) return;
  for (const RecentLabelSet& set : WarmCandidates()) {
    // A failure here (none is expected: the set was embedded before) is left to the query.
    absl::StatusOr<torch::Tensor> embeddings =
        ComputeLabelEmbeddings(next, set.labels, set.templates);
    if (!embeddings.ok()) continue;
    absl::MutexLock lock(&cache_mu_);
    InsertLocked(CacheKey(next.version, set.key), *embeddings);
  }
}

absl::StatusOr<std::shared_ptr<const ServedModel>> ModelHost::AwaitVersion(
    uint64_t min_version, absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, min_version]()
                     ABSL_SHARED_LOCKS_REQUIRED(mu_) { return current_->version >= min_version; };
  if (!mu_.AwaitWithDeadline(absl::Condition(&reached), deadline)) {
    return absl::DeadlineExceededError(
        absl::StrCat("model version ", min_version,
                     " was not live before the deadline (live: ", current_->version, ")"));
  }
  return current_;
}

absl::StatusOr<torch::Tensor> ModelHost::ComputeLabelEmbeddings(
    const ServedModel& snapshot, const std::vector<std::string>& labels,
    const std::vector<std::string>& templates) const {
  std::vector<torch::Tensor> parts;
  const size_t step = std::max<size_t>(1, options_.labels_per_text_batch);
  for (size_t begin = 0; begin < labels.size(); begin += step) {
    const size_t end = std::min(labels.size(), begin + step);
    std::vector<std::string> chunk(labels.begin() + begin, labels.begin() + end);
    absl::StatusOr<torch::Tensor> part =
        ClassEmbeddings(model_, tokenizer_, chunk, templates, snapshot.adapters_or_null());
    if (!part.ok()) return part.status();
    parts.push_back(*std::move(part));
  }
  return CatchTorch("joining label embeddings", [&]() -> absl::StatusOr<torch::Tensor> {
    return parts.size() == 1 ? parts[0] : torch::cat(parts, 0);
  });
}

absl::StatusOr<torch::Tensor> ModelHost::LabelEmbeddings(
    const ServedModel& snapshot, const std::vector<std::string>& labels,
    const std::vector<std::string>& templates) {
  const std::string set_key = SetKey(labels, templates);
  const std::string key = CacheKey(snapshot.version, set_key);
  std::shared_ptr<InFlight> flight;
  {
    absl::MutexLock lock(&cache_mu_);
    auto it = index_.find(key);
    if (it != index_.end()) {
      ++hits_;
      lru_.splice(lru_.begin(), lru_, it->second);
      NoteLabelSetUse(set_key, labels, templates);
      return it->second->second;
    }
    auto [running, first] = in_flight_.try_emplace(key);
    if (!first) {
      ++hits_;
      flight = running->second;
    } else {
      ++misses_;
      running->second = std::make_shared<InFlight>();
    }
  }
  // A query that finds the set being computed waits for it: after a publication, 16 concurrent
  // queries of one set would otherwise run 16 text forwards side by side on the same cores.
  if (flight != nullptr) {
    flight->done.WaitForNotification();
    return flight->result;
  }
  absl::StatusOr<torch::Tensor> embeddings = ComputeLabelEmbeddings(snapshot, labels, templates);
  absl::MutexLock lock(&cache_mu_);
  flight = std::move(in_flight_.extract(key).mapped());
  if (embeddings.ok() && options_.label_cache_entries > 0) {
    InsertLocked(key, *embeddings);
    NoteLabelSetUse(set_key, labels, templates);
  }
  flight->result = embeddings;
  flight->done.Notify();
  return embeddings;
}

void ModelHost::InsertLocked(const std::string& key, const torch::Tensor& embeddings) {
  if (index_.find(key) != index_.end()) return;
  lru_.emplace_front(key, embeddings);
  index_[key] = lru_.begin();
  while (lru_.size() > options_.label_cache_entries) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

void ModelHost::NoteLabelSetUse(const std::string& set_key, const std::vector<std::string>& labels,
                                const std::vector<std::string>& templates) {
  if (options_.warm_label_sets == 0) return;
  const absl::Time now = absl::Now();
  for (auto it = recent_.begin(); it != recent_.end(); ++it) {
    if (it->key == set_key) {
      it->last_used = now;
      recent_.splice(recent_.begin(), recent_, it);
      return;
    }
  }
  recent_.push_front(RecentLabelSet{set_key, labels, templates, now});
  if (recent_.size() > options_.warm_label_sets) recent_.pop_back();
}

absl::StatusOr<torch::Tensor> ModelHost::EmbedTexts(const ServedModel& snapshot,
                                                    const std::vector<std::string>& texts) const {
  std::vector<std::vector<int32_t>> ids;
  ids.reserve(texts.size());
  for (const std::string& text : texts) {
    ids.push_back(tokenizer_.Tokenize(text, model_.config().context_length));
  }
  return CatchTorch("embedding texts", [&]() -> absl::StatusOr<torch::Tensor> {
    torch::NoGradGuard no_grad;
    torch::Tensor features =
        model_.EncodeText(TokensToTensor(ids, model_.config().context_length).to(model_.device()),
                          snapshot.adapters_or_null());
    return torch::nn::functional::normalize(features,
                                            torch::nn::functional::NormalizeFuncOptions().dim(-1))
        .to(torch::kCPU, torch::kFloat32);
  });
}

uint64_t ModelHost::label_cache_hits() const {
  absl::MutexLock lock(&cache_mu_);
  return hits_;
}

uint64_t ModelHost::label_cache_misses() const {
  absl::MutexLock lock(&cache_mu_);
  return misses_;
}

}  // namespace perennial
