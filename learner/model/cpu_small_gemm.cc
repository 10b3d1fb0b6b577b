// File: learner/model/cpu_small_gemm.cc
//
// The AVX-512 kernel: C in blocks of up to 4 rows x 80 columns (5 vectors, the last one masked),
// all 20 sums in registers over the whole k loop; each step broadcasts one element of A per row
// and loads one row of B's block, which stays in L1 across the row blocks. A transposed A is
// read in place (its elements are broadcast one at a time anyway); a transposed B is copied to
// row-major first, 16 x 16 at a time with register transposes. AVX-512 code is compiled per
// function (target attribute), not with a global flag, and runs only where the CPU has it.
#include "learner/model/cpu_small_gemm.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "learner/model/cpu_avx512.h"

namespace perennial {
namespace {

#if PERENNIAL_FORTRAN_BLAS
// The process's BLAS (the one LibTorch links; OpenBLAS with libopenblas0-openmp), Fortran ABI.
extern "C" void sgemm_(const char* transa, const char* transb, const int* m, const int* n,
                       const int* k, const float* alpha, const float* a, const int* lda,
                       const float* b, const int* ldb, const float* beta, float* c, const int* ldc);

void BlasGemm(int64_t m, int64_t n, int64_t k, float alpha, ConstMatrix a, bool transpose_a,
              ConstMatrix b, bool transpose_b, float* c, int64_t ldc) {
  const int mi = static_cast<int>(m), ni = static_cast<int>(n), ki = static_cast<int>(k);
  const int lda = static_cast<int>(a.ld), ldb = static_cast<int>(b.ld);
  const int ldci = static_cast<int>(ldc);
  const float beta = 0;
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: B's operand comes first.
  const char op_a = transpose_a ? 'T' : 'N', op_b = transpose_b ? 'T' : 'N';
  sgemm_(&op_b, &op_a, &ni, &mi, &ki, &alpha, b.data, &ldb, a.data, &lda, &beta, c, &ldci);
}

#else
void AtenGemm(int64_t m, int64_t n, int64_t k, float alpha, ConstMatrix a, bool transpose_a,
              ConstMatrix b, bool transpose_b, float* c, int64_t ldc) {
  auto view = [](const float* data, int64_t rows, int64_t cols, int64_t ld, bool transposed) {
    const torch::Tensor t = torch::from_blob(
        const_cast<float*>(data),
        transposed ? torch::IntArrayRef{cols, rows} : torch::IntArrayRef{rows, cols}, {ld, 1},
        torch::kFloat32);
    return transposed ? t.t() : t;
  };
  torch::Tensor out = torch::from_blob(c, {m, n}, {ldc, 1}, torch::kFloat32);
  torch::mm_out(out, view(a.data, m, k, a.ld, transpose_a), view(b.data, k, n, b.ld, transpose_b));
  if (alpha != 1) out.mul_(alpha);
}
#endif  // PERENNIAL_FORTRAN_BLAS

#if PERENNIAL_HAVE_AVX512_CODE
using avx512::kAllLanes;
using avx512::kLanes;
using avx512::LowLanes;
constexpr int kBlockRows = 4, kBlockVectors = 5;

// c[r, :] = alpha sum_p a(r, p) b[p, :] for kRows rows and kVectors vectors of columns, the last
// one limited to `last` lanes; a(r, p) = a[r * a_row + p * a_col].
template <int kRows, int kVectors>
PERENNIAL_AVX512 void Block(const float* a, int64_t a_row, int64_t a_col, int64_t k, const float* b,
                            int64_t ldb, float alpha, __mmask16 last, float* c, int64_t ldc) {
  __m512 sums[kRows][kVectors];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 8
    for (int v = 0; v < kVectors; ++v) sums[r][v] = _mm512_setzero_ps();
  }
  for (int64_t p = 0; p < k; ++p) {
    const float* b_row = b + p * ldb;
    __m512 b_vectors[kVectors];
#pragma GCC unroll 8
    for (int v = 0; v < kVectors; ++v) {
      b_vectors[v] =
          _mm512_maskz_loadu_ps(v == kVectors - 1 ? last : kAllLanes, b_row + v * kLanes);
    }
    const float* a_column = a + p * a_col;
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const __m512 a_element = _mm512_set1_ps(a_column[r * a_row]);
#pragma GCC unroll 8
      for (int v = 0; v < kVectors; ++v) {
        sums[r][v] = _mm512_fmadd_ps(a_element, b_vectors[v], sums[r][v]);
      }
    }
  }
  const __m512 scale = _mm512_set1_ps(alpha);
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 8
    for (int v = 0; v < kVectors; ++v) {
      _mm512_mask_storeu_ps(c + r * ldc + v * kLanes, v == kVectors - 1 ? last : kAllLanes,
                            _mm512_mul_ps(sums[r][v], scale));
    }
  }
}

using BlockFn = void (*)(const float*, int64_t, int64_t, int64_t, const float*, int64_t, float,
                         __mmask16, float*, int64_t);

