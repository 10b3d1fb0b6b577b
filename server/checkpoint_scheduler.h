// File: server/checkpoint_scheduler.h
//
// Periodic checkpoints (DESIGN.md §5: "every N steps or T seconds"): a thread that asks the
// Checkpointer for a checkpoint once the learner has taken `every_steps` optimizer steps since the
// last one, or `interval` has passed and the learner moved. So a crash loses at most that much
// training (never acknowledged samples: those are in the log and are re-trained after a restart).
//
// Thread-safety: constructed and destroyed by one thread; the worker is internal.
#ifndef PERENNIAL_SERVER_CHECKPOINT_SCHEDULER_H_
#define PERENNIAL_SERVER_CHECKPOINT_SCHEDULER_H_

#include <cstdint>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/checkpointer.h"
#include "server/learner_control.h"

namespace perennial {

struct CheckpointSchedule {
  // Optimizer steps between checkpoints (0: no step trigger). Default: 500.
  uint64_t every_steps = 500;
  // Longest time a learner change stays without a checkpoint (0: no time trigger).
  // Default: 60 s.
  absl::Duration interval = absl::Seconds(60);
  // How often the triggers are checked. Default: 1 s.
  absl::Duration poll = absl::Seconds(1);
};

class CheckpointScheduler {
 public:
  // Starts the thread. Both pointers must outlive the scheduler.
  CheckpointScheduler(Checkpointer* checkpointer, const LearnerControl* learner,
                      CheckpointSchedule schedule);
  // Stops the thread (a checkpoint in progress completes first).
  ~CheckpointScheduler();
  CheckpointScheduler(const CheckpointScheduler&) = delete;
  CheckpointScheduler& operator=(const CheckpointScheduler&) = delete;

 private:
  void Run();

  Checkpointer* const checkpointer_;
  const LearnerControl* const learner_;
  const CheckpointSchedule schedule_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_CHECKPOINT_SCHEDULER_H_
