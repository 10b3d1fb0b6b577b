// File: server/label_sets.h
//
// Named label sets for Classify (AdminService.SetLabelSet), kept in the store as blobs
// "label_set/<name>" (a serialized SetLabelSetRequest) so they survive restarts, and cached in
// memory.
//
// Thread-safety: all methods may be called from any thread.
#ifndef PERENNIAL_SERVER_LABEL_SETS_H_
#define PERENNIAL_SERVER_LABEL_SETS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/store.h"

namespace perennial {

struct LabelSet {
  std::vector<std::string> labels;
  std::vector<std::string> templates;  // empty: the server's defaults
};

class LabelSets {
 public:
  // `store` must outlive this object.
  explicit LabelSets(Store* store) : store_(store) {}

  // Stores (or, with no labels, deletes) the set `name`. The caller validates the contents.
  absl::Status Set(const std::string& name, const LabelSet& set);
  // NOT_FOUND for an unknown (or deleted) name.
  absl::StatusOr<std::shared_ptr<const LabelSet>> Get(const std::string& name);

 private:
  Store* const store_;
  absl::Mutex mu_;
  // nullptr caches "known to be absent".
  absl::flat_hash_map<std::string, std::shared_ptr<const LabelSet>> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_LABEL_SETS_H_
