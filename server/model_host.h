// File: server/model_host.h
//
// The model the server answers with: the immutable base ClipModel and tokenizer, loaded once, and
// the live snapshot (version + adapters) that the learner thread replaces by an atomic pointer
// swap (DESIGN.md §4). A query takes the snapshot pointer once at its start and uses it to the
// end, so a Publish() in the middle of a query never mixes two versions, and base weights are
// never copied.
//
// Text embeddings of label sets are cached per (version, labels, templates) in a small LRU, so a
// Classify against a stored label set costs one image forward once the set has been embedded
// with the live version. A learner publishes a new version every few steps; so that queries do
// not pay a text forward after each publication, Publish() embeds the most recently queried label
// sets with the new version before making it live, on the publishing (learner) thread.
//
// Thread-safety: every method may be called from any thread.
#ifndef PERENNIAL_SERVER_MODEL_HOST_H_
#define PERENNIAL_SERVER_MODEL_HOST_H_

#include <torch/torch.h>

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "learner/model/clip_model.h"
#include "learner/model/pet.h"
#include "learner/model/preprocess.h"
#include "learner/model/tokenizer.h"

namespace perennial {

// One published model version. Immutable once published.
struct ServedModel {
  // Version number; grows with every publish. 0 is the base model at startup.
  uint64_t version = 0;
  // The adapters of this version; null means the base model. Read-only (a Snapshot() or merged
  // copy that no optimizer touches).
  std::shared_ptr<const Adapters> adapters;
  absl::Time published_time;

  const Adapters* adapters_or_null() const { return adapters.get(); }
};

struct ModelHostOptions {
  // Label-set text embeddings kept, LRU. Default: 64.
  size_t label_cache_entries = 64;
  // Labels embedded per text forward when filling the cache (bounds activation memory for
  // 1000-label sets with 16 templates). Default: 64.
  size_t labels_per_text_batch = 64;
  // Label sets that Publish() embeds with the new version before it goes live: the most
  // recently queried ones, if queried within `warm_window`; 0 turns warming off. Default: 4.
  size_t warm_label_sets = 4;
  // Sets of more texts (labels x templates) are left to the first query that needs them: a
  // publication waits for the warming. Default: 1024.
  size_t warm_max_texts = 1024;
  // Default: 60 s.
  absl::Duration warm_window = absl::Seconds(60);
  // Decode JPEGs of at least 4x the model's input side at 1/2, 1/4 or 1/8 scale, keeping at
  // least 2x (jpeg_draft_min_side()). Costs 0.2-0.4 pixel levels of the model's input on
  // average (bench/image_bench) against Pillow's full decode, which CLIP's reference uses.
  // Default: false.
  bool jpeg_draft = false;
};

class ModelHost {
 public:
  // Serves `model` (base weights) with `tokenizer`; the live snapshot starts as version 0 with no
  // adapters. `base_model_id` identifies the base weights (the store checks it).
  ModelHost(ClipModel model, Tokenizer tokenizer, std::string base_model_id,
            ModelHostOptions options = {});

  ModelHost(const ModelHost&) = delete;
  ModelHost& operator=(const ModelHost&) = delete;

  const ClipModel& model() const { return model_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  const std::string& base_model_id() const { return base_model_id_; }
  // The preprocessing that matches the model's input resolution.
  PreprocessOptions preprocess_options() const;
  // DecodeOptions::draft_min_side for every image this model sees (queries, training, probes):
  // twice the input resolution with ModelHostOptions::jpeg_draft, else 0.
  int jpeg_draft_min_side() const;

  // The live snapshot; never null.
  std::shared_ptr<const ServedModel> Current() const;
  uint64_t version() const;

  // Makes `adapters` (null: the base model) live as `version`, after embedding the recently
  // queried label sets with it (ModelHostOptions::warm_label_sets). Called by the learner thread
  // (and by rollback). Versions must strictly grow: FAILED_PRECONDITION otherwise, and nothing
  // changes. Queries already running keep the snapshot they started with.
  absl::Status Publish(uint64_t version, std::shared_ptr<const Adapters> adapters);

  // The live snapshot once its version is >= min_version. Waits until `deadline` for the learner
  // to publish it; DEADLINE_EXCEEDED naming both versions if it does not.
  absl::StatusOr<std::shared_ptr<const ServedModel>> AwaitVersion(uint64_t min_version,
                                                                  absl::Time deadline) const;

  // [K, E] unit class vectors of `labels` under `templates` with `snapshot`, from the cache when
  // present. Concurrent misses of the same set and version compute it once: the others wait for
  // that text forward instead of running their own beside it. Errors: INVALID_ARGUMENT for an
  // empty label or a template without "{}".
  absl::StatusOr<torch::Tensor> LabelEmbeddings(const ServedModel& snapshot,
                                                const std::vector<std::string>& labels,
                                                const std::vector<std::string>& templates);

  // [N, E] unit text embeddings of `texts`, used as given (no template). Not cached.
  absl::StatusOr<torch::Tensor> EmbedTexts(const ServedModel& snapshot,
                                           const std::vector<std::string>& texts) const;

  // Cache statistics, for tests and metrics: a miss is a query that computed its set's
  // embeddings; one that waited for another query's computation of them is a hit. Warming by
  // Publish() counts as neither.
  uint64_t label_cache_hits() const;
  uint64_t label_cache_misses() const;

 private:
  using CacheEntry = std::pair<std::string, torch::Tensor>;
  // A cache miss being computed, which later misses of the same key wait for.
  struct InFlight {
    absl::Notification done;
    absl::StatusOr<torch::Tensor> result;  // written once, before done
  };
  // A label set as queried: what Publish() embeds again with each new version.
  struct RecentLabelSet {
    std::string key;  // SetKey(labels, templates)
    std::vector<std::string> labels;
    std::vector<std::string> templates;
    absl::Time last_used;
  };

  // Embeds the sets WarmCandidates() returns with `next` into the cache.
  void WarmLabelCache(const ServedModel& next);
  std::vector<RecentLabelSet> WarmCandidates() const;
  void NoteLabelSetUse(const std::string& set_key, const std::vector<std::string>& labels,
                       const std::vector<std::string>& templates)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cache_mu_);
  void InsertLocked(const std::string& key, const torch::Tensor& embeddings)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cache_mu_);

  absl::StatusOr<torch::Tensor> ComputeLabelEmbeddings(
      const ServedModel& snapshot, const std::vector<std::string>& labels,
      const std::vector<std::string>& templates) const;

  const ClipModel model_;
  const Tokenizer tokenizer_;
  const std::string base_model_id_;
  const ModelHostOptions options_;

  mutable absl::Mutex mu_;
  std::shared_ptr<const ServedModel> current_ ABSL_GUARDED_BY(mu_);

  mutable absl::Mutex cache_mu_;
  std::list<CacheEntry> lru_ ABSL_GUARDED_BY(cache_mu_);  // most recent first
  absl::flat_hash_map<std::string, std::list<CacheEntry>::iterator> index_
      ABSL_GUARDED_BY(cache_mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<InFlight>> in_flight_ ABSL_GUARDED_BY(cache_mu_);
  uint64_t hits_ ABSL_GUARDED_BY(cache_mu_) = 0;
  uint64_t misses_ ABSL_GUARDED_BY(cache_mu_) = 0;
  // Label sets by SetKey(), most recently queried first; at most warm_label_sets.
  std::list<RecentLabelSet> recent_ ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_MODEL_HOST_H_
