// File: server/learner_factory.h
//
// The learner behind --method. Today: "frozen" (FrozenLearner). The online learner
// (learner/online/: sit, sit+vrlwf, er, finetune ...) is added here when it lands.
#ifndef PERENNIAL_SERVER_LEARNER_FACTORY_H_
#define PERENNIAL_SERVER_LEARNER_FACTORY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/learner_control.h"

namespace perennial {

// UNIMPLEMENTED for a method that exists in the design but is not wired into the server yet,
// INVALID_ARGUMENT for an unknown one.
absl::StatusOr<std::unique_ptr<LearnerControl>> CreateLearner(const std::string& method,
                                                              const LearnerEnv& env);

}  // namespace perennial

#endif  // PERENNIAL_SERVER_LEARNER_FACTORY_H_
