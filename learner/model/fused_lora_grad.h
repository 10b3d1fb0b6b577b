// File: learner/model/fused_lora_grad.h
//
// The two products of a LoRA map's backward that read its output gradient g, in one pass over
// g on CUDA (lora_grad_kernels.h):
//
//   gt = s g B     the gradient of t = x A^T, in g's dtype
//   gb = s g^T t   B's gradient, in fp32 (summed with atomics: not bitwise reproducible)
//
// s the LoRA scale. Elsewhere, and for inputs the kernel does not take, FusedLoraGradPass
// returns nullopt and the caller multiplies with ATen.
// Session 24's step was 0.5-3% slower with it: gb's partial sums and gt's cast cost what the
// pass saved. Both moved into the kernel afterwards (gb by atomics, gt scaled in g's dtype),
// and in session 26 the step was 3-4% faster with it on an H200 and an H100: the default since
// (ModelOptions::fused_lora_grad, bench/README.md).
#ifndef PERENNIAL_LEARNER_MODEL_FUSED_LORA_GRAD_H_
#define PERENNIAL_LEARNER_MODEL_FUSED_LORA_GRAD_H_

#include <torch/torch.h>

#include <optional>

#include "learner/model/lora_grad_pass_pipeline.h"

namespace perennial {

struct LoraGradProducts {
  torch::Tensor gt;  // [rows, rank], s g B
  torch::Tensor gb;  // [cols, rank], s g^T t
  // FusedSiluLoraGradPass only: the gradient both products were taken of, [rows, cols] in g's
  // dtype.
  torch::Tensor g;
};

// g: [rows, cols]; b: [cols, rank]; t: [rows, rank]; one CUDA device and dtype (bf16 or fp16),
// contiguous. Not differentiable (it runs inside a backward). nullopt where the kernel does not
// apply: no kernels in this build, not CUDA, fp32, rank other than 8, cols not a multiple of 8.
// `scale`: s. `pipeline`: how the kernel moves g (lora_grad_pass_pipeline.h); the same products
// whichever.
std::optional<LoraGradProducts> FusedLoraGradPass(
    const torch::Tensor& g, const torch::Tensor& b, const torch::Tensor& t, double scale,
    LoraGradPassPipeline pipeline = LoraGradPassPipeline::kAsyncCopy);

// The same pass with SiLU's backward in front: `silu_grad` is the gradient of SiLU's output and
// `silu_input` ([rows, cols], same dtype and device, contiguous) its input. The products are
// taken of g = silu_backward(silu_grad, silu_input), which comes back as well (ATen's formula
// with approximate exp and division: within a rounding of ATen's). nullopt where
// FusedLoraGradPass would decline.
std::optional<LoraGradProducts> FusedSiluLoraGradPass(
    const torch::Tensor& silu_grad, const torch::Tensor& silu_input, const torch::Tensor& b,
    const torch::Tensor& t, double scale,
    LoraGradPassPipeline pipeline = LoraGradPassPipeline::kAsyncCopy);

// The forward's counterpart (same kernels): h = SiLU(u) and t = h A^T in one pass over u, so
// that the map that reads h (the MLP's second, whose LoRA A is `a` [rank, cols]) need not read
// it again for its t. u: [rows, cols], CUDA, bf16 or fp16, contiguous; `a` in u's dtype, any
// layout. SiLU with approximate exp and division (within a rounding of ATen's silu); t in u's
// dtype. Not differentiable (the caller's node records the backward). nullopt where
// FusedLoraGradPass would decline the same shapes.
// Written after session 24's device time; tested and timed on an H200 and an H100 in session 26.
struct SiluThinProduct {
  torch::Tensor h;  // [rows, cols]
  torch::Tensor t;  // [rows, rank]
};
std::optional<SiluThinProduct> FusedSiluThinProduct(
    const torch::Tensor& u, const torch::Tensor& a,
    LoraGradPassPipeline pipeline = LoraGradPassPipeline::kAsyncCopy);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_FUSED_LORA_GRAD_H_
