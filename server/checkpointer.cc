#include "server/checkpointer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace perennial {

Checkpointer::Checkpointer(Store* store, ModelHost* host, LearnerControl* learner,
                           RetentionPolicy retention, ServerMetrics* metrics)
    : store_(store), host_(host), learner_(learner), retention_(retention), metrics_(metrics) {}

absl::StatusOr<v1::CheckpointInfo> Checkpointer::Checkpoint(const std::vector<std::string>& tags) {
  for (size_t i = 0; i < tags.size(); ++i) {
    if (tags[i].empty() || tags[i].size() > 64) {
      return absl::InvalidArgumentError(
          absl::StrCat("tags[", i, "]: ", tags[i].size(), " bytes, want 1..64"));
    }
  }
  absl::MutexLock lock(&mu_);
  return CheckpointLocked(tags);
}

absl::StatusOr<v1::CheckpointInfo> Checkpointer::CheckpointLocked(
    const std::vector<std::string>& tags) {
  const absl::Time start = absl::Now();
  absl::StatusOr<v1::CheckpointInfo> written = WriteCheckpointLocked(tags);
  if (metrics_ != nullptr) {
    metrics_->ObserveCheckpoint(
        written.ok(), absl::Now() - start,
        written.ok() ? written->adapter_size_bytes() + written->optimizer_size_bytes() : 0);
  }
  return written;
}

absl::StatusOr<v1::CheckpointInfo> Checkpointer::WriteCheckpointLocked(
    const std::vector<std::string>& tags) {
  absl::StatusOr<LearnerCheckpointState> state =
      learner_->CaptureCheckpoint(store_->MaxCheckpointVersion() + 1);
  if (!state.ok()) return state.status();
  v1::CheckpointRecord record;
  v1::CheckpointInfo* info = record.mutable_info();
  info->set_version(state->model_version);
  info->set_parent_version(store_->CurrentVersion());
  info->set_cursor(state->cursor);
  for (const std::string& tag : tags) info->add_tags(tag);
  for (const auto& [name, value] : state->metrics) (*info->mutable_metrics())[name] = value;
  info->set_samples_trained(state->samples_trained);
  info->set_steps(state->steps);
  info->set_method(learner_->method());
  info->set_base_model_id(host_->base_model_id());
  record.set_adapter(std::move(state->adapter));
  record.set_optimizer(std::move(state->optimizer));
  v1::CheckpointInfo written = *info;
  written.set_adapter_size_bytes(record.adapter().size());
  written.set_optimizer_size_bytes(record.optimizer().size());
  absl::Status status = store_->WriteCheckpoint(std::move(record));
  if (!status.ok()) return status;
  // Retention failures do not undo the checkpoint; the next checkpoint prunes again.
  store_->PruneCheckpoints(retention_).IgnoreError();
  absl::StatusOr<v1::CheckpointRecord> stored = store_->ReadCheckpoint(written.version());
  if (stored.ok()) *written.mutable_created_time() = stored->info().created_time();
  return written;
}

absl::Status Checkpointer::CheckpointIfChanged() {
  absl::MutexLock lock(&mu_);
  if (learner_->cursor() == store_->Cursor() && host_->version() == store_->CurrentVersion()) {
    return absl::OkStatus();
  }
  return CheckpointLocked({}).status();
}

absl::StatusOr<v1::RollbackResponse> Checkpointer::Rollback(uint64_t version,
                                                            bool resume_from_head) {
  absl::MutexLock lock(&mu_);
  std::optional<v1::CheckpointRecord> record;
  if (version != 0) {
    absl::StatusOr<v1::CheckpointRecord> read = store_->ReadCheckpoint(version);
    if (!read.ok()) return read.status();
    record = *std::move(read);
  }
  const uint64_t cursor =
      resume_from_head ? store_->LastSeq() : (record ? record->info().cursor() : 0);
  const uint64_t new_version = std::max(host_->version(), store_->MaxCheckpointVersion()) + 1;
  // The learner first: it may refuse the record (unparseable adapters) and then nothing changed.
  absl::Status status = learner_->Restore(record ? &*record : nullptr, cursor, new_version);
  if (!status.ok()) return status;
  status = store_->SetCurrentVersion(version, cursor);
  if (!status.ok()) return status;
  v1::RollbackResponse response;
  response.set_model_version(host_->version());
  response.set_restored_version(version);
  response.set_cursor(cursor);
  return response;
}

}  // namespace perennial
