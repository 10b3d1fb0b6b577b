// Plain C++ written for the compiler's vectorizer: fixed-width accumulator arrays instead of one
// running sum (float addition is not reassociated without -ffast-math), and bf16 rounding as
// integer arithmetic with a select, no branch per element. The row loops are compiled three
// times (target_clones: AVX-512, AVX2, baseline x86-64), the CPU's best chosen at load time, and
// this file at -O3 (CMakeLists.txt): at -O2 GCC 12 left them scalar, 3-8x slower.
#include "learner/model/add_layer_norm_cpu.h"

#include <cmath>
#include <cstring>

namespace perennial::cpu_kernels {
namespace {

constexpr int kLanes = 16;

// The x86-64-v3/v4 levels (AVX2 + FMA, AVX-512 F/BW/DQ/VL) need GCC 11 or clang 12; older
// compilers get the bare AVX-512F and AVX2 clones.
#if defined(__x86_64__) && ((defined(__clang__) && __clang_major__ >= 12) || \
                            (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11))
#define PERENNIAL_ROW_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#elif defined(__x86_64__) && defined(__GNUC__)
#define PERENNIAL_ROW_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define PERENNIAL_ROW_CLONES
#endif
// The helpers compile into each clone of their caller.
#define PERENNIAL_INLINE inline __attribute__((always_inline))

PERENNIAL_INLINE float ToFloat(float v) { return v; }
PERENNIAL_INLINE float ToFloat(uint16_t bits) {
  const uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

// Round to nearest even, NaN to the quiet NaN 0x7fc0: c10::BFloat16's rounding.
template <typename T>
T FromFloat(float f);
template <>
PERENNIAL_INLINE float FromFloat<float>(float f) {
  return f;
}
template <>
PERENNIAL_INLINE uint16_t FromFloat<uint16_t>(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? 0x7fc0u : rounded);
}

// sum_i term(i) for i < n, in kLanes partial sums.
template <typename Term>
PERENNIAL_INLINE float LaneSum(int64_t n, Term term) {
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) lanes[j] += term(i + j);
  }
  float total = 0;
  for (; i < n; ++i) total += term(i);
  for (int j = 0; j < kLanes; ++j) total += lanes[j];
  return total;
}

template <typename T>
PERENNIAL_INLINE void ForwardRows(const AddLayerNormForwardArgs<T>& a, int64_t begin, int64_t end) {
  const int64_t n = a.width;
  float s[kAddLayerNormMaxWidth];
  for (int64_t row = begin; row < end; ++row) {
    const int64_t offset = row * n;
    const T* x = a.x + offset;
    if (a.branch != nullptr) {
      const T* branch = a.branch + offset;
      T* sum = a.sum + offset;
      for (int64_t i = 0; i < n; ++i) {
        sum[i] = FromFloat<T>(ToFloat(x[i]) + ToFloat(branch[i]));
        s[i] = ToFloat(sum[i]);
      }
    } else {
      for (int64_t i = 0; i < n; ++i) s[i] = ToFloat(x[i]);
    }
    const float mean = LaneSum(n, [&](int64_t i) { return s[i]; }) / static_cast<float>(n);
    const float variance = LaneSum(n, [&](int64_t i) { return (s[i] - mean) * (s[i] - mean); }) /
                           static_cast<float>(n);
    const float rstd = 1.0f / std::sqrt(variance + a.eps);
    a.mean[row] = mean;
    a.rstd[row] = rstd;
    T* normed = a.normed + offset;
    for (int64_t i = 0; i < n; ++i) {
      normed[i] = FromFloat<T>((s[i] - mean) * rstd * a.gamma[i] + a.beta[i]);
    }
  }
}

template <typename T>
PERENNIAL_INLINE void BackwardRows(const AddLayerNormBackwardArgs<T>& a, int64_t begin,
                                   int64_t end) {
  const int64_t n = a.width;
  float xhat[kAddLayerNormMaxWidth], g[kAddLayerNormMaxWidth];
  for (int64_t row = begin; row < end; ++row) {
    const int64_t offset = row * n;
    const T* sum = a.sum + offset;
    const T* grad_normed = a.grad_normed + offset;
    const float mean = a.mean[row], rstd = a.rstd[row];
    for (int64_t i = 0; i < n; ++i) {
      xhat[i] = (ToFloat(sum[i]) - mean) * rstd;
      g[i] = ToFloat(grad_normed[i]) * a.gamma[i];
    }
    // dx = rstd (g - mean(g) - xhat mean(g xhat)): LayerNorm's input gradient.
    const float g_mean = LaneSum(n, [&](int64_t i) { return g[i]; }) / static_cast<float>(n);
    const float gx_mean =
        LaneSum(n, [&](int64_t i) { return g[i] * xhat[i]; }) / static_cast<float>(n);
    const T* grad_sum = a.grad_sum != nullptr ? a.grad_sum + offset : nullptr;
    T* grad_x = a.grad_x + offset;
    for (int64_t i = 0; i < n; ++i) {
      const float residual = grad_sum != nullptr ? ToFloat(grad_sum[i]) : 0.0f;
      grad_x[i] = FromFloat<T>(residual + rstd * (g[i] - g_mean - xhat[i] * gx_mean));
    }
  }
}

PERENNIAL_ROW_CLONES void ForwardRowsFloat(const AddLayerNormForwardArgs<float>& a, int64_t begin,
                                           int64_t end) {
  ForwardRows(a, begin, end);
}
PERENNIAL_ROW_CLONES void ForwardRowsBf16(const AddLayerNormForwardArgs<uint16_t>& a, int64_t begin,
                                          int64_t end) {
  ForwardRows(a, begin, end);
}
PERENNIAL_ROW_CLONES void BackwardRowsFloat(const AddLayerNormBackwardArgs<float>& a, int64_t begin,
                                            int64_t end) {
  BackwardRows(a, begin, end);
}
PERENNIAL_ROW_CLONES void BackwardRowsBf16(const AddLayerNormBackwardArgs<uint16_t>& a,
                                           int64_t begin, int64_t end) {
  BackwardRows(a, begin, end);
}

}  // namespace

template <>
void AddLayerNormForwardRows<float>(const AddLayerNormForwardArgs<float>& a, int64_t begin,
                                    int64_t end) {
  ForwardRowsFloat(a, begin, end);
}
template <>
void AddLayerNormForwardRows<uint16_t>(const AddLayerNormForwardArgs<uint16_t>& a, int64_t begin,
                                       int64_t end) {
  ForwardRowsBf16(a, begin, end);
}
template <>
void AddLayerNormBackwardRows<float>(const AddLayerNormBackwardArgs<float>& a, int64_t begin,
                                     int64_t end) {
  BackwardRowsFloat(a, begin, end);
}
template <>
void AddLayerNormBackwardRows<uint16_t>(const AddLayerNormBackwardArgs<uint16_t>& a, int64_t begin,
                                        int64_t end) {
  BackwardRowsBf16(a, begin, end);
}

}  // namespace perennial::cpu_kernels
