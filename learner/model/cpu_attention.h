// File: learner/model/cpu_attention.h
//
// softmax(scale * Q K^T [+ causal mask]) V on CPU for LibTorch builds without a fused
// scaled_dot_product_attention (1.13). ATen's bmm runs each head's small GEMM with all BLAS
// threads, which on 2 threads is slower than one (65x64x65: 560 us vs 300 us per batch); here
// the heads are split between the threads instead and each runs single-threaded GEMMs, in the
// forward and in a hand-written backward. Each head's GEMM is one call into the process's BLAS
// where CMake found one (PERENNIAL_FORTRAN_BLAS), else ATen's bmm: for the few-position heads
// of prompt suffixes and read rows (7 x 64 x 12) ATen's fp32 bmm spends ~2 us a matrix on
// bookkeeping around a product of under 1 us.
#ifndef PERENNIAL_LEARNER_MODEL_CPU_ATTENTION_H_
#define PERENNIAL_LEARNER_MODEL_CPU_ATTENTION_H_

#include <torch/torch.h>

namespace perennial {

// q: [B, Lq, D], k, v: [B, Lk, D], fp32 CPU (B = batch x heads). Returns [B, Lq, D];
// differentiable in q, k, v. Scores left out of the softmax: with `causal` (Lq == Lk), the key
// positions after the query's; with `hidden` defined instead, a bool [G, Lq, Lk] with B a
// multiple of G, those where hidden[b / (B / G)] is true (one mask for the B / G heads of a
// sequence). A query that sees no key gets NaN, as with ATen's softmax.
torch::Tensor CpuAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           double scale, bool causal, const torch::Tensor& hidden = {});

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_CPU_ATTENTION_H_
