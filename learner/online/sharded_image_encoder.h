// File: learner/online/sharded_image_encoder.h
//
// The image tower's training forward and backward for one batch, split into parts that run on
// threads of their own. A small model on CPU (the embedded default model: width 128, 65 tokens
// per image) is made of ops too small for LibTorch's intra-op threads: on 2 cores its SIT step
// ran no faster on 2 threads than on 1. Parts of the batch, each on one thread with its own
// share of the intra-op threads, keep both cores busy instead.
//
// The graph is cut at each part's output: Encode() returns features whose autograd path stops
// at per-part leaves, so the loss's backward covers the rest of the step (text tower, head) on
// the calling thread, and Backward() then runs each part's image-tower backward on its thread.
// Gradients of shared adapter tensors add up across parts (AccumulateGrad is thread-safe).
#ifndef PERENNIAL_LEARNER_ONLINE_SHARDED_IMAGE_ENCODER_H_
#define PERENNIAL_LEARNER_ONLINE_SHARDED_IMAGE_ENCODER_H_

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <vector>

#include "learner/base/helper_thread.h"
#include "learner/model/clip_model.h"
#include "learner/model/pet.h"

namespace perennial {

class ShardedImageEncoder {
 public:
  // `parts` >= 1; `model` must outlive this object. Parts 1 .. parts - 1 run on helper threads
  // (helper_thread.h) that live as long as the encoder, started by the first Encode() and
  // pausing for queries as the calling thread does. Encode() and Backward() must be called from
  // one thread at a time.
  ShardedImageEncoder(const ClipModel* model, int parts);
  ShardedImageEncoder(const ShardedImageEncoder&) = delete;
  ShardedImageEncoder& operator=(const ShardedImageEncoder&) = delete;

  // [N, E] image features of `pixels` [N, 3, R, R] with `adapters` in training mode. Splits
  // into min(parts, N) parts. The calling thread's intra-op thread count is divided among them
  // and put back before returning. Exceptions from any part are rethrown here.
  torch::Tensor Encode(const torch::Tensor& pixels, const Adapters* adapters);

  // Runs each part's backward from the gradient its cut point received; call after the loss's
  // backward. Parts whose cut point got no gradient are skipped.
  void Backward();

 private:
  // Runs part(0) .. part(n - 1), 0 on the calling thread and i on helper i - 1, each with its
  // share of the caller's intra-op threads; restores the caller's count, waits for every part
  // and rethrows the first failure.
  void RunParts(int n, const std::function<void(int)>& part);

  const ClipModel* model_;
  int parts_;
  std::vector<torch::Tensor> outputs_;  // each part's features, with the tower's graph
  std::vector<torch::Tensor> cuts_;     // detached leaves standing in for `outputs_`
  std::vector<std::unique_ptr<HelperThread>> helpers_;  // parts_ - 1 once the first part ran
};

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_ONLINE_SHARDED_IMAGE_ENCODER_H_
