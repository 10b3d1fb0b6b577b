// File: learner/model/onednn_linear.h
//
// y = x W^T + b for a frozen fp32 or bf16 weight on CPU, multiplied by oneDNN instead of the
// BLAS (fp32) or ATen's per-call oneDNN path (bf16) that LibTorch uses (onednn_matrix.h says why).
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
  // True when this packing multiplies x for a map whose scales multiply to `scale`: x on CPU,
  // of the packed dtype. Callers fall back to the plain weight otherwise.
  bool Serves(const torch::Tensor& x, double map_scale) const {
    return defined() && scale == map_scale && x.device().is_cpu() &&
           x.scalar_type() == weight.dtype();
  }
};

// Packs `weight` [out, in] and `bias` ([out] or undefined). Returns an undefined PackedLinear
// when oneDNN cannot multiply the weight's dtype here (OneDnnAvailable), or the weight is not a
// CPU matrix, or it requires grad. `for_backward` also packs W^T (twice the memory) so that x
// can get gradients.
PackedLinear PackLinear(const torch::Tensor& weight, const torch::Tensor& bias, bool for_backward);

// x: [..., in] on CPU, of the packed dtype. Differentiable in x when `packed.weight_t` is
// defined; otherwise x must not require grad (checked).
torch::Tensor OneDnnLinear(const torch::Tensor& x, const PackedLinear& packed);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_ONEDNN_LINEAR_H_
