// File: server/learner_factory.h
//
// The learner behind --method: "frozen" runs FrozenLearner (follows the log, never changes the
// model); every learning method of learner/online/ ("sit+vrlwf", "sit", "lwf", "er", "asym-ft")
// runs a LearningLoop with `options` (its learner.method is set from `method`).
#ifndef PERENNIAL_SERVER_LEARNER_FACTORY_H_
#define PERENNIAL_SERVER_LEARNER_FACTORY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/learner_control.h"
#include "server/learning_loop.h"

namespace perennial {

// INVALID_ARGUMENT for an unknown method (the message lists the known ones), or the
// LearningLoop's own errors (options, vocabulary).
absl::StatusOr<std::unique_ptr<LearnerControl>> CreateLearner(const std::string& method,
                                                              LearningLoopOptions options,
                                                              const LearnerEnv& env);

}  // namespace perennial

#endif  // PERENNIAL_SERVER_LEARNER_FACTORY_H_
