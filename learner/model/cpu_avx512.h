// File: learner/model/cpu_avx512.h
//
// What the CPU kernels of this folder (cpu_small_gemm.cc, cpu_softmax.cc, cpu_thin_products.cc)
// share about AVX-512: the code is compiled per function (PERENNIAL_AVX512, a target attribute),
// not with a global flag, and runs only where CpuRunsAvx512() says the CPU has it. Internal to
// those files. The masked intrinsic forms are used throughout (kAllLanes where every lane is
// meant): GCC 12's unmasked ones fill with _mm512_undefined_*(), which its own -Wuninitialized
// flags once inlined (GCC bug 105593).
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
