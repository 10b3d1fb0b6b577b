// File: learner/pretrain/contrastive_loss.h
//
// CLIP's symmetric InfoNCE loss for a batch whose captions may repeat. Short captions recur inside
// a batch of the synthetic world ("a photo of a circle."); treating a second image with the same
// caption as a negative would push apart exactly the pairs that should match. So the batch's
// captions are deduplicated by exact text: image i's positive is its caption's row, and a caption
// shared by k images has all k as positives (soft target 1/k each) in the text-to-image direction.
#ifndef PERENNIAL_LEARNER_PRETRAIN_CONTRASTIVE_LOSS_H_
#define PERENNIAL_LEARNER_PRETRAIN_CONTRASTIVE_LOSS_H_

#include <torch/torch.h>

#include <string>
#include <vector>

namespace perennial {

// The distinct texts of `captions` in order of first appearance and, for each caption, the index
// of its text in that list.
struct UniqueCaptions {
  std::vector<std::string> texts;
  std::vector<int64_t> index_of;  // one per input caption
};
UniqueCaptions DeduplicateCaptions(const std::vector<std::string>& captions);

// image_features [N, E] and text_features [M, E] (unnormalised), caption_index [N] int64 in
// [0, M) with every text used at least once, logit_scale the exp'ed temperature (a scalar that
// may require grad). Returns the scalar loss
//   0.5 * (CE_image->text with hard targets + CE_text->image with uniform targets over the images
//          sharing the text),
// which for distinct captions (M = N, caption_index = 0..N-1) is exactly CLIP's loss.
torch::Tensor ContrastiveLoss(const torch::Tensor& image_features,
                              const torch::Tensor& text_features,
                              const torch::Tensor& caption_index, const torch::Tensor& logit_scale);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_PRETRAIN_CONTRASTIVE_LOSS_H_
