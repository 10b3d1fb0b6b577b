// File: learner/pretrain/probe_eval.h
//
// Zero-shot accuracy of a CLIP model on the synthetic world's probe tasks (world_probes.h): for
// each task, `samples_per_task` held-out images (labels balanced, deterministic in the seed) are
// classified against the task's labels embedded through its templates (zero_shot.h), and the
// top-1 accuracy is reported beside the chance level 1/K. Used by `perennial pretrain` during
// training and by `perennial eval-zero-shot`, so both print the same numbers for the same model.
//
// Thread-safety: reentrant; the model and tokenizer are only read.
#ifndef PERENNIAL_LEARNER_PRETRAIN_PROBE_EVAL_H_
#define PERENNIAL_LEARNER_PRETRAIN_PROBE_EVAL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "learner/base/status.h"
#include "learner/data/world_probes.h"
#include "learner/model/clip_model.h"
#include "learner/model/tokenizer.h"

namespace perennial {

struct ProbeEvalOptions {
  // Probe images per task. Default: 200.
  int samples_per_task = 200;
  // Probe world seed (independent of any training seed: probe images always show held-out
  // combinations). Default: 1.
  uint64_t seed = 1;
  // Backgrounds of the probe images (0 plain .. 2 all, WorldOptions::background_level).
  // Default: 2.
  int background_level = 2;
  // Images encoded per forward pass. Default: 256.
  int batch_size = 256;
  // Held-out combinations (zero-shot composition) or seen ones (a diagnostic).
  // Default: kHeldOut.
  ProbeCombinations combinations = ProbeCombinations::kHeldOut;
};

struct ProbeAccuracy {
  std::string task;       // "colour", "shape", "position", "count", "size"
  double accuracy = 0.0;  // top-1 over the samples, in [0, 1]
  double chance = 0.0;    // 1 / number of labels
  int samples = 0;
  int num_labels = 0;
};

// One entry per probe task, in ProbeTasks() order. Images are rendered at the model's resolution
// and normalised as the model's preprocessing does. Runs without autograd.
// InvalidArgument for non-positive samples/batch sizes or a background level outside 0..2.
StatusOr<std::vector<ProbeAccuracy>> EvaluateZeroShotProbes(const ClipModel& model,
                                                            const Tokenizer& tokenizer,
                                                            const ProbeEvalOptions& options = {});

// "colour 0.93 (chance 0.10), shape ..." on one line, for logs.
std::string FormatProbeAccuracies(const std::vector<ProbeAccuracy>& accuracies);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_PRETRAIN_PROBE_EVAL_H_
