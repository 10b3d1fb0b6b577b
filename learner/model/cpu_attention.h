// File: learner/model/cpu_attention.h
//
// softmax(scale * Q K^T [+ mask]) V on the CPU, for LibTorch builds without a fused
// scaled_dot_product_attention (1.13), and for the text tower's masked few-position heads in any
// build. ATen's bmm runs each head's small product with all BLAS threads and ~10 us of
// bookkeeping per matrix (a 65 x 64 x 65 head computes in a few us). Here the heads are split
// between LibTorch's intra-op threads, each head's products are single-threaded SmallGemm calls
// (cpu_small_gemm.h: AVX-512 where the CPU has it), and q, k and v are read where they lie:
// views of the q/k/v map's output need no copy into heads-first order, and the output needs none
// out of it. The backward is written by hand from the saved probabilities.
#ifndef PERENNIAL_LEARNER_MODEL_CPU_ATTENTION_H_
#define PERENNIAL_LEARNER_MODEL_CPU_ATTENTION_H_

#include <torch/torch.h>

namespace perennial {

// q: [N, H, Lq, D], k, v: [N, H, Lk, D], CPU, one floating dtype, any strides (the [N, L, H, D]
// output of a projection, transposed, is read in place). Returns softmax(scale q k^T) v as
// [N, H, Lq, D] in q's dtype, a view of an [N, Lq, H, D] tensor (so that transpose(1, 2) and a
// reshape to [N, Lq, H D] copy nothing); differentiable in q, k and v. Sums and the softmax in
// fp32 whatever the dtype. Scores left out of the softmax: with `causal` (Lq == Lk), the key
// positions after the query's; with `hidden` defined instead, a bool [N, Lq, Lk], those where
// hidden[n] is true, for every head of sequence n. A query that sees no key gets NaN, as with
// ATen's softmax.
torch::Tensor CpuAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           double scale, bool causal, const torch::Tensor& hidden = {});

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_CPU_ATTENTION_H_
