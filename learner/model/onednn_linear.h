// File: learner/model/onednn_linear.h
//
// y = x W^T + b for a frozen fp32 weight on CPU, multiplied by oneDNN instead of the BLAS that
// LibTorch was built with (onednn_matrix.h says why).
//
// Gradients flow to x (LoRA and adapters need them) through a second packed copy, of W^T;
// W itself gets no gradient, so weights that train (pretraining) must not be packed.
#ifndef PERENNIAL_LEARNER_MODEL_ONEDNN_LINEAR_H_
#define PERENNIAL_LEARNER_MODEL_ONEDNN_LINEAR_H_

#include <torch/torch.h>

#include "learner/model/onednn_matrix.h"

namespace perennial {

// A weight packed for oneDNN, and its bias; all undefined when not packed.
struct PackedLinear {
  OneDnnMatrix weight;    // W [out, in]
  OneDnnMatrix weight_t;  // W^T [in, out], for the gradient of x; undefined if not requested
  torch::Tensor bias;     // [out] fp32, contiguous; undefined when the linear map has none
  // `weight` and `weight_t` hold scale * W: a factor the caller folded into the map (QuickGELU's
  // 1.702, transformer.h). `bias` is packed as the caller gave it. Default: 1.
  double scale = 1;

  bool defined() const { return weight.defined(); }
};

// Packs `weight` [out, in] and `bias` ([out] or undefined). Returns an undefined PackedLinear
// when oneDNN is unavailable, or the weight is not a contiguous fp32 CPU tensor, or it requires
// grad. `for_backward` also packs W^T (twice the memory) so that x can get gradients.
PackedLinear PackLinear(const torch::Tensor& weight, const torch::Tensor& bias, bool for_backward);

// x: [..., in] fp32 on CPU. Differentiable in x when `packed.weight_t` is defined; otherwise x
// must not require grad (checked).
torch::Tensor OneDnnLinear(const torch::Tensor& x, const PackedLinear& packed);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_ONEDNN_LINEAR_H_
