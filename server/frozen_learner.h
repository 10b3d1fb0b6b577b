// File: server/frozen_learner.h
//
// The `frozen` method: the frozen zero-shot baseline of DESIGN.md §1 run as a service. It never
// updates the model: it serves the base weights, follows the sample log (so the backlog drains
// and ingestion is never refused while it runs), and checkpoints its cursor with empty adapters.
// It is the comparison point for every learning method, and the learner the server runs until
// learner/online/ is wired in.
//
// Thread-safety: as LearnerControl.
#ifndef PERENNIAL_SERVER_FROZEN_LEARNER_H_
#define PERENNIAL_SERVER_FROZEN_LEARNER_H_

#include <atomic>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/learner_control.h"

namespace perennial {

class FrozenLearner final : public LearnerControl {
 public:
  // `env.store` and `env.host` are required.
  explicit FrozenLearner(LearnerEnv env);
  ~FrozenLearner() override;

  std::string method() const override { return "frozen"; }
  absl::Status Start(const std::optional<v1::CheckpointRecord>& start, uint64_t cursor) override;
  void Stop() override;
  void Pause() override;
  void Resume() override;
  // Always false: the frozen method never publishes a new model by itself.
  bool WillPublish() const override { return false; }
  uint64_t cursor() const override;
  LearnerProgress Progress() const override;
  absl::StatusOr<LearnerCheckpointState> CaptureCheckpoint(uint64_t min_version) override;
  absl::Status Restore(const v1::CheckpointRecord* record, uint64_t cursor,
                       uint64_t new_version) override;
  void SetProbes(std::shared_ptr<const std::vector<ProbeTask>> probes) override;

 private:
  void Run();

  const LearnerEnv env_;
  mutable absl::Mutex mu_;
  uint64_t cursor_ ABSL_GUARDED_BY(mu_) = 0;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<const std::vector<ProbeTask>> probes_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_FROZEN_LEARNER_H_
