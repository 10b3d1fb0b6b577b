// File: learner/pretrain/contrastive_loss.h
//
// CLIP's symmetric InfoNCE loss for a batch whose captions may repeat. Short captions recur inside
// a batch of the synthetic world ("a photo of a circle."); treating a second image with the same
// caption as a negative would push apart exactly the pairs that should match. So the batch's
// captions are deduplicated by exact text, and the loss takes a matrix of positives: a caption
// shared by k images has all k as positives (soft target 1/k each), and a caller that knows every
// caption true of an image (the synthetic world does) can mark those positives too.
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

// [N, M] float32 indicator of "caption m is a positive of image n" when each image's positive is
// only its own caption (caption_index [N] in [0, M)): CLIP's pairing, with shared texts shared.
torch::Tensor OwnCaptionPositives(const torch::Tensor& caption_index, int64_t num_texts);

// image_features [N, E] and text_features [M, E] (unnormalised), positives [N, M] with at least one
// non-zero in every row and column, logit_scale the exp'ed temperature (a scalar that may require
// grad). Returns the scalar loss
//   0.5 * (CE_image->text + CE_text->image),
// each direction a cross-entropy against targets uniform over that row's (column's) positives.
// For distinct captions (M = N, positives = identity) it is exactly CLIP's loss.
torch::Tensor ContrastiveLoss(const torch::Tensor& image_features,
                              const torch::Tensor& text_features, const torch::Tensor& positives,
                              const torch::Tensor& logit_scale);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_PRETRAIN_CONTRASTIVE_LOSS_H_
