// File: learner/model/cpu_small_gemm.h
//
// One single-threaded fp32 product of small matrices, for the CPU attention's per-head products
// (cpu_attention.h: 65 x 64 x 65 for the default model's image tower, a few rows for prompt
// suffixes). BLAS is built for large products: OpenBLAS 0.3.21 (Debian 12) runs its AVX2 kernel
// on AVX-512 CPUs it does not know and packs both operands on every call, ~72 GFLOP/s on 65 x
// 64 x 65 here. With AVX-512 this is a register-blocked kernel that reads A and B where they
// lie (only a transposed B is copied, once per call); elsewhere the process's BLAS, else ATen.
#ifndef PERENNIAL_LEARNER_MODEL_CPU_SMALL_GEMM_H_
#define PERENNIAL_LEARNER_MODEL_CPU_SMALL_GEMM_H_

#include <c10/util/BFloat16.h>

#include <cstdint>

namespace perennial {

// A row-major fp32 matrix in memory: element (i, j) at data[i * ld + j].
struct ConstMatrix {
  const float* data;
  int64_t ld;
};

// c = alpha op(a) op(b), op(x) = x^T where asked, op(a) [m, k], op(b) [k, n]; c [m, n] with
// leading dimension ldc is overwritten (never read). Runs on the calling thread only. Sums in
// fp32 in k order per output on the AVX-512 path.
void SmallGemm(int64_t m, int64_t n, int64_t k, float alpha, ConstMatrix a, bool transpose_a,
               ConstMatrix b, bool transpose_b, float* c, int64_t ldc);

// The operands and results of bf16 callers: `rows` rows of `cols` values, leading dimension ld on
// the bf16 side, dense on the fp32 side. To bf16 rounds to nearest even, NaN stays NaN (as
// c10::BFloat16 does).
void Bf16RowsToFloat(const c10::BFloat16* src, int64_t ld, int64_t rows, int64_t cols, float* dst);
void FloatRowsToBf16(const float* src, int64_t rows, int64_t cols, c10::BFloat16* dst, int64_t ld);

// Which kernel SmallGemm runs on this machine: "avx512", "blas" or "aten".
const char* SmallGemmKernel();

namespace small_gemm_internal {
// SmallGemm without AVX-512: the process's BLAS, else ATen. Exposed for tests.
void PortableGemm(int64_t m, int64_t n, int64_t k, float alpha, ConstMatrix a, bool transpose_a,
                  ConstMatrix b, bool transpose_b, float* c, int64_t ldc);
}  // namespace small_gemm_internal

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_CPU_SMALL_GEMM_H_
