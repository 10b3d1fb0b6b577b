// File: bench/graphed_image_tower.h
//
// The SIT step's image tower, forward and backward, replayed as two CUDA graphs: what the eager
// step loses to the host (a ViT-B/16 bf16 step launches ~2,000 kernels; at batch 256 the GPU
// idled 11% of it, at batch 64 the step was bound by the host). perennial-bench --cuda-graph 1
// times the SIT step with it beside the eager one.
//
// The graph is cut at the tower's output, as the learner's image parts are
// (sharded_image_encoder.h): Forward() returns features that are a leaf of the eager graph, the
// text tower, loss and optimizer stay eager, and Backward() replays the tower's backward from
// the gradient that leaf received. Everything the graphs read must stay where it was at
// capture: the pixels tensor (write new images into it), the model's weights and the adapters'
// tensors (updated in place by the optimizer). Builds without CUDA graphs in LibTorch throw from
// Capture().
#ifndef PERENNIAL_BENCH_GRAPHED_IMAGE_TOWER_H_
#define PERENNIAL_BENCH_GRAPHED_IMAGE_TOWER_H_

#include <torch/torch.h>

#include <memory>

#include "learner/model/clip_model.h"
#include "learner/model/pet.h"

namespace perennial::bench {

class GraphedImageTower {
 public:
  // Runs the tower eagerly a few times (cuBLAS and cuDNN pick their kernels and workspaces
  // outside the capture), then captures one forward and one backward on a side stream. `model`,
  // `adapters` and `pixels` (on the model's CUDA device) must outlive the object. Throws
  // c10::Error when this LibTorch has no CUDA graphs or the capture fails.
  static std::unique_ptr<GraphedImageTower> Capture(const ClipModel& model,
                                                    const Adapters& adapters,
                                                    const torch::Tensor& pixels);
  ~GraphedImageTower();

  // Replays the forward: [N, E] features of the pixels tensor's current contents, as a fresh
  // leaf that requires grad (valid until the next Forward()).
  torch::Tensor Forward();

  // Replays the backward from the gradient of Forward()'s leaf and sets each image-tower adapter
  // tensor's grad to its result (buffers the next Backward() overwrites).
  void Backward(const torch::Tensor& features_grad);

  struct Impl;

 private:
  explicit GraphedImageTower(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace perennial::bench

#endif  // PERENNIAL_BENCH_GRAPHED_IMAGE_TOWER_H_
