#include "learner/pretrain/contrastive_loss.h"

#include <unordered_map>

namespace perennial {

UniqueCaptions DeduplicateCaptions(const std::vector<std::string>& captions) {
  UniqueCaptions out;
  std::unordered_map<std::string, int64_t> seen;
  out.index_of.reserve(captions.size());
  for (const std::string& caption : captions) {
    auto [it, inserted] = seen.emplace(caption, static_cast<int64_t>(out.texts.size()));
    if (inserted) out.texts.push_back(caption);
    out.index_of.push_back(it->second);
  }
  return out;
}

torch::Tensor OwnCaptionPositives(const torch::Tensor& caption_index, int64_t num_texts) {
  return torch::nn::functional::one_hot(caption_index.to(torch::kLong), num_texts)
      .to(torch::kFloat32);
}

torch::Tensor ContrastiveLoss(const torch::Tensor& image_features,
                              const torch::Tensor& text_features, const torch::Tensor& positives,
                              const torch::Tensor& logit_scale) {
  namespace F = torch::nn::functional;
  const auto unit = F::NormalizeFuncOptions().dim(-1);
  const torch::Tensor image = F::normalize(image_features, unit);
  const torch::Tensor text = F::normalize(text_features, unit);
  const torch::Tensor logits = logit_scale * torch::matmul(image, text.t());  // [N, M]
  const torch::Tensor p = positives.to(logits.device(), logits.scalar_type());
  const torch::Tensor per_image = p / p.sum(1, /*keepdim=*/true);
  const torch::Tensor per_text = p.t() / p.sum(0).unsqueeze(1);
  const torch::Tensor image_to_text = -(per_image * torch::log_softmax(logits, 1)).sum(1).mean();
  const torch::Tensor text_to_image = -(per_text * torch::log_softmax(logits.t(), 1)).sum(1).mean();
  return 0.5 * (image_to_text + text_to_image);
}

}  // namespace perennial
