// File: learner/model/cpu_softmax.cc
//
// Exponentials by avx512::Exp (cpu_avx512.h): -inf gives exactly 0, NaN stays NaN.
#include "learner/model/cpu_softmax.h"

#include <torch/torch.h>

#include <limits>

#include "learner/model/cpu_avx512.h"

namespace perennial {
namespace {

#if PERENNIAL_HAVE_AVX512_CODE
using avx512::Exp;
using avx512::kAllLanes;
using avx512::kLanes;
using avx512::LowLanes;

PERENNIAL_AVX512 inline float SumLanes(__m512 v) {
  alignas(64) float lanes[kLanes];
  _mm512_store_ps(lanes, v);
  float sum = 0;
  for (float lane : lanes) sum += lane;
  return sum;
}

PERENNIAL_AVX512 inline float MaxLanes(__m512 v) {
  alignas(64) float lanes[kLanes];
  _mm512_store_ps(lanes, v);
  float max = lanes[0];
  for (float lane : lanes) max = lane > max ? lane : max;
  return max;
}

PERENNIAL_AVX512 void Avx512SoftmaxRows(float* x, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * cols;
    // Lanes past the row keep -inf. A NaN in the row (lost or not here) makes its sum NaN.
    __m512 max = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    for (int64_t c = 0; c < cols; c += kLanes) {
      const __mmask16 lanes = LowLanes(cols - c);
      max = _mm512_mask_max_ps(max, lanes, max, _mm512_maskz_loadu_ps(lanes, row + c));
    }
    const __m512 row_max = _mm512_set1_ps(MaxLanes(max));
    __m512 sum = _mm512_setzero_ps();
    for (int64_t c = 0; c < cols; c += kLanes) {
      const __mmask16 lanes = LowLanes(cols - c);
      const __m512 e = Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(lanes, row + c), row_max));
      sum = _mm512_mask_add_ps(sum, lanes, sum, e);
      _mm512_mask_storeu_ps(row + c, lanes, e);
    }
    const __m512 inverse = _mm512_set1_ps(1.0f / SumLanes(sum));
    for (int64_t c = 0; c < cols; c += kLanes) {
      const __mmask16 lanes = LowLanes(cols - c);
      _mm512_mask_storeu_ps(row + c, lanes,
                            _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, row + c), inverse));
    }
  }
}

PERENNIAL_AVX512 void Avx512SoftmaxBackwardRows(const float* p, float* grad, int64_t rows,
                                                int64_t cols, float scale) {
  const __m512 scales = _mm512_set1_ps(scale);
  for (int64_t r = 0; r < rows; ++r) {
    const float* p_row = p + r * cols;
    float* g_row = grad + r * cols;
    __m512 dot = _mm512_setzero_ps();
    for (int64_t c = 0; c < cols; c += kLanes) {
      const __mmask16 lanes = LowLanes(cols - c);
      dot = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(lanes, g_row + c),
                            _mm512_maskz_loadu_ps(lanes, p_row + c), dot);
    }
    const __m512 row_dot = _mm512_set1_ps(SumLanes(dot));
    for (int64_t c = 0; c < cols; c += kLanes) {
      const __mmask16 lanes = LowLanes(cols - c);
      const __m512 scaled_p = _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, p_row + c), scales);
      const __m512 centered = _mm512_sub_ps(_mm512_maskz_loadu_ps(lanes, g_row + c), row_dot);
      _mm512_mask_storeu_ps(g_row + c, lanes, _mm512_mul_ps(scaled_p, centered));
    }
  }
}

#endif  // PERENNIAL_HAVE_AVX512_CODE

}  // namespace

void SoftmaxRowsInPlace(float* x, int64_t rows, int64_t cols) {
#if PERENNIAL_HAVE_AVX512_CODE
  if (avx512::CpuRunsAvx512()) return Avx512SoftmaxRows(x, rows, cols);
#endif
  const torch::Tensor scores = torch::from_blob(x, {rows, cols}, torch::kFloat32).clone();
  torch::Tensor out = torch::from_blob(x, {rows, cols}, torch::kFloat32);
  at::_softmax_out(out, scores, -1, /*half_to_float=*/false);
}

void SoftmaxBackwardRowsInPlace(const float* p, float* grad, int64_t rows, int64_t cols,
                                float scale) {
#if PERENNIAL_HAVE_AVX512_CODE
  if (avx512::CpuRunsAvx512()) return Avx512SoftmaxBackwardRows(p, grad, rows, cols, scale);
#endif
  for (int64_t r = 0; r < rows; ++r) {
    const float* p_row = p + r * cols;
    float* row = grad + r * cols;
    float dot = 0;
    for (int64_t c = 0; c < cols; ++c) dot += row[c] * p_row[c];
    for (int64_t c = 0; c < cols; ++c) row[c] = p_row[c] * (row[c] - dot) * scale;
  }
}

}  // namespace perennial
