// File: learner/pretrain/pretrain_checkpoint.h
//
// Files written by `perennial pretrain`:
//   - a resumable checkpoint (one safetensors file): "model.<key>" weights in the OpenAI layout
//     (fp32), "optim.exp_avg.<key>" / "optim.exp_avg_sq.<key>" AdamW moments, and metadata with
//     the step, the AdamW step count, the seed, the batch size and the architecture. The run has
//     no random state besides its seed (batch b is a pure function of (seed, b), and the weights
//     are initialised from the seed once), so seed + step is the whole RNG state.
//   - the exported model: OpenAI-layout safetensors with the token table in fp16 (most of the
//     parameters) and everything else in fp32, plus the metadata (heads, activation) that makes
//     ClipModel::Load rebuild exactly this architecture.
//
// Writes are atomic (WriteSafetensors). Thread-safety: reentrant.
#ifndef PERENNIAL_LEARNER_PRETRAIN_PRETRAIN_CHECKPOINT_H_
#define PERENNIAL_LEARNER_PRETRAIN_PRETRAIN_CHECKPOINT_H_

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>

#include "learner/base/status.h"
#include "learner/model/clip_config.h"
#include "learner/model/clip_model.h"

namespace perennial {

struct PretrainCheckpoint {
  int64_t step = 0;             // optimizer steps completed = index of the next batch
  int64_t optimizer_steps = 0;  // AdamW's bias-correction counter
  uint64_t seed = 0;
  int batch_size = 0;
  ClipConfig config;
  std::map<std::string, torch::Tensor> weights;          // OpenAI key layout, CPU fp32
  std::map<std::string, torch::Tensor> optimizer_state;  // AdamW::StateTensors() names
};

Status SavePretrainCheckpoint(const std::string& path, const PretrainCheckpoint& checkpoint);

// Reads a checkpoint written by SavePretrainCheckpoint. Errors name the file: not a pretraining
// checkpoint, missing metadata, or weights that do not form a CLIP model.
StatusOr<PretrainCheckpoint> LoadPretrainCheckpoint(const std::string& path);

// Writes `model` for shipping: token_embedding.weight in fp16, the rest fp32, metadata
// ClipConfigMetadata(config) plus `extra_metadata` (e.g. how it was trained).
Status ExportPretrainedModel(const std::string& path, const ClipModel& model,
                             const std::map<std::string, std::string>& extra_metadata = {});

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_PRETRAIN_PRETRAIN_CHECKPOINT_H_
