// File: learner/model/lora_linear.h
//
// A frozen linear map and its LoRA delta as one autograd node:
//
//   y = base_scale * x W^T + bias + lora_scale * (x A^T) B^T
//
// Written as separate LibTorch ops, the same map costs ~6 autograd nodes (the casts of A and B,
// the two thin products, the in-place accumulate, the base map), and its backward computes the
// gradient of x twice, once per path, for the engine to add. Here the delta is merged into the
// weight (W' = base_scale W + lora_scale B A, out x in x rank multiply-adds, ~rank/N of the map's
// own product) and y = x W'^T + bias is one GEMM; x's gradient is g W', one GEMM, with W' kept
// from the forward. Adding the thin products' result to y instead reads and writes all of y (and
// of x's gradient) for almost no arithmetic: on an H100 those passes were 17% of a ViT-B/16 bf16
// SIT step. Rounding is the same order either way: W' is rounded once to x's dtype, as y is when
// the delta is added to it. A and B are cast inside the node. On CPU the base product goes
// through the packed oneDNN weights when they are there: for batches of at least max(out, in)
// rows the node merges the delta and packs W' (and W'^T) for the step; for fewer rows the
// delta's products are added to y and to x's gradient in place (one GEMM with beta = 1 each).
#ifndef PERENNIAL_LEARNER_MODEL_LORA_LINEAR_H_
#define PERENNIAL_LEARNER_MODEL_LORA_LINEAR_H_

#include <torch/torch.h>

#include <vector>

#include "learner/model/onednn_linear.h"
#include "learner/model/pet.h"

namespace perennial {

// The frozen part of the map. `weight` [out, in] and `bias` [out] are in x's dtype; `bias` is
// already multiplied by whatever scale the caller folds into the map. `packed` (oneDNN, with its
// own bias, scaled likewise) is used instead when it serves x (PackedLinear::Serves with
// base_scale).
struct LoraLinearBase {
  torch::Tensor weight;
  torch::Tensor bias;
  PackedLinear packed;
  double base_scale = 1;
  // On CUDA, the backward's two products that read the output gradient (g B, g^T t) run as one
  // pass over it where the kernel applies (fused_lora_grad.h). Default: off.
  bool fused_kernels = false;
  // Returns SiLU(y) instead of y (the MLP's first map; QuickGELU with its scales folded,
  // transformer.cc), as one node: on CUDA, where the kernel applies and fused_kernels asks,
  // SiLU's backward and the two thin products then take one pass over the gradient
  // (FusedSiluLoraGradPass); elsewhere ATen's silu and silu_backward run. Not with chunks.
  // Default: off.
  bool silu_output = false;
  // With silu_output: the A [r, out] of the map that reads SiLU(y) next (the MLP's second map),
  // in y's dtype. Where the node records a backward it then also returns t_next = SiLU(y)
  // next_a^T [N, r] after y (not differentiable: the next map's node only keeps it for its
  // backward, as `t`), from the pass that applies SiLU on CUDA where the kernel applies and
  // fused_kernels asks (FusedSiluThinProduct: SiLU(y) is not read back), else from one product.
  // Default: undefined.
  torch::Tensor next_a = {};
  // x2d A^T for this node's A in x's dtype, when the caller has it already (the previous node's
  // t_next): the node then uses it instead of computing it. Default: undefined.
  torch::Tensor t = {};
};

// x2d: [N, in]. `lora.a` [r, in] and `lora.b` [out, r] may be fp32 masters of a lower-precision
// x2d; their gradients come back in their own dtype. Returns a fresh [N, out] tensor (never a
// view). Differentiable in x2d, A and B; gradients to `base` are never computed (it is frozen).
// `base.next_a` does not apply here (LoraLinearChunks returns t_next).
// LoRA dropout is not applied here: callers that train with dropout compose the ops instead.
torch::Tensor LoraLinear(const torch::Tensor& x2d, const LoraLinearBase& base, const LoraPair& lora,
                         double lora_scale);

// As LoraLinear, with y returned as `chunks` equal column blocks, [N, out / chunks] each (views
// of one buffer; `out` must divide). Their gradients reach the backward apart and stay apart:
// x's gradient is the sum of g_i W'_i over the blocks (GEMMs accumulating into one output), g B
// the sum of g_i B_i, and B's gradient the blocks g_i^T t stacked. A split of LoraLinear's
// output would instead concatenate them into one [N, out] tensor in its backward: for q, k and v,
// whose gradients attention's backward writes apart, a copy of all of them per block. Where x's
// gradient goes through packed oneDNN weights (CPU), the backward concatenates them after all.
// In low precision x's gradient is rounded once per block instead of once. With
// `base.next_a` (and a recorded backward) t_next follows the blocks (LoraLinearBase::next_a).
std::vector<torch::Tensor> LoraLinearChunks(const torch::Tensor& x2d, const LoraLinearBase& base,
                                            const LoraPair& lora, double lora_scale,
                                            int64_t chunks);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_LORA_LINEAR_H_
