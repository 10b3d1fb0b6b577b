#include "server/label_sets.h"

#include "absl/strings/str_cat.h"
#include "perennial/v1/admin.pb.h"

namespace perennial {
namespace {

std::string BlobName(const std::string& name) { return absl::StrCat("label_set/", name); }

}  // namespace

absl::Status LabelSets::Set(const std::string& name, const LabelSet& set) {
  std::string bytes;  // empty marks a deleted set (the store has no blob deletion)
  if (!set.labels.empty()) {
    v1::SetLabelSetRequest stored;
    stored.set_name(name);
    for (const std::string& label : set.labels) stored.add_labels(label);
    for (const std::string& t : set.templates) stored.add_templates(t);
    bytes = stored.SerializeAsString();
  }
  absl::MutexLock lock(&mu_);
  absl::Status status = store_->PutBlob(BlobName(name), bytes);
  if (!status.ok()) return status;
  cache_[name] = set.labels.empty() ? nullptr : std::make_shared<const LabelSet>(set);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const LabelSet>> LabelSets::Get(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = cache_.find(name);
  if (it == cache_.end()) {
    std::shared_ptr<const LabelSet> loaded;
    absl::StatusOr<std::string> bytes = store_->GetBlob(BlobName(name));
    if (bytes.ok() && !bytes->empty()) {
      v1::SetLabelSetRequest stored;
      if (!stored.ParseFromString(*bytes)) {
        return absl::DataLossError(absl::StrCat("label set '", name, "' is stored corrupt"));
      }
      auto set = std::make_shared<LabelSet>();
      set->labels.assign(stored.labels().begin(), stored.labels().end());
      set->templates.assign(stored.templates().begin(), stored.templates().end());
      loaded = std::move(set);
    } else if (!bytes.ok() && !absl::IsNotFound(bytes.status())) {
      return bytes.status();
    }
    it = cache_.emplace(name, std::move(loaded)).first;
  }
  if (it->second == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("label_set '", name, "' is unknown; create it with AdminService.SetLabelSet"));
  }
  return it->second;
}

}  // namespace perennial
