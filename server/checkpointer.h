// File: server/checkpointer.h
//
// Checkpoint and rollback: the learner's state (LearnerControl) written to and restored from the
// store's `checkpoints` column family, with retention. One mutex orders all of them, so an admin
// Checkpoint, a periodic one from the learner thread, a Rollback and the final checkpoint at
// shutdown never interleave.
//
// Versions: a checkpoint holds the live model version (the learner re-publishes its state above
// the newest checkpoint version when nothing new was published since). A rollback publishes the
// restored state under a new, higher version, so versions seen by clients never go backwards.
//
// Thread-safety: all methods may be called from any thread.
#ifndef PERENNIAL_SERVER_CHECKPOINTER_H_
#define PERENNIAL_SERVER_CHECKPOINTER_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "perennial/v1/admin.pb.h"
#include "perennial/v1/checkpoint.pb.h"
#include "server/learner_control.h"
#include "server/metrics.h"
#include "server/model_host.h"
#include "storage/store.h"

namespace perennial {

class Checkpointer {
 public:
  // All pointers must outlive the Checkpointer; `metrics` may be null.
  Checkpointer(Store* store, ModelHost* host, LearnerControl* learner, RetentionPolicy retention,
               ServerMetrics* metrics = nullptr);

  // Writes a checkpoint of the live learner state now, tagged with `tags` (each 1..64 bytes),
  // then prunes per the retention policy. Returns the new checkpoint's info.
  absl::StatusOr<v1::CheckpointInfo> Checkpoint(const std::vector<std::string>& tags);

  // Checkpoint({}) unless the learner's cursor and version already equal the store's current
  // checkpoint (nothing to save). For shutdown.
  absl::Status CheckpointIfChanged();

  // Makes checkpoint `version` (0: the base model) current and live. NOT_FOUND for an unknown or
  // pruned version, DATA_LOSS for a corrupt one; nothing changes then.
  absl::StatusOr<v1::RollbackResponse> Rollback(uint64_t version, bool resume_from_head);

 private:
  // Writes and measures (perennial_checkpoint_* metrics).
  absl::StatusOr<v1::CheckpointInfo> CheckpointLocked(const std::vector<std::string>& tags)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<v1::CheckpointInfo> WriteCheckpointLocked(const std::vector<std::string>& tags)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Store* const store_;
  ModelHost* const host_;
  LearnerControl* const learner_;
  const RetentionPolicy retention_;
  ServerMetrics* const metrics_;
  absl::Mutex mu_;
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_CHECKPOINTER_H_
