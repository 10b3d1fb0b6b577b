#include "server/learner_factory.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/frozen_learner.h"

namespace perennial {

absl::StatusOr<std::unique_ptr<LearnerControl>> CreateLearner(const std::string& method,
                                                              LearningLoopOptions options,
                                                              const LearnerEnv& env) {
  if (method == "frozen") return std::make_unique<FrozenLearner>(env);
  StatusOr<OnlineMethod> parsed = ParseOnlineMethod(method);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--method '", method, "' is unknown; want sit+vrlwf, sit, lwf, er, asym-ft or frozen"));
  }
  options.learner.method = *parsed;
  absl::StatusOr<std::unique_ptr<LearningLoop>> loop =
      LearningLoop::Create(env, std::move(options));
  if (!loop.ok()) return loop.status();
  return std::unique_ptr<LearnerControl>(*std::move(loop));
}

}  // namespace perennial
