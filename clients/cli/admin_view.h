// File: clients/cli/admin_view.h
//
// What the server commands of `perennial` print for a person: the server's state at a glance,
// the checkpoints as a table, one line for what an admin call did, a query's answers, instead
// of the messages' debug text. `--json` prints the messages themselves, for scripts.
#ifndef PERENNIAL_CLIENTS_CLI_ADMIN_VIEW_H_
#define PERENNIAL_CLIENTS_CLI_ADMIN_VIEW_H_

#include <string>

#include "absl/time/time.h"
#include "perennial/v1/admin.pb.h"
#include "perennial/v1/inference.pb.h"

namespace perennial::cli {

// One "name   value" line per aspect (health, model, checkpoint, log, learning, accuracy,
// zero-shot probes, server); ages are measured from `now`. Metrics GetStatus does not name
// (running state such as "eval/count") are left out.
std::string FormatStatus(const v1::GetStatusResponse& status, absl::Time now);

// A table of the checkpoints, oldest first (version, parent, created time in UTC, age, cursor,
// samples trained, steps, stored size, A_auc, forgetting, tags), then the current version and
// any corrupt ones.
std::string FormatCheckpoints(const v1::ListCheckpointsResponse& list, absl::Time now);

// One line each: what Checkpoint wrote, where PauseLearning / ResumeLearning left the learner,
// what Rollback made live, what AddVocabulary, SetLabelSet and SetProbes stored.
std::string FormatCheckpointWritten(const v1::CheckpointResponse& response);
std::string FormatPaused(const v1::PauseLearningResponse& response);
std::string FormatResumed(const v1::ResumeLearningResponse& response);
std::string FormatRollback(const v1::RollbackResponse& response);
std::string FormatVocabularyAdded(const v1::AddVocabularyResponse& response);
std::string FormatLabelSetStored(const std::string& name, const v1::SetLabelSetResponse& response);
std::string FormatProbesSet(const v1::SetProbesResponse& response);

// A Classify answer for `image`: a header line with the model version, then one line per
// prediction, label and probability.
std::string FormatPredictions(const std::string& image, const v1::ClassifyResponse& response);

// An age to the precision a glance needs: "42s", "4m 12s", "2h 13m", "3d 4h".
std::string FormatAge(absl::Duration age);

}  // namespace perennial::cli

#endif  // PERENNIAL_CLIENTS_CLI_ADMIN_VIEW_H_
