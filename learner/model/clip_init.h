// File: learner/model/clip_init.h
//
// Fresh CLIP weights and the configurations of the released architectures, for training from
// scratch (perennial pretrain) and for benchmarks that need the real shapes but not the weights.
#ifndef PERENNIAL_LEARNER_MODEL_CLIP_INIT_H_
#define PERENNIAL_LEARNER_MODEL_CLIP_INIT_H_

#include <torch/torch.h>

#include <map>
#include <string>

#include "learner/base/status.h"
#include "learner/model/clip_config.h"

namespace perennial {

// The released OpenAI architectures by name: "ViT-B/32", "ViT-B/16", "ViT-L/14".
StatusOr<ClipConfig> NamedClipConfig(const std::string& name);

// Tensors in the OpenAI key layout (fp32, CPU) initialised as the reference
// CLIP.initialize_parameters() does (normal with the reference standard deviations; zero biases,
// unit LayerNorm gains; logit_scale = log(1/0.07)). Deterministic in `seed`.
std::map<std::string, torch::Tensor> InitClipTensors(const ClipConfig& config, uint64_t seed);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_CLIP_INIT_H_
