// File: learner/model/fused_lora_grad.h
//
// The two products of a LoRA map's backward that read its output gradient g, in one pass over
// g on CUDA (lora_grad_kernels.h):
//
//   gt = g B     the gradient of t = x A^T
//   gb = g^T t   B's gradient
//
// both unscaled, in fp32. Elsewhere, and for inputs the kernel does not take, FusedLoraGradPass
// returns nullopt and the caller multiplies with ATen.
// TODO(issue 8): on an H100 (session 24), the step with session 21's kernel (kStaged) took 3%
// longer than with the two products; the other pipelines are under measurement.
#ifndef PERENNIAL_LEARNER_MODEL_FUSED_LORA_GRAD_H_
#define PERENNIAL_LEARNER_MODEL_FUSED_LORA_GRAD_H_

#include <torch/torch.h>

#include <optional>

#include "learner/model/lora_grad_pass_pipeline.h"

namespace perennial {

struct LoraGradProducts {
  torch::Tensor gt;  // [rows, rank] fp32
  torch::Tensor gb;  // [cols, rank] fp32
  // FusedSiluLoraGradPass only: the gradient both products were taken of, [rows, cols] in g's
  // dtype.
  torch::Tensor g;
};

// g: [rows, cols]; b: [cols, rank]; t: [rows, rank]; one CUDA device and dtype (bf16 or fp16),
// contiguous. Not differentiable (it runs inside a backward). nullopt where the kernel does not
// apply: no kernels in this build, not CUDA, fp32, rank other than 8, cols not a multiple of 8.
// `pipeline`: how the kernel moves g (lora_grad_pass_pipeline.h); the same products whichever.
std::optional<LoraGradProducts> FusedLoraGradPass(
    const torch::Tensor& g, const torch::Tensor& b, const torch::Tensor& t,
    LoraGradPassPipeline pipeline = LoraGradPassPipeline::kPrefetch);

// The same pass with SiLU's backward in front: `silu_grad` is the gradient of SiLU's output and
// `silu_input` ([rows, cols], same dtype and device, contiguous) its input. The products are
// taken of g = silu_backward(silu_grad, silu_input), which comes back as well (as ATen's
// silu_backward would compute it). nullopt where FusedLoraGradPass would decline.
std::optional<LoraGradProducts> FusedSiluLoraGradPass(
    const torch::Tensor& silu_grad, const torch::Tensor& silu_input, const torch::Tensor& b,
    const torch::Tensor& t, LoraGradPassPipeline pipeline = LoraGradPassPipeline::kPrefetch);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_FUSED_LORA_GRAD_H_
