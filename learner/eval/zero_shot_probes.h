// File: learner/eval/zero_shot_probes.h
//
// Zero-shot accuracy on the synthetic world's held-out probe tasks (learner/data/world_probes.h):
// the measure of how much general ability a learner keeps (retention = now / base model).
#ifndef PERENNIAL_LEARNER_EVAL_ZERO_SHOT_PROBES_H_
#define PERENNIAL_LEARNER_EVAL_ZERO_SHOT_PROBES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "learner/base/status.h"
#include "learner/model/clip_model.h"
#include "learner/model/pet.h"
#include "learner/model/tokenizer.h"

namespace perennial {

// Names of the probe tasks, in the order ProbeAccuracies() reports them.
std::vector<std::string> ProbeTaskNames();

// Accuracy of `adapters` (null: the base model) on probe samples 0..samples_per_task-1 of each
// probe task in probe world `seed`, each task scored among its own labels with its templates.
StatusOr<std::vector<double>> ProbeAccuracies(const ClipModel& model, const Tokenizer& tokenizer,
                                              const Adapters* adapters, int samples_per_task,
                                              uint64_t seed);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_EVAL_ZERO_SHOT_PROBES_H_
