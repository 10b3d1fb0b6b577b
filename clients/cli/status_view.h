// File: clients/cli/status_view.h
//
// What `perennial status` and `perennial checkpoints` print for a person: the server's state at
// a glance, and the checkpoints as a table, instead of the messages' debug text. `--json` prints
// the messages themselves, for scripts.
#ifndef PERENNIAL_CLIENTS_CLI_STATUS_VIEW_H_
#define PERENNIAL_CLIENTS_CLI_STATUS_VIEW_H_

#include <string>

#include "absl/time/time.h"
#include "perennial/v1/admin.pb.h"

namespace perennial::cli {

// One "name   value" line per aspect (health, model, checkpoint, log, learning, accuracy,
// zero-shot probes, server); ages are measured from `now`. Metrics GetStatus does not name
// (running state such as "eval/count") are left out.
std::string FormatStatus(const v1::GetStatusResponse& status, absl::Time now);

// A table of the checkpoints, oldest first (version, parent, created time in UTC, age, cursor,
// samples trained, steps, stored size, A_auc, forgetting, tags), then the current version and
// any corrupt ones.
std::string FormatCheckpoints(const v1::ListCheckpointsResponse& list, absl::Time now);

// An age to the precision a glance needs: "42s", "4m 12s", "2h 13m", "3d 4h".
std::string FormatAge(absl::Duration age);

}  // namespace perennial::cli

#endif  // PERENNIAL_CLIENTS_CLI_STATUS_VIEW_H_
