#include "server/learner_factory.h"

#include "absl/strings/str_cat.h"
#include "server/frozen_learner.h"

namespace perennial {

absl::StatusOr<std::unique_ptr<LearnerControl>> CreateLearner(const std::string& method,
                                                              const LearnerEnv& env) {
  if (method == "frozen") return std::make_unique<FrozenLearner>(env);
  if (method == "sit" || method == "sit+vrlwf" || method == "finetune" || method == "er") {
    return absl::UnimplementedError(absl::StrCat(
        "--method ", method, ": the online learner is not wired into the server yet; "
        "use --method frozen"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--method '", method, "' is unknown; want frozen, sit, sit+vrlwf, finetune or er"));
}

}  // namespace perennial
