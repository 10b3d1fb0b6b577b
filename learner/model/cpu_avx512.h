// File: learner/model/cpu_avx512.h
//
// What the CPU kernels of this folder (cpu_small_gemm.cc, cpu_softmax.cc, cpu_thin_products.cc,
// cpu_silu.cc) share about AVX-512: the exponential, bf16 loads and stores, and how the code is
// built: per function (PERENNIAL_AVX512, a target attribute), not with a global flag, and run
// only where CpuRunsAvx512() says the CPU has it. Internal to those files. The masked intrinsic
// forms are used throughout (kAllLanes where every lane is meant): GCC 12's unmasked ones fill with
// _mm512_undefined_*(), which its own -Wuninitialized flags once inlined (GCC bug 105593).
#ifndef PERENNIAL_LEARNER_MODEL_CPU_AVX512_H_
#define PERENNIAL_LEARNER_MODEL_CPU_AVX512_H_

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include <cstdint>

#define PERENNIAL_HAVE_AVX512_CODE 1
#define PERENNIAL_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

namespace perennial::avx512 {

inline constexpr __mmask16 kAllLanes = 0xFFFF;
inline constexpr int kLanes = 16;

// The low `count` lanes; all of them from 16 on.
PERENNIAL_AVX512 inline __mmask16 LowLanes(int64_t count) {
  return count >= kLanes ? kAllLanes : static_cast<__mmask16>((1u << count) - 1);
}

// exp(x) per lane: 2^n exp(r), n = round(x log2 e), r = x - n ln 2 in two parts, exp(r) by Cephes
// expf's polynomial (~1 ulp on |r| <= ln 2 / 2), 2^n applied by scalef. Inputs are clamped to
// [-104, 89] first: -inf gives 0 (gradual underflow), +inf and overflow give +inf, NaN stays NaN.
PERENNIAL_AVX512 inline __m512 Exp(__m512 x) {
  // max_ps and min_ps return their second operand when either is NaN: NaN passes the clamps.
  x = _mm512_maskz_max_ps(kAllLanes, _mm512_set1_ps(-104.0f), x);
  x = _mm512_maskz_min_ps(kAllLanes, _mm512_set1_ps(89.0f), x);
  const __m512 n =
      _mm512_maskz_roundscale_ps(kAllLanes, _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_maskz_scalef_ps(kAllLanes, p, n);
}

// The bf16 values (raw bits) at `src`'s `lanes` widened to fp32; 0 in the other lanes.
PERENNIAL_AVX512 inline __m512 LoadBf16(const uint16_t* src, __mmask16 lanes) {
  const __m256i halves = lanes == kAllLanes
                             ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src))
                             : _mm256_maskz_loadu_epi16(lanes, src);
  const __m512i words = _mm512_maskz_cvtepu16_epi32(kAllLanes, halves);
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAllLanes, words, 16));
}

// x's `lanes` rounded to bf16 (nearest even; NaN -> 0x7FC0, bit-exact with c10::BFloat16) and
// stored at `dst`.
PERENNIAL_AVX512 inline void StoreBf16(uint16_t* dst, __mmask16 lanes, __m512 x) {
  const __m512i bits = _mm512_castps_si512(x);
  const __m512i odd = _mm512_maskz_and_epi32(
      kAllLanes, _mm512_maskz_srli_epi32(kAllLanes, bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_maskz_add_epi32(
      kAllLanes, bits, _mm512_maskz_add_epi32(kAllLanes, odd, _mm512_set1_epi32(0x7FFF)));
  __m512i halves = _mm512_maskz_srli_epi32(kAllLanes, rounded, 16);
  halves = _mm512_mask_mov_epi32(halves, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q),
                                 _mm512_set1_epi32(0x7FC0));
  // Narrowed in a register, then stored: the masked narrowing store (vpmovdw to memory) is
  // microcoded on AMD's cores, several times slower than this pair.
  const __m256i narrow = _mm512_maskz_cvtepi32_epi16(kAllLanes, halves);
  if (lanes == kAllLanes) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), narrow);
  } else {
    _mm256_mask_storeu_epi16(dst, lanes, narrow);
  }
}

// True where the CPU has AVX-512 F, BW and VL (every AVX-512 server and desktop CPU since 2017).
inline bool CpuRunsAvx512() {
  static const bool have = __builtin_cpu_supports("avx512f") &&
                           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  return have;
}

}  // namespace perennial::avx512

#else
#define PERENNIAL_HAVE_AVX512_CODE 0
#endif

#endif  // PERENNIAL_LEARNER_MODEL_CPU_AVX512_H_
