// File: learner/model/fused_add_layer_norm.h
//
// The residual stream's add and the LayerNorm that reads it, as one op, on CUDA and on the CPU:
//
//   sum = x + branch   (rounded to x's dtype, as the separate add rounds it)
//   normed = LayerNorm(sum) with gamma, beta, eps
//
// In a pre-LayerNorm transformer every LayerNorm after the first reads such a sum. As separate
// ops the add reads two tensors and writes one, the LayerNorm reads that again and writes its
// output, and the backward writes the LayerNorm's input gradient only to read it back for the
// residual's add: 11 passes over [rows, width] per LayerNorm, 8 fused. On an H200 LayerNorm and
// the residual adds took ~14 ms of a ~113 ms ViT-B/16 bf16 SIT step at batch 512 (session 18).
//
// The CUDA kernels (add_layer_norm_kernels.cu) are built where LibTorch has CUDA and nvcc is
// found. The CPU kernels (add_layer_norm_cpu.h) are always built; they compute in fp32 whatever
// the activations' dtype, as the CPU's unfused path did with casts around ATen's layer_norm
// (~2x fewer microseconds per LayerNorm in bf16, forward and backward: bench/README.md).
// For inputs the kernels do not take, FusedAddLayerNorm returns nullopt and the caller runs its
// own ops.
#ifndef PERENNIAL_LEARNER_MODEL_FUSED_ADD_LAYER_NORM_H_
#define PERENNIAL_LEARNER_MODEL_FUSED_ADD_LAYER_NORM_H_

#include <torch/torch.h>

#include <optional>

namespace perennial {

struct AddLayerNormOutput {
  torch::Tensor sum;
  torch::Tensor normed;
};

// Whether this build has the fused CUDA kernels.
bool FusedCudaKernelsBuilt();

// x, branch: [..., width], same shape, dtype and device, contiguous. gamma, beta: [width],
// frozen (no gradient is computed for them). Differentiable in x and branch. On the CPU `branch`
// may be undefined: LayerNorm alone, and the returned sum is x. Returns nullopt where the
// kernels do not apply: CUDA without kernels in this build, widths or alignments the CUDA
// kernels do not take, CPU rows wider than 4,096, dtypes other than fp32/bf16 (fp16 too on
// CUDA), other shapes or layouts, or gamma/beta requiring grad.
std::optional<AddLayerNormOutput> FusedAddLayerNorm(const torch::Tensor& x,
                                                    const torch::Tensor& branch,
                                                    const torch::Tensor& gamma,
                                                    const torch::Tensor& beta, double eps);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_FUSED_ADD_LAYER_NORM_H_
