// File: learner/online/model_snapshot.h
//
// An immutable published state of the online learner: the adapter tensors (detached copies) and
// the label set at publication. Readers hold a std::shared_ptr<const ModelSnapshot> for as long as
// they use it; the learner publishes a new one by atomic pointer swap and never mutates an old one.
// The base model is shared, never copied.
#ifndef PERENNIAL_LEARNER_ONLINE_MODEL_SNAPSHOT_H_
#define PERENNIAL_LEARNER_ONLINE_MODEL_SNAPSHOT_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "learner/base/status.h"
#include "learner/model/clip_model.h"
#include "learner/model/pet.h"
#include "learner/model/tokenizer.h"

namespace perennial {

struct ModelSnapshot {
  // 0 for the snapshot the learner starts with; +1 per publication.
  int64_t version = 0;
  // Optimizer steps and stream samples the learner had taken when it published this.
  int64_t step = 0;
  int64_t samples_seen = 0;
  // Detached, requires_grad off (Adapters::Snapshot()).
  Adapters adapters;
  // Every label the learner had seen, in order of first appearance.
  std::vector<std::string> labels;
};

// For each row of `pixels` [N, 3, R, R], the index into `labels` of the best zero-shot match
// (class texts built from `templates`), as an int64 [N] CPU tensor. `adapters` may be null (the
// base model). Runs without autograd; LibTorch errors become Status.
StatusOr<torch::Tensor> PredictLabels(const ClipModel& model, const Tokenizer& tokenizer,
                                      const Adapters* adapters, const torch::Tensor& pixels,
                                      const std::vector<std::string>& labels,
                                      const std::vector<std::string>& templates);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_ONLINE_MODEL_SNAPSHOT_H_