template <int kRows>
constexpr BlockFn kBlocksOfRows[kBlockVectors] = {Block<kRows, 1>, Block<kRows, 2>, Block<kRows, 3>,
                                                  Block<kRows, 4>, Block<kRows, 5>};
constexpr const BlockFn* kBlocks[kBlockRows] = {kBlocksOfRows<1>, kBlocksOfRows<2>,
                                                kBlocksOfRows<3>, kBlocksOfRows<4>};

// Per 128-bit lane, the low (high) 64-bit halves of x and y, interleaved.
PERENNIAL_AVX512 inline __m512 LowPairs(__m512 x, __m512 y) {
  return _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(0xFF, _mm512_castps_pd(x), _mm512_castps_pd(y)));
}
PERENNIAL_AVX512 inline __m512 HighPairs(__m512 x, __m512 y) {
  return _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(0xFF, _mm512_castps_pd(x), _mm512_castps_pd(y)));
}

// Transposes the 16 x 16 floats in rows[] in place (rows[i] lane j <-> rows[j] lane i).
PERENNIAL_AVX512 void Transpose16(__m512 rows[kLanes]) {
  __m512 pairs[kLanes], quads[kLanes];
  for (int i = 0; i < kLanes; i += 2) {  // per 128-bit lane: (r0 c0, r1 c0, r0 c1, r1 c1), ...
    pairs[i] = _mm512_maskz_unpacklo_ps(kAllLanes, rows[i], rows[i + 1]);
    pairs[i + 1] = _mm512_maskz_unpackhi_ps(kAllLanes, rows[i], rows[i + 1]);
  }
  for (int i = 0; i < kLanes; i += 4) {  // quads[i + c], lane L: rows i..i+3 of column c + 4L
    quads[i] = LowPairs(pairs[i], pairs[i + 2]);
    quads[i + 1] = HighPairs(pairs[i], pairs[i + 2]);
    quads[i + 2] = LowPairs(pairs[i + 1], pairs[i + 3]);
    quads[i + 3] = HighPairs(pairs[i + 1], pairs[i + 3]);
  }
  for (int c = 0; c < 4; ++c) {  // a 4 x 4 transpose of 128-bit lanes across quads[4g + c]
    const __m512 even01 = _mm512_maskz_shuffle_f32x4(kAllLanes, quads[c], quads[4 + c], 0x88);
    const __m512 odd01 = _mm512_maskz_shuffle_f32x4(kAllLanes, quads[c], quads[4 + c], 0xDD);
    const __m512 even23 = _mm512_maskz_shuffle_f32x4(kAllLanes, quads[8 + c], quads[12 + c], 0x88);
    const __m512 odd23 = _mm512_maskz_shuffle_f32x4(kAllLanes, quads[8 + c], quads[12 + c], 0xDD);
    rows[c] = _mm512_maskz_shuffle_f32x4(kAllLanes, even01, even23, 0x88);
    rows[c + 4] = _mm512_maskz_shuffle_f32x4(kAllLanes, odd01, odd23, 0x88);
    rows[c + 8] = _mm512_maskz_shuffle_f32x4(kAllLanes, even01, even23, 0xDD);
    rows[c + 12] = _mm512_maskz_shuffle_f32x4(kAllLanes, odd01, odd23, 0xDD);
  }
}

// out[p, j] = b[j, p] for b [n, k] (leading dimension ldb); out [k, n], leading dimension ldo, a
// multiple of 16 (with out 64-byte aligned, every store is one aligned vector; the columns past
// n get zeros).
PERENNIAL_AVX512 void TransposeInto(const float* b, int64_t ldb, int64_t n, int64_t k, float* out,
                                    int64_t ldo) {
  __m512 tile[kLanes];
  for (int64_t j0 = 0; j0 < n; j0 += kLanes) {
    const int64_t rows = std::min<int64_t>(kLanes, n - j0);
    for (int64_t p0 = 0; p0 < k; p0 += kLanes) {
      const __mmask16 cols = LowLanes(k - p0);
      // Rows past b's end are zeros, not fully masked loads: those take a slow path when the
      // address they would read is not mapped.
      for (int64_t i = 0; i < kLanes; ++i) {
        tile[i] =
            i < rows ? _mm512_maskz_loadu_ps(cols, b + (j0 + i) * ldb + p0) : _mm512_setzero_ps();
      }
      Transpose16(tile);
      const int64_t out_rows = std::min<int64_t>(kLanes, k - p0);
      for (int64_t i = 0; i < out_rows; ++i) {
        _mm512_mask_storeu_ps(out + (p0 + i) * ldo + j0, kAllLanes, tile[i]);
      }
    }
  }
}

