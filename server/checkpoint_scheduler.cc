#include "server/checkpoint_scheduler.h"

#include <iostream>

#include "learner/base/cpu_runtime.h"

namespace perennial {

CheckpointScheduler::CheckpointScheduler(Checkpointer* checkpointer, const LearnerControl* learner,
                                         CheckpointSchedule schedule)
    : checkpointer_(checkpointer), learner_(learner), schedule_(schedule) {
  thread_ = std::thread([this] { Run(); });
}

CheckpointScheduler::~CheckpointScheduler() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void CheckpointScheduler::Run() {
  SetCallingThreadIntraOpThreads(1);  // copies a checkpoint's tensors: no team needed
  LearnerProgress last = learner_->Progress();
  absl::Time last_time = absl::Now();
  while (!stop_.WaitForNotificationWithTimeout(schedule_.poll)) {
    const LearnerProgress now = learner_->Progress();
    const bool moved = now.cursor != last.cursor || now.steps != last.steps;
    const bool steps_due =
        schedule_.every_steps > 0 && now.steps >= last.steps + schedule_.every_steps;
    const bool time_due = schedule_.interval > absl::ZeroDuration() && moved &&
                          absl::Now() - last_time >= schedule_.interval;
    if (!steps_due && !time_due) continue;
    absl::Status status = checkpointer_->CheckpointIfChanged();
    if (!status.ok()) std::cerr << "periodic checkpoint failed: " << status << std::endl;
    last = now;
    last_time = absl::Now();
  }
}

}  // namespace perennial
