// File: learner/model/cpu_silu.h
//
// SiLU, y = x sigmoid(x), and its backward: the MLP activation of QuickGELU models (CLIP's
// released architectures; transformer.cc folds QuickGELU's 1.702 into the maps around it).
// Debian's LibTorch 1.13 runs CPU SiLU on bf16 without vector code: a ViT-B/32 layer's [800,
// 3072] took 3.9 ms forward and 4.8 ms backward on 2 threads (0.6 and 0.9 ms in fp32), ~13% of a
// bf16 SIT step. Here, on a CPU with AVX-512, fp32 and bf16 run one vector pass each way
// (avx512::Exp, math in fp32, bf16 results rounded to nearest even). Any other case (device,
// dtype, CPU) runs ATen's silu / silu_backward.
#ifndef PERENNIAL_LEARNER_MODEL_CPU_SILU_H_
#define PERENNIAL_LEARNER_MODEL_CPU_SILU_H_

#include <torch/torch.h>

namespace perennial {

// x / (1 + exp(-x)), as ATen computes it (NaN stays NaN, -inf gives NaN). No autograd record:
// for use inside autograd nodes (lora_linear.cc) and under NoGradGuard.
torch::Tensor SiluForward(const torch::Tensor& x);

// grad * s (1 + x (1 - s)), s = sigmoid(x): the gradient of SiluForward's input.
torch::Tensor SiluBackward(const torch::Tensor& grad, const torch::Tensor& x);

// SiluForward with autograd (its backward is SiluBackward): one node, x saved.
torch::Tensor Silu(const torch::Tensor& x);

// Which kernel SiluForward runs for x: "avx512" or "aten".
const char* SiluKernel(const torch::Tensor& x);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_CPU_SILU_H_
