// File: server/probes.h
//
// Zero-shot probe tasks (AdminService.SetProbes): labeled images that measure how much of the
// base model's zero-shot ability the learner keeps. Building a task decodes and preprocesses its
// images and measures the base model's accuracy once (the retention denominator). The last
// accepted request is stored in the store's blob "probes" and re-applied at startup, so retention
// series survive restarts.
#ifndef PERENNIAL_SERVER_PROBES_H_
#define PERENNIAL_SERVER_PROBES_H_

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "perennial/v1/admin.pb.h"
#include "server/server_core.h"

namespace perennial {

inline constexpr char kProbesBlob[] = "probes";
// At most this many probes per request, and samples per probe.
inline constexpr int kMaxProbes = 16;
inline constexpr int kMaxProbeSamples = 2000;

// Validates `request` and builds its tasks with base accuracies, encoding images through the
// query batcher (so probes never starve queries). INVALID_ARGUMENT naming the field for bad input;
// DEADLINE_EXCEEDED past `deadline`. Requires a loaded model (core.is_ready()).
absl::StatusOr<std::shared_ptr<std::vector<ProbeTask>>> BuildProbeTasks(
    const v1::SetProbesRequest& request, const ServerCore& core, absl::Time deadline);

// Re-applies the stored probes, if any, to core.learner. OK when none are stored.
absl::Status RestoreProbes(const ServerCore& core);

}  // namespace perennial

#endif  // PERENNIAL_SERVER_PROBES_H_