PERENNIAL_AVX512 void Avx512Gemm(int64_t m, int64_t n, int64_t k, float alpha, ConstMatrix a,
                                 bool transpose_a, ConstMatrix b, bool transpose_b, float* c,
                                 int64_t ldc) {
  thread_local std::vector<float> transposed_b;
  if (transpose_b) {
    const int64_t ldo = (n + kLanes - 1) / kLanes * kLanes;
    transposed_b.resize(static_cast<size_t>(k * ldo + kLanes));
    float* aligned = transposed_b.data();
    while (reinterpret_cast<uintptr_t>(aligned) % 64 != 0) ++aligned;
    TransposeInto(b.data, b.ld, n, k, aligned, ldo);
    b = {aligned, ldo};
  }
  const int64_t a_row = transpose_a ? 1 : a.ld, a_col = transpose_a ? a.ld : 1;
  constexpr int64_t kBlockCols = kBlockVectors * kLanes;
  for (int64_t j0 = 0; j0 < n; j0 += kBlockCols) {
    const int64_t cols = std::min(kBlockCols, n - j0);
    const int64_t vectors = (cols + kLanes - 1) / kLanes;
    const __mmask16 last = LowLanes(cols - (vectors - 1) * kLanes);
    for (int64_t i0 = 0; i0 < m; i0 += kBlockRows) {
      const int64_t rows = std::min<int64_t>(kBlockRows, m - i0);
      kBlocks[rows - 1][vectors - 1](a.data + i0 * a_row, a_row, a_col, k, b.data + j0, b.ld, alpha,
                                     last, c + i0 * ldc + j0, ldc);
    }
  }
}

PERENNIAL_AVX512 void Avx512Bf16RowsToFloat(const c10::BFloat16* src, int64_t ld, int64_t rows,
                                            int64_t cols, float* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    const uint16_t* row = reinterpret_cast<const uint16_t*>(src + r * ld);
    for (int64_t c = 0; c < cols; c += kLanes) {
      const __mmask16 lanes = LowLanes(cols - c);
      _mm512_mask_storeu_ps(dst + r * cols + c, lanes, avx512::LoadBf16(row + c, lanes));
    }
  }
}

PERENNIAL_AVX512 void Avx512FloatRowsToBf16(const float* src, int64_t rows, int64_t cols,
                                            c10::BFloat16* dst, int64_t ld) {
  for (int64_t r = 0; r < rows; ++r) {
    uint16_t* row = reinterpret_cast<uint16_t*>(dst + r * ld);
    for (int64_t c = 0; c < cols; c += kLanes) {
      const __mmask16 lanes = LowLanes(cols - c);
      avx512::StoreBf16(row + c, lanes, _mm512_maskz_loadu_ps(lanes, src + r * cols + c));
    }
  }
}

#endif  // PERENNIAL_HAVE_AVX512_CODE

}  // namespace

void SmallGemm(int64_t m, int64_t n, int64_t k, float alpha, ConstMatrix a, bool transpose_a,
               ConstMatrix b, bool transpose_b, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i) std::fill_n(c + i * ldc, n, 0.0f);
    return;
  }
#if PERENNIAL_HAVE_AVX512_CODE
  if (avx512::CpuRunsAvx512())
    return Avx512Gemm(m, n, k, alpha, a, transpose_a, b, transpose_b, c, ldc);
#endif
  small_gemm_internal::PortableGemm(m, n, k, alpha, a, transpose_a, b, transpose_b, c, ldc);
}

void small_gemm_internal::PortableGemm(int64_t m, int64_t n, int64_t k, float alpha, ConstMatrix a,
                                       bool transpose_a, ConstMatrix b, bool transpose_b, float* c,
                                       int64_t ldc) {
#if PERENNIAL_FORTRAN_BLAS
  BlasGemm(m, n, k, alpha, a, transpose_a, b, transpose_b, c, ldc);
#else
  AtenGemm(m, n, k, alpha, a, transpose_a, b, transpose_b, c, ldc);
#endif
}

void Bf16RowsToFloat(const c10::BFloat16* src, int64_t ld, int64_t rows, int64_t cols, float* dst) {
#if PERENNIAL_HAVE_AVX512_CODE
  if (avx512::CpuRunsAvx512()) return Avx512Bf16RowsToFloat(src, ld, rows, cols, dst);
#endif
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) dst[r * cols + c] = static_cast<float>(src[r * ld + c]);
  }
}

void FloatRowsToBf16(const float* src, int64_t rows, int64_t cols, c10::BFloat16* dst, int64_t ld) {
#if PERENNIAL_HAVE_AVX512_CODE
  if (avx512::CpuRunsAvx512()) return Avx512FloatRowsToBf16(src, rows, cols, dst, ld);
#endif
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) dst[r * ld + c] = c10::BFloat16(src[r * cols + c]);
  }
}

const char* SmallGemmKernel() {
#if PERENNIAL_HAVE_AVX512_CODE
  if (avx512::CpuRunsAvx512()) return "avx512";
#endif
#if PERENNIAL_FORTRAN_BLAS
  return "blas";
#else
  return "aten";
#endif
}

}  // namespace perennial
