// File: server/pause_budget.h
//
// How long one training step may stand still for queries, shared by every thread of the step.
//
// While queries are pending, a step waits at its yield points (learner/base/yield_point.h). The
// learner thread and its helpers (sit+vrlwf's parallel teacher, the image tower's parts) reach
// those points on their own and often wait at the same time. A budget that each thread spent for
// its own wait would let a step stand still for (threads x budget); here waits that overlap form
// one pause window with one deadline, and the step is charged the window's wall-clock length
// once. So however many threads wait, the step's waits end within `budget` of wall-clock time
// in total, and a step holds the learner's mutex at most that much longer under a saturating
// query load.
//
// Thread-safe. Times are passed in (absl::Now() in the server) so that tests can state them.
#ifndef PERENNIAL_SERVER_PAUSE_BUDGET_H_
#define PERENNIAL_SERVER_PAUSE_BUDGET_H_

#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace perennial {

class PauseBudget {
 public:
  // Starts a step with `budget` of pause time (a pause window still open keeps its deadline).
  void Reset(absl::Duration budget);

  // A thread is about to wait at `now`. Returns when its wait must end at the latest (the
  // deadline of the window it joins or opens), or nullopt when the step's budget is spent and it
  // must not wait. Every call that returns a time must be followed by EndWait().
  std::optional<absl::Time> BeginWait(absl::Time now);

  // That thread's wait ended at `now`. Returns the window's length when this closed it (the last
  // overlapping wait ended), else zero: the sum over a step is the wall-clock time it paused.
  absl::Duration EndWait(absl::Time now);

  // What is left of the budget; open windows are charged when they close.
  absl::Duration left() const;

 private:
  mutable absl::Mutex mu_;
  absl::Duration left_ ABSL_GUARDED_BY(mu_);
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time window_start_ ABSL_GUARDED_BY(mu_);
  absl::Time window_deadline_ ABSL_GUARDED_BY(mu_);
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_PAUSE_BUDGET_H_
