#include "server/frozen_learner.h"

#include <algorithm>

#include "server/model_host.h"
#include "storage/store.h"

namespace perennial {

FrozenLearner::FrozenLearner(LearnerEnv env) : env_(env) {}

FrozenLearner::~FrozenLearner() { Stop(); }

absl::Status FrozenLearner::Start(const std::optional<v1::CheckpointRecord>& start,
                                  uint64_t cursor) {
  if (start.has_value() && start->info().version() > env_.host->version()) {
    absl::Status published = env_.host->Publish(start->info().version(), nullptr);
    if (!published.ok()) return published;
  }
  {
    absl::MutexLock lock(&mu_);
    cursor_ = cursor;
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void FrozenLearner::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void FrozenLearner::Pause() {
  absl::MutexLock lock(&mu_);
  paused_ = true;
}

void FrozenLearner::Resume() {
  absl::MutexLock lock(&mu_);
  paused_ = false;
}

uint64_t FrozenLearner::cursor() const {
  absl::MutexLock lock(&mu_);
  return cursor_;
}

LearnerProgress FrozenLearner::Progress() const {
  LearnerProgress progress;
  progress.model_version = env_.host->version();
  absl::MutexLock lock(&mu_);
  progress.cursor = cursor_;
  progress.paused = paused_;
  return progress;
}

absl::StatusOr<LearnerCheckpointState> FrozenLearner::CaptureCheckpoint(uint64_t min_version) {
  absl::MutexLock lock(&mu_);
  if (env_.host->version() < min_version) {
    absl::Status published = env_.host->Publish(min_version, nullptr);
    if (!published.ok()) return published;
  }
  LearnerCheckpointState state;
  state.model_version = env_.host->version();
  state.cursor = cursor_;
  return state;
}

absl::Status FrozenLearner::Restore(const v1::CheckpointRecord* record, uint64_t cursor,
                                    uint64_t new_version) {
  if (record != nullptr && !record->adapter().empty()) {
    return absl::FailedPreconditionError(
        "the frozen method cannot restore a checkpoint with trained adapters (version " +
        std::to_string(record->info().version()) + ", method '" + record->info().method() +
        "'); restart the server with that method");
  }
  absl::MutexLock lock(&mu_);
  absl::Status published = env_.host->Publish(new_version, nullptr);
  if (!published.ok()) return published;
  cursor_ = cursor;
  return absl::OkStatus();
}

void FrozenLearner::SetProbes(std::shared_ptr<const std::vector<ProbeTask>> probes) {
  absl::MutexLock lock(&mu_);
  probes_ = std::move(probes);
}

// Follows the log: every logged sample is consumed without changing the model.
void FrozenLearner::Run() {
  for (;;) {
    uint64_t cursor;
    {
      absl::MutexLock lock(&mu_);
      auto runnable = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_ || !paused_; };
      mu_.AwaitWithTimeout(absl::Condition(&runnable), absl::Milliseconds(100));
      if (stopping_) return;
      if (paused_) continue;
      cursor = cursor_;
    }
    env_.store->WaitForSamples(cursor, absl::Milliseconds(50));
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    // A Restore() meanwhile moved the cursor; follow from there next round.
    if (paused_ || cursor_ != cursor) continue;
    cursor_ = std::max(cursor_, env_.store->LastSeq());
  }
}

}  // namespace perennial
