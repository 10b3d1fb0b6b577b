// File: learner/model/zero_shot.h
//
// Zero-shot classification: each label is embedded through every prompt template, the normalised
// text features are averaged and re-normalised into one class vector; an image's logits are
// exp(logit_scale) * cosine(image feature, class vector), probabilities their softmax.
#ifndef PERENNIAL_LEARNER_MODEL_ZERO_SHOT_H_
#define PERENNIAL_LEARNER_MODEL_ZERO_SHOT_H_

#include <torch/torch.h>

#include <string>
#include <vector>

#include "learner/base/status.h"
#include "learner/model/clip_model.h"
#include "learner/model/tokenizer.h"

namespace perennial {

// CLIP's own default prompt.
inline const std::vector<std::string>& DefaultTemplates() {
  static const std::vector<std::string> templates = {"a photo of a {}."};
  return templates;
}

// "a photo of a {}." + "cat" -> "a photo of a cat.". Every "{}" is replaced; a template without
// "{}" is an error (it would ignore the label).
StatusOr<std::string> FormatTemplate(const std::string& prompt_template, const std::string& label);

// [K, E] unit-norm class vectors for `labels` (K >= 1, no empty label) under `templates`
// (>= 1). `adapters` may be null (the base model). Runs without autograd.
StatusOr<torch::Tensor> ClassEmbeddings(const ClipModel& model, const Tokenizer& tokenizer,
                                        const std::vector<std::string>& labels,
                                        const std::vector<std::string>& templates,
                                        const Adapters* adapters = nullptr);

struct ZeroShotScores {
  torch::Tensor logits;  // [N, K] fp32
  torch::Tensor probs;   // [N, K] softmax over K
};

// image_features: [N, E] (unnormalised, as EncodeImage returns); class_embeddings: [K, E] unit.
ZeroShotScores ScoreZeroShot(const ClipModel& model, const torch::Tensor& image_features,
                             const torch::Tensor& class_embeddings);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_ZERO_SHOT_H_
