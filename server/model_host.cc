#include "server/model_host.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "learner/base/cpu_runtime.h"
#include "learner/base/torch_status.h"
#include "learner/model/zero_shot.h"

namespace perennial {
namespace {

// The set part of a cache key: each label and template with a length prefix (labels may contain
// any byte but control characters; the prefix makes the key unambiguous regardless).
std::string SetKey(const std::vector<std::string>& labels,
                   const std::vector<std::string>& templates) {
  std::string key = absl::StrCat(labels.size(), "|");
  for (const std::string& label : labels) absl::StrAppend(&key, label.size(), ":", label);
  absl::StrAppend(&key, "|");
  for (const std::string& t : templates) absl::StrAppend(&key, t.size(), ":", t);
  return key;
}

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

std::shared_ptr<const ServedModel> ModelHost::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

uint64_t ModelHost::version() const {
  absl::MutexLock lock(&mu_);
  return current_->version;
}

absl::Status ModelHost::Publish(uint64_t version, std::shared_ptr<const Adapters> adapters) {
  auto check_version = [this, version]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (version > current_->version) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot publish model version ", version, ": version ", current_->version,
        " is already live and versions must grow"));
  };
  {
    absl::MutexLock lock(&mu_);
    absl::Status status = check_version();
    if (!status.ok()) return status;
  }
  auto next = std::make_shared<ServedModel>();
  next->version = version;
  next->adapters = std::move(adapters);
  WarmLabelCache(*next);
  next->published_time = absl::Now();
  absl::MutexLock lock(&mu_);
  absl::Status status = check_version();  // publishers are serialised; this is a safety net
  if (!status.ok()) return status;
  current_ = std::move(next);
  return absl::OkStatus();
}

void ModelHost::WarmLabelCache(const ServedModel& next) {
  if (options_.warm_label_sets == 0 || options_.label_cache_entries == 0) return;
  std::vector<CacheEntry> sets;  // without embeddings: what to compute
  {
    absl::MutexLock lock(&cache_mu_);
    const absl::Time recent = absl::Now() - options_.warm_window;
    absl::flat_hash_set<std::string> seen;
    for (const CacheEntry& e : lru_) {  // most recently used first
      if (sets.size() >= options_.warm_label_sets) break;
      if (e.last_queried < recent || !seen.insert(e.set_key).second) continue;
      if (e.labels.size() * e.templates.size() > options_.warm_max_prompts) continue;
      sets.push_back(CacheEntry{CacheKey(next.version, e.set_key), e.set_key, e.labels,
                                e.templates, torch::Tensor(), e.last_queried});
    }
  }
  for (CacheEntry& entry : sets) {
    absl::StatusOr<torch::Tensor> embeddings =
        ComputeLabelEmbeddings(next, entry.labels, entry.templates);
    if (!embeddings.ok()) continue;  // the set's next query computes it and reports the error
    entry.embeddings = *std::move(embeddings);
    absl::MutexLock lock(&cache_mu_);
    InsertLocked(std::move(entry));
    ++warmed_;
  }
}

void ModelHost::InsertLocked(CacheEntry entry) {
  if (index_.contains(entry.key)) return;
  std::string key = entry.key;
  lru_.push_front(std::move(entry));
  index_[key] = lru_.begin();
  while (lru_.size() > options_.label_cache_entries) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

absl::StatusOr<std::shared_ptr<const ServedModel>> ModelHost::AwaitVersion(
    uint64_t min_version, absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, min_version]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return current_->version >= min_version;
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&reached), deadline)) {
    return absl::DeadlineExceededError(absl::StrCat("model version ", min_version,
                                                    " was not live before the deadline (live: ",
                                                    current_->version, ")"));
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

absl::StatusOr<torch::Tensor> ModelHost::LabelEmbeddings(const ServedModel& snapshot,
                                                         const std::vector<std::string>& labels,
                                                         const std::vector<std::string>& templates) {
  const std::string set_key = SetKey(labels, templates);
  const std::string key = CacheKey(snapshot.version, set_key);
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&cache_mu_);
    auto it = index_.find(key);
    if (it != index_.end()) {
      ++hits_;
      it->second->last_queried = now;
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->embeddings;
    }
    ++misses_;
  }
  // Computed without the lock: two racing misses compute the same value twice, which is cheaper
  // than making every query wait for one text forward.
  if (options_.query_intra_op_threads > 0) {
    SetCallingThreadIntraOpThreads(options_.query_intra_op_threads);
  }
  absl::StatusOr<torch::Tensor> embeddings = ComputeLabelEmbeddings(snapshot, labels, templates);
  if (!embeddings.ok() || options_.label_cache_entries == 0) return embeddings;
  absl::MutexLock lock(&cache_mu_);
  InsertLocked(CacheEntry{key, set_key, labels, templates, *embeddings, now});
  return embeddings;
}

absl::StatusOr<torch::Tensor> ModelHost::EmbedTexts(const ServedModel& snapshot,
                                                    const std::vector<std::string>& texts) const {
  if (options_.query_intra_op_threads > 0) {
    SetCallingThreadIntraOpThreads(options_.query_intra_op_threads);
  }
  std::vector<std::vector<int32_t>> ids;
  ids.reserve(texts.size());
  for (const std::string& text : texts) {
    ids.push_back(tokenizer_.Tokenize(text, model_.config().context_length));
  }
  return CatchTorch("embedding texts", [&]() -> absl::StatusOr<torch::Tensor> {
    torch::NoGradGuard no_grad;
    torch::Tensor features = model_.EncodeText(
        TokensToTensor(ids, model_.config().context_length).to(model_.device()),
        snapshot.adapters_or_null());
    return torch::nn::functional::normalize(
               features, torch::nn::functional::NormalizeFuncOptions().dim(-1))
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

uint64_t ModelHost::label_sets_warmed() const {
  absl::MutexLock lock(&cache_mu_);
  return warmed_;
}

}  // namespace perennial
