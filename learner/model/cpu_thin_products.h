// File: learner/model/cpu_thin_products.h
//
// A LoRA map's rank-8 products on the CPU, both from one pass over the wide operand m:
//
//   mb = s m B      [rows, 8]   t = x A^T in the forward; gt = s g B in the backward
//   mt = s m^T t    [cols, 8]   B's gradient s g^T t; A's gradient (gt^T x) transposed
//
// BLAS runs each as a GEMM with 8 output columns or rows, which it blocks poorly: OpenBLAS fp32
// reaches ~30-50 GFLOP/s on them here, oneDNN bf16 ~100-200, and each reads m again. This reads
// m once per product or pair of products. fp32 with AVX-512: one 16-float vector holds two
// columns' 8 products, so a product of m's element pair with B's two rows is one FMA and no
// vector is ever summed across its lanes inside the loop. bf16 with AVX-512 BF16 dot products
// (cpu_thin_products_bf16.cc): four columns' 8 products per instruction for mb, two columns'
// and two rows' for mt. bench/thin_products_bench.cc times both against ATen.
#ifndef PERENNIAL_LEARNER_MODEL_CPU_THIN_PRODUCTS_H_
#define PERENNIAL_LEARNER_MODEL_CPU_THIN_PRODUCTS_H_

#include <torch/torch.h>

#include <optional>

namespace perennial {

struct CpuThinProducts {
  torch::Tensor mb;  // [rows, 8] in m's dtype; undefined unless b was given
  torch::Tensor mt;  // [cols, 8] fp32; undefined unless t was given
};

// m: [rows, cols], CPU, unit column stride (any row stride); fp32, or bf16 with cols a
// multiple of 16 on an AMD CPU with AVX-512 BF16 (CpuHasBf16ThinPass). b: [cols, 8], t: [rows, 8],
// either undefined (then that product is not taken), any float dtype and layout (read as fp32 with
// fp32 m; with bf16 m as bf16, t rounded to it if it is not). Sums in fp32; rows split between
// LibTorch's intra-op threads. Not differentiable (it runs inside a node's forward or backward).
// nullopt where the kernel does not apply: a CPU without AVX-512, not the CPU, another dtype, a
// rank other than 8, cols odd (fp32) or not a multiple of 16 (bf16), or neither b nor t.
std::optional<CpuThinProducts> CpuThinPass(const torch::Tensor& m, const torch::Tensor& b,
                                           const torch::Tensor& t, double scale);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_CPU_THIN_PRODUCTS_H_
