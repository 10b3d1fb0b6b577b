// File: learner/pretrain/pretrain.h
//
// `perennial pretrain` as a library call: contrastive pretraining of a CLIP model from scratch on
// the synthetic image-caption world (synthetic_world.h).
//
// One step: batch b (generated ahead on a background thread, batch_stream.h) -> image and text
// features -> symmetric InfoNCE with duplicate captions as shared positives (contrastive_loss.h)
// at the learnable temperature exp(logit_scale) (the parameter is clamped to [0, ln 100] after
// every update, as CLIP does) -> backward -> global gradient-norm clipping -> AdamW at the
// scheduled learning rate (warmup, hold, cosine; pretrain_options.h). Zero-shot probe accuracy is
// measured every eval_every steps; checkpoints are written every checkpoint_every steps; the
// final model is exported (pretrain_checkpoint.h).
//
// Determinism: a run is a pure function of its options (and LibTorch's CPU kernels at a fixed
// thread count): stopping at any checkpoint and resuming gives bit-identical weights.
//
// Example:
//   PretrainOptions options;
//   options.output_path = "models/perennial-tiny-clip.safetensors";
//   PERENNIAL_ASSIGN_OR_RETURN(PretrainResult result,
//                              RunPretraining(options, [](const PretrainProgress& p) {
//                                std::cerr << p.step << " " << p.loss << "\n";
//                                return true;  // keep going
//                              }));
#ifndef PERENNIAL_LEARNER_PRETRAIN_PRETRAIN_H_
#define PERENNIAL_LEARNER_PRETRAIN_PRETRAIN_H_

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "learner/base/status.h"
#include "learner/model/clip_config.h"
#include "learner/pretrain/pretrain_options.h"
#include "learner/pretrain/probe_eval.h"

namespace perennial {

struct PretrainProgress {
  int64_t step = 0;         // steps completed
  int64_t total_steps = 0;  // options.steps
  double loss = 0.0;        // this step's loss
  double learning_rate = 0.0;
  double logit_scale = 0.0;         // exp'ed temperature after the step
  double grad_norm = 0.0;           // global norm before clipping
  double samples_per_second = 0.0;  // smoothed over recent steps (evaluations excluded)
  double elapsed_seconds = 0.0;     // since this call started
  double eta_seconds = 0.0;         // remaining steps at the smoothed rate
  // Set on the steps that ran an evaluation (null otherwise); valid during the callback only.
  const std::vector<ProbeAccuracy>* probes = nullptr;
  // Set on the steps that wrote a checkpoint (empty otherwise).
  std::string checkpoint_written;
};

// Called after every step on the training thread. Returning false stops the run after this step
// (a checkpoint is written when checkpoint_path is set; no export): a clean interruption.
using PretrainProgressFn = std::function<bool(const PretrainProgress&)>;

struct PretrainResult {
  int64_t first_step = 0;  // 0, or the step a resumed run started from
  int64_t steps_done = 0;  // steps completed in total (== options.steps unless stopped)
  bool completed = false;  // reached options.steps (and exported when output_path is set)
  double last_loss = 0.0;
  double seconds = 0.0;
  ClipConfig config;
  std::map<std::string, torch::Tensor> weights;  // final weights, OpenAI layout, CPU fp32
  std::vector<ProbeAccuracy> probes;             // the last evaluation (empty if none ran)
};

// Runs (or resumes) pretraining. Errors: invalid options, tokenizer not found, a checkpoint that
// does not load or does not match (seed, batch size, architecture), write failures; a step that
// throws is reported as a Status naming the step. `progress` may be empty.
StatusOr<PretrainResult> RunPretraining(const PretrainOptions& options,
                                        const PretrainProgressFn& progress);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_PRETRAIN_PRETRAIN_H_
